// Block decoder for ggml's Q4_1, spliced into gemv_quant.wgsl, gemv_quant_sg.wgsl,
// gemv_quant_any.wgsl and dequant.wgsl (see gemv_quant.wgsl for the interface).
//
// block_q4_1 (20 bytes, so blocks are word-aligned): d (f16) at byte 0, m (f16) at byte 2,
// qs[16] at byte 4. Weight j < 16 is d·(qs[j] & 15) + m, weight j + 16 is d·(qs[j] >> 4) + m.
//
// Chunk `part` (0..3) is word part + 1 of the block, qs[4·part .. 4·part + 3]: weights
// 4·part + 0..3 (low nibbles, v = 0) and 16 + 4·part + 0..3 (high nibbles, v = 1). Quant values
// become f32 through the exponent trick of quant_q4_0.wgsl; d·q is exact and the fused add
// rounds once, as ggml's d·q + m does.

// @operands begin
@group(0) @binding(0) var<storage, read> w: array<u32>;

const BLOCK_ELEMS: u32 = 32u;
const BLOCK_WORDS: u32 = 5u;
const TPB: u32 = 4u;
const VECS: u32 = 2u;

struct WChunk {
    head: u32,
    qs: u32,
}

fn load_w(blk: u32, part: u32) -> WChunk {
    let b0 = blk * BLOCK_WORDS;
    return WChunk(w[b0], w[b0 + 1u + part]);
}

fn elem_offset(part: u32, v: u32) -> u32 {
    return 16u * v + 4u * part;
}

// Fields of `bits` at `shifts`, `mask` wide, as exact f32 values minus `offset`.
fn fields(bits: u32, shifts: vec4<u32>, mask: u32, offset: f32) -> vec4<f32> {
    let q = ((vec4<u32>(bits) >> shifts) & vec4<u32>(mask)) | vec4<u32>(0x4b000000u);
    return bitcast<vec4<f32>>(q) - vec4<f32>(8388608.0 + offset);
}

fn weights(c: WChunk, part: u32, v: u32) -> vec4<f32> {
    let dm = unpack2x16float(c.head);
    let q = fields(c.qs, vec4<u32>(0u, 8u, 16u, 24u) + vec4<u32>(4u * v), 0xfu, 0.0);
    return fma(q, vec4<f32>(dm.x), vec4<f32>(dm.y));
}
// @operands end
