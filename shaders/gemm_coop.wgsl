// GEMM on cooperative matrices (tensor cores): C = A·B with f16 A and B and f32 accumulation.
//
// A is [M, K] row-major f16. B is [K, N] row-major ("nn") or [N, K] row-major ("nt": weights
// stored as [out, in]), chosen by B_NT. C is [M, N] f32. Needs K % 4 == 0 and N % 4 == 0 (the
// host checks), the device features SHADER_F16, SUBGROUP and EXPERIMENTAL_COOPERATIVE_MATRIX
// with a 16×16×16 f16·f16 + f32 configuration, and a fixed subgroup size SG_SIZE.
//
// A workgroup of SG_M·SG_N subgroups computes a BM×BN tile of C; subgroup (sm, sn) owns a 64×32
// block of it as 4×2 16×16 f32 accumulators, each its own variable (an array of cooperative
// matrices indexed in a loop would live in local memory). K is walked in steps of BK:
// every thread loads its share of the A and B tiles from global memory as vec4<f16>, zero
// outside the matrices, and stores it into shared memory; the subgroups then multiply the
// shared tiles 16 deep at a time. The next step's global loads are issued into registers
// before the current step's arithmetic.
//
// Bounds: global loads are formed only after the row (or column) and k have been checked
// against M, N and K; with K and N multiples of 4 a vector is wholly inside or wholly outside
// its matrix. Every cooperative load reads a 16×16 block of a shared tile whose first element
// is at a multiple of 16 rows and 16 columns inside it, so the block lies inside the tile (tile
// dimensions are multiples of 16, checked by the host). C is stored by cooperative stores only
// when the whole BM×BN tile lies inside C; edge tiles go through a per-subgroup 16×16 staging
// area in shared memory and are copied out element by element, each checked against M and N.
// Row strides of the shared tiles are padded by 8 elements (16 bytes) against bank conflicts;
// they stay multiples of 16 bytes, as cooperative loads want.
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
// Each subgroup's block of C: 64 rows (4 fragments) by 32 columns (2 fragments).
const BM: u32 = SG_M * 64u;
const BN: u32 = SG_N * 32u;
// Padded row strides of the shared tiles, in elements.
const A_STRIDE: u32 = BK + 8u;
const B_STRIDE_NN: u32 = BN + 8u;
// B's shared tile: [BK][BN + 8] for nn, [BN][BK + 8] for nt.
const B_TILE: u32 = (1u - B_NT) * BK * B_STRIDE_NN + B_NT * BN * A_STRIDE;
// vec4 loads per thread per step.
const A_LOADS: u32 = BM * BK / 4u / THREADS;
const B_LOADS: u32 = BN * BK / 4u / THREADS;

var<workgroup> tile_a: array<f16, BM * A_STRIDE>;
var<workgroup> tile_b: array<f16, B_TILE>;
// One 16×16 f32 staging area per subgroup, for edge tiles of C.
var<workgroup> tile_c: array<f32, SG_M * SG_N * 256u>;

// The vec4 of A at tile row `row`, tile vector `kv` of step k0 (zero outside A).
fn global_a(tile_m: u32, k0: u32, v: u32) -> vec4<f16> {
    let row = tile_m + v / (BK / 4u);
    let k = k0 + (v % (BK / 4u)) * 4u;
    if row < dims.m && k < dims.k {
        return a[(row * dims.k + k) / 4u];
    }
    return vec4<f16>();
}

// The v-th vec4 of B's tile at step k0 (zero outside B).
fn global_b(tile_n: u32, k0: u32, v: u32) -> vec4<f16> {
    if B_NT == 1u {
        let col = tile_n + v / (BK / 4u);
        let k = k0 + (v % (BK / 4u)) * 4u;
        if col < dims.n && k < dims.k {
            return b[(col * dims.k + k) / 4u];
        }
    } else {
        let k = k0 + v / (BN / 4u);
        let col = tile_n + (v % (BN / 4u)) * 4u;
        if k < dims.k && col < dims.n {
            return b[(k * dims.n + col) / 4u];
        }
    }
    return vec4<f16>();
}

// Where the v-th vec4 of B's tile goes in shared memory.
fn shared_b_index(v: u32) -> u32 {
    if B_NT == 1u {
        return (v / (BK / 4u)) * A_STRIDE + (v % (BK / 4u)) * 4u;
    }
    return (v / (BN / 4u)) * B_STRIDE_NN + (v % (BN / 4u)) * 4u;
}

