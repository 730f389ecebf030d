//! The shape of LLM token generation, through one recording replayed every token.
//!
//! Each layer is a pre-norm transformer block for a context of one token: RMSNorm, the q, k, v
//! and o projections (with a single position, attention returns v itself), a residual add,
//! RMSNorm again, the gate and up projections, SiLU(gate)·up, the down projection and a second
//! residual add. The norms, SiLU·mul and adds are this program's own WGSL kernels; the
//! projections are Strata's GEMV over bf16 weights in one placement. The whole token (writes,
//! 13 ops a layer, the read-back) is recorded once; every token is a replay with new input.
//!
//! ```sh
//! cargo run --example decode_loop            # weights in `auto` placement
//! cargo run --example decode_loop -- host    # or any placement: vram, vram-mapped, host, ...
//! ```

use std::time::Instant;
use strata::reference::{CHAIN_TOLERANCE, compare, encode, random_f32, round_to};
use strata::{
    Access, Context, GemvSpec, KernelDtype, KernelSource, PlaceOptions, PlacedTensor, Placement,
    Usage, UserKernel,
};

/// Layers, model width and MLP width: small enough for a CPU driver (a 7B model has 32 layers
/// of 4096 and an MLP of 14336; `strata bench --ops decode` runs that shape).
const LAYERS: usize = 4;
const DIM: u32 = 512;
const MLP: u32 = 1024;
/// Tokens timed.
const TOKENS: usize = 16;

/// y = x / rms(x), over one vector of `n` floats, by one workgroup.
const RMS_NORM: &str = "
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
struct Params { n: u32, eps: f32, pad0: u32, pad1: u32 }
@group(0) @binding(2) var<uniform> params: Params;
var<workgroup> partial: array<f32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
    var sum = 0.0;
    for (var i = lid.x; i < params.n; i += 256u) { sum += x[i] * x[i]; }
    partial[lid.x] = sum;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid.x < s) { partial[lid.x] += partial[lid.x + s]; }
        workgroupBarrier();
    }
    let scale = inverseSqrt(partial[0] / f32(params.n) + params.eps);
    for (var i = lid.x; i < params.n; i += 256u) { y[i] = x[i] * scale; }
}";

/// a = SiLU(gate) · up, elementwise.
const SILU_MUL: &str = "
@group(0) @binding(0) var<storage, read> gate: array<f32>;
@group(0) @binding(1) var<storage, read> up: array<f32>;
@group(0) @binding(2) var<storage, read_write> a: array<f32>;
struct Params { n: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(3) var<uniform> params: Params;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x < params.n) {
        let g = gate[id.x];
        a[id.x] = g / (1.0 + exp(-g)) * up[id.x];
    }
}";

/// x += d, elementwise (the residual connection).
const ADD: &str = "
@group(0) @binding(0) var<storage, read> d: array<f32>;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
struct Params { n: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x < params.n) { x[id.x] = x[id.x] + d[id.x]; }
}";

const EPS: f32 = 1e-6;

fn main() -> std::process::ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// One layer's weights: q, k, v, o (DIM×DIM), gate and up (MLP×DIM), down (DIM×MLP).
struct Layer {
    values: Vec<Vec<f32>>,
    placed: Vec<PlacedTensor>,
}

fn spec(rows: u32, cols: u32) -> GemvSpec {
    GemvSpec {
        rows,
        cols,
        batch: 1,
        dtype: KernelDtype::Bf16,
    }
}

/// The shapes of a layer's seven weights, in the order of [`Layer`].
fn layer_specs() -> [GemvSpec; 7] {
    let (h, i) = (DIM, MLP);
    [
        spec(h, h),
        spec(h, h),
        spec(h, h),
        spec(h, h),
        spec(i, h),
        spec(i, h),
        spec(h, i),
    ]
}

fn kernel(
    ctx: &Context,
    label: &str,
    wgsl: &str,
    bindings: &[Access],
) -> strata::Result<UserKernel> {
    ctx.compile_kernel(&KernelSource {
        label,
        wgsl,
        entry_point: "main",
        bindings,
        uniform_bytes: 16,
    })
}

