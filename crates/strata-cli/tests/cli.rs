//! The `strata` command end to end: `plan` on recorded tables (no GPU), `load` and `alloc` on
//! the adapter at hand (lavapipe in CI), and bad input.
//!
//! Tests that need an adapter fail when `CI` is set and none is found; elsewhere they print a
//! loud notice and return early. With the Khronos validation layer installed, GPU commands run
//! under it (`--validation`) and any validation message fails the test.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use strata::model::{Dtype, GgmlType, GgufWriter, write_safetensors, write_sharded};
use tempfile::TempDir;

/// A fresh directory under the system temp dir, removed on drop.
fn temp_dir(label: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("strata-cli-test-{label}-"))
        .tempdir()
        .unwrap()
}

/// A recorded device table of the repository.
fn device_table(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../strata/tests/devices/{name}.json"))
}

/// Runs `strata` with `args`.
fn strata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the strata binary runs")
}

/// Runs `strata` on the GPU, under the validation layer when it is installed.
fn strata_gpu(args: &[&str]) -> Output {
    let mut args = args.to_vec();
    if strata::adapter::validation_layer_available() {
        args.push("--validation");
    }
    let output = strata(&args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // `strata` logs with env_logger: its stderr is read by the detector every test uses.
    let messages = strata::validation::messages_in(&stderr);
    assert!(
        messages.is_empty(),
        "the validation layer spoke during `strata {}`:\n{}\n\nfull stderr:\n{stderr}",
        args.join(" "),
        messages.join("\n")
    );
    output
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is JSON")
}

fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The name of the adapter `strata` picks, or `None` (loudly) outside CI when there is none.
fn adapter() -> Option<String> {
    static ADAPTER: OnceLock<Option<String>> = OnceLock::new();
    ADAPTER
        .get_or_init(|| {
            let output = strata(&["info", "--json"]);
            let found = output
                .status
                .success()
                .then(|| serde_json::from_slice::<Value>(&output.stdout).ok())
                .flatten()
                .and_then(|v| v["adapters"][0]["name"].as_str().map(String::from));
            if found.is_none() {
                let msg = format!("no GPU adapter: {}", text(&output.stderr));
                if in_ci() {
                    panic!("{msg} (lavapipe should be installed in CI)");
                }
                eprintln!("\n!!!!!!!! {msg}: GPU CLI test NOT RUN !!!!!!!!\n");
            }
            found
        })
        .clone()
}

/// lavapipe (Mesa's CPU driver): one memory type with every host flag, no budget extension.
fn on_lavapipe(adapter: &str) -> bool {
    adapter.contains("llvmpipe") || adapter.contains("lavapipe")
}

/// A tensor of deterministic bytes.
fn tensor(name: &str, dtype: Dtype, shape: &[u64]) -> (String, Dtype, Vec<u64>, Vec<u8>) {
    let bytes = dtype.bytes_for(shape.iter().product()).unwrap() as usize;
    let data = (0..bytes)
        .map(|i| (i.wrapping_mul(31) ^ name.len()) as u8)
        .collect();
    (name.to_string(), dtype, shape.to_vec(), data)
}

/// A small transformer-like model: embeddings, norms, three layers, an output head.
fn write_model(path: &Path) {
    let mut tensors = vec![
        tensor("model.embed_tokens.weight", Dtype::BF16, &[512, 64]),
        tensor("model.norm.weight", Dtype::F32, &[64]),
        tensor("lm_head.weight", Dtype::F16, &[512, 64]),
    ];
    for layer in 0..3 {
        let name = |part: &str| format!("model.layers.{layer}.{part}");
        tensors.push(tensor(&name("mlp.up_proj.weight"), Dtype::BF16, &[128, 64]));
        tensors.push(tensor(&name("input_layernorm.weight"), Dtype::F32, &[64]));
        tensors.push(tensor(&name("attn.positions"), Dtype::I64, &[33]));
        tensors.push(tensor(&name("mask"), Dtype::U8, &[7, 5]));
    }
    write_safetensors(path, &tensors).unwrap();
}

/// A small GGUF model of several ggml types (quantized ones included), `parts` files.
fn write_gguf(dir: &Path, parts: u32) -> PathBuf {
    let bytes = |len: u64| -> Vec<u8> { (0..len).map(|i| (i * 13 + 5) as u8).collect() };
    let embd = bytes(32 * 144);
    let q6 = bytes(4 * 210);
    let q8 = bytes(8 * 34);
    let norm = bytes(4 * 256);
    let mut writer = GgufWriter::new()
        .metadata("general.architecture", "llama")
        .metadata("general.name", "cli test")
        .tensor("token_embd.weight", GgmlType::Q4_K, [32, 256], &embd)
        .tensor("output_norm.weight", GgmlType::F32, [256], &norm);
    for layer in 0..3 {
        writer = writer
            .tensor(
                format!("blk.{layer}.attn_norm.weight"),
                GgmlType::F32,
                [256],
                &norm,
            )
            .tensor(
                format!("blk.{layer}.ffn_down.weight"),
                GgmlType::Q6_K,
                [4, 256],
                &q6,
            )
            .tensor(
                format!("blk.{layer}.attn_q.weight"),
                GgmlType::Q8_0,
                [8, 32],
                &q8,
            );
    }
    if parts == 1 {
        let path = dir.join("model.gguf");
        writer.write(&path).unwrap();
        path
    } else {
        writer.write_split(dir.join("model"), parts).unwrap()[0].clone()
    }
}

#[test]
fn plan_of_a_gguf_model_on_a_recorded_table() {
    let dir = temp_dir("plan-gguf");
    let model = write_gguf(dir.path(), 1);
    let table = device_table("amd-apu-radv");
    let doc = json(&strata(&[
        "plan",
        model.to_str().unwrap(),
        "--device-table",
        table.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(doc["format"], "gguf");
    assert_eq!(doc["architecture"], "llama");
    assert_eq!(doc["name"], "cli test");
    let tensors = doc["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), 11);
    let embd = tensors
        .iter()
        .find(|t| t["name"] == "token_embd.weight")
        .unwrap();
    assert_eq!(embd["dtype"], "q4_K");
    assert_eq!(embd["placement"], "vram");
    assert_eq!(embd["shape"], serde_json::json!([32, 256]));
    assert_eq!(embd["bytes"], 32 * 144);
    let middle = tensors
        .iter()
        .find(|t| t["name"] == "blk.1.ffn_down.weight")
        .unwrap();
    assert_eq!(
        (&middle["dtype"], &middle["tier"]),
        (&"q6_K".into(), &"bulk".into())
    );

    // The human table of a split model, opened by its second part.
    let split = temp_dir("plan-gguf-split");
    write_gguf(split.path(), 3);
    let second = split.path().join("model-00002-of-00003.gguf");
    let output = strata(&[
        "plan",
        second.to_str().unwrap(),
        "--device-table",
        table.to_str().unwrap(),
    ]);
    let out = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        out.contains("model-00001-of-00003.gguf")
            && out.contains("gguf v3, 3 files, architecture llama, name \"cli test\"")
            && out.contains("q6_K")
            && out.contains("blk.2.attn_q.weight"),
        "{out}"
    );

    // A missing part exits non-zero naming it.
    std::fs::remove_file(split.path().join("model-00003-of-00003.gguf")).unwrap();
    let output = strata(&[
        "plan",
        second.to_str().unwrap(),
        "--device-table",
        table.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let err = text(&output.stderr);
    assert!(
        err.contains("model-00003-of-00003.gguf") && err.contains("does not exist"),
        "{err}"
    );
}

#[test]
fn plan_on_a_recorded_table_prints_the_report_json() {
    let dir = temp_dir("plan");
    let model = dir.path().join("model.safetensors");
    write_model(&model);
    let table = device_table("amd-apu-radv");
    let args = [
        "plan",
        model.to_str().unwrap(),
        "--device-table",
        table.to_str().unwrap(),
        "--json",
    ];
    let doc = json(&strata(&args));
    let tensors = doc["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), 15);
    for tensor in tensors {
        for key in [
            "name",
            "dtype",
            "shape",
            "bytes",
            "placement",
            "memory_type",
            "heap",
        ] {
            assert!(!tensor[key].is_null(), "{key} in {tensor}");
        }
        assert!(tensor.get("verified").is_some_and(Value::is_null));
    }
    let embed = tensors
        .iter()
        .find(|t| t["name"] == "model.embed_tokens.weight")
        .unwrap();
    assert_eq!(embed["placement"], "vram");
    assert_eq!(embed["dtype"], "BF16");
    for heap in doc["heaps"].as_array().unwrap() {
        for key in ["index", "planned_bytes", "budget"] {
            assert!(!heap[key].is_null(), "{key} in {heap}");
        }
        for key in ["usage_before", "usage_after"] {
            assert!(heap.get(key).is_some_and(Value::is_null), "{key} in {heap}");
        }
    }
    for key in ["seconds", "gb_per_s"] {
        assert!(doc.get(key).is_some_and(Value::is_null), "{key}");
    }
    assert!(doc.get("timings").is_none(), "a plan has no timings");

    // The human table, with a cap and a rule.
    let output = strata(&[
        "plan",
        dir.path().to_str().unwrap(),
        "--device-table",
        table.to_str().unwrap(),
        "--rule",
        "*mlp*=critical",
        "--vram-limit",
        "40KiB",
    ]);
    let out = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        out.contains("headroom") && out.contains("rule *mlp*"),
        "{out}"
    );
    // The VRAM heap capped at 40 KiB, as on a device with that much VRAM: the rest spills to
    // the GTT heap, and the spilled tensors say why.
    assert!(
        out.contains("under the VRAM cap of 40.00 KiB) -> host"),
        "{out}"
    );
}

#[test]
fn plan_that_cannot_fit_fails_naming_the_tensor() {
    let dir = temp_dir("plan-nofit");
    let model = dir.path().join("model.safetensors");
    write_model(&model);
    let table = device_table("amd-apu-radv");
    let output = strata(&[
        "plan",
        model.to_str().unwrap(),
        "--device-table",
        table.to_str().unwrap(),
        "--policy",
        "only=vram",
        "--vram-limit",
        "70KiB",
    ]);
    assert!(!output.status.success());
    let err = text(&output.stderr);
    assert!(
        err.contains("only=vram") && err.contains("does not fit"),
        "{err}"
    );
    assert!(err.contains("model.safetensors"), "{err}");
}

#[test]
fn bad_model_files_exit_non_zero_naming_the_file() {
    let dir = temp_dir("bad");
    let table = device_table("lavapipe-mesa-22.3.6");
    let table = table.to_str().unwrap();

    let missing = dir.path().join("missing.safetensors");
    let missing = missing.to_str().unwrap();
    for args in [
        vec!["plan", missing, "--device-table", table],
        vec!["load", missing],
    ] {
        let output = strata(&args);
        assert!(!output.status.success(), "{args:?}");
        let err = text(&output.stderr);
        assert!(
            err.contains("missing.safetensors") && err.contains("no such file"),
            "{args:?}: {err}"
        );
    }

    let truncated = dir.path().join("truncated.safetensors");
    write_model(&truncated);
    let len = std::fs::metadata(&truncated).unwrap().len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&truncated)
        .unwrap();
    file.set_len(len - 100).unwrap();
    drop(file);
    for args in [
        vec!["plan", truncated.to_str().unwrap(), "--device-table", table],
        vec!["load", truncated.to_str().unwrap(), "--verify"],
    ] {
        let output = strata(&args);
        assert!(!output.status.success(), "{args:?}");
        let err = text(&output.stderr);
        assert!(err.contains("truncated.safetensors"), "{args:?}: {err}");
    }

    // A missing shard names the shard and a tensor it should hold.
    let sharded = dir.path().join("sharded");
    let shards = vec![
        vec![tensor("a.weight", Dtype::F32, &[4, 4])],
        vec![tensor("b.weight", Dtype::F32, &[4, 4])],
    ];
    write_sharded(&sharded, &shards).unwrap();
    std::fs::remove_file(sharded.join("model-00002-of-00002.safetensors")).unwrap();
    let output = strata(&["plan", sharded.to_str().unwrap(), "--device-table", table]);
    assert!(!output.status.success());
    let err = text(&output.stderr);
    assert!(
        err.contains("model-00002-of-00002.safetensors") && err.contains("b.weight"),
        "{err}"
    );
}

#[test]
fn load_verify_json_succeeds() {
    let Some(adapter) = adapter() else { return };
    let dir = temp_dir("load");
    let model = dir.path().join("model.safetensors");
    write_model(&model);
    let doc = json(&strata_gpu(&[
        "load",
        model.to_str().unwrap(),
        "--verify",
        "--json",
    ]));
    let tensors = doc["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), 15);
    assert!(tensors.iter().all(|t| t["verified"] == true), "{doc}");
    assert!(doc["seconds"].as_f64().is_some() && doc["gb_per_s"].as_f64().is_some());
    assert!(doc["heaps"].as_array().is_some_and(|h| !h.is_empty()));
    let timings = &doc["timings"];
    assert_eq!(timings["upload_seconds"], doc["seconds"], "{timings}");
    assert!(timings["total_seconds"].as_f64() >= timings["upload_seconds"].as_f64());
    for phase in ["allocate", "allocate_wall", "copy", "verify_compare"] {
        assert!(
            timings["phases"][phase].as_f64().is_some(),
            "{phase} in {timings}"
        );
    }
    if on_lavapipe(&adapter) {
        let heap = &doc["heaps"][0];
        assert!(heap["usage_before"].is_null(), "lavapipe reports no usage");
        assert_eq!(heap["verification"], "unverifiable");
    }

    // The human table, sharded, with an only= policy.
    let shards = vec![
        vec![tensor("a.weight", Dtype::F32, &[64, 4])],
        vec![tensor("b.weight", Dtype::BF16, &[64, 4])],
    ];
    let index = write_sharded(dir.path().join("sharded"), &shards).unwrap();
    let output = strata_gpu(&[
        "load",
        index.to_str().unwrap(),
        "--policy",
        "only=vram",
        "--verify",
    ]);
    let out = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        out.contains("a.weight") && out.contains("verified") && out.contains("yes"),
        "{out}"
    );
    assert!(
        out.contains("where the time went") && out.contains("upload (wall)"),
        "{out}"
    );

    // The old single-threaded way, and a forced path, load the same bytes.
    for args in [
        &["--alloc-threads", "0", "--read-ahead-threads", "0"][..],
        &["--upload-path", "staging"][..],
        &["--upload-path", "mapped", "--alloc-threads", "3"][..],
    ] {
        let mut all = vec!["load", model.to_str().unwrap(), "--verify", "--json"];
        all.extend_from_slice(args);
        let doc = json(&strata_gpu(&all));
        assert!(
            doc["tensors"]
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["verified"] == true),
            "{args:?}: {doc}"
        );
    }
    let output = strata_gpu(&["load", model.to_str().unwrap(), "--upload-path", "dma"]);
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("auto, mapped or staging"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn load_verify_of_a_gguf_model() {
    let Some(_adapter) = adapter() else { return };
    let dir = temp_dir("load-gguf");
    let model = write_gguf(dir.path(), 1);
    let doc = json(&strata_gpu(&[
        "load",
        model.to_str().unwrap(),
        "--verify",
        "--json",
    ]));
    assert_eq!(doc["format"], "gguf");
    let tensors = doc["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), 11);
    assert!(tensors.iter().all(|t| t["verified"] == true), "{doc}");
    assert!(tensors.iter().any(|t| t["dtype"] == "q6_K"));

    let split = temp_dir("load-gguf-split");
    let first = write_gguf(split.path(), 2);
    let output = strata_gpu(&["load", first.to_str().unwrap(), "--verify"]);
    let out = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        out.contains("gguf v3, 2 files")
            && out.contains("token_embd.weight")
            && out.contains("yes"),
        "{out}"
    );
}

#[test]
fn alloc_reports_placement_and_proof() {
    let Some(adapter) = adapter() else { return };
    let doc = json(&strata_gpu(&[
        "alloc",
        "--placement",
        "vram",
        "--size",
        "64MiB",
        "--json",
    ]));
    for key in [
        "placement",
        "memory_type",
        "heap",
        "flags",
        "bytes",
        "heap_usage_before",
        "heap_usage_after",
        "verification",
        "upload_path",
        "dedicated",
        "fallbacks",
        "upload_gb_per_s",
    ] {
        assert!(doc.get(key).is_some(), "{key} in {doc}");
    }
    assert_eq!(doc["placement"], "vram");
    assert_eq!(doc["bytes"], 64 << 20);
    assert_eq!(doc["readback"], "ok");
    if on_lavapipe(&adapter) {
        assert_eq!(doc["verification"], "unverifiable", "{doc}");
        assert!(doc["heap_usage_before"].is_null());
    } else {
        assert_ne!(doc["verification"], "mismatch", "{doc}");
    }

    // With --verify the whole buffer is read back; human output.
    let output = strata_gpu(&[
        "alloc",
        "--placement",
        "vram-mapped",
        "--size",
        "1MiB",
        "--verify",
    ]);
    let out = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        out.contains("proof of placement") && out.contains("read back 1.00 MiB: ok"),
        "{out}"
    );
}

#[test]
fn alloc_of_an_unavailable_placement_shows_the_table() {
    let Some(adapter) = adapter() else { return };
    if !on_lavapipe(&adapter) {
        eprintln!("lavapipe-specific expectations skipped on {adapter}");
        return;
    }
    let output = strata_gpu(&["alloc", "--placement", "host", "--size", "1MiB"]);
    assert!(!output.status.success());
    let err = text(&output.stderr);
    assert!(err.contains("`host` is not available"), "{err}");
    assert!(
        err.contains("heap 0") && err.contains("type 0"),
        "the table: {err}"
    );

    // An explicit fallback serves, and says what it skipped.
    let doc = json(&strata_gpu(&[
        "alloc",
        "--placement",
        "host",
        "--fallback",
        "host-cached,vram",
        "--size",
        "1MiB",
        "--json",
    ]));
    assert_eq!(doc["placement"], "vram");
    assert_eq!(doc["fallbacks"].as_array().map(Vec::len), Some(2));
}

#[test]
fn matmul_with_placed_operands_checks_and_says_where() {
    let Some(_) = adapter() else { return };
    for dtype in ["f32", "bf16"] {
        let doc = json(&strata_gpu(&[
            "matmul",
            "--m",
            "37",
            "--k",
            "20",
            "--n",
            "12",
            "--dtype",
            dtype,
            "--placement",
            "vram",
            "--check",
            "--json",
        ]));
        assert_eq!(doc["ok"], true, "{doc}");
        assert_eq!(doc["placement"], "vram", "{doc}");
        assert!(doc["repeats"].as_u64().is_some_and(|r| r >= 1), "{doc}");
    }
    // A placement the device cannot give is an error naming it, before any work.
    let output = strata_gpu(&[
        "matmul",
        "--m",
        "4",
        "--k",
        "4",
        "--n",
        "4",
        "--placement",
        "type=99",
    ]);
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("type=99"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn gemv_checks_every_quantized_dtype() {
    let Some(adapter) = adapter() else { return };
    let dtypes = [
        "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k",
    ];
    for dtype in dtypes {
        let doc = json(&strata_gpu(&[
            "gemv", "--rows", "19", "--cols", "512", "--batch", "3", "--dtype", dtype, "--check",
            "--iters", "1", "--json",
        ]));
        assert_eq!(doc["ok"], true, "{doc}");
        assert_eq!(doc["dtype"], dtype, "{doc}");
        let variant = doc["variant"].as_str().unwrap_or("");
        assert!(variant.starts_with("gemv_quant"), "{doc}");
        // The bytes moved count the blocks: a 512-column row is whole blocks of the type.
        let bytes = doc["bytes"].as_u64().unwrap_or(0);
        assert!(bytes > 4 * (3 * 512 + 3 * 19), "{doc}");
    }
    // Kernel parameters from the command line reach the quantized kernel.
    let doc = json(&strata_gpu(&[
        "gemv",
        "--rows",
        "9",
        "--cols",
        "1024",
        "--dtype",
        "q4_k",
        "--threads",
        "64",
        "--rows-per-group",
        "3",
        "--unroll",
        "2",
        "--check",
        "--iters",
        "1",
        "--json",
    ]));
    assert_eq!(doc["ok"], true, "{doc}");
    let variant = doc["variant"].as_str().unwrap_or("");
    assert!(
        variant.contains("/64t/3r/u2/") || variant.starts_with("gemv_quant_any/"),
        "{doc}"
    );
    // The subgroup-rows engine on request (lavapipe's subgroups are a fixed 8 lanes, so it
    // runs there); a device without a fixed subgroup size refuses it, saying why.
    let output = strata_gpu(&[
        "gemv",
        "--rows",
        "21",
        "--cols",
        "2304",
        "--dtype",
        "q4_k",
        "--engine",
        "sg",
        "--rows-per-group",
        "2",
        "--unroll",
        "4",
        "--check",
        "--iters",
        "1",
        "--json",
    ]);
    if output.status.success() || on_lavapipe(&adapter) {
        let doc = json(&output);
        assert_eq!(doc["ok"], true, "{doc}");
        let variant = doc["variant"].as_str().unwrap_or("");
        assert!(
            variant.starts_with("gemv_quant_sg/q4_k/b1/") && variant.ends_with("/2r/u4"),
            "{doc}"
        );
    } else {
        let stderr = text(&output.stderr);
        assert!(stderr.contains("fixed subgroup size"), "{stderr}");
    }
    // Rows that are not whole blocks are refused, naming the block size.
    let output = strata_gpu(&["gemv", "--rows", "4", "--cols", "300", "--dtype", "q6_k"]);
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("256"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn matmul_and_bench_take_quantized_weights() {
    let Some(_) = adapter() else { return };
    let doc = json(&strata_gpu(&[
        "matmul", "--m", "17", "--k", "512", "--n", "24", "--dtype", "q5_k", "--layout", "nt",
        "--check", "--iters", "1", "--json",
    ]));
    assert_eq!(doc["ok"], true, "{doc}");
    assert!(
        doc["variant"]
            .as_str()
            .unwrap_or("")
            .starts_with("dequant/q5_k/"),
        "{doc}"
    );
    let dir = temp_dir("bench-quant");
    let path = dir.path().join("bench.json");
    let output = strata_gpu(&[
        "bench",
        "--ops",
        "gemv",
        "--placements",
        "vram",
        "--gemv-dtype",
        "q8_0",
        "--size",
        "1MiB",
        "--iters",
        "1",
        "--json",
        path.to_str().unwrap_or_default(),
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let doc: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("the JSON report")).expect("JSON");
    assert_eq!(doc["gemv_dtype"], "q8_0", "{doc}");
    let row = &doc["rows"][0];
    assert_eq!(row["checked"], true, "{doc}");
    assert!(
        row["weight_gb_per_s"].as_f64().is_some_and(|r| r > 0.0),
        "{doc}"
    );
    assert!(
        row["kernel"].as_str().unwrap_or("").contains("q8_0"),
        "{doc}"
    );
    // Quantized gemm operands are refused with the way round.
    let output = strata_gpu(&["bench", "--dtype", "q4_0"]);
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("--gemv-dtype"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn plan_across_two_recorded_devices_splits_the_layers() {
    let dir = temp_dir("plan-split");
    let model = dir.path().join("model.safetensors");
    write_model(&model);
    let h100 = device_table("nvidia-h100-vulkan");
    let out = strata(&[
        "plan",
        model.to_str().unwrap(),
        "--device-table",
        h100.to_str().unwrap(),
        "--device-table",
        h100.to_str().unwrap(),
        "--split",
        "2,1",
        "--json",
    ]);
    let doc = json(&out);
    let devices = doc.as_array().expect("one document per device");
    assert_eq!(devices.len(), 2);
    assert_eq!(devices[0]["layers"]["start"], 0);
    assert_eq!(devices[0]["layers"]["end"], 2);
    assert_eq!(devices[1]["layers"]["start"], 2);
    let tensors: usize = devices
        .iter()
        .map(|d| d["tensors"].as_array().map_or(0, |t| t.len()))
        .sum();
    assert_eq!(tensors, 15, "every tensor on exactly one device");
    let text = text(
        &strata(&[
            "plan",
            model.to_str().unwrap(),
            "--device-table",
            h100.to_str().unwrap(),
            "--device-table",
            h100.to_str().unwrap(),
        ])
        .stdout,
    );
    assert!(
        text.contains("across 2 devices") && text.contains("device 1"),
        "{text}"
    );
}

#[test]
fn load_across_two_contexts_verifies_on_each() {
    // Adapter 0 (the one `adapter()` found) twice: names can hold commas, indices cannot.
    let Some(_adapter) = adapter() else { return };
    let dir = temp_dir("load-split");
    let model = dir.path().join("model.safetensors");
    write_model(&model);
    let devices = "0,0".to_string();
    let doc = json(&strata_gpu(&[
        "load",
        model.to_str().unwrap(),
        "--devices",
        &devices,
        "--split",
        "1,1",
        "--verify",
        "--json",
    ]));
    let devices = doc.as_array().expect("one document per device");
    assert_eq!(devices.len(), 2);
    for d in devices {
        let tensors = d["tensors"].as_array().unwrap();
        assert!(!tensors.is_empty());
        assert!(tensors.iter().all(|t| t["verified"] == true), "{d}");
    }
}
