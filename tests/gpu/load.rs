//! Loading models end to end on the adapter at hand (lavapipe in CI): generated safetensors
//! models of several dtypes, many small tensors, one tensor over lavapipe's 128 MiB binding
//! limit, a sharded model; every way of loading (allocation threads or none, read-ahead or
//! none, mapped or staged uploads) verified; plans checked before anything is allocated; failed
//! and cancelled loads release everything they placed.

use crate::harness::{fresh_seed, gpu, gpu_alone};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use strata::load::{LoadError, LoadOptions, LoadPhase, LoadTuning, UploadChoice, VerifyMethod};
use strata::model::{Dtype, Model, write_safetensors, write_sharded};
use strata::placement::UploadPath;
use strata::plan::{PlanError, PlanOptions, PlanPolicy, plan};
use strata::table::{MemoryFlags, MemoryTable};
use strata::{Context, Error, HostMemory, Placement, Usage};
use tempfile::TempDir;

/// A fresh directory under the system temp dir, removed on drop.
fn temp_dir(label: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("strata-gpu-load-{label}-"))
        .tempdir()
        .unwrap()
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
fn load_verified(ctx: &Context, path: &Path) -> strata::load::LoadedModel {
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
        assert!(tensor.parts().iter().all(
            |p| p.memory_type() == Some(planned.memory_type) && p.heap() == Some(planned.heap)
        ));
    }
    loaded
}

