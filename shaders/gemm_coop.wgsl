// GEMM on cooperative matrices (tensor cores): C = A·B with f16 or bf16 A and B, f32 sums.
//
// A is [M, K] row-major. B is [K, N] row-major ("nn") or [N, K] row-major ("nt": weights
// stored as [out, in]), chosen by B_NT. C is [M, N] f32. A and B are f16 (the operand block
// below) or bf16 (gemm_coop_bf16.wgsl's block), read 16 bytes (8 elements) at a time. Needs K % 8 == 0 and N % 8 == 0 (the host
// checks), the device features SHADER_F16, SUBGROUP and EXPERIMENTAL_COOPERATIVE_MATRIX with a
// 16×16×16 f16·f16 + f32 configuration, and a fixed subgroup size SG_SIZE.
//
// A workgroup of SG_M·SG_N subgroups computes a BM×BN tile of C; each subgroup owns a block of
// FM×FN 16×16 f32 accumulators, each its own variable (an array of cooperative matrices indexed
// in a loop would live in local memory); fragments past FM or FN are never used (constant
// conditions). K is walked in steps of BK: every thread loads its share of the next step's A
// and B tiles from global memory into registers (16 bytes at a time, zero outside the
// matrices) before the current step's arithmetic, and stores them into shared memory after it
// as 8-byte vec4<f16> stores. With BUFFERS = 2 the shared tiles are double-buffered: the next
// step is stored into the other buffer, so one barrier per step suffices; with BUFFERS = 1 a
// second barrier keeps the store from overwriting a tile still being read. The subgroups
// multiply the shared tiles 16 deep at a time: a cooperative load reads 16 rows of 16 halves
// (four vec4<f16>) at a stride counted in vec4<f16>.
//
// Shared tiles: A [BM][BK + 8] halves; B [BN][BK + 8] for nt (each B row is a column of the
// fragment: the column-major load of the MMA's B operand, its native layout) or [BK][BN + 8]
// for nn. The 8 halves of padding per row (16 bytes) put the 8 rows of every 8×8 quarter of a
// fragment in different bank groups; strides stay multiples of 16 bytes.
//
// Split K: with SPLIT slices (workgroup_id.z is the slice), a workgroup walks K from
// z·k_slice to min(K, (z + 1)·k_slice) and writes its sums into copy z of C in a scratch
// buffer (c_stride = M·N elements apart), which sum_slices.wgsl adds up; with one slice
// c_stride is 0 and C is written directly.
//
// bf16: wgpu has no bf16 cooperative type, so bf16 is converted to f16 on its way to
// shared memory. A bf16 has 8 significant bits and f16 11, so every bf16 of magnitude 2^-17 to
// 65280 converts exactly, subnormal f16 included (its last bit, 2^(e-7), is at least 2^-24,
// f16's smallest step); every product of two such values is exact in the tensor cores' f32
// arithmetic, as in the FMA path. A bf16 above 65280 (65536 and up, infinities, NaN) has no
// f16: each load tests its words for such a value, and a workgroup that met one anywhere in
// its A or B tiles (each subgroup's verdict through shared memory) recomputes its tile of C with f32 fused multiply-adds (the FMA path's
// arithmetic) instead of storing the tensor-core sums, so nothing overflows silently. A bf16
// below 2^-17 in magnitude is rounded to f16's grid (or flushed, by a driver that flushes f16
// subnormals): an error below 2^-14 in that element, so |ΔC[m, n]| < 2^-14 · (sum of |A[m, k]|
// over the k where B[k, n] is that small, plus the same with A and B swapped). No exact route
// exists for the whole bf16 range with f16 fragments: f16's exact window is 33 binades of
// bf16's 261, and a fragment multiply-add scales all its products alike, so values further
// apart than the window within one dot product cannot all be exact at any scale.
//
// Bounds: global loads are formed only after the row (or column) and k have been checked
// against M, N and the slice's end of K (a multiple of BK, or K); with K and N multiples of 8
// an 8-element vector is wholly inside or wholly outside its matrix. Every cooperative load
// reads a 16×16 block of one buffer of a shared tile whose first element is at a multiple of
// 16 rows and 16 columns inside it, so the block lies inside that buffer (tile dimensions are
// multiples of 16). C is stored by cooperative stores only when the whole BM×BN tile lies
// inside C; edge tiles go through a per-subgroup 16×16 staging area in shared memory and are
// copied out element by element, each checked against M and N; the bf16 recomputation checks
// every element likewise. Copy z of C starts at z·c_stride, and the host checks the output
// binding holds SPLIT·M·N elements (M·N without a split).
//
// Tile sizes are the `const`s below; the runtime rewrites them (see strata::shaders).

