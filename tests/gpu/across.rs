//! Several devices of one host, exercised with two contexts on the adapter at hand (lavapipe in
//! CI): a model split across them, loaded and verified on each, a failure on one releasing
//! everything on both, and the decode loop split across them matching the CPU.

use crate::harness::{fresh_seed, gpu};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use strata::bench::{DecodeShape, measure_decode_across, split_layer_counts};
use strata::load::{LoadError, LoadOptions, load_across};
use strata::model::{Dtype, Model, write_safetensors};
use strata::plan::{PlanOptions, SplitPolicy, plan_across};
use strata::{Context, KernelDtype, Placement};

/// A small model file: an embedding, 6 layers of 3 tensors, a head; random bytes.
fn write_model(path: &std::path::Path, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut tensors: Vec<(String, Dtype, Vec<u64>, Vec<u8>)> = Vec::new();
    let mut add = |name: String, shape: Vec<u64>| {
        let mut data = vec![0u8; (shape.iter().product::<u64>() * 2) as usize];
        rng.fill(&mut data[..]);
        tensors.push((name, Dtype::BF16, shape, data));
    };
    add("model.embed_tokens.weight".into(), vec![64, 32]);
    for n in 0..6 {
        add(
            format!("model.layers.{n}.self_attn.q_proj.weight"),
            vec![32, 32],
        );
        add(format!("model.layers.{n}.mlp.up_proj.weight"), vec![96, 32]);
        add(format!("model.layers.{n}.input_layernorm.weight"), vec![32]);
    }
    add("lm_head.weight".into(), vec![64, 32]);
    write_safetensors(path, &tensors).unwrap();
}

fn live(ctx: &Context) -> (u64, u64) {
    ctx.wait_idle().unwrap();
    ctx.live_allocations()
}

fn tables(contexts: &[&Context]) -> Vec<strata::table::MemoryTable> {
    contexts
        .iter()
        .map(|c| c.vulkan("test").unwrap().memory_table())
        .collect()
}

#[test]
fn a_model_split_across_two_contexts_loads_and_verifies_on_each() {
    let Some(first) = gpu() else { return };
    let Some(second) = gpu() else { return };
    let seed = fresh_seed("split load");
    let path = std::env::temp_dir().join(format!(
        "strata-split-{}-{seed}.safetensors",
        std::process::id()
    ));
    write_model(&path, seed);
    let model = Model::open(&path).unwrap();
    let contexts = [&*first, &*second];
    let split = plan_across(
        &model.to_specs(),
        &tables(&contexts),
        &PlanOptions::default(),
        &SplitPolicy::Ratio(vec![1.0, 1.0]),
    )
    .unwrap();
    assert_eq!(split.devices[0].layers, 0..3);
    assert_eq!(split.devices[1].layers, 3..6);
    let loaded = load_across(&contexts, &model, &split, &LoadOptions::verified()).unwrap();
    assert_eq!(loaded.len(), 2);
    for (device, part) in loaded.iter().enumerate() {
        assert_eq!(part.all_verified(), Some(true), "device {device}");
    }
    assert!(loaded[0].get("model.embed_tokens.weight").is_some());
    assert!(loaded[0].get("model.layers.2.mlp.up_proj.weight").is_some());
    assert!(loaded[1].get("model.layers.3.mlp.up_proj.weight").is_some());
    assert!(loaded[1].get("lm_head.weight").is_some());
    drop(loaded);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_failure_on_one_device_releases_everything_on_every_device() {
    let Some(first) = gpu() else { return };
    let Some(second) = gpu() else { return };
    let seed = fresh_seed("split load failure");
    let path = std::env::temp_dir().join(format!(
        "strata-split-fail-{}-{seed}.safetensors",
        std::process::id()
    ));
    write_model(&path, seed);
    let model = Model::open(&path).unwrap();
    let contexts = [&*first, &*second];
    let mut split = plan_across(
        &model.to_specs(),
        &tables(&contexts),
        &PlanOptions::default(),
        &SplitPolicy::ByBudget,
    )
    .unwrap();
    // The second device's share names a memory type its device does not have.
    for t in &mut split.devices[1].plan.tensors {
        t.memory_type = 31;
    }
    let before = (live(&first), live(&second));
    match load_across(&contexts, &model, &split, &LoadOptions::default()) {
        Err(LoadError::OnDevice { device: 1, .. }) => {}
        other => panic!(
            "expected a failure on device 1, got {:?}",
            other.map(|l| l.len())
        ),
    }
    assert_eq!((live(&first), live(&second)), before, "everything released");
    // A plan for another number of devices is refused before anything is loaded.
    let one = [&*first];
    assert!(matches!(
        load_across(&one, &model, &split, &LoadOptions::default()),
        Err(LoadError::OnDevice { .. })
    ));
    let _ = std::fs::remove_file(&path);
}

#[test]
fn the_decode_loop_split_across_two_contexts_matches_the_cpu() {
    let Some(first) = gpu() else { return };
    let Some(second) = gpu() else { return };
    let seed = fresh_seed("split decode");
    let shape = DecodeShape {
        layers: 3,
        hidden: 64,
        intermediate: 96,
        dtype: KernelDtype::Bf16,
    };
    let layers = split_layer_counts(shape.layers, &[2.0, 1.0]).unwrap();
    assert_eq!(layers, [2, 1]);
    let figures = measure_decode_across(
        &[&*first, &*second],
        shape,
        &layers,
        Placement::Auto(strata::Usage::Weights),
        2,
        std::time::Duration::ZERO,
        seed,
    )
    .unwrap();
    assert!(
        figures.rel_error <= strata::reference::CHAIN_TOLERANCE,
        "{figures:?}"
    );
    assert_eq!(figures.tokens, 2);
    assert_eq!(figures.kernel_ms_per_device.len(), 2);
}
