// GEMM for any shape and any dtype: the edge path of gemm.wgsl.
//
// C = A·B with f32 accumulation. A is [M, K] row-major; B is [K, N] ("nn") or [N, K] ("nt"),
// chosen by B_NT; C is [M, N] f32. A and B are f32, f16 or bf16 (DTYPE), read element by
// element from u32 words: an f32 is one word; 16-bit values are little-endian pairs (element 2i
// in the low half of word i), decoded with unpack2x16float (f16) or a shift (bf16).
//
// Used when K % 4 != 0 or N % 4 != 0, where gemm.wgsl's vector loads would straddle the end of
// a row. A workgroup computes a BM×BN tile of C; each thread owns a TM×TN block of it in
// registers; K is walked in steps of BK through shared-memory tiles of A and B.
//
// Bounds: loads outside the matrices read 0 (row < M or N and k < K are checked before the
// element index is formed) and stores outside C are skipped, so any M, N, K >= 1 works. The host
// checks that each buffer holds its matrix (16-bit matrices rounded up to whole words).
//
// Tile sizes are the `const`s below; the runtime rewrites them (see strata::shaders).

struct Dims {
    m: u32,
    n: u32,
    k: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> a: array<u32>;
@group(0) @binding(1) var<storage, read> b: array<u32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> dims: Dims;

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;
const TM: u32 = 4u;
const TN: u32 = 4u;
// 0: B is [K, N] ("nn"); 1: B is [N, K] ("nt").
const B_NT: u32 = 0u;
// Element type of A and B: 0 f32, 1 f16, 2 bf16.
const DTYPE: u32 = 0u;

const WG_X: u32 = BN / TN;
const WG_Y: u32 = BM / TM;
const THREADS: u32 = WG_X * WG_Y;

// A tile stored k-major ([BK][BM]) so a thread's TM values of one k are adjacent.
var<workgroup> tile_a: array<f32, BM * BK>;
var<workgroup> tile_b: array<f32, BK * BN>;

// Element e of A (or B), as f32.
fn element_a(e: u32) -> f32 {
    if (DTYPE == 0u) {
        return bitcast<f32>(a[e]);
    }
    return half_of(a[e >> 1u], (e & 1u) == 1u);
}

fn element_b(e: u32) -> f32 {
    if (DTYPE == 0u) {
        return bitcast<f32>(b[e]);
    }
    return half_of(b[e >> 1u], (e & 1u) == 1u);
}

// The low or high 16-bit value of a word, decoded as DTYPE.
fn half_of(word: u32, high: bool) -> f32 {
    if (DTYPE == 1u) {
        let pair = unpack2x16float(word);
        return select(pair.x, pair.y, high);
    }
    return bitcast<f32>(select(word << 16u, word & 0xffff0000u, high));
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    let tid = lid.y * WG_X + lid.x;

    var acc: array<f32, TM * TN>;
    for (var i = 0u; i < TM * TN; i++) {
        acc[i] = 0.0;
    }

    for (var k0 = 0u; k0 < dims.k; k0 += BK) {
        for (var i = tid; i < BM * BK; i += THREADS) {
            let r = i / BK;
            let kk = i % BK;
            let gr = row0 + r;
            let gk = k0 + kk;
            var v = 0.0;
            if (gr < dims.m && gk < dims.k) {
                v = element_a(gr * dims.k + gk);
            }
            tile_a[kk * BM + r] = v;
        }
        for (var i = tid; i < BK * BN; i += THREADS) {
            var kk: u32;
            var cc: u32;
            if (B_NT == 1u) {
                // Neighbouring threads read neighbouring k of one row of B ([N, K]).
                cc = i / BK;
                kk = i % BK;
            } else {
                kk = i / BN;
                cc = i % BN;
            }
            let gk = k0 + kk;
            let gc = col0 + cc;
            var v = 0.0;
            if (gk < dims.k && gc < dims.n) {
                if (B_NT == 1u) {
                    v = element_b(gc * dims.k + gk);
                } else {
                    v = element_b(gk * dims.n + gc);
                }
            }
            tile_b[kk * BN + cc] = v;
        }
        workgroupBarrier();

        for (var kk = 0u; kk < BK; kk++) {
            var av: array<f32, TM>;
            var bv: array<f32, TN>;
            for (var i = 0u; i < TM; i++) {
                av[i] = tile_a[kk * BM + lid.y * TM + i];
            }
            for (var j = 0u; j < TN; j++) {
                bv[j] = tile_b[kk * BN + lid.x * TN + j];
            }
            for (var i = 0u; i < TM; i++) {
                for (var j = 0u; j < TN; j++) {
                    acc[i * TN + j] = fma(av[i], bv[j], acc[i * TN + j]);
                }
            }
        }
        workgroupBarrier();
    }

    for (var i = 0u; i < TM; i++) {
        let gr = row0 + lid.y * TM + i;
        if (gr >= dims.m) {
            break;
        }
        for (var j = 0u; j < TN; j++) {
            let gc = col0 + lid.x * TN + j;
            if (gc < dims.n) {
                c[gr * dims.n + gc] = acc[i * TN + j];
            }
        }
    }
}
