// Quantized GEMV: y[b, r] = sum_c W[r, c] * x[b, c] for weights in one of ggml's block types
// (the raw blocks of a GGUF tensor, row-major [rows, cols], each row cols / BLOCK_ELEMS
// consecutive blocks), x as [batch, cols] f32 and y as [batch, rows] f32. Weights stay
// quantized in memory; each is decoded in registers, exactly as ggml decodes it, and multiplied
// in f32 with f32 sums.
//
// The weights may be split by rows into several buffers ("parts"); one dispatch covers one part
// and writes rows row_base .. row_base + rows of y.
//
// The operand block between the markers is the block decoder; strata::shaders::splice replaces
// it with one of quant_*.wgsl. A decoder cuts each block into TPB chunks of VECS·4 weights, and
// gives, for chunk `part` of the block with global index `blk` (blocks counted from the part's
// start, rows being consecutive blocks): load_w, the raw words the chunk needs (loads only);
// elem_offset(part, v), where in the block its v-th 4 weights lie; weights(c, part, v), those
// 4 weights decoded.
//
// One workgroup computes ROWS consecutive rows for all BATCH vectors. Its WG threads walk the
// chunks of a row together: thread t takes chunks t, t + WG, ... so that neighbouring threads
// read neighbouring parts of a block and neighbouring blocks (coalesced). UNROLL chunks of every
// row are loaded before any is decoded, so each thread has UNROLL·ROWS chunk loads in flight;
// each decoded weight serves every vector of the batch, and each x vector (read once per chunk)
// serves every row. Per-thread sums are reduced with subgroupAdd, then across the workgroup's
// subgroups through shared memory.
//
// Bounds: a workgroup past the last row group returns before any load (the grid may be 2-D and
// overshoot). Row indices are clamped into the part (min(row, rows - 1)), and chunk indices into
// the row (min(c, chunks - 1)), so every block read lies in the part; rows past the end are
// computed from the last row and never stored, clamped chunks are loaded but not used. Each
// decoder reads only words that hold bytes of its block, and the host checks that each part
// holds its rows' blocks (rounded up to whole words). x indices are < batch·cols / 4 because
// elem_offset(part, v) + 4 <= BLOCK_ELEMS; y indices are < batch·y_stride; the host checks that
// x and y hold that much. Every loop steps a u32 by a positive constant towards a bound below
// 2^31 (chunks per row = cols / BLOCK_ELEMS · TPB < 2^31 for cols < 2^32).
//
// Tile sizes are the `const`s below; the runtime rewrites them (see strata::shaders).

struct Params {
    // Rows in this part.
    rows: u32,
    // Columns of W (elements, a multiple of BLOCK_ELEMS).
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
// Stands in for a quant_*.wgsl block so that this file validates alone; never compiled as is.
// Its "blocks" are 4 bytes holding 4 weights of 8 bits.
@group(0) @binding(0) var<storage, read> w: array<u32>;

const BLOCK_ELEMS: u32 = 4u;
const TPB: u32 = 1u;
const VECS: u32 = 1u;

struct WChunk {
    q: u32,
}

fn load_w(blk: u32, part: u32) -> WChunk {
    return WChunk(w[blk]);
}

fn elem_offset(part: u32, v: u32) -> u32 {
    return 0u;
}

fn weights(c: WChunk, part: u32, v: u32) -> vec4<f32> {
    return vec4<f32>(unpack4xU8(c.q));
}
// @operands end

@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

// Threads per workgroup.
const WG: u32 = 256u;
// Rows per workgroup.
const ROWS: u32 = 1u;
// Vectors in the batch.
const BATCH: u32 = 1u;
// Chunks per row loaded before they are decoded.
const UNROLL: u32 = 2u;
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
    let blocks = params.cols / BLOCK_ELEMS;
    let chunks = blocks * TPB;
    let x_row = params.cols / 4u;
    let row0 = group * ROWS;

    // First block of each of this workgroup's rows, clamped into the part.
    var first: array<u32, ROWS>;
    for (var r = 0u; r < ROWS; r++) {
        first[r] = min(row0 + r, params.rows - 1u) * blocks;
    }

    var acc: array<f32, OUTS>;
    for (var o = 0u; o < OUTS; o++) {
        acc[o] = 0.0;
    }

    // The chunks this thread takes are tid + k·WG: where WG is a multiple of TPB their
    // part of a block never changes, so it is known before the loop and the decoder's work
    // that depends on it alone (shifts, selects) leaves the loop. A clamped chunk (past the
    // row's end: loaded, never used) then reads the thread's part of the row's last block,
    // still inside the weights.
    let own_part = tid % TPB;
    const fixed_part = WG % TPB == 0u;
    for (var c0 = tid; c0 < chunks; c0 += UNROLL * WG) {
        // Every load of the step first: UNROLL chunks of each row.
        var wv: array<WChunk, UNROLL * ROWS>;
        for (var u = 0u; u < UNROLL; u++) {
            let c = min(c0 + u * WG, chunks - 1u);
            for (var r = 0u; r < ROWS; r++) {
                wv[u * ROWS + r] = load_w(first[r] + c / TPB, select(c % TPB, own_part, fixed_part));
            }
        }
        for (var u = 0u; u < UNROLL; u++) {
            let c = c0 + u * WG;
            if (c < chunks) {
                let part = select(c % TPB, own_part, fixed_part);
                let base = (c / TPB) * BLOCK_ELEMS;
                for (var v = 0u; v < VECS; v++) {
                    let e = (base + elem_offset(part, v)) / 4u;
                    var xv: array<vec4<f32>, BATCH>;
                    for (var bi = 0u; bi < BATCH; bi++) {
                        xv[bi] = x[bi * x_row + e];
                    }
                    for (var r = 0u; r < ROWS; r++) {
                        let q = weights(wv[u * ROWS + r], part, v);
                        for (var bi = 0u; bi < BATCH; bi++) {
                            acc[r * BATCH + bi] += dot(q, xv[bi]);
                        }
                    }
                }
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
