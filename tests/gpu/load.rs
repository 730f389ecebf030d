//! Loading models end to end on the adapter at hand (lavapipe in CI): generated safetensors
//! models of several dtypes, many small tensors, one tensor over lavapipe's 128 MiB binding
//! limit, a sharded model; plans checked before anything is allocated; failed loads release
//! everything they placed.

use crate::harness::{fresh_seed, gpu};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use strata::load::{LoadError, LoadOptions, LoadPhase};
use strata::model::{Dtype, Model, write_safetensors, write_sharded};
use strata::plan::{PlanError, PlanOptions, PlanPolicy, plan};
use strata::table::MemoryTable;
use strata::{Context, Error, Placement};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "strata-gpu-load-{}-{n}-{label}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A tensor to write: (name, dtype, shape, data).
type Tensor = (String, Dtype, Vec<u64>, Vec<u8>);

fn tensor(rng: &mut StdRng, name: &str, dtype: Dtype, shape: &[u64]) -> Tensor {
    let bytes = dtype.bytes_for(shape.iter().product()).unwrap();
    let mut data = vec![0u8; bytes as usize];
    rng.fill(&mut data[..]);
    (name.to_string(), dtype, shape.to_vec(), data)
}

/// `count` small tensors named like a transformer's, cycling through F32, F16, BF16, I64 and U8,
/// with odd sizes (not multiples of 4 bytes) among them.
fn small_tensors(rng: &mut StdRng, prefix: &str, count: usize) -> Vec<Tensor> {
    const DTYPES: [Dtype; 5] = [Dtype::F32, Dtype::F16, Dtype::BF16, Dtype::I64, Dtype::U8];
    (0..count)
        .map(|i| {
            let dtype = DTYPES[i % DTYPES.len()];
            let name = format!("{prefix}model.layers.{}.mlp.w{}.weight", i / 10, i % 10);
            tensor(
                rng,
                &name,
                dtype,
                &[1 + (i as u64 % 7), 3 + (i as u64 % 13)],
            )
        })
        .collect()
}

/// Live placed buffers of the context, after the GPU has finished (buffers are freed then).
fn live(ctx: &Context) -> (u64, u64) {
    ctx.wait_idle().unwrap();
    ctx.live_allocations()
}

/// Loads `path` with a plan for this device and verification on; checks every tensor.
fn load_verified(ctx: &Context, path: &Path) -> strata::LoadedModel {
    let model = Model::open(path).unwrap();
    let plan = ctx.plan_for(&model, &PlanOptions::default()).unwrap();
    let loaded = ctx
        .load_model(&model, &plan, &LoadOptions::verified())
        .unwrap();
    assert_eq!(
        loaded.all_verified(),
        Some(true),
        "mismatched: {:?}",
        loaded.mismatched()
    );
    assert_eq!(loaded.len(), model.tensors().len());
    let report = loaded.report();
    assert!(report.tensors.iter().all(|t| t.verified == Some(true)));
    assert!(report.seconds.is_some() && report.gb_per_s.is_some());
    for (tensor, planned) in loaded.tensors().iter().zip(&plan.tensors) {
        assert_eq!(tensor.name, planned.name);
        assert_eq!(tensor.memory_type, planned.memory_type);
        assert!(
            tensor
                .parts()
                .iter()
                .all(|p| p.memory_type() == planned.memory_type && p.heap() == planned.heap)
        );
    }
    loaded
}

