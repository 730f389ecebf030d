// Operand block of gemm.wgsl for f16 A and B, spliced in by strata::shaders::splice (which
// moves the `enable` directive to the top). Needs the SHADER_F16 feature. Each 4-element
// vector is one 8-byte vec4<f16> load, widened to f32; products and sums are f32.

enable f16;

// @operands begin
@group(0) @binding(0) var<storage, read> a: array<vec4<f16>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f16>>;

fn load_a4(i: u32) -> vec4<f32> {
    return vec4<f32>(a[i / 4u]);
}

fn load_b4(i: u32) -> vec4<f32> {
    return vec4<f32>(b[i / 4u]);
}
// @operands end
