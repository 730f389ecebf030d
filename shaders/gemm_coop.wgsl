// GEMM on cooperative matrices (tensor cores): C = A·B with f16 A and B and f32 accumulation.
//
// A is [M, K] row-major f16. B is [K, N] row-major ("nn") or [N, K] row-major ("nt": weights
// stored as [out, in]), chosen by B_NT. C is [M, N] f32. Needs K % 8 == 0 and N % 8 == 0 (the
// host checks), the device features SHADER_F16, SUBGROUP and EXPERIMENTAL_COOPERATIVE_MATRIX
// with a 16×16×16 f16·f16 + f32 configuration, and a fixed subgroup size SG_SIZE.
//
// A workgroup of SG_M·SG_N subgroups computes a BM×BN tile of C; each subgroup owns a 64×64
// block of it as 4×4 16×16 f32 accumulators, each its own variable (an array of cooperative
// matrices indexed in a loop would live in local memory). K is walked in steps of BK: every
// thread loads its share of the A and B tiles from global memory, 8 halves (16 bytes) at a
// time (two neighbouring vec4<f16>), zero outside the matrices, and stores them into the
// shared f16 tiles; the subgroups
// then multiply the shared tiles 16 deep at a time. The next step's global loads are issued
// into registers before the current step's arithmetic.
//
// Bounds: global loads are formed only after the row (or column) and k have been checked
// against M, N and K; with K and N multiples of 8 an 8-half vector is wholly inside or wholly
// outside its matrix. Every cooperative load reads a 16×16 block of a shared tile whose first
// element is at a multiple of 16 rows and 16 columns inside it, so the block lies inside the
// tile (tile dimensions are multiples of 16). C is stored by cooperative stores only when the
// whole BM×BN tile lies inside C; edge tiles go through a per-subgroup 16×16 staging area in
// shared memory and are copied out element by element, each checked against M and N. Row
// strides of the shared tiles are padded by 8 halves (16 bytes) against bank conflicts; they
// stay multiples of 16 bytes, as cooperative loads want.
//
// Tile sizes are the `const`s below; the runtime rewrites them (see strata::shaders).

enable f16;
enable wgpu_cooperative_matrix;

struct Dims {
    m: u32,
    n: u32,
    k: u32,
    _pad: u32,
}

// A and B as vectors of 4 halves; 8 halves (two neighbouring vectors, 16 bytes) move together.
@group(0) @binding(0) var<storage, read> a: array<vec4<f16>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f16>>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> dims: Dims;

const BK: u32 = 32u;
// Subgroups along M and along N, and the device's (fixed) subgroup size.
const SG_M: u32 = 2u;
const SG_N: u32 = 4u;
const SG_SIZE: u32 = 32u;
// 0: B is [K, N] ("nn"); 1: B is [N, K] ("nt").
const B_NT: u32 = 0u;

const THREADS: u32 = SG_M * SG_N * SG_SIZE;
// Each subgroup's block of C: 64×64 (4×4 fragments).
const BM: u32 = SG_M * 64u;
const BN: u32 = SG_N * 64u;
// Padded row strides of the shared tiles, in halves.
const A_STRIDE: u32 = BK + 8u;
const B_STRIDE_NN: u32 = BN + 8u;
// B's shared tile: [BK][BN + 8] for nn, [BN][BK + 8] for nt.
const B_TILE: u32 = (1u - B_NT) * BK * B_STRIDE_NN + B_NT * BN * A_STRIDE;
// 16-byte loads per thread per step.
const A_LOADS: u32 = BM * BK / 8u / THREADS;
const B_LOADS: u32 = BN * BK / 8u / THREADS;

// 8 consecutive halves of a row.
struct Eight {
    lo: vec4<f16>,
    hi: vec4<f16>,
}

var<workgroup> tile_a: array<f16, BM * A_STRIDE>;
var<workgroup> tile_b: array<f16, B_TILE>;
// One 16×16 f32 staging area per subgroup, for edge tiles of C.
var<workgroup> tile_c: array<f32, SG_M * SG_N * 256u>;

// The v-th 8 halves of A's tile at step k0 (zero outside A).
fn global_a(tile_m: u32, k0: u32, v: u32) -> Eight {
    let row = tile_m + v / (BK / 8u);
    let k = k0 + (v % (BK / 8u)) * 8u;
    if row < dims.m && k < dims.k {
        let i = (row * dims.k + k) / 4u;
        return Eight(a[i], a[i + 1u]);
    }
    return Eight();
}

