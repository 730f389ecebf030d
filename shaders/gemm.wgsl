// GEMM fast path: C = A·B with f32 accumulation, 4-element vector loads, register-blocked tiles.
//
// A is [M, K] row-major. B is [K, N] row-major ("nn") or [N, K] row-major ("nt": weights stored
// as [out, in], the safetensors convention), chosen by B_NT. C is [M, N] f32.
//
// Needs K % 4 == 0 and N % 4 == 0, so that every 4-element vector of A, B and C lies wholly
// inside or wholly outside its matrix (the host sends other shapes to gemm_any.wgsl).
//
// A workgroup computes a BM×BN tile of C with (BN/TN)×(BM/TM) threads; each thread keeps a
// TM×TN block of C in registers, as TM/4 × TN/4 blocks of 4×4 spread over the tile (rows
// (i·WG_Y + ty)·4 .. +4, columns (j·WG_X + tx)·4 .. +4), so that the threads of a subgroup
// read neighbouring vec4s of shared memory. K is walked in steps of BK through two shared
// tiles, both stored k-major ([BK][BM] and [BK][BN]) so a thread reads its rows and columns
// of one k as vec4s. The tiles are double-buffered: the next step's global loads are issued
// into registers before the current step's arithmetic and stored into the other buffer after
// it, with one barrier per step.
//
// The operand block between the markers reads f32 A and B; strata::shaders::splice replaces it
// with the block of gemm_f16.wgsl or gemm_bf16.wgsl.
//
// Bounds: each 4-vector is loaded only when its row is inside the matrix and its first element
// k (or n) is < K (or N); with K and N multiples of 4 the whole vector is then inside, and
// other vectors read as zeros, which add nothing. C is stored only for rows < M and columns < N.
// Shared-memory indices are below 2·BK·BM/4 (and 2·BK·BN/4) by construction of the loops.
//
// Tile sizes are the `const`s below; the runtime rewrites them (see strata::shaders).

struct Dims {
    m: u32,
    n: u32,
    k: u32,
    _pad: u32,
}

// @operands begin
@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;

// The 4 elements of A (or B) starting at element index i, a multiple of 4, as f32.
fn load_a4(i: u32) -> vec4<f32> {
    return a[i / 4u];
}

fn load_b4(i: u32) -> vec4<f32> {
    return b[i / 4u];
}
// @operands end

@group(0) @binding(2) var<storage, read_write> c: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> dims: Dims;

const BM: u32 = 128u;
const BN: u32 = 128u;
const BK: u32 = 16u;
const TM: u32 = 8u;
const TN: u32 = 8u;
// 0: B is [K, N] ("nn"); 1: B is [N, K] ("nt").
const B_NT: u32 = 0u;

const WG_X: u32 = BN / TN;
const WG_Y: u32 = BM / TM;
const THREADS: u32 = WG_X * WG_Y;
// vec4s in one buffer of each tile.
const A_TILE: u32 = BK * BM / 4u;
const B_TILE: u32 = BK * BN / 4u;
// vec4 loads per thread per tile (the host checks that these divide evenly).
const LOADS_A: u32 = A_TILE / THREADS;
const LOADS_B: u32 = B_TILE / THREADS;

var<workgroup> tile_a: array<vec4<f32>, 2u * A_TILE>;
var<workgroup> tile_b: array<vec4<f32>, 2u * B_TILE>;

// 4 elements along K of row `row` of A, or zeros outside A.
fn load_a_rows(row: u32, k: u32) -> vec4<f32> {
    if (row < dims.m && k < dims.k) {
        return load_a4(row * dims.k + k);
    }
    return vec4<f32>(0.0);
}

fn load_b_vec(i: u32, k0: u32, col0: u32) -> vec4<f32> {
    if (B_NT == 1u) {
        // B is [N, K]: like A, 4 elements along K of row col0 + r.
        let r = i / (BK / 4u);
        let gk = k0 + (i % (BK / 4u)) * 4u;
        let gn = col0 + r;
        if (gn < dims.n && gk < dims.k) {
            return load_b4(gn * dims.k + gk);
        }
        return vec4<f32>(0.0);
    }
    // B is [K, N]: 4 elements along N of row k0 + kk.
    let kk = i / (BN / 4u);
    let gn = col0 + (i % (BN / 4u)) * 4u;
    let gk = k0 + kk;
    if (gk < dims.k && gn < dims.n) {
        return load_b4(gk * dims.n + gn);
    }
    return vec4<f32>(0.0);
}

