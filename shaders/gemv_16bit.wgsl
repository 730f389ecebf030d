// Operand block of gemv.wgsl for 16-bit weights (f16 or bf16), spliced in by
// strata::shaders::splice. One chunk is 8 weights read as one vec4<u32> (16 bytes), so rows
// must hold a multiple of 8 columns; x (f32) is read as the matching two vec4<f32>.
//
// Weights are stored as little-endian pairs in u32 words: element 2i is the low half of word i.
// f16 is decoded with integer arithmetic (no SHADER_F16 needed, and much faster than
// unpack2x16float on some drivers): its exponent and mantissa, shifted into f32 position and
// scaled by 2^112, give the exact value of every finite f16, subnormals included; infinities
// and NaNs are restored explicitly. bf16, which WGSL lacks, is the high half of an f32, so
// bitcast<f32>(bits << 16) decodes it exactly.

// @operands begin
@group(0) @binding(0) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;

const CHUNK: u32 = 8u;
// 0: f16 weights, 1: bf16 weights.
const WEIGHTS_BF16: u32 = 0u;

alias WChunk = vec4<u32>;

struct XChunk {
    lo: vec4<f32>,
    hi: vec4<f32>,
}

fn load_w(i: u32) -> WChunk {
    return w[i];
}

fn load_x(i: u32) -> XChunk {
    return XChunk(x[2u * i], x[2u * i + 1u]);
}

// One f16 (in the low 16 bits of `h`) as f32.
fn f16_to_f32(h: u32) -> f32 {
    let magnitude = h & 0x7fffu;
    let sign = (h & 0x8000u) << 16u;
    // 2^112 rebiases the exponent from 15 to 127; exact for normals and subnormals.
    let finite = bitcast<f32>(magnitude << 13u) * 5.192296858534828e33;
    let special = bitcast<f32>(0x7f800000u | (magnitude & 0x3ffu) << 13u);
    return bitcast<f32>(bitcast<u32>(select(finite, special, magnitude >= 0x7c00u)) | sign);
}

// The two weights of one word, low half first.
fn decode(word: u32) -> vec2<f32> {
    if (WEIGHTS_BF16 == 1u) {
        return vec2<f32>(bitcast<f32>(word << 16u), bitcast<f32>(word & 0xffff0000u));
    }
    return vec2<f32>(f16_to_f32(word & 0xffffu), f16_to_f32(word >> 16u));
}

fn dot_chunk(v: WChunk, xv: XChunk) -> f32 {
    let lo = vec4<f32>(decode(v.x), decode(v.y));
    let hi = vec4<f32>(decode(v.z), decode(v.w));
    return dot(lo, xv.lo) + dot(hi, xv.hi);
}

// A chunk's 8 weights as f32, decoded once and used for every vector of the batch.
struct WVals {
    lo: vec4<f32>,
    hi: vec4<f32>,
}

fn widen(v: WChunk) -> WVals {
    return WVals(vec4<f32>(decode(v.x), decode(v.y)), vec4<f32>(decode(v.z), decode(v.w)));
}

// acc + the dot product of a widened chunk with x, as a chain of fused multiply-adds.
fn mac(acc: f32, v: WVals, xv: XChunk) -> f32 {
    let lo = fma(v.lo.w, xv.lo.w, fma(v.lo.z, xv.lo.z, fma(v.lo.y, xv.lo.y, fma(v.lo.x, xv.lo.x, acc))));
    return fma(v.hi.w, xv.hi.w, fma(v.hi.z, xv.hi.z, fma(v.hi.y, xv.hi.y, fma(v.hi.x, xv.hi.x, lo))));
}
// @operands end
