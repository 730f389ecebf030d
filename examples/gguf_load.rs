//! Load a GGUF model and a safetensors model of the same bytes, and compare the load rates.
//!
//! Writes, in a temporary folder, a Llama-shaped GGUF model of Q4_K and Q6_K weights with f32
//! norms, and a safetensors model holding exactly the same tensor bytes (as `U8` rows of the
//! same length, so both split alike), then loads each with the plan for this device, several
//! times in turn, and prints the median GB/s of each and their ratio. GGUF and safetensors
//! tensors take the same path from the memory map to the GPU, so the ratio should be 1 within
//! the run-to-run spread.
//!
//! ```sh
//! cargo run --release --example gguf_load                  # 64 MiB, 3 runs each
//! cargo run --release --example gguf_load -- 4096 5        # 4 GiB (in MiB), 5 runs each
//! ```

use strata::Context;
use strata::load::LoadOptions;
use strata::model::{Dtype, GgmlType, GgufWriter, Model, write_safetensors};
use strata::plan::PlanOptions;

/// The hidden size: rows of 4096 elements, 16 blocks of Q4_K (2304 bytes) or Q6_K (3360).
const HIDDEN: u64 = 4096;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let mut args = std::env::args().skip(1);
    let mib: u64 = args.next().map_or(Ok(64), |a| a.parse())?;
    let runs: usize = args.next().map_or(Ok(3), |a| a.parse())?;
    let dir = std::env::temp_dir().join(format!("strata-gguf-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run(&dir, mib << 20, runs.max(1));
    std::fs::remove_dir_all(&dir)?;
    result
}

fn run(dir: &std::path::Path, target: u64, runs: usize) -> Result<(), Box<dyn std::error::Error>> {
    // Layers of (Q4_K [4*HIDDEN, HIDDEN], Q6_K [HIDDEN, HIDDEN], f32 norm) until `target` bytes.
    let q4_row = GgmlType::Q4_K.row_bytes(HIDDEN).unwrap_or(0);
    let q6_row = GgmlType::Q6_K.row_bytes(HIDDEN).unwrap_or(0);
    let layer_bytes = 4 * HIDDEN * q4_row + HIDDEN * q6_row + 4 * HIDDEN;
    let layers = (target / layer_bytes).max(1);
    // One buffer of filler serves every tensor of a kind (the bytes need not differ).
    let filler = |len: u64| (0..len).map(|i| (i * 7 + 1) as u8).collect::<Vec<u8>>();
    let (q4, q6, norm) = (
        filler(4 * HIDDEN * q4_row),
        filler(HIDDEN * q6_row),
        filler(4 * HIDDEN),
    );

    let mut gguf = GgufWriter::new().metadata("general.architecture", "llama");
    let mut safetensors = Vec::new();
    for l in 0..layers {
        let tensors = [
            (
                format!("blk.{l}.ffn_up.weight"),
                GgmlType::Q4_K,
                4 * HIDDEN,
                q4_row,
                &q4,
            ),
            (
                format!("blk.{l}.ffn_down.weight"),
                GgmlType::Q6_K,
                HIDDEN,
                q6_row,
                &q6,
            ),
        ];
        for (name, ty, rows, row, data) in tensors {
            gguf = gguf.tensor(name.clone(), ty, [rows, HIDDEN], data);
            safetensors.push((name, Dtype::U8, vec![rows, row], data.as_slice()));
        }
        let name = format!("blk.{l}.attn_norm.weight");
        gguf = gguf.tensor(name.clone(), GgmlType::F32, [HIDDEN], &norm);
        safetensors.push((name, Dtype::U8, vec![4 * HIDDEN], norm.as_slice()));
    }
    let gguf_path = dir.join("model.gguf");
    let st_path = dir.join("model.safetensors");
    gguf.write(&gguf_path)?;
    drop(gguf);
    write_safetensors(&st_path, &safetensors)?;
    drop(safetensors);

    let ctx = Context::new()?;
    let models = [Model::open(&gguf_path)?, Model::open(&st_path)?];
    println!(
        "{} layers, {:.1} MiB of tensors per model, on {}",
        layers,
        models[0].total_bytes() as f64 / (1 << 20) as f64,
        ctx.adapter_info().name
    );
    let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..runs {
        for (model, rates) in models.iter().zip(&mut rates) {
            let plan = ctx.plan_for(model, &PlanOptions::default())?;
            let loaded = ctx.load_model(model, &plan, &LoadOptions::default())?;
            rates.push(loaded.report().gb_per_s.unwrap_or(0.0));
        }
    }
    let median = |rates: &mut Vec<f64>| {
        rates.sort_by(f64::total_cmp);
        rates[rates.len() / 2]
    };
    let (gguf_rate, st_rate) = (median(&mut rates[0]), median(&mut rates[1]));
    println!("gguf         {gguf_rate:8.2} GB/s (median of {runs})");
    println!("safetensors  {st_rate:8.2} GB/s (median of {runs})");
    println!(
        "ratio        {:8.2}",
        gguf_rate / st_rate.max(f64::MIN_POSITIVE)
    );
    Ok(())
}
