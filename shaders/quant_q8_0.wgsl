// Block decoder for ggml's Q8_0, spliced into gemv_quant.wgsl, gemv_quant_sg.wgsl,
// gemv_quant_any.wgsl and dequant.wgsl (see gemv_quant.wgsl for the interface).
//
// block_q8_0 (34 bytes): d (f16) at byte 0, qs[32] (signed bytes) at byte 2; weight j is
// d·qs[j].
//
// Chunk `part` (0..3) holds qs[8·part .. 8·part + 7]: weights 8·part + 0..3 (v = 0) and
// 8·part + 4..7 (v = 1). Blocks are 2-byte aligned (see quant_q4_0.wgsl): a block at byte o reads
// words b0 = o / 4 (rounded down), b0 + 2·part, b0 + 2·part + 1 and b0 + 2·part + 2, each holding
// bytes of the block; with o % 4 == 0 the chunk's 8 bytes straddle three words.
//
// A signed byte s with its top bit flipped is s + 128 unsigned, which the exponent trick of
// quant_q4_0.wgsl makes an exact f32 less 128.

// @operands begin
@group(0) @binding(0) var<storage, read> w: array<u32>;

const BLOCK_ELEMS: u32 = 32u;
const BLOCK_BYTES: u32 = 34u;
const TPB: u32 = 4u;
const VECS: u32 = 2u;

struct WChunk {
    head: u32,
    a: u32,
    b: u32,
    c: u32,
    // Byte offset of the block modulo 4 (0 or 2).
    odd: u32,
}

fn load_w(blk: u32, part: u32) -> WChunk {
    let o = blk * BLOCK_BYTES;
    let b0 = o >> 2u;
    let i = b0 + 2u * part;
    return WChunk(w[b0], w[i], w[i + 1u], w[i + 2u], o & 2u);
}

fn elem_offset(part: u32, v: u32) -> u32 {
    return 8u * part + 4u * v;
}

// Fields of `bits` at `shifts`, `mask` wide, as exact f32 values minus `offset`.
fn fields(bits: u32, shifts: vec4<u32>, mask: u32, offset: f32) -> vec4<f32> {
    let q = ((vec4<u32>(bits) >> shifts) & vec4<u32>(mask)) | vec4<u32>(0x4b000000u);
    return bitcast<vec4<f32>>(q) - vec4<f32>(8388608.0 + offset);
}

fn weights(c: WChunk, part: u32, v: u32) -> vec4<f32> {
    let aligned = c.odd == 0u;
    let halves = unpack2x16float(c.head);
    let d = select(halves.y, halves.x, aligned);
    var qs: u32;
    if (v == 0u) {
        qs = select(c.b, (c.a >> 16u) | (c.b << 16u), aligned);
    } else {
        qs = select(c.c, (c.b >> 16u) | (c.c << 16u), aligned);
    }
    return fields(qs ^ 0x80808080u, vec4<u32>(0u, 8u, 16u, 24u), 0xffu, 128.0) * d;
}
// @operands end