#[test]
fn a_generated_model_loads_and_verifies_with_a_split_tensor() {
    let Some(ctx) = gpu() else { return };
    let seed = fresh_seed("a_generated_model_loads_and_verifies_with_a_split_tensor");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = TempDir::new("single");
    let path = dir.path("model.safetensors");

    // 300 small tensors, an empty one, a norm, and ~140 MB of F32 rows: over lavapipe's
    // 128 MiB binding limit, so split into parts (on bigger GPUs it may stay whole).
    let mut tensors = small_tensors(&mut rng, "", 300);
    tensors.push(tensor(&mut rng, "model.norm.weight", Dtype::F32, &[1000]));
    tensors.push(tensor(&mut rng, "model.empty", Dtype::BF16, &[0, 8]));
    let (rows, cols) = (35_000u64, 1000u64);
    tensors.push(tensor(
        &mut rng,
        "model.embed_tokens.weight",
        Dtype::F32,
        &[rows, cols],
    ));
    write_safetensors(&path, &tensors).unwrap();
    drop(tensors);

    let start = live(&ctx);
    let model = Model::open(&path).unwrap();
    let plan = ctx.plan_for(&model, &PlanOptions::default()).unwrap();
    let uploaded = Arc::new(AtomicU64::new(0));
    let verified = Arc::new(AtomicU64::new(0));
    let (up, ver) = (uploaded.clone(), verified.clone());
    let options = LoadOptions::verified().with_progress(move |p| {
        assert!(p.done <= p.total, "{p:?}");
        match p.phase {
            LoadPhase::Upload => up.store(p.done, Ordering::Relaxed),
            LoadPhase::Verify => ver.store(p.done, Ordering::Relaxed),
        }
    });
    let started = std::time::Instant::now();
    let loaded = ctx.load_model(&model, &plan, &options).unwrap();
    eprintln!(
        "loaded {} bytes in {:.2?}",
        model.total_bytes(),
        started.elapsed()
    );
    assert_eq!(
        loaded.all_verified(),
        Some(true),
        "mismatched: {:?}",
        loaded.mismatched()
    );
    assert_eq!(uploaded.load(Ordering::Relaxed), model.total_bytes());
    assert_eq!(verified.load(Ordering::Relaxed), model.total_bytes());
    let report = loaded.report();
    assert_eq!(report.tensors.len(), 303);
    assert!(report.tensors.iter().all(|t| t.verified == Some(true)));

    let big = loaded.get("model.embed_tokens.weight").unwrap();
    assert_eq!(
        (big.dtype, big.shape.as_slice(), big.bytes),
        (Dtype::F32.into(), &[rows, cols][..], rows * cols * 4)
    );
    let limit = ctx.part_limit();
    if big.bytes > limit.bytes {
        assert!(
            big.parts().len() > 1,
            "a tensor over {limit:?} must be split"
        );
    }
    assert!(
        big.parts()
            .iter()
            .all(|p| p.bytes() <= limit.bytes && p.bytes() % (cols * 4) == 0)
    );
    let empty = loaded.get("model.empty").unwrap();
    assert!(empty.placed.is_none() && empty.parts().is_empty() && empty.verified == Some(true));

    // A tensor's bytes read back equal the file's.
    for name in [
        "model.layers.0.mlp.w3.weight",
        "model.norm.weight",
        "model.layers.29.mlp.w9.weight",
    ] {
        let tensor = loaded.get(name).unwrap();
        let file = model.tensor_data(model.tensor(name).unwrap()).unwrap();
        assert_eq!(
            ctx.read_tensor(tensor.placed.as_ref().unwrap()).unwrap(),
            file,
            "{name}"
        );
    }
    // Critical tensors (embeddings, norms, first and last layers) went where the plan said.
    assert_eq!(big.tier, strata::Tier::Critical);

    drop(loaded);
    assert_eq!(
        live(&ctx),
        start,
        "dropping the loaded model frees every buffer"
    );
}

#[test]
fn a_sharded_model_loads_and_verifies() {
    let Some(ctx) = gpu() else { return };
    let mut rng = StdRng::seed_from_u64(fresh_seed("a_sharded_model_loads_and_verifies"));
    let dir = TempDir::new("sharded");
    let shards: Vec<Vec<Tensor>> = (0..3)
        .map(|s| small_tensors(&mut rng, &format!("s{s}."), 40))
        .collect();
    let index = write_sharded(dir.path("model"), &shards).unwrap();
    let loaded = load_verified(&ctx, &index);
    assert_eq!(loaded.len(), 120);
    for shard in &shards {
        let (name, _, _, data) = &shard[17];
        let tensor = loaded.get(name).unwrap();
        assert_eq!(
            &ctx.read_tensor(tensor.placed.as_ref().unwrap()).unwrap(),
            data,
            "{name}"
        );
    }
    // The directory opens the same model.
    assert_eq!(load_verified(&ctx, &dir.path("model")).len(), 120);
}

