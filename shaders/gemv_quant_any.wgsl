// Quantized GEMV for devices without subgroup operations: gemv_quant.wgsl with the per-thread
// sums added in a shared-memory tree (log2 WG barriers) instead of subgroupAdd. WG is a power
// of two. Everything else (operands, block decoders, loads, bounds) is as in gemv_quant.wgsl;
// the operand block between the markers is replaced with one of quant_*.wgsl.
//
// Bounds: as gemv_quant.wgsl; shared indices are o·WG + t with o < OUTS and t < WG.
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
const WG: u32 = 64u;
// Rows per workgroup.
const ROWS: u32 = 1u;
// Vectors in the batch.
const BATCH: u32 = 1u;
// Chunks per row loaded before they are decoded.
const UNROLL: u32 = 2u;

const OUTS: u32 = ROWS * BATCH;

var<workgroup> partial: array<f32, OUTS * WG>;

@compute @workgroup_size(WG, 1, 1)
fn main(
    @builtin(local_invocation_index) tid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
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
        partial[o * WG + tid] = acc[o];
    }
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half >>= 1u) {
        if (tid < half) {
            for (var o = 0u; o < OUTS; o++) {
                partial[o * WG + tid] += partial[o * WG + tid + half];
            }
        }
        workgroupBarrier();
    }

    if (tid < OUTS) {
        let row = row0 + tid / BATCH;
        let bi = tid % BATCH;
        if (row < params.rows) {
            y[bi * params.y_stride + params.row_base + row] = partial[tid * WG];
        }
    }
}
