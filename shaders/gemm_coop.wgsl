// GEMM on cooperative matrices (tensor cores): C = A·B with f16 A and B and f32 accumulation.
//
// A is [M, K] row-major f16. B is [K, N] row-major ("nn") or [N, K] row-major ("nt": weights
// stored as [out, in]), chosen by B_NT. C is [M, N] f32. Needs K % 4 == 0 and N % 4 == 0 (the
// host checks), the device features SHADER_F16, SUBGROUP and EXPERIMENTAL_COOPERATIVE_MATRIX
// with a 16×16×16 f16·f16 + f32 configuration, and a fixed subgroup size SG_SIZE.
//
// A workgroup of SG_M·SG_N subgroups computes a BM×BN tile of C; subgroup (sm, sn) owns a
// (BM/SG_M)×(BN/SG_N) block of it as FM×FN 16×16 f32 accumulators. K is walked in steps of BK:
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

const BM: u32 = 128u;
const BN: u32 = 128u;
const BK: u32 = 32u;
// Subgroups along M and along N, and the device's (fixed) subgroup size.
const SG_M: u32 = 2u;
const SG_N: u32 = 4u;
const SG_SIZE: u32 = 32u;
// 0: B is [K, N] ("nn"); 1: B is [N, K] ("nt").
const B_NT: u32 = 0u;

const THREADS: u32 = SG_M * SG_N * SG_SIZE;
// 16×16 fragments per subgroup along M and N.
const FM: u32 = BM / (16u * SG_M);
const FN: u32 = BN / (16u * SG_N);
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

@compute @workgroup_size(THREADS)
fn main(
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_id) sg: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let tile_m = group.y * BM;
    let tile_n = group.x * BN;
    // This subgroup's block of the tile.
    let block_m = (sg / SG_N) * (FM * 16u);
    let block_n = (sg % SG_N) * (FN * 16u);

    var acc: array<coop_mat16x16<f32, C>, FM * FN>;
    for (var i = 0u; i < FM * FN; i += 1u) {
        acc[i] = coop_mat16x16<f32, C>();
    }

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
            var frag_a: array<coop_mat16x16<f16, A>, FM>;
            for (var i = 0u; i < FM; i += 1u) {
                frag_a[i] = coopLoadT<coop_mat16x16<f16, A>>(
                    &tile_a[(block_m + i * 16u) * A_STRIDE + kk],
                    A_STRIDE,
                );
            }
            for (var j = 0u; j < FN; j += 1u) {
                var frag_b: coop_mat16x16<f16, B>;
                if B_NT == 1u {
                    // Element (k, n) at n·A_STRIDE + k: column-major.
                    frag_b = coopLoad<coop_mat16x16<f16, B>>(
                        &tile_b[(block_n + j * 16u) * A_STRIDE + kk],
                        A_STRIDE,
                    );
                } else {
                    frag_b = coopLoadT<coop_mat16x16<f16, B>>(
                        &tile_b[kk * B_STRIDE_NN + block_n + j * 16u],
                        B_STRIDE_NN,
                    );
                }
                for (var i = 0u; i < FM; i += 1u) {
                    acc[i * FN + j] = coopMultiplyAdd(frag_a[i], frag_b, acc[i * FN + j]);
                }
            }
        }
        workgroupBarrier();
    }

    // Every operand of a cooperative store is a `let`: naga 30 lowers the store without
    // emitting the expressions of its arguments first, so they must be emitted already.
    let n = dims.n;
    if tile_m + BM <= dims.m && tile_n + BN <= n {
        for (var i = 0u; i < FM; i += 1u) {
            for (var j = 0u; j < FN; j += 1u) {
                let row = tile_m + block_m + i * 16u;
                let col = tile_n + block_n + j * 16u;
                let at = row * n + col;
                let fragment = acc[i * FN + j];
                coopStoreT(fragment, &c[at], n);
            }
        }
    } else {
        let staging = sg * 256u;
        for (var i = 0u; i < FM; i += 1u) {
            for (var j = 0u; j < FN; j += 1u) {
                let fragment = acc[i * FN + j];
                coopStoreT(fragment, &tile_c[staging], 16u);
                workgroupBarrier();
                for (var e = lane; e < 256u; e += SG_SIZE) {
                    let row = tile_m + block_m + i * 16u + e / 16u;
                    let col = tile_n + block_n + j * 16u + e % 16u;
                    if row < dims.m && col < dims.n {
                        c[row * dims.n + col] = tile_c[staging + e];
                    }
                }
                workgroupBarrier();
            }
        }
    }
}
