// Block decoder for ggml's Q5_0, spliced into gemv_quant.wgsl, gemv_quant_sg.wgsl,
// gemv_quant_any.wgsl and dequant.wgsl (see gemv_quant.wgsl for the interface).
//
// block_q5_0 (22 bytes): d (f16) at byte 0, qh (32 bits, little-endian) at byte 2, qs[16] at
// byte 6. Weight j < 16 is d·(((qs[j] & 15) | bit j of qh << 4) − 16), weight j + 16 is
// d·(((qs[j] >> 4) | bit j + 16 of qh << 4) − 16).
//
// Chunk `part` (0..3) holds qs[4·part .. 4·part + 3]: weights 4·part + 0..3 (v = 0) and
// 16 + 4·part + 0..3 (v = 1). Blocks are 2-byte aligned (see quant_q4_0.wgsl): a block at byte
// o reads words b0 = o / 4 (rounded down), b0 + 1, b0 + 1 + part and b0 + 2 + part, each holding
// bytes of the block; with o % 4 == 0, qh and the chunk's bytes straddle two words each.
//
// The 4 high bits of a chunk's 4 weights are spread to bit 4 of each byte with one multiply
// (h·0x02040810 puts bit k of h at bit 8k + 4, the copies not overlapping), so each weight's 5
// bits sit in one byte; the exponent trick of quant_q4_0.wgsl makes them f32.

// @operands begin
@group(0) @binding(0) var<storage, read> w: array<u32>;

const BLOCK_ELEMS: u32 = 32u;
const BLOCK_BYTES: u32 = 22u;
const TPB: u32 = 4u;
const VECS: u32 = 2u;

struct WChunk {
    head: u32,
    next: u32,
    lo: u32,
    hi: u32,
    // Byte offset of the block modulo 4 (0 or 2).
    odd: u32,
}

fn load_w(blk: u32, part: u32) -> WChunk {
    let o = blk * BLOCK_BYTES;
    let b0 = o >> 2u;
    return WChunk(w[b0], w[b0 + 1u], w[b0 + 1u + part], w[b0 + 2u + part], o & 2u);
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
    let qh = select(c.next, (c.head >> 16u) | (c.next << 16u), aligned);
    let qs = select(c.hi, (c.lo >> 16u) | (c.hi << 16u), aligned);
    let high = (qh >> (16u * v + 4u * part)) & 0xfu;
    let bytes = ((qs >> (4u * v)) & 0x0f0f0f0fu) | ((high * 0x02040810u) & 0x10101010u);
    return fields(bytes, vec4<u32>(0u, 8u, 16u, 24u), 0xffu, 16.0) * d;
}
// @operands end
