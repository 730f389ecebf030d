// Operand block of gemm.wgsl for bf16 A and B, spliced in by strata::shaders::splice.
//
// WGSL has no bf16: the values are stored as little-endian pairs in u32 words (element 2i in
// the low half of word i), and each 4-element vector is one 8-byte vec2<u32> load. A bf16 is the
// high half of an f32, so bitcast<f32>(bits << 16) decodes it exactly.

// @operands begin
@group(0) @binding(0) var<storage, read> a: array<vec2<u32>>;
@group(0) @binding(1) var<storage, read> b: array<vec2<u32>>;

fn bf16x4(v: vec2<u32>) -> vec4<f32> {
    return vec4<f32>(
        bitcast<f32>(v.x << 16u),
        bitcast<f32>(v.x & 0xffff0000u),
        bitcast<f32>(v.y << 16u),
        bitcast<f32>(v.y & 0xffff0000u),
    );
}

fn load_a4(i: u32) -> vec4<f32> {
    return bf16x4(a[i / 4u]);
}

fn load_b4(i: u32) -> vec4<f32> {
    return bf16x4(b[i / 4u]);
}
// @operands end
