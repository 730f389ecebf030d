// Prepares a batch of x vectors for gemv_coop.wgsl: x [batch, cols] f32 becomes xs, the
// matrix-engine operand [16, stride] f16, and inv_scale [8] f32.
//
// Each vector b is scaled by a power of two s_b that brings its largest magnitude into
// [2^14, 2^15) (s_b clamped to 2^-126 .. 2^126), then split into two f16 parts: hi = s_b·x
// rounded to 11 significant bits, and lo = f16(s_b·x − hi). Row b of xs holds hi, row 8 + b holds lo, so one 16×16×16
// multiply-add gives W·hi in columns 0..7 and W·lo in columns 8..15 of its 16×16 result.
// hi + lo is s_b·x to about 22 significant bits (the error of lo's rounding, at most 2^-11 of
// |s_b·x − hi| ≤ 2^-10·|s_b·x|), nothing overflows (|hi| < 2^15 < 65504), and only elements
// below 2^-29 of the vector's largest fall under f16's normal range; scaling by a power of two
// is exact, and inv_scale[b] = 1 / s_b undoes it on the f32 sums. Rows of vectors past the
// batch are zero, and so are any columns from cols to stride.
//
// Workgroup (slice, b) first finds the largest |x[b, c]| over the whole vector (every slice
// does this for itself: the vector is a few tens of KB, read from L2), reduced through shared
// memory, then converts its slice of SLICE columns. Non-finite x gives non-finite hi, so y is
// non-finite too, as on the other GEMV paths.
//
// Bounds: x is read at b·cols/4 + i for b < batch and i < cols/4 (the host checks x holds
// batch·cols elements, cols a multiple of 16). xs is written at row·stride/4 + i for rows < 16
// and i < stride/4 (the host checks xs holds 16·stride halves, stride ≥ cols), inv_scale
// at b < 8 (8 elements). A workgroup past the last slice returns before any access.
//
// Tile sizes are the `const`s below; the runtime rewrites them (see strata::shaders).

enable f16;

struct Params {
    // Columns of x (a multiple of 16).
    cols: u32,
    // Vectors in x (1 to 8).
    batch: u32,
    // Halves per row of xs (at least cols, a multiple of 4).
    stride: u32,
    // Slices of SLICE vec4 along a row of xs.
    slices: u32,
}

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> xs: array<vec4<f16>>;
@group(0) @binding(2) var<storage, read_write> inv_scale: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

// Threads per workgroup (a power of two).
const WG: u32 = 256u;
// vec4 of a row each workgroup converts: 4 per thread.
const SLICE: u32 = WG * 4u;

var<workgroup> largest: array<f32, WG>;

@compute @workgroup_size(WG, 1, 1)
fn main(
    @builtin(local_invocation_index) tid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let slice = wid.x;
    let b = wid.y;
    if (slice >= params.slices || b >= 8u) {
        return;
    }
    let row4 = params.cols / 4u;
    let stride4 = params.stride / 4u;
    let live = b < params.batch;

    // The vector's largest magnitude (0 for the zero rows past the batch).
    var m = 0.0;
    if (live) {
        for (var i = tid; i < row4; i += WG) {
            let v = abs(x[b * row4 + i]);
            m = max(m, max(max(v.x, v.y), max(v.z, v.w)));
        }
    }
    largest[tid] = m;
    workgroupBarrier();
    for (var half_width = WG / 2u; half_width > 0u; half_width /= 2u) {
        if (tid < half_width) {
            largest[tid] = max(largest[tid], largest[tid + half_width]);
        }
        workgroupBarrier();
    }
    let top = largest[0];
    // s = 2^(14 - e) for top in [2^e, 2^(e+1)): the biased exponent 127 + 14 - (e_biased - 127).
    let biased = i32((bitcast<u32>(top) >> 23u) & 0xffu);
    let scale_biased = u32(clamp(268 - biased, 1, 253));
    let scale = bitcast<f32>(scale_biased << 23u);
    if (slice == 0u && tid == 0u) {
        inv_scale[b] = select(0.0, 1.0 / scale, live);
    }

    let begin = slice * SLICE;
    let end = min(stride4, begin + SLICE);
    for (var i = begin + tid; i < end; i += WG) {
        var hi = vec4<f16>(0.0h);
        var lo = vec4<f16>(0.0h);
        if (live && i < row4) {
            let v = x[b * row4 + i] * scale;
            // v rounded to 11 significant bits with integer arithmetic (to nearest, ties away),
            // exactly an f16 in [2^-14, 2^15]: f32(f16(v)) - v was folded to 0 by NVIDIA's
            // compiler (580.159.04), losing lo.
            let hi32 = bitcast<vec4<f32>>((bitcast<vec4<u32>>(v) + vec4<u32>(0x1000u)) & vec4<u32>(0xffffe000u));
            hi = vec4<f16>(hi32);
            lo = vec4<f16>(v - hi32);
        }
        xs[b * stride4 + i] = hi;
        xs[(8u + b) * stride4 + i] = lo;
    }
}
