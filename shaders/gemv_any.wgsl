// GEMV for any shape, any weight dtype and any device: the fallback of gemv.wgsl.
//
// y[b, r] = sum_c W[r, c] * x[b, c], weights row-major [rows, cols] in f32, f16 or bf16 (one
// part of them: see gemv.wgsl), x [batch, cols] f32, y [batch, rows] f32.
//
// Used when the row length does not allow 16-byte loads (cols % 4 != 0 for f32, cols % 8 != 0
// for f16/bf16) or when the device has no subgroup operations. One workgroup computes one row:
// its WG threads read the row element by element (neighbouring threads, neighbouring elements)
// and the partial sums are added in a shared-memory tree, with no subgroup operations.
//
// Weights are read as u32 words: an f32 is one word; 16-bit weights are little-endian pairs
// (element 2i in the low half of word i), decoded with unpack2x16float (f16) or a shift (bf16).
//
// Bounds: a workgroup past the last row returns before any load; the element index
// row·cols + c has row < rows and c < cols, so it is inside the part, whose size the host
// checks (rounded up to whole words); x and y likewise.
//
// Tile sizes are the `const`s below; the runtime rewrites them (see strata::shaders).

struct Params {
    rows: u32,
    cols: u32,
    row_base: u32,
    y_stride: u32,
    groups: u32,
    groups_x: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> w: array<u32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

// Threads per workgroup (a power of two).
const WG: u32 = 64u;
// Vectors in the batch.
const BATCH: u32 = 1u;
// Weight dtype: 0 f32, 1 f16, 2 bf16.
const DTYPE: u32 = 0u;

var<workgroup> partial: array<f32, BATCH * WG>;

fn weight(e: u32) -> f32 {
    if (DTYPE == 0u) {
        return bitcast<f32>(w[e]);
    }
    let word = w[e >> 1u];
    let high = (e & 1u) == 1u;
    if (DTYPE == 1u) {
        let pair = unpack2x16float(word);
        return select(pair.x, pair.y, high);
    }
    return bitcast<f32>(select(word << 16u, word & 0xffff0000u, high));
}

@compute @workgroup_size(WG, 1, 1)
fn main(
    @builtin(local_invocation_index) tid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let row = wid.y * params.groups_x + wid.x;
    if (row >= params.groups) {
        return;
    }
    let cols = params.cols;

    var acc: array<f32, BATCH>;
    for (var bi = 0u; bi < BATCH; bi++) {
        acc[bi] = 0.0;
    }
    for (var c = tid; c < cols; c += WG) {
        let v = weight(row * cols + c);
        for (var bi = 0u; bi < BATCH; bi++) {
            acc[bi] = fma(v, x[bi * cols + c], acc[bi]);
        }
    }

    for (var bi = 0u; bi < BATCH; bi++) {
        partial[bi * WG + tid] = acc[bi];
    }
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half >>= 1u) {
        if (tid < half) {
            for (var bi = 0u; bi < BATCH; bi++) {
                partial[bi * WG + tid] += partial[bi * WG + tid + half];
            }
        }
        workgroupBarrier();
    }

    if (tid < BATCH) {
        y[tid * params.y_stride + params.row_base + row] = partial[tid * WG];
    }
}