// One 16×16 fragment of B at tile row kk and tile column col.
fn load_b(col: u32, kk: u32) -> coop_mat16x16<f16, B> {
    if B_NT == 1u {
        // Element (k, n) at n·A_STRIDE + k: column-major.
        return coopLoad<coop_mat16x16<f16, B>>(&tile_b[col * A_STRIDE + kk], A_STRIDE);
    }
    return coopLoadT<coop_mat16x16<f16, B>>(&tile_b[kk * B_STRIDE_NN + col], B_STRIDE_NN);
}

// One 16×16 fragment of A at tile row `row` and tile column kk.
fn load_a(row: u32, kk: u32) -> coop_mat16x16<f16, A> {
    return coopLoadT<coop_mat16x16<f16, A>>(&tile_a[row * A_STRIDE + kk], A_STRIDE);
}

// Stores a fragment whose 16×16 block at (row, col) lies inside C. Every operand of a
// cooperative store is a parameter: naga 30 lowers the store without emitting the
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

@compute @workgroup_size(THREADS)
fn main(
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_id) sg: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let tile_m = group.y * BM;
    let tile_n = group.x * BN;
    // This subgroup's 64×32 block of the tile.
    let block_m = (sg / SG_N) * 64u;
    let block_n = (sg % SG_N) * 32u;

    var c00 = coop_mat16x16<f32, C>();
    var c01 = coop_mat16x16<f32, C>();
    var c10 = coop_mat16x16<f32, C>();
    var c11 = coop_mat16x16<f32, C>();
    var c20 = coop_mat16x16<f32, C>();
    var c21 = coop_mat16x16<f32, C>();
    var c30 = coop_mat16x16<f32, C>();
    var c31 = coop_mat16x16<f32, C>();

    var next_a: array<vec4<f16>, A_LOADS>;
    var next_b: array<vec4<f16>, B_LOADS>;
    for (var i = 0u; i < A_LOADS; i += 1u) {
        next_a[i] = global_a(tile_m, 0u, li + i * THREADS);
    }
    for (var i = 0u; i < B_LOADS; i += 1u) {
        next_b[i] = global_b(tile_n, 0u, li + i * THREADS);
    }

    for (var k0 = 0u; k0 < dims.k; k0 += BK) {
        for (var i = 0u; i < A_LOADS; i += 1u) {
            let v = li + i * THREADS;
            let at = (v / (BK / 4u)) * A_STRIDE + (v % (BK / 4u)) * 4u;
            let x = next_a[i];
            tile_a[at] = x.x;
            tile_a[at + 1u] = x.y;
            tile_a[at + 2u] = x.z;
            tile_a[at + 3u] = x.w;
        }
        for (var i = 0u; i < B_LOADS; i += 1u) {
            let at = shared_b_index(li + i * THREADS);
            let x = next_b[i];
            tile_b[at] = x.x;
            tile_b[at + 1u] = x.y;
            tile_b[at + 2u] = x.z;
            tile_b[at + 3u] = x.w;
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
            let b1 = load_b(block_n + 16u, kk);
            c00 = coopMultiplyAdd(a0, b0, c00);
            c01 = coopMultiplyAdd(a0, b1, c01);
            c10 = coopMultiplyAdd(a1, b0, c10);
            c11 = coopMultiplyAdd(a1, b1, c11);
            c20 = coopMultiplyAdd(a2, b0, c20);
            c21 = coopMultiplyAdd(a2, b1, c21);
            c30 = coopMultiplyAdd(a3, b0, c30);
            c31 = coopMultiplyAdd(a3, b1, c31);
        }
        workgroupBarrier();
    }

    let n = dims.n;
    let row = tile_m + block_m;
    let col = tile_n + block_n;
    if tile_m + BM <= dims.m && tile_n + BN <= n {
        store_inside(c00, row * n + col, n);
        store_inside(c01, row * n + col + 16u, n);
        store_inside(c10, (row + 16u) * n + col, n);
        store_inside(c11, (row + 16u) * n + col + 16u, n);
        store_inside(c20, (row + 32u) * n + col, n);
        store_inside(c21, (row + 32u) * n + col + 16u, n);
        store_inside(c30, (row + 48u) * n + col, n);
        store_inside(c31, (row + 48u) * n + col + 16u, n);
    } else {
        let staging = sg * 256u;
        store_edge(c00, row, col, staging, lane);
        store_edge(c01, row, col + 16u, staging, lane);
        store_edge(c10, row + 16u, col, staging, lane);
        store_edge(c11, row + 16u, col + 16u, staging, lane);
        store_edge(c20, row + 32u, col, staging, lane);
        store_edge(c21, row + 32u, col + 16u, staging, lane);
        store_edge(c30, row + 48u, col, staging, lane);
        store_edge(c31, row + 48u, col + 16u, staging, lane);
    }
}
