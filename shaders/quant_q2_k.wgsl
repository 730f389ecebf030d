// Block decoder for ggml's Q2_K, spliced into gemv_quant.wgsl, gemv_quant_sg.wgsl,
// gemv_quant_any.wgsl and dequant.wgsl (see gemv_quant.wgsl for the interface).
//
// block_q2_K (84 bytes, so blocks are word-aligned): scales[16] at byte 0 (low nibble a
// scale, high nibble a min), qs[64] at byte 16, d (f16) at byte 80, dmin (f16) at byte 82.
// Weight 128n + 32j + l (n < 2, j < 4, l < 32) is d·sc·q − dmin·m with q = bits 2j, 2j + 1 of
// qs[32n + l] and (sc, m) the nibbles of scales[8n + 2j + l / 16].
//
// Chunk `part` (0..7) is n = part / 4, g = part % 4: the 8 bytes qs[32n + 8g ..] (words 4 + 8n +
// 2g and the next), each holding 4 weights (j = 0..3); v = 2j + t is the 4 weights of shift j
// in word t: weights 128n + 32j + 8g + 4t + 0..3. Their scales are bytes 8n + 2j + g / 2 (of
// words 2n and 2n + 1). d·sc·q is exact in f32 and the fused subtraction rounds once, as ggml's
// dl·q − ml does.

// @operands begin
@group(0) @binding(0) var<storage, read> w: array<u32>;

const BLOCK_ELEMS: u32 = 256u;
const BLOCK_WORDS: u32 = 21u;
const TPB: u32 = 8u;
const VECS: u32 = 8u;

struct WChunk {
    // scales[8n .. 8n + 7]
    sc: vec2<u32>,
    // qs[32n + 8g .. 32n + 8g + 7]
    qs: vec2<u32>,
    // d, dmin
    dd: u32,
}

fn load_w(blk: u32, part: u32) -> WChunk {
    let b0 = blk * BLOCK_WORDS;
    let n = part / 4u;
    let q = b0 + 4u + 8u * n + 2u * (part % 4u);
    return WChunk(
        vec2<u32>(w[b0 + 2u * n], w[b0 + 2u * n + 1u]),
        vec2<u32>(w[q], w[q + 1u]),
        w[b0 + 20u],
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

fn weights(c: WChunk, part: u32, v: u32) -> vec4<f32> {
    let j = v / 2u;
    let t = v % 2u;
    // Byte 2j + g / 2 of the 8 scale bytes.
    let k = 2u * j + (part % 4u) / 2u;
    let sc = (c.sc[k / 4u] >> (8u * (k % 4u))) & 0xffu;
    let dd = unpack2x16float(c.dd);
    let dl = dd.x * f32(sc & 0xfu);
    let ml = dd.y * f32(sc >> 4u);
    let q = fields(c.qs[t], vec4<u32>(0u, 8u, 16u, 24u) + vec4<u32>(2u * j), 0x3u, 0.0);
    return fma(q, vec4<f32>(dl), vec4<f32>(-ml));
}
// @operands end
