// Block decoder for ggml's Q5_1, spliced into gemv_quant.wgsl, gemv_quant_sg.wgsl,
// gemv_quant_any.wgsl and dequant.wgsl (see gemv_quant.wgsl for the interface).
//
// block_q5_1 (24 bytes, so blocks are word-aligned): d (f16) at byte 0, m (f16) at byte 2, qh
// (32 bits) at byte 4, qs[16] at byte 8. Weight j < 16 is d·((qs[j] & 15) | bit j of qh << 4)
// + m, weight j + 16 is d·((qs[j] >> 4) | bit j + 16 of qh << 4) + m.
//
// Chunk `part` (0..3) is word part + 2 of the block: weights 4·part + 0..3 (v = 0) and
// 16 + 4·part + 0..3 (v = 1). High bits are spread as in quant_q5_0.wgsl; d·q is exact and the
// fused add rounds once, as ggml's d·q + m does.

// @operands begin
@group(0) @binding(0) var<storage, read> w: array<u32>;

const BLOCK_ELEMS: u32 = 32u;
const BLOCK_WORDS: u32 = 6u;
const TPB: u32 = 4u;
const VECS: u32 = 2u;

struct WChunk {
    head: u32,
    qh: u32,
    qs: u32,
}

fn load_w(blk: u32, part: u32) -> WChunk {
    let b0 = blk * BLOCK_WORDS;
    return WChunk(w[b0], w[b0 + 1u], w[b0 + 2u + part]);
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
    let high = (c.qh >> (16u * v + 4u * part)) & 0xfu;
    let bytes = ((c.qs >> (4u * v)) & 0x0f0f0f0fu) | ((high * 0x02040810u) & 0x10101010u);
    let q = fields(bytes, vec4<u32>(0u, 8u, 16u, 24u), 0xffu, 0.0);
    return fma(q, vec4<f32>(dm.x), vec4<f32>(dm.y));
}
// @operands end
