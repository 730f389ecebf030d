// Quantized GEMV with rows per subgroup: y[b, r] = sum_c W[r, c] * x[b, c] for weights in one of
// ggml's block types (the raw blocks of a GGUF tensor, row-major [rows, cols], each row
// cols / BLOCK_ELEMS consecutive blocks), x as [batch, cols] f32 and y as [batch, rows] f32.
// Weights stay quantized in memory; each is decoded in registers by the same decoder as in
// gemv_quant.wgsl (exactly as ggml decodes it) and multiplied in f32 with f32 sums.
//
// gemv_quant.wgsl puts a whole workgroup on a few rows and reduces through shared memory. Here
// (the table's engine for batches: on an H200 it was 1.3-1.8x faster at batch 8, and slower at
// batch 1, where the block decoding sets the time) each subgroup of SG lanes owns RT rows of
// its own, and the NSG = WG / SG subgroups of a workgroup walk the same columns at the same
// time, so one read of an x vector from L2 serves NSG·RT rows (the other subgroups find it in
// L1). A lane takes
// chunks lane, lane + SG, ... of each of its rows (neighbouring lanes read neighbouring parts of
// a block and neighbouring blocks), loads UNROLL chunks of every row before decoding any
// (RT·UNROLL chunk loads in flight), keeps RT·BATCH sums in registers, and uses each decoded
// weight for every vector of the batch and each x vector for every row. A subgroup's sums are
// added with subgroupAdd: no shared memory and no barrier.
//
// The operand block between the markers is the block decoder, with gemv_quant.wgsl's interface
// (load_w, elem_offset, weights, BLOCK_ELEMS, TPB, VECS); strata::shaders::splice replaces it
// with one of quant_*.wgsl.
//
// Needs a fixed subgroup size SG (the host checks the device's minimum and maximum agree).
// Should a subgroup still come out another size, the workgroup writes NaN over its outputs
// instead of a wrong sum.
//
// Bounds: a workgroup past the last row group returns before any load (the grid may be 2-D and
// overshoot). Row indices are clamped into the part (min(row, rows - 1)), and chunk indices into
// the row (min(c, chunks - 1)), so every block read lies in the part; rows past the end are
// computed from the last row and never stored, clamped chunks are loaded but not used. Each
// decoder reads only words that hold bytes of its block, and the host checks that each part
// holds its rows' blocks (rounded up to whole words). x indices are < batch·cols / 4 because
// elem_offset(part, v) + 4 <= BLOCK_ELEMS; y indices are < batch·y_stride (rows < rows of the
// part); the host checks that x and y hold that much. Row indices stay below rows + ROWS, far
// from wrapping (a part is below 2 GiB, so it has fewer than 2^27 rows). Every loop steps a u32
// by a positive constant towards a bound below 2^31 (chunks per row = cols / BLOCK_ELEMS · TPB
// < 2^30).
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
    // Row groups of this part: ceil(rows / (NSG · RT)).
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
// The device's (fixed) subgroup size.
const SG: u32 = 32u;
// Rows per subgroup.
const RT: u32 = 2u;
// Vectors in the batch.
const BATCH: u32 = 1u;
// Chunks per row loaded before they are decoded.
const UNROLL: u32 = 4u;

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
    if (sg_size != SG) {
        // Not the subgroup size this kernel was built for: poison the outputs, loudly wrong.
        for (var o = tid; o < ROWS * BATCH; o += WG) {
            let row = group * ROWS + o / BATCH;
            if (row < params.rows) {
                y[(o % BATCH) * params.y_stride + params.row_base + row] =
                    bitcast<f32>(0x7fc00000u);
            }
        }
        return;
    }
    let blocks = params.cols / BLOCK_ELEMS;
    let chunks = blocks * TPB;
    let x_row = params.cols / 4u;
    let row0 = group * ROWS + sg_id * RT;

    // First block of each of this subgroup's rows, clamped into the part.
    var first: array<u32, RT>;
    for (var r = 0u; r < RT; r++) {
        first[r] = min(row0 + r, params.rows - 1u) * blocks;
    }

    var acc: array<f32, OUTS>;
    for (var o = 0u; o < OUTS; o++) {
        acc[o] = 0.0;
    }

    // The chunks this thread takes are lane + k·SG: where SG is a multiple of TPB their
    // part of a block never changes, so it is known before the loop and the decoder's work
    // that depends on it alone (shifts, selects) leaves the loop. A clamped chunk (past the
    // row's end: loaded, never used) then reads the thread's part of the row's last block,
    // still inside the weights.
    let own_part = lane % TPB;
    const fixed_part = SG % TPB == 0u;
    for (var c0 = lane; c0 < chunks; c0 += UNROLL * SG) {
        // Every load of the step first: UNROLL chunks of each row.
        var wv: array<WChunk, UNROLL * RT>;
        for (var u = 0u; u < UNROLL; u++) {
            let c = min(c0 + u * SG, chunks - 1u);
            for (var r = 0u; r < RT; r++) {
                wv[u * RT + r] = load_w(first[r] + c / TPB, select(c % TPB, own_part, fixed_part));
            }
        }
        for (var u = 0u; u < UNROLL; u++) {
            let c = c0 + u * SG;
            if (c < chunks) {
                let part = select(c % TPB, own_part, fixed_part);
                let base = (c / TPB) * BLOCK_ELEMS;
                for (var v = 0u; v < VECS; v++) {
                    let e = (base + elem_offset(part, v)) / 4u;
                    var xv: array<vec4<f32>, BATCH>;
                    for (var bi = 0u; bi < BATCH; bi++) {
                        xv[bi] = x[bi * x_row + e];
                    }
                    for (var r = 0u; r < RT; r++) {
                        let q = weights(wv[u * RT + r], part, v);
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
        let row = row0 + o / BATCH;
        if (lane == 0u && row < params.rows) {
            y[(o % BATCH) * params.y_stride + params.row_base + row] = s;
        }
    }
}
