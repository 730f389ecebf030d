//! The shape of LLM token generation: every token multiplies one activation vector through
//! every layer's weights (a GEMV per layer), so each token reads all the weights once and the
//! speed is set by memory bandwidth. Weights are bf16 `[out, in]` matrices in one placement.
//!
//! ```sh
//! cargo run --example decode_loop            # weights in `auto` placement
//! cargo run --example decode_loop -- host    # or any placement: vram, vram-mapped, host, ...
//! ```

use std::time::Instant;
use strata::placement::PlaceOptions;
use strata::reference::{encode, gemv, random_f32, round_to};
use strata::{Context, GemvSpec, KernelDtype, Placement, Usage};

/// Layers (even: the activations ping-pong between two buffers and end where they started).
/// Small enough to run in seconds on a CPU driver; a 7B model has 32 layers of ~4096 wide.
const LAYERS: usize = 4;
/// Width of the model: every layer is `[DIM, DIM]`.
const DIM: u32 = 512;
/// Tokens timed.
const TOKENS: usize = 16;

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

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let placement: Placement = match std::env::args().nth(1) {
        Some(name) => name.parse()?,
        None => Placement::Auto(Usage::Weights),
    };
    let ctx = Context::new()?;
    let spec = GemvSpec {
        rows: DIM,
        cols: DIM,
        batch: 1,
        dtype: KernelDtype::Bf16,
    };

    // 1. The weights: uniform in ±sqrt(3/DIM), so activations keep their size from layer to
    //    layer. Each layer is placed (split into row parts if a binding cannot hold it).
    let scale = (3.0 / DIM as f32).sqrt();
    let weights: Vec<Vec<f32>> = (0..LAYERS)
        .map(|l| {
            random_f32((DIM * DIM) as usize, l as u64)
                .iter()
                .map(|w| w * scale)
                .collect()
        })
        .collect();
    let mut layers = Vec::with_capacity(LAYERS);
    for w in &weights {
        let bytes = encode(w, spec.dtype);
        let options = PlaceOptions::new(placement);
        let (tensor, _) = ctx.place_tensor(bytes.len() as u64, spec.row_bytes(), &options)?;
        ctx.write_tensor(&tensor, &bytes)?;
        layers.push(tensor);
    }
    let first = layers[0].first().info();
    println!(
        "{} layers of {DIM}x{DIM} bf16 in `{placement}` (memory type {}) on {}",
        LAYERS,
        first
            .memory_type
            .map_or("chosen by wgpu".into(), |t| t.to_string()),
        ctx.adapter_info().name
    );

    // 2. Two activation vectors: each layer reads one and writes the other.
    let x0 = random_f32(DIM as usize, 1000);
    let a = ctx.upload(&x0)?;
    let b = ctx.create_storage_buffer(u64::from(DIM) * 4, "activations")?;
    let token = |gpu_seconds: &mut f64| -> strata::Result<()> {
        for (i, layer) in layers.iter().enumerate() {
            let (input, output) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
            *gpu_seconds += ctx
                .gemv(&layer.operands(), input, output, spec)?
                .timing
                .seconds;
        }
        Ok(())
    };

    // 3. One token checked against the CPU (this also compiles the kernel).
    token(&mut 0.0)?;
    let mut expected: Vec<f32> = x0.clone();
    for w in &weights {
        let y = gemv(
            &round_to(w, spec.dtype),
            &expected,
            DIM as usize,
            DIM as usize,
            1,
        );
        expected = y.iter().map(|&v| v as f32).collect();
    }
    let got: Vec<f32> = ctx.read_back(&a, DIM as usize)?;
    let cmp = strata::reference::compare(
        &got,
        &expected.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(),
    );
    if !cmp.passes(1e-4) {
        return Err(format!("the first token differs from the CPU: {cmp:?}").into());
    }

    // 4. The timed loop. A real decoder adds attention, norms and sampling between layers.
    let mut gpu_seconds = 0.0;
    let started = Instant::now();
    for _ in 0..TOKENS {
        token(&mut gpu_seconds)?;
    }
    let wall = started.elapsed().as_secs_f64();
    let bytes_per_token = LAYERS as f64 * spec.bytes_moved() as f64;
    println!(
        "{TOKENS} tokens in {:.3} s: {:.1} tokens/s, {:.2} GB/s of weights and activations \
         ({:.2} GB/s in the kernels alone); first token matches the CPU (rel error {:.1e})",
        wall,
        TOKENS as f64 / wall,
        bytes_per_token * TOKENS as f64 / wall / 1e9,
        bytes_per_token * TOKENS as f64 / gpu_seconds / 1e9,
        cmp.rel_error
    );
    Ok(())
}