fn params(n: u32, second: u32) -> [u8; 16] {
    bytemuck::cast([n, second, 0u32, 0u32])
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let placement: Placement = match std::env::args().nth(1) {
        Some(name) => name.parse()?,
        None => Placement::Auto(Usage::Weights),
    };
    let ctx = Context::new()?;

    // 1. Weights, uniform in ±sqrt(3/in) so activations keep their size, placed (split into
    //    row parts where a binding cannot hold one) and written by the placement's own path.
    let mut layers = Vec::with_capacity(LAYERS);
    for l in 0..LAYERS {
        let mut layer = Layer {
            values: Vec::new(),
            placed: Vec::new(),
        };
        for (p, s) in layer_specs().iter().enumerate() {
            let scale = (3.0 / s.cols as f32).sqrt();
            let w: Vec<f32> = random_f32((s.rows * s.cols) as usize, (l * 7 + p) as u64)
                .iter()
                .map(|v| v * scale)
                .collect();
            let bytes = encode(&w, s.dtype);
            let options = PlaceOptions::new(placement);
            let (tensor, _) = ctx.place_tensor(bytes.len() as u64, s.row_bytes(), &options)?;
            ctx.write_tensor(&tensor, &bytes)?;
            layer.values.push(round_to(&w, s.dtype));
            layer.placed.push(tensor);
        }
        layers.push(layer);
    }
    let first = layers[0].placed[0].first().info();
    println!(
        "{LAYERS} layers ({DIM} wide, MLP {MLP}, bf16) in `{placement}` (memory type {}) on {}",
        first
            .memory_type
            .map_or("chosen by wgpu".into(), |t| t.to_string()),
        ctx.adapter_info().name
    );

    // 2. The application's kernels and the activations.
    let rms_norm = kernel(
        &ctx,
        "rms_norm",
        RMS_NORM,
        &[Access::Read, Access::ReadWrite],
    )?;
    let silu_mul = kernel(
        &ctx,
        "silu_mul",
        SILU_MUL,
        &[Access::Read, Access::Read, Access::ReadWrite],
    )?;
    let add = kernel(&ctx, "add", ADD, &[Access::Read, Access::ReadWrite])?;
    let buffer = |n: u32, label: &str| ctx.create_storage_buffer(u64::from(n) * 4, label);
    let (x, normed, q, k, v, o) = (
        buffer(DIM, "x")?,
        buffer(DIM, "normed")?,
        buffer(DIM, "q")?,
        buffer(DIM, "k")?,
        buffer(DIM, "v")?,
        buffer(DIM, "o")?,
    );
    let (gate, up, act, down) = (
        buffer(MLP, "gate")?,
        buffer(MLP, "up")?,
        buffer(MLP, "act")?,
        buffer(DIM, "down")?,
    );

    // 3. One token, recorded once.
    let mut rec = ctx.record().label("token");
    let input = rec.write(&x, 0, &vec![0u8; DIM as usize * 4])?;
    let dim_groups = [DIM.div_ceil(64), 1, 1];
    let mlp_groups = [MLP.div_ceil(64), 1, 1];
    let norm_params = params(DIM, EPS.to_bits());
    for layer in &layers {
        let [wq, wk, wv, wo, wg, wu, wd] = layer_specs();
        let w = |i: usize| layer.placed[i].operands();
        rec.dispatch(
            &rms_norm,
            &[(&x).into(), (&normed).into()],
            &norm_params,
            [1, 1, 1],
        )?;
        rec.gemv(&w(0), &normed, &q, wq)?;
        rec.gemv(&w(1), &normed, &k, wk)?;
        rec.gemv(&w(2), &normed, &v, wv)?;
        // One position: softmax over a single score is 1, so attention returns v.
        rec.gemv(&w(3), &v, &o, wo)?;
        rec.dispatch(
            &add,
            &[(&o).into(), (&x).into()],
            &params(DIM, 0),
            dim_groups,
        )?;
        rec.dispatch(
            &rms_norm,
            &[(&x).into(), (&normed).into()],
            &norm_params,
            [1, 1, 1],
        )?;
        rec.gemv(&w(4), &normed, &gate, wg)?;
        rec.gemv(&w(5), &normed, &up, wu)?;
        rec.dispatch(
            &silu_mul,
            &[(&gate).into(), (&up).into(), (&act).into()],
            &params(MLP, 0),
            mlp_groups,
        )?;
        rec.gemv(&w(6), &act, &down, wd)?;
        rec.dispatch(
            &add,
            &[(&down).into(), (&x).into()],
            &params(DIM, 0),
            dim_groups,
        )?;
    }
    let output = rec.read(&x, 0, u64::from(DIM) * 4)?;
    let ops = rec.len();
    let mut token = rec.finish()?;

    // 4. The first token against the CPU (f64 sums).
    let x0 = random_f32(DIM as usize, 1000);
    token.write(&input, bytemuck::cast_slice(&x0))?;
    token.submit()?.wait()?;
    let got: Vec<f32> = token.read_vec(&output)?;
    let expected = cpu_token(&layers, &x0);
    let cmp = compare(&got, &expected);
    if !cmp.passes(CHAIN_TOLERANCE) {
        return Err(format!("the first token differs from the CPU: {cmp:?}").into());
    }

    // 5. The timed loop: each token starts from the previous one's output (renormalised, as
    //    a model's final norm would), exactly as generation feeds tokens back.
    let mut next = got;
    let mut gpu_seconds = 0.0;
    let mut gpu_timed = true;
    let started = Instant::now();
    for _ in 0..TOKENS {
        let scale = 1.0 / rms(&next);
        next.iter_mut().for_each(|v| *v *= scale);
        token.write(&input, bytemuck::cast_slice(&next))?;
        let report = token.submit()?.wait()?;
        match report.gpu {
            Some(gpu) => gpu_seconds += gpu.as_secs_f64(),
            None => gpu_timed = false,
        }
        next = token.read_vec(&output)?;
    }
    let wall = started.elapsed().as_secs_f64();
    let weight_bytes: u64 = layer_specs()
        .iter()
        .map(|s| u64::from(s.rows) * s.row_bytes())
        .sum::<u64>()
        * LAYERS as u64;
    let kernels = if gpu_timed {
        format!(
            "{:.3} ms on the GPU ({:.2} GB/s of weights)",
            gpu_seconds / TOKENS as f64 * 1e3,
            weight_bytes as f64 * TOKENS as f64 / gpu_seconds / 1e9
        )
    } else {
        "no GPU timestamps on this device".to_string()
    };
    println!(
        "{TOKENS} tokens of {ops} ops in {wall:.3} s: {:.1} tokens/s, {:.3} ms a token on the wall \
         clock, {kernels}; first token matches the CPU (rel error {:.1e})",
        TOKENS as f64 / wall,
        wall / TOKENS as f64 * 1e3,
        cmp.rel_error
    );
    Ok(())
}

