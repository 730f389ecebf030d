// C = A · B for f32, row-major: A is M×K, B is K×N, C is M×N.
//
// A workgroup computes a BM×BN tile of C. Each thread owns a TM×TN block of it in registers;
// the K dimension is walked in steps of BK through shared-memory tiles of A and B. Loads outside
// the matrices read 0 and stores outside C are skipped, so any M, N, K >= 1 works.
//
// Tile sizes are the `const`s below; the runtime may rewrite them (see strata::shaders).

struct Dims {
    m: u32,
    n: u32,
    k: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> dims: Dims;

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;
const TM: u32 = 4u;
const TN: u32 = 4u;

const WG_X: u32 = BN / TN;
const WG_Y: u32 = BM / TM;
const THREADS: u32 = WG_X * WG_Y;

// A tile stored k-major ([BK][BM]) so a thread's TM values of one k are adjacent.
var<workgroup> tile_a: array<f32, BM * BK>;
var<workgroup> tile_b: array<f32, BK * BN>;

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
                v = a[gr * dims.k + gk];
            }
            tile_a[kk * BM + r] = v;
        }
        for (var i = tid; i < BK * BN; i += THREADS) {
            let kk = i / BN;
            let cc = i % BN;
            let gk = k0 + kk;
            let gc = col0 + cc;
            var v = 0.0;
            if (gk < dims.k && gc < dims.n) {
                v = b[gk * dims.n + gc];
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