#[test]
fn a_generated_model_loads_and_verifies_with_a_split_tensor() {
    let Some(ctx) = gpu() else { return };
    let seed = fresh_seed("a_generated_model_loads_and_verifies_with_a_split_tensor");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = temp_dir("single");
    let path = dir.path().join("model.safetensors");

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
    // By checksum: the GPU's checksum of each part of the split tensor must agree with the
    // CPU's of the file's rows.
    let options = LoadOptions {
        verify_method: VerifyMethod::Checksum,
        ..LoadOptions::verified()
    };
    let options = options.with_progress(move |p| {
        assert!(p.done <= p.total, "{p:?}");
        match p.phase {
            LoadPhase::Upload => up.store(p.done, Ordering::Relaxed),
            LoadPhase::Verify => ver.store(p.done, Ordering::Relaxed),
            _ => {}
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
    for (tensor, row) in loaded.tensors().iter().zip(&report.tensors) {
        let by = tensor.placed.as_ref().map(|_| VerifyMethod::Checksum);
        assert_eq!(tensor.verified_by, by, "{}", tensor.name);
        assert_eq!(
            row.verified_by,
            by.map(|m| m.to_string()),
            "{}",
            tensor.name
        );
    }
    // The checksum sees one changed byte in the last part of the split tensor.
    let last = big.parts().last().unwrap();
    let file = model
        .tensor_data(model.tensor("model.embed_tokens.weight").unwrap())
        .unwrap();
    let last_file = &file[file.len() - last.bytes() as usize..];
    let expected = strata::checksum::of_bytes(last_file);
    assert_eq!(
        ctx.checksum(last.buffer(), 0, last.bytes()).unwrap(),
        expected
    );
    let at = last.bytes() / 2 / 4 * 4;
    let mut word = last_file[at as usize..at as usize + 4].to_vec();
    word[1] ^= 0x40;
    ctx.write_placed(last, at, &word).unwrap();
    assert_ne!(
        ctx.checksum(last.buffer(), 0, last.bytes()).unwrap(),
        expected
    );
    word[1] ^= 0x40;
    ctx.write_placed(last, at, &word).unwrap();

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
    assert_eq!(big.tier, strata::plan::Tier::Critical);

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
    let dir = temp_dir("sharded");
    let shards: Vec<Vec<Tensor>> = (0..3)
        .map(|s| small_tensors(&mut rng, &format!("s{s}."), 40))
        .collect();
    let index = write_sharded(dir.path().join("model"), &shards).unwrap();
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
    assert_eq!(load_verified(&ctx, &dir.path().join("model")).len(), 120);
}

#[test]
fn only_vram_that_cannot_fit_fails_before_allocating() {
    // The VRAM cap counts what the heap already holds: alone, and the cap set above that.
    let Some(ctx) = gpu_alone() else { return };
    let mut rng = StdRng::seed_from_u64(fresh_seed(
        "only_vram_that_cannot_fit_fails_before_allocating",
    ));
    let dir = temp_dir("only-vram");
    let path = dir.path().join("model.safetensors");
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
    // Two of the four 256 KiB tensors, on top of what the heap holds now.
    let table = ctx.vulkan("test").unwrap().memory_table();
    let heap = strata::placement::choose_memory_type(&table, Placement::Vram, u32::MAX)
        .unwrap()
        .heap;
    let in_use = table.heaps[heap as usize].usage.unwrap_or(0);
    options.safety_margin = 0.0;
    options
        .caps
        .set(Placement::Vram, Some(in_use + (600 << 10)));
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
    let dir = temp_dir("mismatch");
    let small = small_tensors(&mut rng, "", 20);
    write_safetensors(dir.path().join("a.safetensors"), &small).unwrap();
    let mut bigger = small.clone();
    bigger.push(tensor(&mut rng, "extra.weight", Dtype::F16, &[64, 64]));
    write_safetensors(dir.path().join("b.safetensors"), &bigger).unwrap();
    let (a, b) = (
        Model::open(dir.path().join("a.safetensors")).unwrap(),
        Model::open(dir.path().join("b.safetensors")).unwrap(),
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
    let dir = temp_dir("cancel");
    let path = dir.path().join("model.safetensors");
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

/// A model of `count` tensors of `rows × 1000` f32 (some over the dedicated-allocation
/// threshold, one odd-sized), written to `dir`.
fn mixed_model(rng: &mut StdRng, dir: &TempDir) -> PathBuf {
    let path = dir.path().join("model.safetensors");
    let mut tensors = small_tensors(rng, "", 40);
    for (i, rows) in [9000u64, 500, 12_000, 3].into_iter().enumerate() {
        tensors.push(tensor(
            rng,
            &format!("model.layers.{i}.mlp.big.weight"),
            Dtype::F32,
            &[rows, 1000],
        ));
    }
    tensors.push(tensor(rng, "model.odd", Dtype::U8, &[33 << 20 | 3]));
    write_safetensors(&path, &tensors).unwrap();
    path
}

#[test]
fn every_way_of_loading_gives_the_files_bytes_and_says_where_the_time_went() {
    let Some(ctx) = gpu() else { return };
    let mut rng = StdRng::seed_from_u64(fresh_seed(
        "every_way_of_loading_gives_the_files_bytes_and_says_where_the_time_went",
    ));
    let dir = temp_dir("tuning");
    let model = Model::open(mixed_model(&mut rng, &dir)).unwrap();
    let plan = ctx.plan_for(&model, &PlanOptions::default()).unwrap();
    let start = live(&ctx);
    // A ring of the load's own in memory that fits every device (cached where there is some).
    let own_ring = Some(Placement::Auto(Usage::Readback));
    let (auto, imported) = (HostMemory::Auto, HostMemory::Imported);
    use VerifyMethod::{Auto, Bytes, Checksum};
    for (
        allocation_threads,
        read_ahead_threads,
        upload_path,
        staging_memory,
        host_memory,
        method,
    ) in [
        (0, 0, UploadChoice::Auto, None, auto, Auto),
        (1, 1, UploadChoice::Mapped, None, imported, Checksum),
        (3, 2, UploadChoice::Staging, None, auto, Bytes),
        (2, 0, UploadChoice::Staging, own_ring, imported, Auto),
        (0, 3, UploadChoice::Mapped, None, HostMemory::Driver, Bytes),
        (1, 0, UploadChoice::Auto, own_ring, auto, Checksum),
    ] {
        let tuning = LoadTuning {
            allocation_threads,
            read_ahead_threads,
            read_ahead_bytes: 64 << 20,
            upload_path,
            staging_memory,
            host_memory,
        };
        let label = format!("{tuning:?}, verified by {method}");
        let uploaded = Arc::new(AtomicU64::new(0));
        let trailing = Arc::new(AtomicBool::new(true));
        let phases = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (up, ok, seen) = (uploaded.clone(), trailing.clone(), phases.clone());
        let options = LoadOptions {
            verify_method: method,
            ..LoadOptions::verified()
        };
        let options = options.with_tuning(tuning).with_progress(move |p| {
            assert!(p.done <= p.total, "{p:?}");
            match p.phase {
                LoadPhase::Upload => {
                    up.fetch_max(p.done, Ordering::SeqCst);
                }
                // A tensor is verified only after it was uploaded.
                LoadPhase::Verify if p.done > up.load(Ordering::SeqCst) => {
                    ok.store(false, Ordering::SeqCst)
                }
                _ => {}
            }
            let mut seen = seen.lock().unwrap();
            if !seen.contains(&p.phase) {
                seen.push(p.phase);
            }
        });
        let loaded = ctx.load_model(&model, &plan, &options).unwrap();
        assert_eq!(
            loaded.all_verified(),
            Some(true),
            "{label}: mismatched {:?}",
            loaded.mismatched()
        );
        assert!(
            trailing.load(Ordering::SeqCst),
            "{label}: verification ran ahead of the upload"
        );
        let phases = phases.lock().unwrap().clone();
        for phase in [LoadPhase::Upload, LoadPhase::Verify, LoadPhase::Finish] {
            assert!(
                phases.contains(&phase),
                "{label}: no {phase} progress in {phases:?}"
            );
        }
        for name in [
            "model.layers.2.mlp.big.weight",
            "model.odd",
            "model.layers.3.mlp.w7.weight",
        ] {
            let tensor = loaded.get(name).unwrap();
            let file = model.tensor_data(model.tensor(name).unwrap()).unwrap();
            assert_eq!(
                ctx.read_tensor(tensor.placed.as_ref().unwrap()).unwrap(),
                file,
                "{label}: {name}"
            );
        }

        let timings = loaded.timings();
        assert_eq!(timings.bytes, model.total_bytes(), "{label}");
        assert_eq!(timings.allocation_threads, allocation_threads);
        assert_eq!(timings.read_ahead_threads, read_ahead_threads);
        assert!(timings.copy_threads >= 1);
        assert!(
            0.0 < timings.upload_seconds && timings.upload_seconds <= timings.total_seconds,
            "{label}: {timings:?}"
        );
        assert_eq!(loaded.report().seconds, Some(timings.upload_seconds));
        let p = &timings.phases;
        assert!(
            p.allocate > 0.0 && p.copy > 0.0 && p.verify_compare > 0.0,
            "{label}: {p:?}"
        );
        assert!(
            p.allocate_wall > 0.0 && p.allocate_wall <= timings.upload_seconds,
            "{label}: {p:?}"
        );
        assert_eq!(
            p.wait_allocation > 0.0,
            allocation_threads > 0,
            "{label}: {p:?}"
        );
        assert_eq!(p.read_ahead > 0.0, read_ahead_threads > 0, "{label}: {p:?}");
        // Each placement's bytes took the path the choice gives for its memory (the rule of
        // `UploadChoice`; on lavapipe every type is host-visible, so each choice is its own).
        let discrete = ctx.adapter_info().device_type == strata::wgpu::DeviceType::DiscreteGpu;
        let expected = |part: &strata::PlacedBuffer| match upload_path {
            _ if part.upload_path() == UploadPath::Staging => UploadPath::Staging,
            UploadChoice::Staging => UploadPath::Staging,
            UploadChoice::Auto
                if discrete
                    && part
                        .flags()
                        .is_some_and(|f| f.contains(MemoryFlags::DEVICE_LOCAL)) =>
            {
                UploadPath::Staging
            }
            _ => UploadPath::Mapped,
        };
        // Lavapipe takes imported pages in its one type; other drivers may refuse some types.
        let must_import = host_memory == HostMemory::Imported
            && ctx.placement_support().host_import
            && ctx.adapter_info().device_type == strata::wgpu::DeviceType::Cpu;
        for tensor in loaded.tensors() {
            for part in tensor.parts() {
                let imported = part.info().host_imported;
                assert!(
                    !imported || host_memory != HostMemory::Driver,
                    "{label}: {} is on imported pages",
                    tensor.name
                );
                assert!(imported || !must_import, "{label}: {}", tensor.name);
            }
            let row = loaded
                .report()
                .tensors
                .iter()
                .find(|r| r.name == tensor.name);
            let reported = row.and_then(|r| r.host_imported);
            let all_imported = tensor.parts().iter().all(|p| p.info().host_imported);
            assert_eq!(
                reported,
                tensor.placed.as_ref().map(|_| all_imported),
                "{label}: {}",
                tensor.name
            );
            if let Some(part) = tensor.parts().first() {
                let path = expected(part);
                // The method the rule of `VerifyMethod::for_tensor` gives.
                let cached = part.upload_path() == UploadPath::Mapped
                    && part
                        .flags()
                        .is_some_and(|f| f.contains(MemoryFlags::HOST_CACHED));
                let staged = path == UploadPath::Staging;
                let used = method.for_tensor(tensor.bytes, staged, cached, true);
                assert_eq!(tensor.verified_by, Some(used), "{label}: {}", tensor.name);
                assert!(
                    timings
                        .paths
                        .iter()
                        .any(|u| u.placement == tensor.placement && u.path == path),
                    "{label}: {} should have taken {path:?}: {:?}",
                    tensor.name,
                    timings.paths
                );
            }
        }
        let staged = timings.paths.iter().any(|u| u.path == UploadPath::Staging);
        assert_eq!(p.submit > 0.0, staged, "{label}: {p:?}");
        // Staged, the model's tensors over one slot are checksummed by auto, the rest compared.
        let used: Vec<_> = loaded.tensors().iter().map(|t| t.verified_by).collect();
        if method == Auto && upload_path == UploadChoice::Staging {
            for by in [Bytes, Checksum] {
                assert!(used.contains(&Some(by)), "{label}: none by {by}: {used:?}");
            }
        }
        assert_eq!(
            timings.paths.iter().map(|u| u.bytes).sum::<u64>(),
            model.total_bytes()
        );
        let table = timings.render_table();
        assert!(
            table.contains("copy") && table.contains("upload (wall)"),
            "{table}"
        );
        let json = serde_json::to_value(timings).unwrap();
        assert!(json["phases"]["allocate"].as_f64().unwrap() > 0.0, "{json}");
        assert!(json["paths"][0]["path"].is_string(), "{json}");
        drop(loaded);
        assert_eq!(
            live(&ctx),
            start,
            "{label}: dropping the model frees every buffer"
        );
    }
}

/// Staged loads pack small tensors into shared slots and submit each slot beside the next
/// copy: without verification (which submits at every tensor's end), every tensor of a model
/// of many small tensors, a split one, large ones and one of an odd size still holds the
/// file's bytes, with the ring made on threads and with a ring of the load's own.
#[test]
fn staged_loads_without_verification_give_every_tensor_the_files_bytes() {
    let Some(ctx) = gpu() else { return };
    let mut rng = StdRng::seed_from_u64(fresh_seed(
        "staged_loads_without_verification_give_every_tensor_the_files_bytes",
    ));
    let dir = temp_dir("staged");
    let model = Model::open(mixed_model(&mut rng, &dir)).unwrap();
    let plan = ctx.plan_for(&model, &PlanOptions::default()).unwrap();
    let start = live(&ctx);
    for staging_memory in [None, Some(Placement::Auto(Usage::Readback))] {
        let options = LoadOptions::default().with_tuning(LoadTuning {
            upload_path: UploadChoice::Staging,
            staging_memory,
            ..LoadTuning::default()
        });
        let loaded = ctx.load_model(&model, &plan, &options).unwrap();
        assert_eq!(loaded.len(), model.tensors().len());
        for tensor in loaded.tensors() {
            let file = model
                .tensor_data(model.tensor(&tensor.name).unwrap())
                .unwrap();
            let read = match &tensor.placed {
                Some(placed) => ctx.read_tensor(placed).unwrap(),
                None => Vec::new(),
            };
            assert!(read == file, "{staging_memory:?}: {}", tensor.name);
        }
        assert!(loaded.timings().phases.submit > 0.0);
    }
    assert_eq!(live(&ctx), start, "every buffer released");
}

#[test]
fn a_load_cancelled_while_verifying_releases_everything() {
    let Some(ctx) = gpu() else { return };
    let mut rng = StdRng::seed_from_u64(fresh_seed(
        "a_load_cancelled_while_verifying_releases_everything",
    ));
    let dir = temp_dir("cancel-verify");
    let model = Model::open(mixed_model(&mut rng, &dir)).unwrap();
    let plan = ctx.plan_for(&model, &PlanOptions::default()).unwrap();
    let start = live(&ctx);
    for upload_path in [UploadChoice::Mapped, UploadChoice::Staging] {
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        let options = LoadOptions {
            cancel: Some(cancel),
            ..LoadOptions::verified()
                .with_tuning(LoadTuning {
                    upload_path,
                    ..LoadTuning::default()
                })
                .with_progress(move |p| {
                    if p.phase == LoadPhase::Verify && p.done > 0 {
                        flag.store(true, Ordering::Release);
                    }
                })
        };
        match ctx.load_model(&model, &plan, &options) {
            Err(LoadError::Cancelled { done, total }) => {
                assert!(done < total, "{upload_path}: {done} of {total}")
            }
            other => panic!(
                "{upload_path}: expected Cancelled, got {:?}",
                other.map(|m| m.len())
            ),
        }
        assert_eq!(
            live(&ctx),
            start,
            "{upload_path}: a cancelled load releases every buffer"
        );
    }
}

#[test]
fn a_load_with_the_vram_heap_capped_puts_every_tensor_where_its_plan_says() {
    // Heap usage is process-wide and the cap counts what is in use: no other test at the same time.
    let Some(ctx) = gpu_alone() else { return };
    let mut rng = StdRng::seed_from_u64(fresh_seed(
        "a_load_with_the_vram_heap_capped_puts_every_tensor_where_its_plan_says",
    ));
    let dir = temp_dir("capped");
    let model = Model::open(mixed_model(&mut rng, &dir)).unwrap();
    let table = ctx.vulkan("test").unwrap().memory_table();
    let host_served =
        strata::placement::choose_memory_type(&table, Placement::Host, u32::MAX).is_ok();
    // With a host heap, VRAM capped at half the model spills the rest there; without one
    // (lavapipe) the cap must hold the model, and the capped budget is what the load checks.
    let cap = if host_served {
        model.total_bytes() / 2
    } else {
        model.total_bytes() * 2 + (64 << 20)
    };
    let mut options = PlanOptions::default();
    options.caps.vram = Some(cap);
    let plan = ctx.plan_for(&model, &options).unwrap();
    let vram_heaps = strata::plan::vram_heaps(&table);
    let on_vram: u64 = plan
        .heaps
        .iter()
        .filter(|h| vram_heaps.contains(&h.index))
        .map(|h| h.planned_bytes)
        .sum();
    assert!(
        on_vram <= cap - cap / 20,
        "{on_vram} over the capped budget"
    );
    if host_served {
        assert!(plan.bytes_in(Placement::Host) >= model.total_bytes() - cap);
    }
    let loaded = ctx
        .load_model(&model, &plan, &LoadOptions::verified())
        .unwrap();
    assert_eq!(
        loaded.all_verified(),
        Some(true),
        "{:?}",
        loaded.mismatched()
    );
    for (tensor, planned) in loaded.tensors().iter().zip(&plan.tensors) {
        assert_eq!(
            (tensor.placement, tensor.memory_type, tensor.heap),
            (planned.placement, planned.memory_type, planned.heap),
            "{}",
            tensor.name
        );
        assert!(
            tensor
                .parts()
                .iter()
                .all(|p| p.heap() == Some(planned.heap))
        );
    }
    for (report, planned) in loaded.report().heaps.iter().zip(&plan.heaps) {
        assert_eq!(
            (report.budget, report.planned_bytes),
            (planned.budget, planned.planned_bytes)
        );
        assert_ne!(
            report.verification.as_deref(),
            Some("mismatch"),
            "{report:?}"
        );
    }
}