enable f16;
enable wgpu_cooperative_matrix;

struct Dims {
    m: u32,
    n: u32,
    k: u32,
    // K per slice (a multiple of BK), K itself without a split.
    k_slice: u32,
    // Elements between the copies of C of two slices (0 without a split).
    c_stride: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// 8 consecutive halves of a row.
struct Eight {
    lo: vec4<f16>,
    hi: vec4<f16>,
}

// @operands begin
// f16 A and B as vectors of 4 halves; 8 halves (two neighbouring vectors, 16 bytes) move
// together. gemm_coop_bf16.wgsl replaces this block for bf16 operands.
@group(0) @binding(0) var<storage, read> a: array<vec4<f16>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f16>>;

// What a 16-byte load of A or B gives.
alias Raw = Eight;

// 1: values are tested for having an f16 (bf16); 0: they are f16 already.
const RANGE_CHECK: u32 = 0u;

// The i-th 8 elements of A (or B).
fn raw_a(i: u32) -> Raw {
    return Eight(a[2u * i], a[2u * i + 1u]);
}

fn raw_b(i: u32) -> Raw {
    return Eight(b[2u * i], b[2u * i + 1u]);
}

// 8 elements as halves for the shared tiles.
fn halves(v: Raw) -> Eight {
    return v;
}

// Nonzero when an element has no f16 (never, for f16).
fn beyond_f16_any(v: Raw) -> u32 {
    return 0u;
}

// Element i of A (or B) as f32, for the recomputation of flagged tiles.
fn a_elem(i: u32) -> f32 {
    return f32(a[i / 4u][i % 4u]);
}

fn b_elem(i: u32) -> f32 {
    return f32(b[i / 4u][i % 4u]);
}
// @operands end

@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> dims: Dims;

// K per step through shared memory (a multiple of 16).
const BK: u32 = 32u;
// Subgroups along M and along N, and the device's (fixed) subgroup size.
const SG_M: u32 = 2u;
const SG_N: u32 = 2u;
const SG_SIZE: u32 = 32u;
// 16×16 fragments per subgroup along M and along N (1, 2 or 4).
const FM: u32 = 4u;
const FN: u32 = 4u;
// Shared buffers per tile: 1 or 2.
const BUFFERS: u32 = 2u;
// 0: B is [K, N] ("nn"); 1: B is [N, K] ("nt").
const B_NT: u32 = 1u;

const THREADS: u32 = SG_M * SG_N * SG_SIZE;
const BM: u32 = SG_M * FM * 16u;
const BN: u32 = SG_N * FN * 16u;
// 16-byte vectors per tile row of K.
const KV: u32 = BK / 8u;
// Row strides of the shared tiles in vec4<f16> (4 halves): rows of K padded by 8 halves, and
// nn's B rows of N padded likewise.
const K_STRIDE: u32 = BK / 4u + 2u;
const N_STRIDE: u32 = BN / 4u + 2u;
// vec4<f16> per buffer of each tile.
const A_TILE: u32 = BM * K_STRIDE;
const B_TILE: u32 = B_NT * BN * K_STRIDE + (1u - B_NT) * BK * N_STRIDE;
// 16-byte loads per thread per step.
const A_LOADS: u32 = BM * BK / 8u / THREADS;
const B_LOADS: u32 = BN * BK / 8u / THREADS;

var<workgroup> tile_a: array<vec4<f16>, BUFFERS * A_TILE>;
var<workgroup> tile_b: array<vec4<f16>, BUFFERS * B_TILE>;
// One 16×16 f32 staging area per subgroup, for edge tiles of C (and, before them, the bf16
// range verdicts of the subgroups: see `any_out_of_range`).
var<workgroup> tile_c: array<f32, SG_M * SG_N * 256u>;

// The v-th 16 bytes of A's tile at step k0 (zero outside A or past the slice's end k_end).
fn global_a(tile_m: u32, k0: u32, k_end: u32, v: u32) -> Raw {
    let row = tile_m + v / KV;
    let k = k0 + (v % KV) * 8u;
    if row < dims.m && k < k_end {
        return raw_a((row * dims.k + k) / 8u);
    }
    return Raw();
}

// The v-th 16 bytes of B's tile at step k0 (zero outside B or past the slice's end k_end).
fn global_b(tile_n: u32, k0: u32, k_end: u32, v: u32) -> Raw {
    if B_NT == 1u {
        let col = tile_n + v / KV;
        let k = k0 + (v % KV) * 8u;
        if col < dims.n && k < k_end {
            return raw_b((col * dims.k + k) / 8u);
        }
    } else {
        let k = k0 + v / (BN / 8u);
        let col = tile_n + (v % (BN / 8u)) * 8u;
        if k < k_end && col < dims.n {
            return raw_b((k * dims.n + col) / 8u);
        }
    }
    return Raw();
}

// Where the v-th vector of A's tile starts in buffer `buf` (in vec4<f16>).
fn shared_a_index(buf: u32, v: u32) -> u32 {
    return buf * A_TILE + (v / KV) * K_STRIDE + (v % KV) * 2u;
}

// Where the v-th vector of B's tile starts in buffer `buf` (in vec4<f16>).
fn shared_b_index(buf: u32, v: u32) -> u32 {
    if B_NT == 1u {
        return buf * B_TILE + (v / KV) * K_STRIDE + (v % KV) * 2u;
    }
    return buf * B_TILE + (v / (BN / 8u)) * N_STRIDE + (v % (BN / 8u)) * 2u;
}

// One 16×16 fragment of A at tile row `row` and tile column kk (multiples of 16), buffer `buf`.
fn load_a(buf: u32, row: u32, kk: u32) -> coop_mat16x16<f16, A> {
    return coopLoadT<coop_mat16x16<f16, A>>(
        &tile_a[buf * A_TILE + row * K_STRIDE + kk / 4u],
        K_STRIDE,
    );
}

// One 16×16 fragment of B at tile row kk and tile column col (multiples of 16), buffer `buf`.
fn load_b(buf: u32, col: u32, kk: u32) -> coop_mat16x16<f16, B> {
    if B_NT == 1u {
        // Element (k, n) at n·K_STRIDE + k: column-major, the MMA's own B layout.
        return coopLoad<coop_mat16x16<f16, B>>(
            &tile_b[buf * B_TILE + col * K_STRIDE + kk / 4u],
            K_STRIDE,
        );
    }
    return coopLoadT<coop_mat16x16<f16, B>>(
        &tile_b[buf * B_TILE + kk * N_STRIDE + col / 4u],
        N_STRIDE,
    );
}

// Stores a fragment whose 16×16 block lies inside C, starting at element `at`. Every operand of
// a cooperative store is a parameter: naga 30 lowers the store without emitting the
// expressions of its arguments first, so they must be values already.
fn store_inside(fragment: coop_mat16x16<f32, C>, at: u32, n: u32) {
    coopStoreT(fragment, &c[at], n);
}

// Stores the part of a fragment at (row, col) that lies inside C (copy starting at `base`),
// through the subgroup's staging area, element by element.
fn store_edge(
    fragment: coop_mat16x16<f32, C>,
    base: u32,
    row: u32,
    col: u32,
    staging: u32,
    lane: u32,
) {
    coopStoreT(fragment, &tile_c[staging], 16u);
    workgroupBarrier();
    for (var e = lane; e < 256u; e += SG_SIZE) {
        let r = row + e / 16u;
        let q = col + e % 16u;
        if r < dims.m && q < dims.n {
            c[base + r * dims.n + q] = tile_c[staging + e];
        }
    }
    workgroupBarrier();
}

// A[r, k] as f32.
fn a_at(r: u32, k: u32) -> f32 {
    return a_elem(r * dims.k + k);
}

// B[k, q] (nn) or B[q, k] (nt) as f32.
fn b_at(k: u32, q: u32) -> f32 {
    return b_elem(select(k * dims.n + q, q * dims.k + k, B_NT == 1u));
}

// The tile of C at (tile_m, tile_n) over K from k_begin to k_end with f32 fused multiply-adds,
// element by element (the tiles of bf16 operands holding a value with no f16).
fn recompute_tile(tile_m: u32, tile_n: u32, k_begin: u32, k_end: u32, base: u32, li: u32) {
    for (var e = li; e < BM * BN; e += THREADS) {
        let r = tile_m + e / BN;
        let q = tile_n + e % BN;
        if r < dims.m && q < dims.n {
            var sum = 0.0;
            for (var k = k_begin; k < k_end; k += 1u) {
                sum = fma(a_at(r, k), b_at(k, q), sum);
            }
            c[base + r * dims.n + q] = sum;
        }
    }
}

// `true` in every thread when any thread of the workgroup met a value with no f16 (bf16
// operands). Each subgroup's verdict goes to its own word of the edge-tile staging area, which
// nothing else uses before the stores of C, and every thread reads all of them back. No
// workgroup atomic: with one declared beside the shared tiles (even unused), NVIDIA's driver
// (580.159.04, H200) computed wrong sums, the last 4 of every 16 K elements missing.
fn any_out_of_range(mine: bool, sg: u32, lane: u32) -> bool {
    let in_subgroup = subgroupAny(mine);
    if lane == 0u {
        tile_c[sg] = select(0.0, 1.0, in_subgroup);
    }
    var any = false;
    for (var s = 0u; s < SG_M * SG_N; s += 1u) {
        any = any | (workgroupUniformLoad(&tile_c[s]) != 0.0);
    }
    // Every thread has read the verdicts before an edge store overwrites them.
    workgroupBarrier();
    return any;
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
    let k_begin = group.z * dims.k_slice;
    let k_end = min(dims.k, k_begin + dims.k_slice);
    // This subgroup's block of the tile.
    let block_m = (sg / SG_N) * FM * 16u;
    let block_n = (sg % SG_N) * FN * 16u;
    // Fragment offsets inside the block, clamped to the fragments that exist (loads of the
    // others repeat an existing one and go unused).
    let am1 = min(1u, FM - 1u) * 16u;
    let am2 = min(2u, FM - 1u) * 16u;
    let am3 = min(3u, FM - 1u) * 16u;
    let bn1 = min(1u, FN - 1u) * 16u;
    let bn2 = min(2u, FN - 1u) * 16u;
    let bn3 = min(3u, FN - 1u) * 16u;

    var beyond = 0u;

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

    // The first step's tiles, into buffer 0.
    var next_a: array<Raw, A_LOADS>;
    var next_b: array<Raw, B_LOADS>;
    for (var i = 0u; i < A_LOADS; i += 1u) {
        next_a[i] = global_a(tile_m, k_begin, k_end, li + i * THREADS);
    }
    for (var i = 0u; i < B_LOADS; i += 1u) {
        next_b[i] = global_b(tile_n, k_begin, k_end, li + i * THREADS);
    }
    for (var i = 0u; i < A_LOADS; i += 1u) {
        let at = shared_a_index(0u, li + i * THREADS);
        let x = halves(next_a[i]);
        tile_a[at] = x.lo;
        tile_a[at + 1u] = x.hi;
        if RANGE_CHECK == 1u {
            beyond |= beyond_f16_any(next_a[i]);
        }
    }
    for (var i = 0u; i < B_LOADS; i += 1u) {
        let at = shared_b_index(0u, li + i * THREADS);
        let x = halves(next_b[i]);
        tile_b[at] = x.lo;
        tile_b[at + 1u] = x.hi;
        if RANGE_CHECK == 1u {
            beyond |= beyond_f16_any(next_b[i]);
        }
    }
    workgroupBarrier();

    var buf = 0u;
    for (var k0 = k_begin; k0 < k_end; k0 += BK) {
        // The next step's loads, in flight during this step's arithmetic.
        let k1 = k0 + BK;
        if k1 < k_end {
            for (var i = 0u; i < A_LOADS; i += 1u) {
                next_a[i] = global_a(tile_m, k1, k_end, li + i * THREADS);
            }
            for (var i = 0u; i < B_LOADS; i += 1u) {
                next_b[i] = global_b(tile_n, k1, k_end, li + i * THREADS);
            }
        }

        for (var kk = 0u; kk < BK; kk += 16u) {
            let a0 = load_a(buf, block_m, kk);
            let a1 = load_a(buf, block_m + am1, kk);
            let a2 = load_a(buf, block_m + am2, kk);
            let a3 = load_a(buf, block_m + am3, kk);
            let b0 = load_b(buf, block_n, kk);
            c00 = coopMultiplyAdd(a0, b0, c00);
            if FM > 1u {
                c10 = coopMultiplyAdd(a1, b0, c10);
            }
            if FM > 2u {
                c20 = coopMultiplyAdd(a2, b0, c20);
                c30 = coopMultiplyAdd(a3, b0, c30);
            }
            if FN > 1u {
                let b1 = load_b(buf, block_n + bn1, kk);
                c01 = coopMultiplyAdd(a0, b1, c01);
                if FM > 1u {
                    c11 = coopMultiplyAdd(a1, b1, c11);
                }
                if FM > 2u {
                    c21 = coopMultiplyAdd(a2, b1, c21);
                    c31 = coopMultiplyAdd(a3, b1, c31);
                }
            }
            if FN > 2u {
                let b2 = load_b(buf, block_n + bn2, kk);
                c02 = coopMultiplyAdd(a0, b2, c02);
                if FM > 1u {
                    c12 = coopMultiplyAdd(a1, b2, c12);
                }
                if FM > 2u {
                    c22 = coopMultiplyAdd(a2, b2, c22);
                    c32 = coopMultiplyAdd(a3, b2, c32);
                }
                let b3 = load_b(buf, block_n + bn3, kk);
                c03 = coopMultiplyAdd(a0, b3, c03);
                if FM > 1u {
                    c13 = coopMultiplyAdd(a1, b3, c13);
                }
                if FM > 2u {
                    c23 = coopMultiplyAdd(a2, b3, c23);
                    c33 = coopMultiplyAdd(a3, b3, c33);
                }
            }
        }

        if k1 < k_end {
            if BUFFERS == 1u {
                // Everyone has read the tile before it is overwritten.
                workgroupBarrier();
            }
            buf = (buf + 1u) % BUFFERS;
            for (var i = 0u; i < A_LOADS; i += 1u) {
                let at = shared_a_index(buf, li + i * THREADS);
                let x = halves(next_a[i]);
                tile_a[at] = x.lo;
                tile_a[at + 1u] = x.hi;
                if RANGE_CHECK == 1u {
                    beyond |= beyond_f16_any(next_a[i]);
                }
            }
            for (var i = 0u; i < B_LOADS; i += 1u) {
                let at = shared_b_index(buf, li + i * THREADS);
                let x = halves(next_b[i]);
                tile_b[at] = x.lo;
                tile_b[at + 1u] = x.hi;
                if RANGE_CHECK == 1u {
                    beyond |= beyond_f16_any(next_b[i]);
                }
            }
        }
        workgroupBarrier();
    }

    let base = group.z * dims.c_stride;
    if RANGE_CHECK == 1u && any_out_of_range(beyond != 0u, sg, lane) {
        recompute_tile(tile_m, tile_n, k_begin, k_end, base, li);
        return;
    }

    // Fragments past FM×FN do not exist (constant conditions).
    let row = tile_m + block_m;
    let col = tile_n + block_n;
    let n = dims.n;
    if tile_m + BM <= dims.m && tile_n + BN <= dims.n {
        let at = base + row * n + col;
        store_inside(c00, at, n);
        if FN > 1u {
            store_inside(c01, at + bn1, n);
        }
        if FN > 2u {
            store_inside(c02, at + bn2, n);
            store_inside(c03, at + bn3, n);
        }
        if FM > 1u {
            let at1 = at + am1 * n;
            store_inside(c10, at1, n);
            if FN > 1u {
                store_inside(c11, at1 + bn1, n);
            }
            if FN > 2u {
                store_inside(c12, at1 + bn2, n);
                store_inside(c13, at1 + bn3, n);
            }
        }
        if FM > 2u {
            let at2 = at + am2 * n;
            let at3 = at + am3 * n;
            store_inside(c20, at2, n);
            store_inside(c30, at3, n);
            if FN > 1u {
                store_inside(c21, at2 + bn1, n);
                store_inside(c31, at3 + bn1, n);
            }
            if FN > 2u {
                store_inside(c22, at2 + bn2, n);
                store_inside(c23, at2 + bn3, n);
                store_inside(c32, at3 + bn2, n);
                store_inside(c33, at3 + bn3, n);
            }
        }
    } else {
        let staging = sg * 256u;
        store_edge(c00, base, row, col, staging, lane);
        if FN > 1u {
            store_edge(c01, base, row, col + bn1, staging, lane);
        }
        if FN > 2u {
            store_edge(c02, base, row, col + bn2, staging, lane);
            store_edge(c03, base, row, col + bn3, staging, lane);
        }
        if FM > 1u {
            let row1 = row + am1;
            store_edge(c10, base, row1, col, staging, lane);
            if FN > 1u {
                store_edge(c11, base, row1, col + bn1, staging, lane);
            }
            if FN > 2u {
                store_edge(c12, base, row1, col + bn2, staging, lane);
                store_edge(c13, base, row1, col + bn3, staging, lane);
            }
        }
        if FM > 2u {
            let row2 = row + am2;
            let row3 = row + am3;
            store_edge(c20, base, row2, col, staging, lane);
            store_edge(c30, base, row3, col, staging, lane);
            if FN > 1u {
                store_edge(c21, base, row2, col + bn1, staging, lane);
                store_edge(c31, base, row3, col + bn1, staging, lane);
            }
            if FN > 2u {
                store_edge(c22, base, row2, col + bn2, staging, lane);
                store_edge(c23, base, row2, col + bn3, staging, lane);
                store_edge(c32, base, row3, col + bn2, staging, lane);
                store_edge(c33, base, row3, col + bn3, staging, lane);
            }
        }
    }
}
