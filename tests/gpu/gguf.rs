//! Loading GGUF models on the adapter at hand (lavapipe in CI): every ggml type loads as its
//! bytes and verifies against the file; a quantized tensor over lavapipe's 128 MiB binding
//! limit splits at whole rows of whole blocks; split models load as one; the files the Python
//! `gguf` package wrote load; and a GGUF file loads through the same path as a safetensors file
//! of the same bytes.

use crate::harness::{fresh_seed, gpu};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::Path;
use strata::Context;
use strata::load::{LoadOptions, LoadedModel};
use strata::model::{Dtype, GgmlType, GgufWriter, Model, write_safetensors};
use strata::plan::PlanOptions;
use tempfile::TempDir;

/// A fresh directory under the system temp dir, removed on drop.
fn temp_dir(label: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("strata-gpu-gguf-{label}-"))
        .tempdir()
        .unwrap()
}

fn random(rng: &mut StdRng, len: u64) -> Vec<u8> {
    let mut data = vec![0u8; len as usize];
    rng.fill(&mut data[..]);
    data
}

/// Plans `path` for this device, loads it verified, and checks every tensor landed in its
/// planned memory type and matches the file.
fn load_verified(ctx: &Context, path: &Path) -> LoadedModel {
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
    for (tensor, planned) in loaded.tensors().iter().zip(&plan.tensors) {
        assert_eq!(tensor.name, planned.name);
        assert_eq!(tensor.dtype.name(), planned.dtype);
        assert!(tensor.parts().iter().all(
            |p| p.memory_type() == Some(planned.memory_type) && p.heap() == Some(planned.heap)
        ));
    }
    loaded
}

#[test]
fn every_ggml_type_loads_as_bytes_and_a_large_q4_k_tensor_splits_at_whole_rows() {
    let Some(ctx) = gpu() else { return };
    let seed = fresh_seed("every_ggml_type_loads_as_bytes");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = temp_dir("types");

    // One tensor of every ggml type, three rows of two blocks each.
    let data: Vec<Vec<u8>> = GgmlType::ALL
        .iter()
        .map(|ty| random(&mut rng, 3 * 2 * ty.block_bytes()))
        .collect();
    // ~150 MB of q4_K rows of 4096 elements (16 blocks, 2304 bytes): over lavapipe's 128 MiB
    // binding limit, so split into parts (on bigger GPUs it may stay whole).
    let (rows, cols) = (65_000u64, 4096u64);
    let big = random(&mut rng, rows * (cols / 256) * 144);
    let mut writer = GgufWriter::new()
        .metadata("general.architecture", "llama")
        .tensor("token_embd.weight", GgmlType::Q4_K, [rows, cols], &big);
    for (ty, bytes) in GgmlType::ALL.iter().zip(&data) {
        writer = writer.tensor(
            format!("blk.0.{ty}.weight"),
            *ty,
            [3, 2 * ty.block_size()],
            bytes,
        );
    }
    writer = writer.tensor("blk.0.empty.weight", GgmlType::Q6_K, [0, 256], &[]);
    let path = dir.path().join("types.gguf");
    writer.write(&path).unwrap();
    drop(writer);

    let start = {
        ctx.wait_idle().unwrap();
        ctx.live_allocations()
    };
    let loaded = load_verified(&ctx, &path);
    for (ty, bytes) in GgmlType::ALL.iter().zip(&data) {
        let tensor = loaded.get(&format!("blk.0.{ty}.weight")).unwrap();
        assert_eq!(tensor.dtype, *ty);
        assert_eq!(tensor.shape, [3, 2 * ty.block_size()]);
        let placed = tensor.placed.as_ref().unwrap();
        assert_eq!(&ctx.read_tensor(placed).unwrap(), bytes, "{ty}");
    }
    assert!(loaded.get("blk.0.empty.weight").unwrap().placed.is_none());

    let embd = loaded.get("token_embd.weight").unwrap();
    let row = (cols / 256) * 144;
    let limit = ctx.part_limit();
    if embd.bytes > limit.bytes {
        let parts = embd.parts();
        assert!(parts.len() > 1, "a tensor over the part limit is split");
        for part in parts {
            assert!(part.bytes() <= limit.bytes);
            assert!(
                part.bytes().is_multiple_of(row),
                "whole rows of whole blocks"
            );
        }
    } else {
        eprintln!(
            "the part limit {} holds the whole tensor: not split",
            limit.bytes
        );
    }
    drop(loaded);
    ctx.wait_idle().unwrap();
    assert_eq!(ctx.live_allocations(), start, "dropping frees every buffer");
}

