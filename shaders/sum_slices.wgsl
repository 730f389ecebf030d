// Adds up the partial results of a split reduction: out[i] = sum over s of part[s · len + i],
// for i < len. The second step of a GEMV whose columns, or a GEMM whose K, were cut into
// slices (gemv_sg.wgsl, gemm_coop.wgsl): each slice wrote its own copy of the output to a
// scratch buffer. The slices are added in order, so the result does not depend on timing.
//
// Each thread sums one element of out: neighbouring threads read neighbouring words of each
// slice (coalesced), and the grid is 2-D when len / WG exceeds one dimension.
//
// Bounds: a thread past len returns before any access; part indices are s · len + i with
// s < slices and i < len, and the host checks part holds slices · len elements and out len.
//
// Tile sizes are the `const`s below; the runtime rewrites them (see strata::shaders).

struct Params {
    // Elements of the output.
    len: u32,
    // Slices to add.
    slices: u32,
    // Workgroups per row of the dispatch grid.
    groups_x: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> part: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

// Threads per workgroup.
const WG: u32 = 256u;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let i = (wid.y * params.groups_x + wid.x) * WG + tid;
    if (i >= params.len) {
        return;
    }
    var sum = 0.0;
    for (var s = 0u; s < params.slices; s++) {
        sum += part[s * params.len + i];
    }
    out[i] = sum;
}