// The v-th 8 halves of B's tile at step k0 (zero outside B).
fn global_b(tile_n: u32, k0: u32, v: u32) -> Eight {
    if B_NT == 1u {
        let col = tile_n + v / (BK / 8u);
        let k = k0 + (v % (BK / 8u)) * 8u;
        if col < dims.n && k < dims.k {
            let i = (col * dims.k + k) / 4u;
            return Eight(b[i], b[i + 1u]);
        }
    } else {
        let k = k0 + v / (BN / 8u);
        let col = tile_n + (v % (BN / 8u)) * 8u;
        if k < dims.k && col < dims.n {
            let i = (k * dims.n + col) / 4u;
            return Eight(b[i], b[i + 1u]);
        }
    }
    return Eight();
}

// Where the v-th vector of A's tile starts in shared memory.
fn shared_a_index(v: u32) -> u32 {
    return (v / (BK / 8u)) * A_STRIDE + (v % (BK / 8u)) * 8u;
}

// Where the v-th vector of B's tile starts in shared memory.
fn shared_b_index(v: u32) -> u32 {
    if B_NT == 1u {
        return (v / (BK / 8u)) * A_STRIDE + (v % (BK / 8u)) * 8u;
    }
    return (v / (BN / 8u)) * B_STRIDE_NN + (v % (BN / 8u)) * 8u;
}

// Stores 8 halves at `at` of tile A.
fn store_a(at: u32, x: Eight) {
    tile_a[at] = x.lo.x;
    tile_a[at + 1u] = x.lo.y;
    tile_a[at + 2u] = x.lo.z;
    tile_a[at + 3u] = x.lo.w;
    tile_a[at + 4u] = x.hi.x;
    tile_a[at + 5u] = x.hi.y;
    tile_a[at + 6u] = x.hi.z;
    tile_a[at + 7u] = x.hi.w;
}

// Stores 8 halves at `at` of tile B.
fn store_b(at: u32, x: Eight) {
    tile_b[at] = x.lo.x;
    tile_b[at + 1u] = x.lo.y;
    tile_b[at + 2u] = x.lo.z;
    tile_b[at + 3u] = x.lo.w;
    tile_b[at + 4u] = x.hi.x;
    tile_b[at + 5u] = x.hi.y;
    tile_b[at + 6u] = x.hi.z;
    tile_b[at + 7u] = x.hi.w;
}

// One 16×16 fragment of A at tile row `row` and tile column kk (a multiple of 16).
fn load_a(row: u32, kk: u32) -> coop_mat16x16<f16, A> {
    return coopLoadT<coop_mat16x16<f16, A>>(&tile_a[row * A_STRIDE + kk], A_STRIDE);
}

// One 16×16 fragment of B at tile row kk and tile column col (multiples of 16).
fn load_b(col: u32, kk: u32) -> coop_mat16x16<f16, B> {
    if B_NT == 1u {
        // Element (k, n) at n·A_STRIDE + k: column-major.
        return coopLoad<coop_mat16x16<f16, B>>(&tile_b[col * A_STRIDE + kk], A_STRIDE);
    }
    return coopLoadT<coop_mat16x16<f16, B>>(&tile_b[kk * B_STRIDE_NN + col], B_STRIDE_NN);
}

// Stores a fragment whose 16×16 block lies inside C, starting at element `at`. Every operand of
// a cooperative store is a parameter: naga 30 lowers the store without emitting the
// expressions of its arguments first, so they must be values already.
fn store_inside(fragment: coop_mat16x16<f32, C>, at: u32, n: u32) {
    coopStoreT(fragment, &c[at], n);
}

// Stores the part of a fragment at (row, col) that lies inside C, through the subgroup's
// staging area, element by element.
fn store_edge(fragment: coop_mat16x16<f32, C>, row: u32, col: u32, staging: u32, lane: u32) {
    coopStoreT(fragment, &tile_c[staging], 16u);
    workgroupBarrier();
    for (var e = lane; e < 256u; e += SG_SIZE) {
        let r = row + e / 16u;
        let q = col + e % 16u;
        if r < dims.m && q < dims.n {
            c[r * dims.n + q] = tile_c[staging + e];
        }
    }
    workgroupBarrier();
}

// Stores one row of 4 fragments of a subgroup's block, at (row, col), wholly inside C.
fn store_row_inside(row: u32, col: u32, f: array<coop_mat16x16<f32, C>, 4>) {
    let n = dims.n;
    store_inside(f[0], row * n + col, n);
    store_inside(f[1], row * n + col + 16u, n);
    store_inside(f[2], row * n + col + 32u, n);
    store_inside(f[3], row * n + col + 48u, n);
}

// Stores what lies inside C of one row of 4 fragments at (row, col).
fn store_row_edge(row: u32, col: u32, staging: u32, lane: u32, f: array<coop_mat16x16<f32, C>, 4>) {
    store_edge(f[0], row, col, staging, lane);
    store_edge(f[1], row, col + 16u, staging, lane);
    store_edge(f[2], row, col + 32u, staging, lane);
    store_edge(f[3], row, col + 48u, staging, lane);
}

