// GEMV with rows per subgroup: y[b, r] = sum_c W[r, c] * x[b, c] for weights stored row-major
// as [rows, cols] (one part of them, as in gemv.wgsl), x as [batch, cols] f32 and y as
// [batch, rows] f32. For batches of 2 to 8, and for short rows at batch 1.
//
// gemv.wgsl puts a whole workgroup on a few rows, so every workgroup reads all of x: at batch
// 8 that is 4 bytes·8 of x per weight, several times the weight traffic, from L2. Here each
// subgroup of SG lanes owns RT rows of its own, and the NSG = WG / SG subgroups of a workgroup
// walk the same columns at the same time, so one read of an x chunk from L2 serves NSG·RT rows
// (the other subgroups find it in L1): x traffic from L2 is 1/(NSG·RT) of x per row.
// Every lane keeps RT·BATCH sums in registers; each weight chunk (16 bytes) is read once,
// widened to f32 once, and used for every vector of the batch. The lanes of a subgroup read
// neighbouring chunks of a row (SG·16 contiguous bytes per load instruction); UNROLL chunks of
// each row are loaded before any is used. A subgroup's sums are added with subgroupAdd: no
// shared memory and no barrier.
//
// Split columns: when rows alone give too few workgroups to fill the device, the columns are
// cut into slices of `slice_chunks` chunks (workgroup_id.z is the slice) and each slice's sums
// go to their own copy of y in a scratch buffer (`slice_stride` elements apart), which
// sum_slices.wgsl adds up. With one slice, y is written directly.
//
// The operand block between the markers is gemv.wgsl's (f32 weights, CHUNK = 4);
// strata::shaders::splice replaces it with the block of gemv_16bit.wgsl or gemv_f16.wgsl.
//
// Needs a fixed subgroup size SG (the host checks the device's minimum and maximum agree).
// Should a subgroup still come out another size, the workgroup writes NaN over its outputs
// instead of a wrong sum.
//
// Bounds: a workgroup past the last row group returns before any load (the grid may be 2-D and
// overshoot). Row indices are clamped into the part (min(row, rows - 1)), so every weight load
// is inside the part; rows past the end are computed from the last row and never stored. Chunk
// indices lie in [begin, end) with end <= cols / CHUNK by the loop conditions (the host makes
// begin = slice · slice_chunks < cols / CHUNK for every slice of the grid). The host checks that
// each part holds its rows, x holds batch·cols and y (or the scratch buffer) holds
// slices·slice_stride >= batch·y_stride elements.
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
    // Row groups of this part: ceil(rows / (NSG · RT)).
    groups: u32,
    // Workgroups per row of the dispatch grid (the grid is 2-D when groups is large).
    groups_x: u32,
    // Chunks per column slice.
    slice_chunks: u32,
    // Elements between the copies of y of two slices (0 with one slice).
    slice_stride: u32,
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
// The device's (fixed) subgroup size.
const SG: u32 = 32u;
// Rows per subgroup.
const RT: u32 = 4u;
// Vectors in the batch.
const BATCH: u32 = 1u;
// Chunks per row loaded before they are used.
const UNROLL: u32 = 2u;

// Subgroups per workgroup, and rows per workgroup.
const NSG: u32 = WG / SG;
const ROWS: u32 = NSG * RT;
const OUTS: u32 = RT * BATCH;

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
    let out_base = wid.z * params.slice_stride + params.row_base;
    if (sg_size != SG) {
        // Not the subgroup size this kernel was built for: poison the outputs, loudly wrong.
        for (var o = tid; o < ROWS * BATCH; o += WG) {
            let row = group * ROWS + o / BATCH;
            if (row < params.rows) {
                y[out_base + (o % BATCH) * params.y_stride + row] = bitcast<f32>(0x7fc00000u);
            }
        }
        return;
    }
    let chunks = params.cols / CHUNK;
    let begin = wid.z * params.slice_chunks;
    let end = min(chunks, begin + params.slice_chunks);
    let row0 = group * ROWS + sg_id * RT;

    // First chunk of each of this subgroup's rows, clamped into the part.
    var base: array<u32, RT>;
    for (var r = 0u; r < RT; r++) {
        base[r] = min(row0 + r, params.rows - 1u) * chunks;
    }

    var acc: array<f32, OUTS>;
    for (var o = 0u; o < OUTS; o++) {
        acc[o] = 0.0;
    }

    var c = begin + lane;
    // Main loop: UNROLL chunks per row, all loaded before any is used.
    for (; c + (UNROLL - 1u) * SG < end; c += UNROLL * SG) {
        var wv: array<WChunk, UNROLL * RT>;
        for (var u = 0u; u < UNROLL; u++) {
            for (var r = 0u; r < RT; r++) {
                wv[u * RT + r] = load_w(base[r] + c + u * SG);
            }
        }
        for (var u = 0u; u < UNROLL; u++) {
            var wf: array<WVals, RT>;
            for (var r = 0u; r < RT; r++) {
                wf[r] = widen(wv[u * RT + r]);
            }
            for (var bi = 0u; bi < BATCH; bi++) {
                let xv = load_x(bi * chunks + c + u * SG);
                for (var r = 0u; r < RT; r++) {
                    acc[r * BATCH + bi] = mac(acc[r * BATCH + bi], wf[r], xv);
                }
            }
        }
    }
    // The rest, one chunk at a time.
    for (; c < end; c += SG) {
        var wf: array<WVals, RT>;
        for (var r = 0u; r < RT; r++) {
            wf[r] = widen(load_w(base[r] + c));
        }
        for (var bi = 0u; bi < BATCH; bi++) {
            let xv = load_x(bi * chunks + c);
            for (var r = 0u; r < RT; r++) {
                acc[r * BATCH + bi] = mac(acc[r * BATCH + bi], wf[r], xv);
            }
        }
    }

    for (var o = 0u; o < OUTS; o++) {
        let s = subgroupAdd(acc[o]);
        let row = row0 + o / BATCH;
        if (lane == 0u && row < params.rows) {
            y[out_base + (o % BATCH) * params.y_stride + row] = s;
        }
    }
}