#[test]
fn split_models_and_the_gguf_packages_files_load_and_verify() {
    let Some(ctx) = gpu() else { return };
    let mut rng = StdRng::seed_from_u64(fresh_seed("split_models_load_and_verify"));
    let dir = temp_dir("split");
    let q4 = random(&mut rng, 8 * 144);
    let q8 = random(&mut rng, 8 * 34);
    let norm = random(&mut rng, 4 * 256);
    let mut writer = GgufWriter::new().metadata("general.architecture", "llama");
    for layer in 0..6 {
        writer = writer
            .tensor(
                format!("blk.{layer}.attn_norm.weight"),
                GgmlType::F32,
                [256],
                &norm,
            )
            .tensor(
                format!("blk.{layer}.attn_q.weight"),
                GgmlType::Q4_K,
                [8, 256],
                &q4,
            )
            .tensor(
                format!("blk.{layer}.ffn_up.weight"),
                GgmlType::Q8_0,
                [8, 32],
                &q8,
            );
    }
    let parts = writer.write_split(dir.path().join("model"), 3).unwrap();
    let loaded = load_verified(&ctx, &parts[1]);
    assert_eq!(loaded.len(), 18);
    let q = loaded.get("blk.5.attn_q.weight").unwrap();
    assert_eq!(&ctx.read_tensor(q.placed.as_ref().unwrap()).unwrap(), &q4);

    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/gguf");
    for file in ["types.gguf", "aligned64.gguf", "split-00001-of-00003.gguf"] {
        let loaded = load_verified(&ctx, &fixtures.join(file));
        assert!(!loaded.is_empty(), "{file}");
    }
}

#[test]
fn gguf_and_safetensors_of_the_same_bytes_load_alike() {
    let Some(ctx) = gpu() else { return };
    let mut rng = StdRng::seed_from_u64(fresh_seed("gguf_and_safetensors_load_alike"));
    let dir = temp_dir("same-bytes");
    // 16 tensors of 2 MiB each: as q8_0 rows in GGUF, as U8 rows of the same bytes in
    // safetensors.
    let row = 34 * 64; // 64 q8_0 blocks
    let rows = (2 << 20) / row as u64;
    let tensors: Vec<Vec<u8>> = (0..16)
        .map(|_| random(&mut rng, rows * row as u64))
        .collect();
    let mut gguf = GgufWriter::new();
    let mut st = Vec::new();
    for (i, data) in tensors.iter().enumerate() {
        let name = format!("blk.{i}.ffn_up.weight");
        gguf = gguf.tensor(name.clone(), GgmlType::Q8_0, [rows, 64 * 32], data);
        st.push((name, Dtype::U8, vec![rows, row as u64], data.clone()));
    }
    gguf.write(dir.path().join("m.gguf")).unwrap();
    write_safetensors(dir.path().join("m.safetensors"), &st).unwrap();

    let a = load_verified(&ctx, &dir.path().join("m.gguf"));
    let b = load_verified(&ctx, &dir.path().join("m.safetensors"));
    assert_eq!(a.total_bytes(), b.total_bytes());
    for (x, y) in a.tensors().iter().zip(b.tensors()) {
        // Bytes and row parts alike; where each landed follows its own plan (load_verified
        // checks it), which the heaps' budgets at that moment decide.
        assert_eq!(
            (x.bytes, x.parts().len()),
            (y.bytes, y.parts().len()),
            "{}",
            x.name
        );
        assert_eq!(
            x.parts().len(),
            y.parts().len(),
            "{}: the same split",
            x.name
        );
    }
    // Rates are printed, not compared: one run on a shared CPU driver is too noisy to judge.
    eprintln!(
        "load rate: gguf {:.2} GB/s, safetensors {:.2} GB/s",
        a.report().gb_per_s.unwrap_or(0.0),
        b.report().gb_per_s.unwrap_or(0.0)
    );
}