fn rms(x: &[f32]) -> f32 {
    (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32 + EPS).sqrt()
}

/// The same token on the CPU, in f64.
fn cpu_token(layers: &[Layer], x0: &[f32]) -> Vec<f64> {
    let gemv = |w: &[f32], x: &[f64], rows: u32| -> Vec<f64> {
        let cols = x.len();
        (0..rows as usize)
            .map(|r| {
                w[r * cols..(r + 1) * cols]
                    .iter()
                    .zip(x)
                    .map(|(&a, &b)| f64::from(a) * b)
                    .sum()
            })
            .collect()
    };
    let norm = |x: &[f64]| -> Vec<f64> {
        let mean = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
        let scale = 1.0 / (mean + f64::from(EPS)).sqrt();
        x.iter().map(|v| v * scale).collect()
    };
    let mut x: Vec<f64> = x0.iter().map(|&v| f64::from(v)).collect();
    for layer in layers {
        let w = &layer.values;
        let n = norm(&x);
        let v = gemv(&w[2], &n, DIM);
        let o = gemv(&w[3], &v, DIM);
        x.iter_mut().zip(&o).for_each(|(a, b)| *a += b);
        let n = norm(&x);
        let gate = gemv(&w[4], &n, MLP);
        let up = gemv(&w[5], &n, MLP);
        let act: Vec<f64> = gate
            .iter()
            .zip(&up)
            .map(|(&g, &u)| g / (1.0 + (-g).exp()) * u)
            .collect();
        let down = gemv(&w[6], &act, DIM);
        x.iter_mut().zip(&down).for_each(|(a, b)| *a += b);
    }
    x
}
