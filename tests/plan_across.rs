//! Plans across several devices on recorded tables: layers split into contiguous ranges by
//! budget or ratio, every tensor on exactly one device, each device's share planned into its
//! own tiers. No GPU needed.

use std::path::Path;
use strata::Placement;
use strata::plan::{PlanError, PlanOptions, SplitPolicy, TensorSpec, plan, plan_across};
use strata::table::MemoryTable;

fn load(file: &str) -> MemoryTable {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/devices")
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    MemoryTable::from_json(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn bf16(name: String, shape: &[u64]) -> TensorSpec {
    TensorSpec::new(
        name,
        "BF16",
        shape.to_vec(),
        shape.iter().product::<u64>() * 2,
    )
}

/// A Llama-3-70B-shaped bf16 model: 80 layers of 8192 (MLP 28672, 8 KV heads), ~141 GB.
fn llama_70b() -> Vec<TensorSpec> {
    let (h, i, kv, vocab) = (8192u64, 28672u64, 1024u64, 128_256u64);
    let mut out = vec![bf16("model.embed_tokens.weight".into(), &[vocab, h])];
    for n in 0..80 {
        let p = format!("model.layers.{n}");
        out.extend([
            bf16(format!("{p}.input_layernorm.weight"), &[h]),
            bf16(format!("{p}.self_attn.q_proj.weight"), &[h, h]),
            bf16(format!("{p}.self_attn.k_proj.weight"), &[kv, h]),
            bf16(format!("{p}.self_attn.v_proj.weight"), &[kv, h]),
            bf16(format!("{p}.self_attn.o_proj.weight"), &[h, h]),
            bf16(format!("{p}.post_attention_layernorm.weight"), &[h]),
            bf16(format!("{p}.mlp.gate_proj.weight"), &[i, h]),
            bf16(format!("{p}.mlp.up_proj.weight"), &[i, h]),
            bf16(format!("{p}.mlp.down_proj.weight"), &[h, i]),
        ]);
    }
    out.push(bf16("model.norm.weight".into(), &[h]));
    out.push(bf16("lm_head.weight".into(), &[vocab, h]));
    out
}

fn device_local_bytes(plan: &strata::plan::Plan) -> u64 {
    plan.bytes_in(Placement::Vram) + plan.bytes_in(Placement::VramMapped)
}

#[test]
fn a_model_too_large_for_one_h100_splits_across_two_into_their_hbm() {
    let h100 = load("nvidia-h100-vulkan.json");
    let model = llama_70b();
    let total: u64 = model.iter().map(|t| t.bytes).sum();
    let one = plan(&model, &h100, &PlanOptions::default()).unwrap();
    assert!(
        device_local_bytes(&one) < total,
        "the model must not fit one H100's HBM for this test to mean anything"
    );
    let split = plan_across(
        &model,
        &[h100.clone(), h100],
        &PlanOptions::default(),
        &SplitPolicy::ByBudget,
    )
    .unwrap();
    assert_eq!(split.total_bytes(), total);
    assert_eq!(split.devices[0].layers, 0..40);
    assert_eq!(split.devices[1].layers, 40..80);
    for device in &split.devices {
        assert_eq!(
            device_local_bytes(&device.plan),
            device.plan.total_bytes(),
            "device {}: every tensor in HBM, nothing spilled to system memory",
            device.device
        );
    }
    // Every tensor exactly once; the embedding with the first layer, the head with the last.
    for t in &model {
        let holders = split
            .devices
            .iter()
            .filter(|d| d.plan.tensor(&t.name).is_some())
            .count();
        assert_eq!(holders, 1, "{}", t.name);
    }
    assert_eq!(split.tensor("model.embed_tokens.weight").unwrap().0, 0);
    assert_eq!(split.tensor("lm_head.weight").unwrap().0, 1);
    assert_eq!(
        split
            .tensor("model.layers.39.mlp.up_proj.weight")
            .unwrap()
            .0,
        0
    );
    assert_eq!(
        split
            .tensor("model.layers.40.mlp.up_proj.weight")
            .unwrap()
            .0,
        1
    );
}

#[test]
fn budgets_of_unequal_devices_set_the_shares() {
    let h100 = load("nvidia-h100-vulkan.json");
    let h200 = load("nvidia-h200-vulkan.json");
    let split = plan_across(
        &llama_70b(),
        &[h200, h100],
        &PlanOptions::default(),
        &SplitPolicy::ByBudget,
    )
    .unwrap();
    let first = split.devices[0].layers.end - split.devices[0].layers.start;
    let second = split.devices[1].layers.end - split.devices[1].layers.start;
    assert_eq!(first + second, 80);
    // 140.4 GiB against 79.6 GiB of HBM: the H200 takes the larger share.
    assert!(first > second, "{first} vs {second}");
}

#[test]
fn an_explicit_ratio_sets_the_shares_and_bad_ratios_are_typed() {
    let h200 = load("nvidia-h200-vulkan.json");
    let tables = [h200.clone(), h200.clone()];
    let split = plan_across(
        &llama_70b(),
        &tables,
        &PlanOptions::default(),
        &SplitPolicy::Ratio(vec![3.0, 1.0]),
    )
    .unwrap();
    assert_eq!(split.devices[0].layers, 0..60);
    for bad in [vec![1.0], vec![1.0, 0.0], vec![1.0, f64::NAN]] {
        let err = plan_across(
            &llama_70b(),
            &tables,
            &PlanOptions::default(),
            &SplitPolicy::Ratio(bad.clone()),
        )
        .unwrap_err();
        assert!(matches!(err, PlanError::Split(_)), "{bad:?}: {err}");
    }
    let err = plan_across(
        &llama_70b(),
        &[],
        &PlanOptions::default(),
        &SplitPolicy::ByBudget,
    )
    .unwrap_err();
    assert!(matches!(err, PlanError::Split(_)), "{err}");
}

#[test]
fn a_share_that_fits_nowhere_names_its_device() {
    // Two lavapipe tables (2 GiB each) cannot hold a 141 GB model even split in two.
    let lavapipe = load("lavapipe-mesa-22.3.6.json");
    let err = plan_across(
        &llama_70b(),
        &[lavapipe.clone(), lavapipe],
        &PlanOptions::default(),
        &SplitPolicy::ByBudget,
    )
    .unwrap_err();
    assert!(
        matches!(err, PlanError::OnDevice { device: 0, .. }),
        "{err}"
    );
}
