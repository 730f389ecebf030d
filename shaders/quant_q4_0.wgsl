// Block decoder for ggml's Q4_0, spliced into gemv_quant.wgsl, gemv_quant_sg.wgsl,
// gemv_quant_any.wgsl and dequant.wgsl (see gemv_quant.wgsl for the interface).
//
// block_q4_0 (18 bytes): d (f16) at byte 0, qs[16] at byte 2. Weight j < 16 is
// d·((qs[j] & 15) − 8), weight j + 16 is d·((qs[j] >> 4) − 8).
//
// Chunk `part` (0..3) holds qs[4·part .. 4·part + 3]: weights 4·part + 0..3 (low nibbles, v = 0)
// and 16 + 4·part + 0..3 (high nibbles, v = 1). Blocks are 2-byte aligned: a block at byte o
// with o % 4 == 0 has d in the low half of word o / 4 and its chunk's 4 bytes across words
// o / 4 + part and the next; with o % 4 == 2, d is the high half of word (o − 2) / 4 and the
// bytes are word (o − 2) / 4 + part + 1. Either way the chunk reads words b0, b0 + part and
// b0 + part + 1 (b0 = o / 4 rounded down), each holding bytes of the block.
//
// Quant values become f32 exactly without a conversion instruction: a value q < 2^23 in the low
// mantissa bits of 0x4b000000 (2^23) is the float 2^23 + q, and subtracting 2^23 + offset
// leaves q − offset. d·(q − 8) is exact in f32 (11 × 4 bits), as in ggml.

// @operands begin
@group(0) @binding(0) var<storage, read> w: array<u32>;

const BLOCK_ELEMS: u32 = 32u;
const BLOCK_BYTES: u32 = 18u;
const TPB: u32 = 4u;
const VECS: u32 = 2u;

struct WChunk {
    head: u32,
    lo: u32,
    hi: u32,
    // Byte offset of the block modulo 4 (0 or 2).
    odd: u32,
}

fn load_w(blk: u32, part: u32) -> WChunk {
    let o = blk * BLOCK_BYTES;
    let b0 = o >> 2u;
    return WChunk(w[b0], w[b0 + part], w[b0 + part + 1u], o & 2u);
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
    let aligned = c.odd == 0u;
    let halves = unpack2x16float(c.head);
    let d = select(halves.y, halves.x, aligned);
    let qs = select(c.hi, (c.lo >> 16u) | (c.hi << 16u), aligned);
    return fields(qs, vec4<u32>(0u, 8u, 16u, 24u) + vec4<u32>(4u * v), 0xfu, 8.0) * d;
}
// @operands end
