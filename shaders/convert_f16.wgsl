// f32 values to f16 (little-endian pairs in u32 words, element 2i in the low half of word i):
// the activations of a quantized GEMM that runs on f16 cooperative matrices.
//
// Thread g converts the 4 values 4g .. 4g + 3 (the host passes a count of whole vec4s).
//
// Bounds: a thread at or past `vecs` (the grid may overshoot, and be 2-D) returns at once;
// `input` holds `vecs` vec4<f32> and `out` `vecs` vec2<u32> (the host checks both).
//
// Tile sizes are the `const`s below; the runtime rewrites them (see strata::shaders).

struct Params {
    // vec4s to convert.
    vecs: u32,
    // Workgroups per row of the dispatch grid.
    groups_x: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> input: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> out: array<vec2<u32>>;
@group(0) @binding(2) var<uniform> params: Params;

// Threads per workgroup.
const WG: u32 = 256u;

@compute @workgroup_size(WG, 1, 1)
fn main(
    @builtin(local_invocation_index) tid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let g = (wid.y * params.groups_x + wid.x) * WG + tid;
    if (g >= params.vecs) {
        return;
    }
    let v = input[g];
    out[g] = vec2<u32>(pack2x16float(v.xy), pack2x16float(v.zw));
}