// Stores the 4 elements along K of tile row r (of A, or of B when B_NT) k-major: element e goes
// to row kq·4 + e, column r of a [BK][width] tile.
fn store_a(base: u32, i: u32, v: vec4<f32>) {
    let r = i / (BK / 4u);
    let kq = i % (BK / 4u);
    for (var e = 0u; e < 4u; e++) {
        tile_a[base + (kq * 4u + e) * (BM / 4u) + r / 4u][r % 4u] = v[e];
    }
}

fn store_b(base: u32, i: u32, v: vec4<f32>) {
    if (B_NT == 1u) {
        let r = i / (BK / 4u);
        let kq = i % (BK / 4u);
        for (var e = 0u; e < 4u; e++) {
            tile_b[base + (kq * 4u + e) * (BN / 4u) + r / 4u][r % 4u] = v[e];
        }
    } else {
        tile_b[base + i] = v;
    }
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    let tx = lid.x;
    let ty = lid.y;
    let tid = ty * WG_X + tx;

    var acc: array<vec4<f32>, TM * TN / 4u>;
    for (var i = 0u; i < TM * TN / 4u; i++) {
        acc[i] = vec4<f32>(0.0);
    }

    // Registers holding the next step's tiles between their load and their store.
    var next_a: array<vec4<f32>, LOADS_A>;
    var next_b: array<vec4<f32>, LOADS_B>;

    // Step 0 into buffer 0.
    for (var l = 0u; l < LOADS_A; l++) {
        let i = tid + l * THREADS;
        next_a[l] = load_a_rows(row0 + i / (BK / 4u), (i % (BK / 4u)) * 4u);
    }
    for (var l = 0u; l < LOADS_B; l++) {
        next_b[l] = load_b_vec(tid + l * THREADS, 0u, col0);
    }
    for (var l = 0u; l < LOADS_A; l++) {
        store_a(0u, tid + l * THREADS, next_a[l]);
    }
    for (var l = 0u; l < LOADS_B; l++) {
        store_b(0u, tid + l * THREADS, next_b[l]);
    }
    workgroupBarrier();

    let steps = (dims.k + BK - 1u) / BK;
    for (var s = 0u; s < steps; s++) {
        let cur = s % 2u;
        let more = s + 1u < steps;
        // Issue the next step's global loads now; they complete during the arithmetic.
        if (more) {
            let k0 = (s + 1u) * BK;
            for (var l = 0u; l < LOADS_A; l++) {
                let i = tid + l * THREADS;
                next_a[l] = load_a_rows(row0 + i / (BK / 4u), k0 + (i % (BK / 4u)) * 4u);
            }
            for (var l = 0u; l < LOADS_B; l++) {
                next_b[l] = load_b_vec(tid + l * THREADS, k0, col0);
            }
        }

        let a_base = cur * A_TILE;
        let b_base = cur * B_TILE;
        for (var kk = 0u; kk < BK; kk++) {
            var av: array<vec4<f32>, TM / 4u>;
            var bv: array<vec4<f32>, TN / 4u>;
            for (var i = 0u; i < TM / 4u; i++) {
                av[i] = tile_a[a_base + kk * (BM / 4u) + i * WG_Y + ty];
            }
            for (var j = 0u; j < TN / 4u; j++) {
                bv[j] = tile_b[b_base + kk * (BN / 4u) + j * WG_X + tx];
            }
            for (var i = 0u; i < TM / 4u; i++) {
                for (var ii = 0u; ii < 4u; ii++) {
                    let a_val = vec4<f32>(av[i][ii]);
                    for (var j = 0u; j < TN / 4u; j++) {
                        let at = (i * 4u + ii) * (TN / 4u) + j;
                        acc[at] = fma(a_val, bv[j], acc[at]);
                    }
                }
            }
        }

        // The other buffer was last read in step s - 1, before the previous barrier.
        if (more) {
            let other = 1u - cur;
            for (var l = 0u; l < LOADS_A; l++) {
                store_a(other * A_TILE, tid + l * THREADS, next_a[l]);
            }
            for (var l = 0u; l < LOADS_B; l++) {
                store_b(other * B_TILE, tid + l * THREADS, next_b[l]);
            }
        }
        workgroupBarrier();
    }

    for (var i = 0u; i < TM / 4u; i++) {
        for (var ii = 0u; ii < 4u; ii++) {
            let gr = row0 + (i * WG_Y + ty) * 4u + ii;
            if (gr < dims.m) {
                for (var j = 0u; j < TN / 4u; j++) {
                    let gc = col0 + (j * WG_X + tx) * 4u;
                    if (gc < dims.n) {
                        c[(gr * dims.n + gc) / 4u] = acc[(i * 4u + ii) * (TN / 4u) + j];
                    }
                }
            }
        }
    }
}
