// GEMV for a batch of 2 to 8 vectors on cooperative matrices (tensor cores): y[b, r] =
// sum_c W[r, c] · x[b, c] for f16 weights stored row-major as [rows, cols] (one part of them,
// as in gemv.wgsl), x prepared by gemv_coop_prep.wgsl into xs [16, stride] f16 (rows 0..7 the
// high f16 parts of the scaled vectors, rows 8..15 the low parts) and inv_scale [8], y as
// [batch, rows] f32.
//
// At batch 8 the FMA kernels (gemv_sg.wgsl) do eight multiply-adds a weight and read eight
// vectors of x from cache for every few rows: the arithmetic and the cache traffic, not the
// weights, set their time. Here one 16×16×16 multiply-add takes 16 rows × 16 columns of W (the
// A fragment) against 16 columns of xs (the B fragment: all
// vectors' high and low parts at once), so each weight is read once from memory and x once
// per 16·RT rows, and the tensor cores do the arithmetic. Products of two f16 values are exact
// in the f32 sums; with hi + lo carrying about 22 bits of each scaled x element, the result is
// as close to the f32 product as the FMA path's (see gemv_coop_prep.wgsl).
//
// A workgroup of NSG subgroups owns RT tiles of 16 rows. Its subgroups split the row's K
// between them, KC = 16·UNROLL columns at a time, subgroup s taking columns (i·NSG + s)·KC
// onwards at iteration i (so the workgroup sweeps each row front to back together). Each lane
// loads its share of the subgroup's next A rows and B rows as 16-byte vectors into registers
// during the current iteration's multiply-adds, and stores them into the subgroup's own
// staging area in shared memory, from which the cooperative loads read (as in
// gemm_coop.wgsl; 16-byte vector loads of whole rows use the memory better than cooperative
// loads of 16 rows × 32 bytes straight from the weights); two barriers an iteration keep the
// areas' writes and reads apart. Every subgroup keeps RT 16×16 f32 accumulators, stores them
// into shared memory at the end, and the workgroup adds the NSG partial sums (and each
// vector's high and low column) in a fixed order and scales them back: no atomics, and the
// result does not depend on timing.
//
// Split K: with several slices (workgroup_id.z is the slice), a workgroup walks columns
// z·k_slice to min(cols, (z + 1)·k_slice) and writes its sums, already scaled back, into copy z
// of y in a scratch buffer (slice_stride elements apart), which sum_slices.wgsl adds up; with
// one slice y is written directly. Rows alone give few workgroups (4096 rows: 256 tiles of 16),
// each walking K one iteration at a time: slices put more loads in flight.
//
// Needs f16 weights with cols a multiple of 16 and parts of at least 16 rows (the host checks
// and otherwise uses the FMA kernels), the device features SHADER_F16, SUBGROUP and
// EXPERIMENTAL_COOPERATIVE_MATRIX with 16×16×16 f16·f16 + f32, and a fixed subgroup size SG.
// Should a subgroup still come out another size, the workgroup writes NaN over its outputs.
//
// Bounds: a workgroup past the last row group returns before any access (the grid may be 2-D
// and overshoot). Fragment t starts at row min(16·(RT·group + t), rows − 16) ≥ 0, so its 16
// rows lie in the part; it stores only the rows from 16·(RT·group + t) on below rows, the ones
// no other fragment owns. A global load is formed only for a vector inside the subgroup's
// share (v < A_VECS or B_VECS) whose column k < cols (a multiple of 8 with cols, so the 8
// halves lie in the row); the rest are zero, so columns past the end of K add nothing. Shared
// indices stay inside the subgroup's area (rows < RT·16 + 16, columns < KC of AS·4). No branch
// guards a cooperative operation.
// The host checks that the part holds rows·cols halves, xs 16·stride halves (stride ≥ cols),
// inv_scale 8 elements and y (or the scratch buffer) slices·slice_stride ≥ batch·y_stride
// elements; every slice's first column lies below cols.
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
    // Halves per row of xs (at least cols, a multiple of 8).
    xs_stride: u32,
    // Columns per slice of K (a multiple of NSG·KC; cols without a split).
    k_slice: u32,
    // Elements between the copies of y of two slices (0 without a split).
    slice_stride: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
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
// Steps of 16 columns per subgroup per iteration, all loaded before use: 1 to 8.
const UNROLL: u32 = 4u;
// Vectors in the batch (2 to 8).
const BATCH: u32 = 8u;

