// GEMV for a batch of 2 to 8 vectors on cooperative matrices (tensor cores): y[b, r] =
// sum_c W[r, c] · x[b, c] for f16 weights stored row-major as [rows, cols] (one part of them,
// as in gemv.wgsl), x prepared by gemv_coop_prep.wgsl into xs [16, stride] f16 (rows 0..7 the
// high f16 parts of the scaled vectors, rows 8..15 the low parts) and inv_scale [8], y as
// [batch, rows] f32.
//
// At batch 8 the FMA kernels (gemv_sg.wgsl) do eight multiply-adds a weight and read eight
// vectors of x from cache for every few rows: the arithmetic and the cache traffic, not the
// weights, set their time. Here one 16×16×16 multiply-add takes 16 rows × 16 columns of W (the
// A fragment, read straight from the weights) against 16 columns of xs (the B fragment: all
// vectors' high and low parts at once), so each weight is read once from memory and x once
// per 16·RT rows, and the tensor cores do the arithmetic. Products of two f16 values are exact
// in the f32 sums; with hi + lo carrying about 22 bits of each scaled x element, the result is
// as close to the f32 product as the FMA path's (see gemv_coop_prep.wgsl).
//
// A workgroup of NSG subgroups owns RT tiles of 16 rows. Its subgroups split the row's K
// between them, UNROLL steps of 16 columns at a time, subgroup s taking steps (i·NSG + s)·UNROLL
// onwards (so the workgroup sweeps each row front to back together); each step's A fragments
// are loaded before any is used. Every subgroup keeps RT 16×16 f32 accumulators, stores them
// into shared memory at the end, and the workgroup adds the NSG partial sums (and each
// vector's high and low column) in a fixed order and scales them back: no atomics, and the
// result does not depend on timing.
//
// Needs f16 weights with cols a multiple of 16 and parts of at least 16 rows (the host checks
// and otherwise uses the FMA kernels), the device features SHADER_F16, SUBGROUP and
// EXPERIMENTAL_COOPERATIVE_MATRIX with 16×16×16 f16·f16 + f32, and a fixed subgroup size SG.
// Should a subgroup still come out another size, the workgroup writes NaN over its outputs.
//
// Bounds: a workgroup past the last row group returns before any access (the grid may be 2-D
// and overshoot). Fragment t starts at row min(16·(RT·group + t), rows − 16) ≥ 0, so its 16
// rows lie in the part; it stores only the rows from 16·(RT·group + t) on below rows, the ones
// no other fragment owns. Steps past the end of K (the last iteration's) load A at the last
// step (inside the row) and B from xs's 16 zero columns at cols .. cols + 15, so they add
// nothing and every load stays inside its buffer; no branch guards a cooperative operation.
// The host checks that the part holds rows·cols halves, xs 16·stride halves (stride = cols +
// 16), inv_scale 8 elements and y batch·y_stride elements.
//
// Tile sizes are the `const`s below; the runtime rewrites them (see strata::shaders).

enable f16;
enable wgpu_cooperative_matrix;

