// Operand block of gemm_coop.wgsl for bf16 A and B, spliced in by strata::shaders::splice.
//
// WGSL has no bf16: the values are little-endian pairs in u32 words (element 2i in the low half
// of word i), 8 elements (16 bytes) per vec4<u32> load. On their way to the shared f16 tiles
// they are converted to f16: a bf16 is the high half of an f32, and its 8 significant bits fit
// f16's 11, so the conversion is exact from 2^-17 to 65280 in magnitude (see gemm_coop.wgsl
// for the values outside, and strata::kernels::bf16_to_f16 for its CPU mirror and exhaustive
// test). beyond_f16_any flags the values with no f16 at all.

enable f16;

// As in gemm_coop.wgsl (outside the block: the engine has its own).
struct Eight {
    lo: vec4<f16>,
    hi: vec4<f16>,
}

// @operands begin
@group(0) @binding(0) var<storage, read> a: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<u32>>;

// What a 16-byte load of A or B gives.
alias Raw = vec4<u32>;

// 1: values are tested for having an f16 (bf16); 0: they are f16 already.
const RANGE_CHECK: u32 = 1u;

// The i-th 8 elements of A (or B).
fn raw_a(i: u32) -> Raw {
    return a[i];
}

fn raw_b(i: u32) -> Raw {
    return b[i];
}

// Two bf16 (low half first) as two f16: exact from 2^-17 to 65280 in magnitude.
fn bf16_pair(word: u32) -> vec2<f16> {
    return vec2<f16>(vec2<f32>(bitcast<f32>(word << 16u), bitcast<f32>(word & 0xffff0000u)));
}

// 8 elements as halves for the shared tiles.
fn halves(v: Raw) -> Eight {
    return Eight(
        vec4<f16>(bf16_pair(v.x), bf16_pair(v.y)),
        vec4<f16>(bf16_pair(v.z), bf16_pair(v.w)),
    );
}

// Bit 15 or 31 set when a bf16 half of `word` exceeds 65280 in magnitude (no f16): the
// magnitude plus 0x3880 reaches 0x8000 exactly from 0x4780 (65536) up, and stays below
// 0x10000, so the two halves never carry into each other.
fn beyond_f16(word: u32) -> u32 {
    return ((word & 0x7fff7fffu) + 0x38803880u) & 0x80008000u;
}

// Nonzero when one of 8 elements has no f16.
fn beyond_f16_any(v: Raw) -> u32 {
    return beyond_f16(v.x) | beyond_f16(v.y) | beyond_f16(v.z) | beyond_f16(v.w);
}

// The bf16 element i of a word vector as f32.
fn bf16_at(word: u32, i: u32) -> f32 {
    return bitcast<f32>(select(word & 0xffff0000u, word << 16u, i % 2u == 0u));
}

// Element i of A (or B) as f32, for the recomputation of flagged tiles.
fn a_elem(i: u32) -> f32 {
    return bf16_at(a[i / 8u][(i % 8u) / 2u], i);
}

fn b_elem(i: u32) -> f32 {
    return bf16_at(b[i / 8u][(i % 8u) / 2u], i);
}
// @operands end