const NSG: u32 = WG / SG;
// Columns of K per subgroup per iteration, and the row stride of the staging areas in
// vec4<f16>: the columns padded by 8 halves (16 bytes), which puts the rows of a fragment in
// different bank groups.
const KC: u32 = UNROLL * 16u;
const AS: u32 = KC / 4u + 2u;
// 16-byte (8-half) vectors a subgroup stages per iteration: A's RT·16 rows and B's 16.
const A_VECS: u32 = RT * 16u * (KC / 8u);
const B_VECS: u32 = 16u * (KC / 8u);
// Each subgroup's staging area: A's rows, then B's 16 (vec4<f16>).
const AREA: u32 = (RT * 16u + 16u) * AS;
// Vectors per lane (the last ones may lie past A_VECS or B_VECS, then unused).
const A_PER: u32 = (A_VECS + SG - 1u) / SG;
const B_PER: u32 = (B_VECS + SG - 1u) / SG;

// The subgroups' staging areas: global loads land here and cooperative loads read from here
// (a cooperative load straight from a storage buffer is not used: see KERNELS.md).
var<workgroup> staged: array<vec4<f16>, NSG * AREA>;
// Each subgroup's RT accumulators, row-major 16×16 (and, before them, the subgroup size thread
// 0 saw). Every workgroup variable is a whole number of 16-byte units: a 4-byte one beside the
// arrays (a `var<workgroup> size: u32`) shifted the cooperative stores by one element on the
// H200 (580.159.04), the cooperative operations apparently assuming 16-byte-aligned arrays.
var<workgroup> partial: array<f32, NSG * RT * 256u>;

// 8 consecutive halves.
struct Eight {
    lo: vec4<f16>,
    hi: vec4<f16>,
}

// The A fragment of staging row `row` (a multiple of 16), step u of the iteration.
fn load_a(area: u32, row: u32, u: u32) -> coop_mat16x16<f16, A> {
    return coopLoadT<coop_mat16x16<f16, A>>(&staged[area + row * AS + u * 4u], AS);
}

// The B fragment of step u: element (k, n) at B row n, column 16·u + k (column-major).
fn load_b(area: u32, u: u32) -> coop_mat16x16<f16, B> {
    return coopLoad<coop_mat16x16<f16, B>>(&staged[area + RT * 16u * AS + u * 4u], AS);
}

// Stores an accumulator into its slot of `partial`. Every operand of a cooperative store is a
// parameter: naga 30 lowers the store without emitting the expressions of its arguments first.
fn store_partial(fragment: coop_mat16x16<f32, C>, at: u32) {
    coopStoreT(fragment, &partial[at], 16u);
}

// Vector v of this subgroup's A rows at iteration column k0 (zero from column `end` on).
fn global_a(v: u32, k0: u32, end: u32, start0: u32, start1: u32) -> Eight {
    let rr = v / (KC / 8u);
    let k = k0 + (v % (KC / 8u)) * 8u;
    let row = select(start0, start1, rr >= 16u) + rr % 16u;
    if (v < A_VECS && k < end) {
        let at = (row * params.cols + k) / 4u;
        return Eight(w[at], w[at + 1u]);
    }
    return Eight();
}

// Vector v of B (xs rows) at iteration column k0 (zero from column `end` on).
fn global_b(v: u32, k0: u32, end: u32) -> Eight {
    let n = v / (KC / 8u);
    let k = k0 + (v % (KC / 8u)) * 8u;
    if (v < B_VECS && k < end) {
        let at = (n * params.xs_stride + k) / 4u;
        return Eight(xs[at], xs[at + 1u]);
    }
    return Eight();
}