#[test]
fn only_vram_that_cannot_fit_fails_before_allocating() {
    let Some(ctx) = gpu() else { return };
    let mut rng = StdRng::seed_from_u64(fresh_seed(
        "only_vram_that_cannot_fit_fails_before_allocating",
    ));
    let dir = TempDir::new("only-vram");
    let path = dir.path("model.safetensors");
    let tensors: Vec<Tensor> = (0..4)
        .map(|i| tensor(&mut rng, &format!("w{i}"), Dtype::F32, &[256, 256]))
        .collect();
    write_safetensors(&path, &tensors).unwrap();
    let model = Model::open(&path).unwrap();
    let start = live(&ctx);
    let mut options = PlanOptions {
        policy: PlanPolicy::Only(Placement::Vram),
        ..PlanOptions::default()
    };
    options.caps.set(Placement::Vram, Some(600 << 10)); // two of the four 256 KiB tensors
    match ctx.plan_for(&model, &options) {
        Err(Error::Plan(PlanError::DoesNotFit { tensor, .. })) => assert_eq!(tensor, "w2"),
        other => panic!("expected DoesNotFit, got {other:?}"),
    }
    assert_eq!(live(&ctx), start, "nothing was allocated");
}

#[test]
fn plans_that_do_not_match_are_refused_before_allocating() {
    let Some(ctx) = gpu() else { return };
    let mut rng = StdRng::seed_from_u64(fresh_seed(
        "plans_that_do_not_match_are_refused_before_allocating",
    ));
    let dir = TempDir::new("mismatch");
    let small = small_tensors(&mut rng, "", 20);
    write_safetensors(dir.path("a.safetensors"), &small).unwrap();
    let mut bigger = small.clone();
    bigger.push(tensor(&mut rng, "extra.weight", Dtype::F16, &[64, 64]));
    write_safetensors(dir.path("b.safetensors"), &bigger).unwrap();
    let (a, b) = (
        Model::open(dir.path("a.safetensors")).unwrap(),
        Model::open(dir.path("b.safetensors")).unwrap(),
    );
    let start = live(&ctx);

    // A plan whose tensor the model lacks.
    let plan_b = ctx.plan_for(&b, &PlanOptions::default()).unwrap();
    match ctx.load_model(&a, &plan_b, &LoadOptions::default()) {
        Err(e @ LoadError::NotInModel { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("extra.weight") && text.contains("a.safetensors"),
                "{text}"
            );
        }
        other => panic!("expected NotInModel, got {other:?}"),
    }
    // A plan made for another device's table.
    let apu = MemoryTable::from_json(include_str!("../devices/amd-apu-radv.json")).unwrap();
    let plan_apu = plan(&a.to_specs(), &apu, &PlanOptions::default()).unwrap();
    match ctx.load_model(&a, &plan_apu, &LoadOptions::default()) {
        Err(LoadError::WrongDevice { .. }) => {}
        other => panic!("expected WrongDevice, got {other:?}"),
    }
    assert_eq!(live(&ctx), start, "nothing was allocated");
}

#[test]
fn a_cancelled_load_releases_everything_it_placed() {
    let Some(ctx) = gpu() else { return };
    let mut rng =
        StdRng::seed_from_u64(fresh_seed("a_cancelled_load_releases_everything_it_placed"));
    let dir = TempDir::new("cancel");
    let path = dir.path("model.safetensors");
    let mut tensors = small_tensors(&mut rng, "", 50);
    // Two tensors over the dedicated-allocation threshold, so both kinds of memory are freed.
    tensors.push(tensor(&mut rng, "big.a", Dtype::U8, &[40 << 20]));
    tensors.push(tensor(&mut rng, "big.b", Dtype::U8, &[40 << 20]));
    write_safetensors(&path, &tensors).unwrap();
    let model = Model::open(&path).unwrap();
    let plan = ctx.plan_for(&model, &PlanOptions::default()).unwrap();
    let start = live(&ctx);

    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let half = model.total_bytes() / 2;
    let options = LoadOptions {
        cancel: Some(cancel),
        ..LoadOptions::default().with_progress(move |p| {
            if p.done >= half {
                flag.store(true, Ordering::Release);
            }
        })
    };
    match ctx.load_model(&model, &plan, &options) {
        Err(LoadError::Cancelled { done, total }) => {
            assert!(done >= half && done < total, "{done} of {total}")
        }
        other => panic!("expected Cancelled, got {other:?}"),
    }
    assert_eq!(
        live(&ctx),
        start,
        "a failed load releases every buffer it placed"
    );

    // The same context loads the model afterwards.
    let loaded = ctx
        .load_model(&model, &plan, &LoadOptions::verified())
        .unwrap();
    assert_eq!(loaded.all_verified(), Some(true));
}
