// Streaming read: sums an array of vec4<f32> into one partial sum per workgroup.
//
// Used to measure how fast the GPU reads a buffer where it was placed. Each workgroup reads
// its own contiguous slice of `per_group` vec4s (the last slice may be shorter), WG·UNROLL at
// a time: thread t loads vec4s t, t + WG, ..., t + (UNROLL − 1)·WG of each step, all issued
// before any is added, so neighbouring threads read neighbouring 16 bytes and every thread has
// UNROLL loads in flight. The workgroup then reduces its threads' sums in shared memory.
//
// Bounds: every index is below the slice's end, which is at most `len`; a workgroup whose
// slice starts past `len` reads nothing and stores 0.

struct Params {
    len: u32,
    per_group: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read> data: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

const WG: u32 = 256u;
const UNROLL: u32 = 8u;

var<workgroup> scratch: array<f32, WG>;

@compute @workgroup_size(WG, 1, 1)
fn main(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let begin = min(wid.x * params.per_group, params.len);
    let end = min(begin + params.per_group, params.len);
    var acc: array<vec4<f32>, UNROLL>;
    for (var u = 0u; u < UNROLL; u++) {
        acc[u] = vec4<f32>(0.0);
    }
    var i = begin + lid.x;
    // Main loop: UNROLL loads issued before any is added.
    for (; i + (UNROLL - 1u) * WG < end; i += UNROLL * WG) {
        var v: array<vec4<f32>, UNROLL>;
        for (var u = 0u; u < UNROLL; u++) {
            v[u] = data[i + u * WG];
        }
        for (var u = 0u; u < UNROLL; u++) {
            acc[u] += v[u];
        }
    }
    for (; i < end; i += WG) {
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
