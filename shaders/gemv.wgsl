// GEMV: y[b, r] = sum_c W[r, c] * x[b, c] for weights stored row-major as [rows, cols]
// (the safetensors "[out, in]" convention), x as [batch, cols] f32 and y as [batch, rows] f32.
//
// The weights may be split by rows into several buffers ("parts"); one dispatch covers one part
// and writes rows row_base .. row_base + rows of y.
//
// One workgroup computes ROWS consecutive rows for all BATCH vectors. Its WG threads walk the
// columns together in chunks of CHUNK elements (one 16-byte load each): thread t takes chunks
// t, t + WG, t + 2·WG, ... so that neighbouring threads read neighbouring 16 bytes (coalesced).
// UNROLL chunks of every row are loaded before any is used, to keep enough loads in flight to
// saturate memory. Each thread's partial sums are reduced with subgroupAdd, then across the
// workgroup's subgroups through shared memory.
//
// The operand block between the markers reads f32 weights (CHUNK = 4, needs cols % 4 == 0);
// strata::shaders::splice replaces it with the block of gemv_16bit.wgsl for f16/bf16 weights.
//
// Bounds: a workgroup past the last row group returns before any load (the grid may be 2-D and
// overshoot). Row indices are clamped into the part (min(row, rows - 1)) so every load is inside
// the part; rows past the end are computed from the last row and never stored. Chunk indices
// are < cols / CHUNK by the loop conditions. The host checks that each part holds its rows, x
// holds batch·cols and y holds batch·y_stride elements.
//
// Tile sizes are the `const`s below; the runtime rewrites them (see strata::shaders).

struct Params {
    // Rows in this part.
    rows: u32,
    // Columns of W (elements).
    cols: u32,
    // Row of y where this part starts.
    row_base: u32,
    // Rows of the whole matrix: y is [batch, y_stride].
    y_stride: u32,
    // Workgroups that have rows: ceil(rows / ROWS).
    groups: u32,
    // Workgroups per row of the dispatch grid (the grid is 2-D when groups is large).
    groups_x: u32,
    _pad0: u32,
    _pad1: u32,
}

// @operands begin
// One chunk is 4 f32 weights; x is read as the matching 4 f32.
@group(0) @binding(0) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;

const CHUNK: u32 = 4u;
alias WChunk = vec4<f32>;
alias XChunk = vec4<f32>;

fn load_w(i: u32) -> WChunk {
    return w[i];
}

fn load_x(i: u32) -> XChunk {
    return x[i];
}

fn dot_chunk(v: WChunk, xv: XChunk) -> f32 {
    return dot(v, xv);
}

// A chunk's weights as f32, widened once and used for every vector of the batch.
alias WVals = vec4<f32>;

fn widen(v: WChunk) -> WVals {
    return v;
}

// acc + the dot product of a widened chunk with x, as a chain of fused multiply-adds.
fn mac(acc: f32, v: WVals, xv: XChunk) -> f32 {
    return fma(v.w, xv.w, fma(v.z, xv.z, fma(v.y, xv.y, fma(v.x, xv.x, acc))));
}
// @operands end

@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

// Threads per workgroup.
const WG: u32 = 256u;
// Rows per workgroup.
const ROWS: u32 = 1u;
// Vectors in the batch.
const BATCH: u32 = 1u;
// Chunks per row loaded before they are used.
const UNROLL: u32 = 4u;
// WG divided by the device's smallest subgroup size (at least 4 in wgpu).
const MAX_SUBGROUPS: u32 = 64u;

const OUTS: u32 = ROWS * BATCH;

var<workgroup> partial: array<f32, OUTS * MAX_SUBGROUPS>;

@compute @workgroup_size(WG, 1, 1)
fn main(
    @builtin(local_invocation_index) tid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(subgroup_id) sg_id: u32,
    @builtin(subgroup_invocation_id) sg_lane: u32,
    @builtin(num_subgroups) sg_count: u32,
) {
    let group = wid.y * params.groups_x + wid.x;
    if (group >= params.groups) {
        return;
    }
    let chunks = params.cols / CHUNK;
    let row0 = group * ROWS;

    // First chunk of each of this workgroup's rows, clamped into the part.
    var base: array<u32, ROWS>;
    for (var r = 0u; r < ROWS; r++) {
        base[r] = min(row0 + r, params.rows - 1u) * chunks;
    }

    var acc: array<f32, OUTS>;
    for (var o = 0u; o < OUTS; o++) {
        acc[o] = 0.0;
    }

    var c = tid;
    // Main loop: UNROLL chunks per row, all loaded before any is used.
    for (; c + (UNROLL - 1u) * WG < chunks; c += UNROLL * WG) {
        var wv: array<WChunk, UNROLL * ROWS>;
        for (var u = 0u; u < UNROLL; u++) {
            for (var r = 0u; r < ROWS; r++) {
                wv[u * ROWS + r] = load_w(base[r] + c + u * WG);
            }
        }
        for (var u = 0u; u < UNROLL; u++) {
            if (BATCH == 1u) {
                let xv = load_x(c + u * WG);
                for (var r = 0u; r < ROWS; r++) {
                    acc[r] += dot_chunk(wv[u * ROWS + r], xv);
                }
            } else {
                // Each chunk widened once, then used for every vector of the batch.
                var wf: array<WVals, ROWS>;
                for (var r = 0u; r < ROWS; r++) {
                    wf[r] = widen(wv[u * ROWS + r]);
                }
                for (var bi = 0u; bi < BATCH; bi++) {
                    let xv = load_x(bi * chunks + c + u * WG);
                    for (var r = 0u; r < ROWS; r++) {
                        acc[r * BATCH + bi] = mac(acc[r * BATCH + bi], wf[r], xv);
                    }
                }
            }
        }
    }
    // The rest, one chunk at a time.
    for (; c < chunks; c += WG) {
        for (var r = 0u; r < ROWS; r++) {
            let v = widen(load_w(base[r] + c));
            for (var bi = 0u; bi < BATCH; bi++) {
                acc[r * BATCH + bi] = mac(acc[r * BATCH + bi], v, load_x(bi * chunks + c));
            }
        }
    }

    for (var o = 0u; o < OUTS; o++) {
        let s = subgroupAdd(acc[o]);
        if (sg_lane == 0u) {
            partial[o * MAX_SUBGROUPS + sg_id] = s;
        }
    }
    workgroupBarrier();

    if (tid < OUTS) {
        var sum = 0.0;
        for (var s = 0u; s < sg_count; s++) {
            sum += partial[tid * MAX_SUBGROUPS + s];
        }
        let row = row0 + tid / BATCH;
        let bi = tid % BATCH;
        if (row < params.rows) {
            y[bi * params.y_stride + params.row_base + row] = sum;
        }
    }
}
