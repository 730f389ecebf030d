// Block decoder for ggml's Q3_K, spliced into gemv_quant.wgsl, gemv_quant_sg.wgsl,
// gemv_quant_any.wgsl and dequant.wgsl (see gemv_quant.wgsl for the interface).
//
// block_q3_K (110 bytes): hmask[32] at byte 0, qs[64] at byte 32, scales[12] at byte 96 (16
// scales of 6 bits), d (f16) at byte 108. Weight 128n + 32j + l (n < 2, j < 4, l < 32) is
// d·(s − 32)·(q − 4·(1 − h)) with q = bits 2j, 2j + 1 of qs[32n + l], h = bit 4n + j of
// hmask[l] and s scale 8n + 2j + l / 16. Scale i has its low 4 bits in byte i % 8 (nibble
// i / 8) and its high 2 bits in byte 8 + i % 4 (bits 2·(i / 4)), as ggml's kmask unpacking says.
//
// Chunk `part` (0..7) is n = part / 4, g = part % 4: bytes qs[32n + 8g ..] and hmask[8g ..],
// 8 each, holding 4 weights a byte; v = 2j + t is the 4 weights of shift j in word t: weights
// 128n + 32j + 8g + 4t + 0..3. Blocks are 2-byte aligned: each field of 2 (or 3) words is read
// as 3 (or 4) words from the word holding its first byte, each holding bytes of the block, and
// shifted by 16 bits when the block's offset is 2 modulo 4 (see quant_q4_0.wgsl). d·(s − 32)·q
// is exact in f32, as in ggml.

// @operands begin
@group(0) @binding(0) var<storage, read> w: array<u32>;

const BLOCK_ELEMS: u32 = 256u;
const BLOCK_BYTES: u32 = 110u;
const TPB: u32 = 8u;
const VECS: u32 = 8u;

struct WChunk {
    hm: vec3<u32>,
    qs: vec3<u32>,
    sc: vec4<u32>,
    d: u32,
    // Byte offset of the block modulo 4 (0 or 2).
    odd: u32,
}

fn load_w(blk: u32, part: u32) -> WChunk {
    let o = blk * BLOCK_BYTES;
    let n = part / 4u;
    let g = part % 4u;
    let h = (o + 8u * g) >> 2u;
    let q = (o + 32u + 32u * n + 8u * g) >> 2u;
    let s = (o + 96u) >> 2u;
    return WChunk(
        vec3<u32>(w[h], w[h + 1u], w[h + 2u]),
        vec3<u32>(w[q], w[q + 1u], w[q + 2u]),
        vec4<u32>(w[s], w[s + 1u], w[s + 2u], w[s + 3u]),
        w[(o + 108u) >> 2u],
        o & 2u,
    );
}

fn elem_offset(part: u32, v: u32) -> u32 {
    return 128u * (part / 4u) + 32u * (v / 2u) + 8u * (part % 4u) + 4u * (v % 2u);
}

// Fields of `bits` at `shifts`, `mask` wide, as exact f32 values minus `offset`.
fn fields(bits: u32, shifts: vec4<u32>, mask: u32, offset: f32) -> vec4<f32> {
    let q = ((vec4<u32>(bits) >> shifts) & vec4<u32>(mask)) | vec4<u32>(0x4b000000u);
    return bitcast<vec4<f32>>(q) - vec4<f32>(8388608.0 + offset);
}

// The 4 bytes from byte 2 of `lo` on when `odd`, else `lo`.
fn funnel(lo: u32, hi: u32, odd: bool) -> u32 {
    return select(lo, (lo >> 16u) | (hi << 16u), odd);
}

fn weights(c: WChunk, part: u32, v: u32) -> vec4<f32> {
    let odd = c.odd != 0u;
    let n = part / 4u;
    let j = v / 2u;
    let t = v % 2u;
    let qs = funnel(c.qs[t], c.qs[t + 1u], odd);
    let hm = funnel(c.hm[t], c.hm[t + 1u], odd);
    let bytes = ((qs >> (2u * j)) & 0x03030303u) | (((hm >> (4u * n + j)) & 0x01010101u) << 2u);
    let q = fields(bytes, vec4<u32>(0u, 8u, 16u, 24u), 0xffu, 4.0);
    // Scale i = 8n + 2j + g / 2: low bits from byte i % 8 = 2j + g / 2, nibble n; high bits
    // from byte 8 + i % 4, bits 2·(i / 4).
    let i = 8u * n + 2u * j + (part % 4u) / 2u;
    let lo_byte = i % 8u;
    let low = (funnel(c.sc[lo_byte / 4u], c.sc[lo_byte / 4u + 1u], odd) >> (8u * (lo_byte % 4u) + 4u * n)) & 0xfu;
    let high = (funnel(c.sc[2u], c.sc[3u], odd) >> (8u * (i % 4u) + 2u * (i / 4u))) & 0x3u;
    let s = i32(low | (high << 4u)) - 32;
    let halves = unpack2x16float(c.d);
    let d = select(halves.x, halves.y, odd);
    return q * (d * f32(s));
}
// @operands end
