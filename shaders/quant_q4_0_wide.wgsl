// Block decoder for ggml's Q4_0 with two chunks a block (16 weights a thread), spliced into
// gemv_quant.wgsl at batch 1; the batch engines keep quant_q4_0.wgsl's four chunks (see
// strata::kernels::quant for the measurements behind the split).
//
// block_q4_0 (18 bytes): d (f16) at byte 0, qs[16] at byte 2. Weight j < 16 is
// d·((qs[j] & 15) − 8), weight j + 16 is d·((qs[j] >> 4) − 8).
//
// Chunk `part` (0..1) holds qs[8·part .. 8·part + 7]: weights 8·part + 0..7 (low nibbles, v = 0
// and 1) and 16 + 8·part + 0..7 (high nibbles, v = 2 and 3), so each thread decodes 16 weights
// from four word loads. Blocks are 2-byte aligned: a block at byte o with o % 4 == 0 has d in
// the low half of word b0 = o / 4 and its chunk's 8 bytes across words b0 + 2·part .. b0 +
// 2·part + 2 (from the high half of the first to the low half of the last); with o % 4 == 2, d
// is the high half of word b0 = (o − 2) / 4 and the bytes are words b0 + 2·part + 1 and + 2.
// Either way the chunk reads words b0 and b0 + 2·part .. b0 + 2·part + 2, each holding bytes of
// the block.
//
// Quant values become f32 exactly without a conversion instruction: a value q < 2^23 in the low
// mantissa bits of 0x4b000000 (2^23) is the float 2^23 + q, and subtracting 2^23 + offset
// leaves q − offset. d·(q − 8) is exact in f32 (11 × 4 bits), as in ggml.

// @operands begin
@group(0) @binding(0) var<storage, read> w: array<u32>;

const BLOCK_ELEMS: u32 = 32u;
const BLOCK_BYTES: u32 = 18u;
const TPB: u32 = 2u;
const VECS: u32 = 4u;

struct WChunk {
    head: u32,
    // Words b0 + 2·part .. b0 + 2·part + 2.
    a: u32,
    b: u32,
    c: u32,
    // Byte offset of the block modulo 4 (0 or 2).
    odd: u32,
}

fn load_w(blk: u32, part: u32) -> WChunk {
    let o = blk * BLOCK_BYTES;
    let b0 = o >> 2u;
    let q0 = b0 + 2u * part;
    return WChunk(w[b0], w[q0], w[q0 + 1u], w[q0 + 2u], o & 2u);
}

fn elem_offset(part: u32, v: u32) -> u32 {
    return 16u * (v / 2u) + 8u * part + 4u * (v % 2u);
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
    // qs[8·part + 4·(v % 2) ..] as one word.
    var qs: u32;
    if (v % 2u == 0u) {
        qs = select(c.b, (c.a >> 16u) | (c.b << 16u), aligned);
    } else {
        qs = select(c.c, (c.b >> 16u) | (c.c << 16u), aligned);
    }
    return fields(qs, vec4<u32>(0u, 8u, 16u, 24u) + vec4<u32>(4u * (v / 2u)), 0xfu, 8.0) * d;
}
// @operands end