@compute @workgroup_size(THREADS)
fn main(
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_id) sg: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let tile_m = group.y * BM;
    let tile_n = group.x * BN;
    // This subgroup's 64×64 block of the tile.
    let block_m = (sg / SG_N) * 64u;
    let block_n = (sg % SG_N) * 64u;

    var c00 = coop_mat16x16<f32, C>();
    var c01 = coop_mat16x16<f32, C>();
    var c02 = coop_mat16x16<f32, C>();
    var c03 = coop_mat16x16<f32, C>();
    var c10 = coop_mat16x16<f32, C>();
    var c11 = coop_mat16x16<f32, C>();
    var c12 = coop_mat16x16<f32, C>();
    var c13 = coop_mat16x16<f32, C>();
    var c20 = coop_mat16x16<f32, C>();
    var c21 = coop_mat16x16<f32, C>();
    var c22 = coop_mat16x16<f32, C>();
    var c23 = coop_mat16x16<f32, C>();
    var c30 = coop_mat16x16<f32, C>();
    var c31 = coop_mat16x16<f32, C>();
    var c32 = coop_mat16x16<f32, C>();
    var c33 = coop_mat16x16<f32, C>();

    var next_a: array<Eight, A_LOADS>;
    var next_b: array<Eight, B_LOADS>;
    for (var i = 0u; i < A_LOADS; i += 1u) {
        next_a[i] = global_a(tile_m, 0u, li + i * THREADS);
    }
    for (var i = 0u; i < B_LOADS; i += 1u) {
        next_b[i] = global_b(tile_n, 0u, li + i * THREADS);
    }

    for (var k0 = 0u; k0 < dims.k; k0 += BK) {
        for (var i = 0u; i < A_LOADS; i += 1u) {
            store_a(shared_a_index(li + i * THREADS), next_a[i]);
        }
        for (var i = 0u; i < B_LOADS; i += 1u) {
            store_b(shared_b_index(li + i * THREADS), next_b[i]);
        }
        workgroupBarrier();

        // The next step's loads, in flight during this step's arithmetic.
        let k1 = k0 + BK;
        if k1 < dims.k {
            for (var i = 0u; i < A_LOADS; i += 1u) {
                next_a[i] = global_a(tile_m, k1, li + i * THREADS);
            }
            for (var i = 0u; i < B_LOADS; i += 1u) {
                next_b[i] = global_b(tile_n, k1, li + i * THREADS);
            }
        }

        for (var kk = 0u; kk < BK; kk += 16u) {
            let a0 = load_a(block_m, kk);
            let a1 = load_a(block_m + 16u, kk);
            let a2 = load_a(block_m + 32u, kk);
            let a3 = load_a(block_m + 48u, kk);
            let b0 = load_b(block_n, kk);
            c00 = coopMultiplyAdd(a0, b0, c00);
            c10 = coopMultiplyAdd(a1, b0, c10);
            c20 = coopMultiplyAdd(a2, b0, c20);
            c30 = coopMultiplyAdd(a3, b0, c30);
            let b1 = load_b(block_n + 16u, kk);
            c01 = coopMultiplyAdd(a0, b1, c01);
            c11 = coopMultiplyAdd(a1, b1, c11);
            c21 = coopMultiplyAdd(a2, b1, c21);
            c31 = coopMultiplyAdd(a3, b1, c31);
            let b2 = load_b(block_n + 32u, kk);
            c02 = coopMultiplyAdd(a0, b2, c02);
            c12 = coopMultiplyAdd(a1, b2, c12);
            c22 = coopMultiplyAdd(a2, b2, c22);
            c32 = coopMultiplyAdd(a3, b2, c32);
            let b3 = load_b(block_n + 48u, kk);
            c03 = coopMultiplyAdd(a0, b3, c03);
            c13 = coopMultiplyAdd(a1, b3, c13);
            c23 = coopMultiplyAdd(a2, b3, c23);
            c33 = coopMultiplyAdd(a3, b3, c33);
        }
        workgroupBarrier();
    }

    let row = tile_m + block_m;
    let col = tile_n + block_n;
    if tile_m + BM <= dims.m && tile_n + BN <= dims.n {
        store_row_inside(row, col, array(c00, c01, c02, c03));
        store_row_inside(row + 16u, col, array(c10, c11, c12, c13));
        store_row_inside(row + 32u, col, array(c20, c21, c22, c23));
        store_row_inside(row + 48u, col, array(c30, c31, c32, c33));
    } else {
        let staging = sg * 256u;
        store_row_edge(row, col, staging, lane, array(c00, c01, c02, c03));
        store_row_edge(row + 16u, col, staging, lane, array(c10, c11, c12, c13));
        store_row_edge(row + 32u, col, staging, lane, array(c20, c21, c22, c23));
        store_row_edge(row + 48u, col, staging, lane, array(c30, c31, c32, c33));
    }
}
