//! Plan and load a safetensors model: write a small Llama-shaped model to a temporary folder,
//! plan it against a recorded AMD APU (a device we do not have: plans are pure data), then plan
//! it against this device, load it, read every tensor back and print the report.
//!
//! ```sh
//! cargo run --example tiered_load
//! ```

use strata::load::LoadOptions;
use strata::model::{Dtype, Model, write_safetensors};
use strata::plan::{PlacementCaps, PlanOptions, plan};
use strata::table::MemoryTable;
use strata::{Context, Error};

/// The memory table of an AMD APU under RADV, as `strata info --json` recorded it.
const APU_TABLE: &str = include_str!("../tests/devices/amd-apu-radv.json");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();

    // 1. A small bf16 model: embeddings, 4 layers (attention, MLP, norms), an output head.
    let dir = std::env::temp_dir().join(format!("strata-tiered-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run(&dir);
    std::fs::remove_dir_all(&dir)?;
    result
}

fn run(dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let (hidden, vocab, mlp) = (64u64, 512u64, 256u64);
    let mut tensors = vec![tensor("model.embed_tokens.weight", &[vocab, hidden])];
    for layer in 0..4 {
        let name = |part: &str| format!("model.layers.{layer}.{part}.weight");
        tensors.push(tensor(&name("self_attn.q_proj"), &[hidden, hidden]));
        tensors.push(tensor(&name("self_attn.o_proj"), &[hidden, hidden]));
        tensors.push(tensor(&name("mlp.up_proj"), &[mlp, hidden]));
        tensors.push(tensor(&name("mlp.down_proj"), &[hidden, mlp]));
        tensors.push(tensor(&name("input_layernorm"), &[hidden]));
    }
    tensors.push(tensor("model.norm.weight", &[hidden]));
    tensors.push(tensor("lm_head.weight", &[vocab, hidden]));
    write_safetensors(dir.join("model.safetensors"), &tensors)?;
    let model = Model::open(dir)?;
    println!(
        "model: {} tensors, {} bytes\n",
        model.tensors().len(),
        model.total_bytes()
    );

    // 2. The plan on a recorded AMD APU, with VRAM capped at 96 KiB to pretend the carve-out
    //    is tiny: critical tensors (embeddings, norms, head, first and last layer) fill the
    //    capped VRAM heap, and what does not fit spills to GTT (`host`). Each row says why.
    let apu = MemoryTable::from_json(APU_TABLE)?;
    let options = PlanOptions {
        caps: PlacementCaps {
            vram: Some(96 << 10),
            ..PlacementCaps::default()
        },
        ..PlanOptions::default()
    };
    let apu_plan = plan(&model.to_specs(), &apu, &options)?;
    println!(
        "plan on the recorded AMD APU (tests/devices/amd-apu-radv.json), VRAM capped at 96 KiB:"
    );
    println!("{apu_plan}");

    // 3. The plan on this device (its live table and budgets), then the load itself.
    let ctx = Context::new()?;
    let here = match ctx.plan_for(&model, &PlanOptions::default()) {
        Ok(plan) => plan,
        // Planning reads the Vulkan memory table: on other backends say so and stop here.
        Err(e @ Error::NeedsVulkan { .. }) => {
            println!("no load on this device: {e}");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    println!("loading on {} as planned there:", ctx.adapter_info().name);
    let loaded = ctx.load_model(&model, &here, &LoadOptions::verified())?;
    println!("load report:\n{}", loaded.report());
    if loaded.all_verified() != Some(true) {
        return Err(format!(
            "tensors differ from the file after loading: {:?}",
            loaded.mismatched()
        )
        .into());
    }
    let head = loaded
        .get("lm_head.weight")
        .ok_or("lm_head.weight was not loaded")?;
    println!(
        "every tensor read back equal to the file; lm_head.weight is in memory type {} (heap {}), {} part(s)",
        head.memory_type,
        head.heap,
        head.parts().len()
    );
    Ok(())
}

/// A bf16 tensor of this shape with deterministic contents.
fn tensor(name: &str, shape: &[u64]) -> (String, Dtype, Vec<u64>, Vec<u8>) {
    let elements: u64 = shape.iter().product();
    let data = (0..elements * 2).map(|i| (i * 31 % 255) as u8).collect();
    (name.to_string(), Dtype::BF16, shape.to_vec(), data)
}
