// Operand block of gemv.wgsl for f16 weights on devices with SHADER_F16, spliced in by
// strata::shaders::splice (which moves the `enable` directive to the top). One chunk is 8
// weights (16 bytes) read as two neighbouring vec4<f16> and widened to f32 by the hardware;
// rows must hold a multiple of 8 columns. x (f32) is read as the matching two vec4<f32>.
// Devices without SHADER_F16 decode f16 with integer arithmetic instead (gemv_16bit.wgsl).

enable f16;

// @operands begin
@group(0) @binding(0) var<storage, read> w: array<vec4<f16>>;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;

const CHUNK: u32 = 8u;

struct WChunk {
    lo: vec4<f16>,
    hi: vec4<f16>,
}

struct XChunk {
    lo: vec4<f32>,
    hi: vec4<f32>,
}

fn load_w(i: u32) -> WChunk {
    return WChunk(w[2u * i], w[2u * i + 1u]);
}

fn load_x(i: u32) -> XChunk {
    return XChunk(x[2u * i], x[2u * i + 1u]);
}

fn dot_chunk(v: WChunk, xv: XChunk) -> f32 {
    return dot(vec4<f32>(v.lo), xv.lo) + dot(vec4<f32>(v.hi), xv.hi);
}

// A chunk's 8 weights as f32, widened once and used for every vector of the batch.
struct WVals {
    lo: vec4<f32>,
    hi: vec4<f32>,
}

fn widen(v: WChunk) -> WVals {
    return WVals(vec4<f32>(v.lo), vec4<f32>(v.hi));
}

// acc + the dot product of a widened chunk with x, as a chain of fused multiply-adds.
fn mac(acc: f32, v: WVals, xv: XChunk) -> f32 {
    let lo = fma(v.lo.w, xv.lo.w, fma(v.lo.z, xv.lo.z, fma(v.lo.y, xv.lo.y, fma(v.lo.x, xv.lo.x, acc))));
    return fma(v.hi.w, xv.hi.w, fma(v.hi.z, xv.hi.z, fma(v.hi.y, xv.hi.y, fma(v.hi.x, xv.hi.x, lo))));
}
// @operands end
