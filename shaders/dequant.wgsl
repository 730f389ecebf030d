// Dequantization: ggml blocks (the raw blocks of a GGUF tensor, rows of consecutive blocks) to
// f32 or f16 values, row-major, for the GEMM path of quantized weights (prompt-sized batches,
// which are compute-bound: the weights are decoded once into a matrix the GEMM kernels read).
//
// The operand block between the markers is the block decoder (see gemv_quant.wgsl); it is
// replaced with one of quant_*.wgsl. One thread decodes one chunk (VECS·4 weights) of one
// block: thread g takes chunk g % TPB of block g / TPB, so neighbouring threads read
// neighbouring bytes. Values are written as they are decoded (OUT_F16 = 0: f32, exactly ggml's
// values) or rounded to f16 (OUT_F16 = 1, for the cooperative-matrix GEMM).
//
// Bounds: a thread at or past `chunks` (the grid may overshoot, and be 2-D) returns before any
// load; block g / TPB < chunks / TPB is inside the weights, which the host checks. The element
// index blk·BLOCK_ELEMS + elem_offset(part, v) is a multiple of 4 below blocks·BLOCK_ELEMS, so
// each store (2 vec2 of f32 bits, or 1 vec2 of f16 pairs) lies inside `out`, which the host
// checks holds every element.
//
// Tile sizes are the `const`s below; the runtime rewrites them (see strata::shaders).

struct Params {
    // Chunks to decode (blocks · TPB).
    chunks: u32,
    // Workgroups per row of the dispatch grid.
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

@group(0) @binding(1) var<storage, read_write> out: array<vec2<u32>>;
@group(0) @binding(2) var<uniform> params: Params;

// Threads per workgroup.
const WG: u32 = 256u;
// 0: f32 values, 1: f16 values.
const OUT_F16: u32 = 0u;

@compute @workgroup_size(WG, 1, 1)
fn main(
    @builtin(local_invocation_index) tid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let g = (wid.y * params.groups_x + wid.x) * WG + tid;
    if (g >= params.chunks) {
        return;
    }
    let blk = g / TPB;
    let part = g % TPB;
    let c = load_w(blk, part);
    for (var v = 0u; v < VECS; v++) {
        let q = weights(c, part, v);
        let e = blk * BLOCK_ELEMS + elem_offset(part, v);
        if (OUT_F16 == 1u) {
            out[e / 4u] = vec2<u32>(pack2x16float(q.xy), pack2x16float(q.zw));
        } else {
            let bits = bitcast<vec4<u32>>(q);
            out[e / 2u] = bits.xy;
            out[e / 2u + 1u] = bits.zw;
        }
    }
}