@compute @workgroup_size(WG, 1, 1)
fn main(
    @builtin(local_invocation_index) tid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(subgroup_id) sg_id: u32,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_size) sg_size: u32,
) {
    let group = wid.y * params.groups_x + wid.x;
    if (group >= params.groups) {
        return;
    }
    let first = group * RT * 16u;
    let start0 = min(first, params.rows - 16u);
    let start1 = min(first + 16u, params.rows - 16u);
    let out_base = wid.z * params.slice_stride + params.row_base;
    // The subgroup size, made uniform for the analysis that cooperative operations need.
    if (tid == 0u) {
        partial[0] = bitcast<f32>(sg_size);
    }
    if (bitcast<u32>(workgroupUniformLoad(&partial[0])) != SG) {
        // Not the subgroup size this kernel was built for: poison the outputs, loudly wrong.
        for (var e = tid; e < RT * 16u * BATCH; e += WG) {
            let row = first + e % (RT * 16u);
            if (row < params.rows) {
                y[out_base + (e / (RT * 16u)) * params.y_stride + row] = bitcast<f32>(0x7fc00000u);
            }
        }
        return;
    }

    // This workgroup's slice of K.
    let begin = wid.z * params.k_slice;
    let end = min(params.cols, begin + params.k_slice);
    let area = sg_id * AREA;
    let iterations = (end - begin + NSG * KC - 1u) / (NSG * KC);
    var acc0 = coop_mat16x16<f32, C>();
    var acc1 = coop_mat16x16<f32, C>();
    // The first iteration's vectors, then each iteration's next ones in flight during its
    // arithmetic.
    var next_a: array<Eight, A_PER>;
    var next_b: array<Eight, B_PER>;
    for (var j = 0u; j < A_PER; j += 1u) {
        next_a[j] = global_a(j * SG + lane, begin + sg_id * KC, end, start0, start1);
    }
    for (var j = 0u; j < B_PER; j += 1u) {
        next_b[j] = global_b(j * SG + lane, begin + sg_id * KC, end);
    }
    for (var i = 0u; i < iterations; i += 1u) {
        for (var j = 0u; j < A_PER; j += 1u) {
            let v = j * SG + lane;
            if (v < A_VECS) {
                let at = area + (v / (KC / 8u)) * AS + (v % (KC / 8u)) * 2u;
                staged[at] = next_a[j].lo;
                staged[at + 1u] = next_a[j].hi;
            }
        }
        for (var j = 0u; j < B_PER; j += 1u) {
            let v = j * SG + lane;
            if (v < B_VECS) {
                let at = area + (RT * 16u + v / (KC / 8u)) * AS + (v % (KC / 8u)) * 2u;
                staged[at] = next_b[j].lo;
                staged[at + 1u] = next_b[j].hi;
            }
        }
        workgroupBarrier();
        let k1 = begin + ((i + 1u) * NSG + sg_id) * KC;
        if (i + 1u < iterations) {
            for (var j = 0u; j < A_PER; j += 1u) {
                next_a[j] = global_a(j * SG + lane, k1, end, start0, start1);
            }
            for (var j = 0u; j < B_PER; j += 1u) {
                next_b[j] = global_b(j * SG + lane, k1, end);
            }
        }
        for (var u = 0u; u < UNROLL; u += 1u) {
            let b = load_b(area, u);
            acc0 = coopMultiplyAdd(load_a(area, 0u, u), b, acc0);
            if (RT > 1u) {
                acc1 = coopMultiplyAdd(load_a(area, 16u, u), b, acc1);
            }
        }
        // Every subgroup has read its area before the next iteration overwrites it.
        workgroupBarrier();
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
            y[out_base + b * params.y_stride + row] = sum * inv_scale[b];
        }
    }
}
