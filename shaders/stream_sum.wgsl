// Streaming read: sums an array of vec4<f32> into one partial sum per workgroup.
//
// Used to measure how fast the GPU reads a buffer where it was placed. Each thread walks the
// array with a grid-wide stride (coalesced vec4 loads), UNROLL independent loads in flight at a
// time, then the workgroup reduces its threads' sums in shared memory. Every index is checked
// against `len`, so any length works.

struct Params {
    len: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read> data: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

const WG: u32 = 256u;
const UNROLL: u32 = 4u;

var<workgroup> scratch: array<f32, WG>;

@compute @workgroup_size(WG, 1, 1)
fn main(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let stride = groups.x * WG;
    var acc: array<vec4<f32>, UNROLL>;
    for (var u = 0u; u < UNROLL; u++) {
        acc[u] = vec4<f32>(0.0);
    }
    var i = wid.x * WG + lid.x;
    // Main loop: UNROLL loads issued before any is added.
    for (; i + (UNROLL - 1u) * stride < params.len; i += UNROLL * stride) {
        var v: array<vec4<f32>, UNROLL>;
        for (var u = 0u; u < UNROLL; u++) {
            v[u] = data[i + u * stride];
        }
        for (var u = 0u; u < UNROLL; u++) {
            acc[u] += v[u];
        }
    }
    for (; i < params.len; i += stride) {
        acc[0] += data[i];
    }
    var total = vec4<f32>(0.0);
    for (var u = 0u; u < UNROLL; u++) {
        total += acc[u];
    }
    scratch[lid.x] = total.x + total.y + total.z + total.w;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half /= 2u) {
        if (lid.x < half) {
            scratch[lid.x] += scratch[lid.x + half];
        }
        workgroupBarrier();
    }
    if (lid.x == 0u) {
        partials[wid.x] = scratch[0];
    }
}
