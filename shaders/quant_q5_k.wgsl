// Block decoder for ggml's Q5_K, spliced into gemv_quant.wgsl, gemv_quant_sg.wgsl,
// gemv_quant_any.wgsl and dequant.wgsl (see gemv_quant.wgsl for the interface).
//
// block_q5_K (176 bytes = 11 × 16: read as vec4<u32>): d, dmin (f16) at byte 0, scales[12] at
// byte 4 (as Q4_K), qh[32] at byte 16, qs[128] at byte 48. Weight 64j + l (j < 4, l < 32) is
// d·sc·q − dmin·m with q = (qs[32j + l] & 15) + 16·(bit 2j of qh[l]) and (sc, m) number 2j;
// weight 64j + 32 + l takes the high nibble, bit 2j + 1 and number 2j + 1.
//
// Chunk `part` (0..7) is vec4 3 + part, qs[16·part ..] (j = part / 2, l = 16·(part % 2) +
// 0..15), with vec4 1 + part % 2, qh[l]: the high bits sit in the same byte lanes as their
// nibbles. v as in quant_q4_k.wgsl. 3 vec4 per chunk.

// @operands begin
@group(0) @binding(0) var<storage, read> w: array<vec4<u32>>;

const BLOCK_ELEMS: u32 = 256u;
const BLOCK_VEC4S: u32 = 11u;
const TPB: u32 = 8u;
const VECS: u32 = 8u;

struct WChunk {
    // d, dmin, scales[12]
    head: vec4<u32>,
    qh: vec4<u32>,
    qs: vec4<u32>,
}

fn load_w(blk: u32, part: u32) -> WChunk {
    let b0 = blk * BLOCK_VEC4S;
    return WChunk(w[b0], w[b0 + 1u + part % 2u], w[b0 + 3u + part]);
}

fn elem_offset(part: u32, v: u32) -> u32 {
    return 64u * (part / 2u) + 32u * (v / 4u) + 16u * (part % 2u) + 4u * (v % 4u);
}

// Fields of `bits` at `shifts`, `mask` wide, as exact f32 values minus `offset`.
fn fields(bits: u32, shifts: vec4<u32>, mask: u32, offset: f32) -> vec4<f32> {
    let q = ((vec4<u32>(bits) >> shifts) & vec4<u32>(mask)) | vec4<u32>(0x4b000000u);
    return bitcast<vec4<f32>>(q) - vec4<f32>(8388608.0 + offset);
}

// ggml's get_scale_min_k4 for the chunk's two numbers 2j and 2j + 1 (j = part / 2) at once, on
// whole words: scales[0..4] (head.y) hold the low 6 bits of scales 0..3 and, in their top 2
// bits, bits 4..5 of scales 4..7; scales[4..8] (head.z) the same for the mins; scales[8..12]
// (head.w) the low 4 bits of scales (low nibbles) and mins (high nibbles) 4..7. Returns, as
// bytes of two words, (scale, min) of number 2j + h in byte 2·(j % 2) + h of each word: no
// dynamic indexing and no per-byte selects, so the decoder spends its time on the weights.
fn scale_min_words(head: vec4<u32>, part: u32) -> vec2<u32> {
    let low = part < 4u;
    let sc = select(
        (head.w & 0x0f0f0f0fu) | ((head.y >> 2u) & 0x30303030u),
        head.y & 0x3f3f3f3fu,
        low,
    );
    let m = select(
        ((head.w >> 4u) & 0x0f0f0f0fu) | ((head.z >> 2u) & 0x30303030u),
        head.z & 0x3f3f3f3fu,
        low,
    );
    return vec2<u32>(sc, m);
}

fn weights(c: WChunk, part: u32, v: u32) -> vec4<f32> {
    let high = v / 4u;
    let number = 2u * (part / 2u) + high;
    let words = scale_min_words(c.head, part);
    let at = 16u * ((part / 2u) % 2u) + 8u * high;
    let sm = vec2<f32>((words >> vec2<u32>(at)) & vec2<u32>(0xffu));
    let dm = unpack2x16float(c.head.x);
    let bytes = ((c.qs[v % 4u] >> (4u * high)) & 0x0f0f0f0fu)
        | (((c.qh[v % 4u] >> number) & 0x01010101u) << 4u);
    let q = fields(bytes, vec4<u32>(0u, 8u, 16u, 24u), 0xffu, 0.0);
    return fma(q, vec4<f32>(dm.x * sm.x), vec4<f32>(-(dm.y * sm.y)));
}
// @operands end