struct Params {
    // Rows in this part (at least 16).
    rows: u32,
    // Columns of W (a multiple of 16).
    cols: u32,
    // Row of y where this part starts.
    row_base: u32,
    // Rows of the whole matrix: y is [batch, y_stride].
    y_stride: u32,
    // Row groups of this part: ceil(rows / (16 · RT)).
    groups: u32,
    // Workgroups per row of the dispatch grid (the grid is 2-D when groups is large).
    groups_x: u32,
    // Halves per row of xs: cols + 16.
    xs_stride: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> w: array<vec4<f16>>;
@group(0) @binding(1) var<storage, read> xs: array<vec4<f16>>;
@group(0) @binding(2) var<storage, read> inv_scale: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

// Threads per workgroup.
const WG: u32 = 256u;
// The device's (fixed) subgroup size.
const SG: u32 = 32u;
// Tiles of 16 rows per workgroup: 1 or 2.
const RT: u32 = 1u;
// Steps of 16 columns per subgroup per iteration, all loaded before use: 1 to 4.
const UNROLL: u32 = 4u;
// Vectors in the batch (2 to 8).
const BATCH: u32 = 8u;

const NSG: u32 = WG / SG;

// Each subgroup's RT accumulators, row-major 16×16.
var<workgroup> partial: array<f32, NSG * RT * 256u>;
// The subgroup size thread 0 saw.
var<workgroup> size_seen: u32;

// The A fragment of 16 rows from `row` at step `step` (16 columns each).
fn load_w(row: u32, step: u32) -> coop_mat16x16<f16, A> {
    return coopLoadT<coop_mat16x16<f16, A>>(&w[(row * params.cols + step * 16u) / 4u], params.cols / 4u);
}

// The B fragment of step `step`: element (k, n) is xs[n, 16·step + k] (column-major).
fn load_x(step: u32) -> coop_mat16x16<f16, B> {
    return coopLoad<coop_mat16x16<f16, B>>(&xs[step * 4u], params.xs_stride / 4u);
}

// Stores an accumulator into its slot of `partial`. Every operand of a cooperative store is a
// parameter: naga 30 lowers the store without emitting the expressions of its arguments first.
fn store_partial(fragment: coop_mat16x16<f32, C>, at: u32) {
    coopStoreT(fragment, &partial[at], 16u);
}

@compute @workgroup_size(WG, 1, 1)
fn main(
    @builtin(local_invocation_index) tid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(subgroup_id) sg_id: u32,
    @builtin(subgroup_size) sg_size: u32,
) {
    let group = wid.y * params.groups_x + wid.x;
    if (group >= params.groups) {
        return;
    }
    let first = group * RT * 16u;
    let start0 = min(first, params.rows - 16u);
    let start1 = min(first + 16u, params.rows - 16u);
    // The subgroup size, made uniform for the analysis that cooperative operations need.
    if (tid == 0u) {
        size_seen = sg_size;
    }
    if (workgroupUniformLoad(&size_seen) != SG) {
        // Not the subgroup size this kernel was built for: poison the outputs, loudly wrong.
        for (var e = tid; e < RT * 16u * BATCH; e += WG) {
            let row = first + e % (RT * 16u);
            if (row < params.rows) {
                y[params.row_base + (e / (RT * 16u)) * params.y_stride + row] = bitcast<f32>(0x7fc00000u);
            }
        }
        return;
    }

    let steps = params.cols / 16u;
    let last = steps - 1u;
    let iterations = (steps + NSG * UNROLL - 1u) / (NSG * UNROLL);
    var acc0 = coop_mat16x16<f32, C>();
    var acc1 = coop_mat16x16<f32, C>();
    for (var i = 0u; i < iterations; i += 1u) {
        let s0 = (i * NSG + sg_id) * UNROLL;
        // Steps past the end read the last step of W and the zero block of xs.
        let s1 = s0 + min(1u, UNROLL - 1u);
        let s2 = s0 + min(2u, UNROLL - 1u);
        let s3 = s0 + min(3u, UNROLL - 1u);
        let a00 = load_w(start0, min(s0, last));
        let a01 = load_w(start0, min(s1, last));
        let a02 = load_w(start0, min(s2, last));
        let a03 = load_w(start0, min(s3, last));
        let a10 = load_w(start1, min(s0, last));
        let a11 = load_w(start1, min(s1, last));
        let a12 = load_w(start1, min(s2, last));
        let a13 = load_w(start1, min(s3, last));
        let b0 = load_x(min(s0, steps));
        acc0 = coopMultiplyAdd(a00, b0, acc0);
        if (RT > 1u) {
            acc1 = coopMultiplyAdd(a10, b0, acc1);
        }
        if (UNROLL > 1u) {
            let b1 = load_x(min(s1, steps));
            acc0 = coopMultiplyAdd(a01, b1, acc0);
            if (RT > 1u) {
                acc1 = coopMultiplyAdd(a11, b1, acc1);
            }
        }
        if (UNROLL > 2u) {
            let b2 = load_x(min(s2, steps));
            acc0 = coopMultiplyAdd(a02, b2, acc0);
            if (RT > 1u) {
                acc1 = coopMultiplyAdd(a12, b2, acc1);
            }
        }
        if (UNROLL > 3u) {
            let b3 = load_x(min(s3, steps));
            acc0 = coopMultiplyAdd(a03, b3, acc0);
            if (RT > 1u) {
                acc1 = coopMultiplyAdd(a13, b3, acc1);
            }
        }
    }
    store_partial(acc0, sg_id * RT * 256u);
    if (RT > 1u) {
        store_partial(acc1, (sg_id * RT + 1u) * 256u);
    }
    workgroupBarrier();

    // Output e: vector e / (RT·16), fragment row e % (RT·16) (neighbouring threads store
    // neighbouring rows of y).
    for (var e = tid; e < RT * 16u * BATCH; e += WG) {
        let b = e / (RT * 16u);
        let t = (e % (RT * 16u)) / 16u;
        let r = e % 16u;
        let row = select(start0, start1, t == 1u) + r;
        if (row >= first + 16u * t && row < params.rows) {
            var sum = 0.0;
            for (var q = 0u; q < NSG; q += 1u) {
                let at = (q * RT + t) * 256u + r * 16u;
                sum += partial[at + b] + partial[at + 8u + b];
            }
            y[params.row_base + b * params.y_stride + row] = sum * inv_scale[b];
        }
    }
}
