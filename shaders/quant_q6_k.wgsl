// Block decoder for ggml's Q6_K, spliced into gemv_quant.wgsl, gemv_quant_sg.wgsl,
// gemv_quant_any.wgsl and dequant.wgsl (see gemv_quant.wgsl for the interface).
//
// block_q6_K (210 bytes): ql[128] at byte 0, qh[64] at byte 128, scales[16] (signed bytes) at
// byte 192, d (f16) at byte 208. Weight 128n + 32s + l (n < 2, s < 4, l < 32) is
// d·sc·(q − 32) with sc = scales[8n + 2s + l / 16] and q the 6 bits: nibble s / 2 of
// ql[64n + 32·(s % 2) + l] and bits 2s, 2s + 1 of qh[32n + l].
//
// Chunk `part` (0..7) is n = part / 4, i = part % 4 (l = 8i + 0..7): 8 bytes each of
// ql[64n + 8i ..], ql[64n + 32 + 8i ..] and qh[32n + 8i ..], and scales[8n .. 8n + 7];
// v = 2s + t is the 4 weights of quarter s in word t: weights 128n + 32s + 8i + 4t + 0..3.
// Blocks are 2-byte aligned: each 2-word field is read as 3 words from the word holding its first
// byte, each holding bytes of the block, and shifted by 16 bits when the block's offset is 2
// modulo 4 (see quant_q4_0.wgsl). (d·sc)·q rounds once, as ggml's d·sc·q does (d·sc is exact).

// @operands begin
@group(0) @binding(0) var<storage, read> w: array<u32>;

const BLOCK_ELEMS: u32 = 256u;
const BLOCK_BYTES: u32 = 210u;
const TPB: u32 = 8u;
const VECS: u32 = 8u;

struct WChunk {
    ql0: vec3<u32>,
    ql1: vec3<u32>,
    qh: vec3<u32>,
    sc: vec3<u32>,
    d: u32,
    // Byte offset of the block modulo 4 (0 or 2).
    odd: u32,
}

// The 3 words from the one holding byte `at`.
fn words3(at: u32) -> vec3<u32> {
    let i = at >> 2u;
    return vec3<u32>(w[i], w[i + 1u], w[i + 2u]);
}

fn load_w(blk: u32, part: u32) -> WChunk {
    let o = blk * BLOCK_BYTES;
    let n = part / 4u;
    let i = part % 4u;
    return WChunk(
        words3(o + 64u * n + 8u * i),
        words3(o + 64u * n + 32u + 8u * i),
        words3(o + 128u + 32u * n + 8u * i),
        words3(o + 192u + 8u * n),
        w[(o + 208u) >> 2u],
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

// Word t (0 or 1) of a 3-word field: the 4 bytes from byte 2 of word t when `odd`.
fn field_word(f: vec3<u32>, t: u32, odd: bool) -> u32 {
    return select(f[t], (f[t] >> 16u) | (f[t + 1u] << 16u), odd);
}

fn weights(c: WChunk, part: u32, v: u32) -> vec4<f32> {
    let odd = c.odd != 0u;
    let s = v / 2u;
    let t = v % 2u;
    var ql: u32;
    if (s % 2u == 0u) {
        ql = field_word(c.ql0, t, odd);
    } else {
        ql = field_word(c.ql1, t, odd);
    }
    let qh = field_word(c.qh, t, odd);
    let bytes = ((ql >> (4u * (s / 2u))) & 0x0f0f0f0fu) | (((qh >> (2u * s)) & 0x03030303u) << 4u);
    let q = fields(bytes, vec4<u32>(0u, 8u, 16u, 24u), 0xffu, 32.0);
    // Scale 8n + 2s + i / 2: byte 2s + i / 2 of the chunk's 8 scale bytes, sign-extended. That
    // byte is in word s / 2 (i / 2 <= 1), written so that the word's index depends on v alone
    // and is fixed once the loop over v unrolls.
    let k = 2u * (s % 2u) + (part % 4u) / 2u;
    let sc = bitcast<i32>(field_word(c.sc, s / 2u, odd) << (24u - 8u * k)) >> 24u;
    let halves = unpack2x16float(c.d);
    let d = select(halves.x, halves.y, odd);
    return q * (d * f32(sc));
}
// @operands end
