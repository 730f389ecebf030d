//! GGUF models: the reader against files the Python `gguf` package wrote (tests/data/gguf/),
//! GGUF models planned like safetensors ones, split models, every kind of bad input as a typed
//! error naming the file and tensor, and a 27B-shaped Q4_K_M model planned for the recorded AMD
//! APU. No GPU needed (tests/gpu/gguf.rs loads GGUF models on the device).

use serde_json::Value;
use std::path::{Path, PathBuf};
use strata::model::{
    GgmlType, GgufArray, GgufValue, GgufWriter, Model, ModelError, ModelFormat, TensorType,
    parse_gguf,
};
use strata::placement::{PartLimit, split_into_parts};
use strata::plan::{PlanOptions, Tier, plan};
use strata::table::{MemoryFlags, MemoryTable};
use tempfile::TempDir;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/gguf")
}

/// A fresh directory under the system temp dir, removed on drop.
fn temp_dir(label: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("strata-gguf-{label}-"))
        .tempdir()
        .unwrap()
}

fn fixtures() -> Value {
    let text = std::fs::read_to_string(data_dir().join("fixtures.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A GGUF value as the Python package's `contents()` gives it (nested arrays flattened).
fn as_json(value: &GgufValue) -> Value {
    fn array(a: &GgufArray, out: &mut Vec<Value>) {
        match a {
            GgufArray::U8(v) => out.extend(v.iter().map(|&x| x.into())),
            GgufArray::I8(v) => out.extend(v.iter().map(|&x| x.into())),
            GgufArray::U16(v) => out.extend(v.iter().map(|&x| x.into())),
            GgufArray::I16(v) => out.extend(v.iter().map(|&x| x.into())),
            GgufArray::U32(v) => out.extend(v.iter().map(|&x| x.into())),
            GgufArray::I32(v) => out.extend(v.iter().map(|&x| x.into())),
            GgufArray::U64(v) => out.extend(v.iter().map(|&x| x.into())),
            GgufArray::I64(v) => out.extend(v.iter().map(|&x| x.into())),
            GgufArray::F32(v) => out.extend(v.iter().map(|&x| f64::from(x).into())),
            GgufArray::F64(v) => out.extend(v.iter().map(|&x| x.into())),
            GgufArray::Bool(v) => out.extend(v.iter().map(|&x| x.into())),
            GgufArray::String(v) => out.extend(v.iter().map(|x| x.as_str().into())),
            GgufArray::Array(v) => v.iter().for_each(|inner| array(inner, out)),
            other => panic!("unexpected array {other:?}"),
        }
    }
    match value {
        GgufValue::U8(v) => (*v).into(),
        GgufValue::I8(v) => (*v).into(),
        GgufValue::U16(v) => (*v).into(),
        GgufValue::I16(v) => (*v).into(),
        GgufValue::U32(v) => (*v).into(),
        GgufValue::I32(v) => (*v).into(),
        GgufValue::U64(v) => (*v).into(),
        GgufValue::I64(v) => (*v).into(),
        GgufValue::F32(v) => f64::from(*v).into(),
        GgufValue::F64(v) => (*v).into(),
        GgufValue::Bool(v) => (*v).into(),
        GgufValue::String(v) => v.as_str().into(),
        GgufValue::Array(a) => {
            let mut out = Vec::new();
            array(a, &mut out);
            Value::Array(out)
        }
        other => panic!("unexpected value {other:?}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn ggml_type_table_agrees_with_the_gguf_package() {
    let fixtures = fixtures();
    let sizes = fixtures["quant_sizes"].as_object().unwrap();
    assert_eq!(sizes.len(), GgmlType::ALL.len(), "the same set of types");
    for (name, entry) in sizes {
        let ty: GgmlType = name.parse().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            u64::from(ty.id()),
            entry["id"].as_u64().unwrap(),
            "{name} id"
        );
        assert_eq!(
            ty.block_size(),
            entry["block_size"].as_u64().unwrap(),
            "{name}"
        );
        let theirs = entry["block_bytes"].as_u64().unwrap();
        if ty == GgmlType::Q8_1 {
            // The package still sizes q8_1 with two f32 (40 bytes); ggml's block_q8_1 has two
            // f16 and 32 quants: 36. See ggml_type.rs.
            assert_eq!((theirs, ty.block_bytes()), (40, 36));
        } else {
            assert_eq!(ty.block_bytes(), theirs, "{name} bytes per block");
        }
    }
}

#[test]
fn reads_what_the_gguf_package_wrote_identically() {
    let fixtures = fixtures();
    let files = fixtures["files"].as_array().unwrap();
    assert!(files.len() >= 5);
    let mut metadata_checked = 0;
    for expected in files {
        let name = expected["file"].as_str().unwrap();
        let path = data_dir().join(name);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len() as u64, expected["file_len"].as_u64().unwrap());
        let header = parse_gguf(&path, &bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            u64::from(header.version),
            expected["version"].as_u64().unwrap()
        );
        assert_eq!(
            header.alignment,
            expected["alignment"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            header.data_start,
            expected["data_start"].as_u64().unwrap(),
            "{name}"
        );

        let keys = expected["metadata"].as_object().unwrap();
        assert_eq!(header.metadata.len(), keys.len(), "{name}: metadata keys");
        for (key, entry) in keys {
            let value = header
                .metadata
                .get(key)
                .unwrap_or_else(|| panic!("{name}: no `{key}`"));
            let their_type = entry["type"].as_str().unwrap();
            let ours = match value.value_type().name() {
                "str" => "STRING".to_string(),
                "arr" => "ARRAY".to_string(),
                "f32" => "FLOAT32".to_string(),
                "f64" => "FLOAT64".to_string(),
                "bool" => "BOOL".to_string(),
                n => n.replace('u', "UINT").replace('i', "INT"),
            };
            assert_eq!(ours, their_type, "{name}: `{key}` type");
            assert_eq!(as_json(value), entry["value"], "{name}: `{key}`");
            metadata_checked += 1;
        }

        let tensors = expected["tensors"].as_array().unwrap();
        assert_eq!(header.tensors.len(), tensors.len(), "{name}");
        for (info, t) in header.tensors.iter().zip(tensors) {
            assert_eq!(info.name, t["name"].as_str().unwrap(), "{name}");
            let ty: GgmlType = t["type"].as_str().unwrap().parse().unwrap();
            assert_eq!(info.dtype, TensorType::Ggml(ty), "{}", info.name);
            assert_eq!(u64::from(ty.id()), t["type_id"].as_u64().unwrap());
            let mut ne: Vec<u64> = t["ne"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_u64().unwrap())
                .collect();
            ne.reverse(); // GGUF lists ne[0] (the row) first; Strata the outermost first.
            assert_eq!(info.shape, ne, "{}", info.name);
            assert_eq!(info.bytes, t["n_bytes"].as_u64().unwrap(), "{}", info.name);
            assert_eq!(
                info.data_offset,
                t["data_offset"].as_u64().unwrap(),
                "{}",
                info.name
            );
            let start = info.data_offset as usize;
            assert_eq!(
                hex(&bytes[start..start + 8]),
                t["first_bytes"].as_str().unwrap()
            );
        }
    }
    assert!(metadata_checked > 30, "{metadata_checked}");
}

#[test]
fn a_gguf_model_opens_and_plans_like_a_safetensors_one() {
    let model = Model::open(data_dir().join("types.gguf")).unwrap();
    assert_eq!(model.format(), ModelFormat::Gguf);
    let metadata = model.gguf_metadata().unwrap();
    assert_eq!(metadata.architecture(), Some("llama"));
    assert_eq!(metadata.name(), Some("fixture"));
    assert_eq!(metadata.get_u64("llama.block_count"), Some(2));

    let q = model.tensor("blk.0.attn_q.weight").unwrap();
    assert_eq!(q.dtype, GgmlType::Q4_K);
    assert_eq!(q.shape, [2, 512]);
    assert_eq!((q.bytes, q.row_bytes()), (2 * 2 * 144, 2 * 144));
    assert_eq!(model.tensor_data(q).map(<[u8]>::len), Some(576));
    let experts = model.tensor("blk.1.experts.weight").unwrap();
    assert_eq!(
        (experts.shape.as_slice(), experts.row_bytes()),
        (&[2u64, 1, 256][..], 84)
    );

    let specs = model.to_specs();
    assert_eq!(specs.len(), model.tensors().len());
    assert!(specs.iter().any(|s| s.dtype == "q4_K"));
    assert!(specs.iter().any(|s| s.dtype == "f32"));
    assert_eq!(
        specs.iter().map(|s| s.bytes).sum::<u64>(),
        model.total_bytes()
    );

    let apu = apu();
    let plan = plan(&specs, &apu, &PlanOptions::default()).unwrap();
    let tier = |name: &str| plan.tensors.iter().find(|t| t.name == name).unwrap().tier;
    assert_eq!(tier("token_embd.weight"), Tier::Critical);
    assert_eq!(tier("output.weight"), Tier::Critical);
    assert_eq!(tier("output_norm.weight"), Tier::Critical);
    assert_eq!(tier("blk.0.ffn_down.weight"), Tier::Critical, "first layer");
    assert_eq!(tier("blk.1.ffn_down.weight"), Tier::Critical, "last layer");
    let row = plan.to_report();
    assert!(row.tensors.iter().any(|t| t.dtype == "q6_K"));
}

#[test]
fn quantized_tensors_split_at_whole_rows() {
    let model = Model::open(data_dir().join("types.gguf")).unwrap();
    let limit = PartLimit {
        bytes: 512,
        name: "test limit",
    };
    for info in model.tensors() {
        let row = info.row_bytes();
        match split_into_parts(info.bytes, row, limit, &info.name) {
            Ok(parts) => {
                assert_eq!(parts.iter().sum::<u64>(), info.bytes);
                if parts.len() > 1 {
                    assert!(parts.iter().all(|p| p.is_multiple_of(row)), "{}", info.name);
                    if let Some(ty) = info.dtype.ggml() {
                        assert!(parts.iter().all(|p| p.is_multiple_of(ty.block_bytes())));
                    }
                }
            }
            Err(strata::Error::TooLarge { .. }) => assert!(row > limit.bytes, "{}", info.name),
            Err(other) => panic!("{}: {other}", info.name),
        }
    }
}

#[test]
fn split_models_open_from_any_part_and_from_their_directory() {
    let first = data_dir().join("split-00001-of-00003.gguf");
    let by_first = Model::open(&first).unwrap();
    let by_second = Model::open(data_dir().join("split-00002-of-00003.gguf")).unwrap();
    assert_eq!(by_first.path(), first);
    assert_eq!(by_second.path(), first);
    assert_eq!(by_first.shards().len(), 3);
    assert_eq!(by_first.tensors().len(), 5);
    assert_eq!(by_first.tensors(), by_second.tensors());
    let shards: Vec<usize> = by_first.tensors().iter().map(|t| t.shard).collect();
    assert_eq!(shards, [0, 0, 1, 1, 2]);
    // Metadata comes from the first part.
    assert_eq!(by_first.gguf_metadata().unwrap().name(), Some("fixture"));
    for t in by_first.tensors() {
        let data = by_first.tensor_data(t).unwrap();
        assert_eq!(data.len() as u64, t.bytes);
    }
    // The same tensors as the single file holds.
    let whole = Model::open(data_dir().join("types.gguf")).unwrap();
    for t in by_first.tensors() {
        let w = whole.tensor(&t.name).unwrap();
        assert_eq!((&w.dtype, &w.shape, w.bytes), (&t.dtype, &t.shape, t.bytes));
        assert_eq!(whole.tensor_data(w), by_first.tensor_data(t), "{}", t.name);
    }

    // A directory of one split model opens it; written by Strata's writer this time.
    let dir = temp_dir("split-dir");
    let data = vec![7u8; 4 * 144];
    let norm = vec![1u8; 4 * 256];
    let writer = GgufWriter::new()
        .metadata("general.architecture", "llama")
        .tensor("blk.0.attn_q.weight", GgmlType::Q4_K, [4, 256], &data)
        .tensor("blk.0.attn_norm.weight", GgmlType::F32, [256], &norm)
        .tensor("blk.1.attn_q.weight", GgmlType::Q4_K, [4, 256], &data);
    let parts = writer.write_split(dir.path().join("m"), 2).unwrap();
    assert_eq!(parts[1], dir.path().join("m-00002-of-00002.gguf"));
    let model = Model::open(dir.path()).unwrap();
    assert_eq!((model.shards().len(), model.tensors().len()), (2, 3));
    assert_eq!(model.gguf_metadata().unwrap().architecture(), Some("llama"));
    // A second model in the directory makes it ambiguous.
    writer.write(dir.path().join("other.gguf")).unwrap();
    let error = Model::open(dir.path()).unwrap_err();
    assert!(matches!(error, ModelError::SeveralModels { .. }), "{error}");
}

// ---- bad input ------------------------------------------------------------------------------

/// A GGUF file written field by field, to make the bad ones the writer refuses to.
#[derive(Default)]
struct Raw {
    version: u32,
    kvs: Vec<u8>,
    kv_count: u64,
    infos: Vec<u8>,
    tensor_count: u64,
    data: Vec<u8>,
    alignment: u64,
}

impl Raw {
    fn new() -> Raw {
        Raw {
            version: 3,
            alignment: 32,
            ..Raw::default()
        }
    }

    fn kv(mut self, key: &str, ty: u32, value: &[u8]) -> Raw {
        put_str(&mut self.kvs, key);
        self.kvs.extend_from_slice(&ty.to_le_bytes());
        self.kvs.extend_from_slice(value);
        self.kv_count += 1;
        self
    }

    fn tensor(mut self, name: &str, ne: &[u64], ty: u32, offset: u64) -> Raw {
        put_str(&mut self.infos, name);
        self.infos
            .extend_from_slice(&(ne.len() as u32).to_le_bytes());
        for n in ne {
            self.infos.extend_from_slice(&n.to_le_bytes());
        }
        self.infos.extend_from_slice(&ty.to_le_bytes());
        self.infos.extend_from_slice(&offset.to_le_bytes());
        self.tensor_count += 1;
        self
    }

    fn data(mut self, len: usize) -> Raw {
        self.data = (0..len).map(|i| i as u8).collect();
        self
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&self.tensor_count.to_le_bytes());
        out.extend_from_slice(&self.kv_count.to_le_bytes());
        out.extend_from_slice(&self.kvs);
        out.extend_from_slice(&self.infos);
        while !(out.len() as u64).is_multiple_of(self.alignment) {
            out.push(0);
        }
        out.extend_from_slice(&self.data);
        out
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

const F32: u32 = 0;
const Q4_K: u32 = 12;

/// Writes `bytes` as `name` in a fresh directory and opens it as a model: every failure must
/// name the file (checked here) and be the variant the caller expects.
fn open_bad(name: &str, bytes: &[u8]) -> ModelError {
    let dir = temp_dir("bad");
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let error = Model::open(&path).expect_err("a bad file must not open");
    let text = error.to_string();
    assert!(text.contains(name), "the error must name the file: {text}");
    // In memory too, the same error.
    let again = parse_gguf(&path, bytes).expect_err("a bad header must not parse");
    assert_eq!(again.to_string(), text);
    error
}

fn names_tensor(error: &ModelError, tensor: &str) {
    assert!(
        error.to_string().contains(&format!("`{tensor}`")),
        "the error must name tensor {tensor}: {error}"
    );
}

#[test]
fn a_valid_raw_file_opens() {
    // The raw builder writes what the bad cases below break.
    let raw = Raw::new()
        .kv("general.architecture", 8, &{
            let mut v = Vec::new();
            put_str(&mut v, "llama");
            v
        })
        .tensor("a", &[8], F32, 0)
        .tensor("b", &[256, 1], Q4_K, 32)
        .data(32 + 144);
    let dir = temp_dir("ok");
    std::fs::write(dir.path().join("ok.gguf"), raw.bytes()).unwrap();
    let model = Model::open(dir.path().join("ok.gguf")).unwrap();
    assert_eq!(model.tensors().len(), 2);
    assert_eq!(model.data_section_bytes(), 32 + 144);
}

#[test]
fn truncated_files_are_typed_errors() {
    let raw = Raw::new()
        .tensor("blk.0.attn_norm.weight", &[8], F32, 0)
        .tensor("blk.0.attn_q.weight", &[256, 1], Q4_K, 32)
        .data(32 + 144);
    let bytes = raw.bytes();
    let data_start = bytes.len() - (32 + 144);
    for cut in 0..bytes.len() {
        let file = Path::new("cut.gguf");
        let error = parse_gguf(file, &bytes[..cut]).expect_err("a truncated file must not parse");
        assert!(error.to_string().contains("cut.gguf"), "{error}");
        if cut < data_start - 8 {
            // Inside the header (the padding after it is allowed to be short only without
            // tensors).
            assert!(
                matches!(
                    error,
                    ModelError::GgufTruncated { .. } | ModelError::GgufLengthBeyondFile { .. }
                ),
                "cut at {cut}: {error:?}"
            );
        } else if cut >= data_start {
            // Inside the data: the last tensor runs past the end.
            assert!(
                matches!(error, ModelError::OffsetsOutOfRange { .. }),
                "cut at {cut}: {error:?}"
            );
        }
    }
    let error = open_bad("short.gguf", &bytes[..data_start + 40]);
    assert!(
        matches!(error, ModelError::OffsetsOutOfRange { .. }),
        "{error}"
    );
    names_tensor(&error, "blk.0.attn_q.weight");
    let error = open_bad("empty.gguf", &[]);
    assert!(matches!(error, ModelError::GgufTruncated { .. }), "{error}");
}

#[test]
fn a_tensor_beyond_the_data_section() {
    let bytes = Raw::new()
        .tensor("a", &[8], F32, 0)
        .tensor("far", &[8], F32, 1 << 40)
        .data(64)
        .bytes();
    let error = open_bad("far.gguf", &bytes);
    assert!(
        matches!(error, ModelError::OffsetsOutOfRange { start, .. } if start == 1 << 40),
        "{error}"
    );
    names_tensor(&error, "far");
    // An offset at the top of u64 does not overflow.
    let bytes = Raw::new()
        .tensor("top", &[8], F32, u64::MAX - 31)
        .data(32)
        .bytes();
    let error = open_bad("top.gguf", &bytes);
    assert!(
        matches!(error, ModelError::OffsetsOutOfRange { .. }),
        "{error}"
    );
}

#[test]
fn overlapping_tensors() {
    let bytes = Raw::new()
        .tensor("first", &[16], F32, 0)
        .tensor("second", &[16], F32, 32)
        .data(96)
        .bytes();
    let error = open_bad("overlap.gguf", &bytes);
    assert!(
        matches!(
            error,
            ModelError::OverlappingTensors {
                start: 32,
                other_end: 64,
                ..
            }
        ),
        "{error}"
    );
    names_tensor(&error, "second");
    names_tensor(&error, "first");
    // The same offset twice.
    let bytes = Raw::new()
        .tensor("one", &[8], F32, 0)
        .tensor("two", &[8], F32, 0)
        .data(32)
        .bytes();
    let error = open_bad("same.gguf", &bytes);
    assert!(
        matches!(error, ModelError::OverlappingTensors { .. }),
        "{error}"
    );
}

#[test]
fn unknown_and_removed_type_ids() {
    for (id, removed) in [(99u32, false), (4, true), (31, true), (u32::MAX, false)] {
        let bytes = Raw::new().tensor("w", &[32], id, 0).data(32).bytes();
        let error = open_bad("type.gguf", &bytes);
        assert!(
            matches!(error, ModelError::UnknownGgmlType { .. }),
            "{id}: {error}"
        );
        names_tensor(&error, "w");
        assert_eq!(error.to_string().contains("removed"), removed, "{error}");
    }
}

#[test]
fn dimension_products_that_overflow() {
    for ne in [
        &[1u64 << 32, 1 << 32][..],
        &[256, 1 << 62],
        &[1 << 63],
        &[256, u64::MAX, 0, 0],
    ] {
        let bytes = Raw::new().tensor("huge", ne, Q4_K, 0).data(0).bytes();
        let error = open_bad("huge.gguf", &bytes);
        assert!(
            matches!(error, ModelError::ShapeOverflow { .. }),
            "{ne:?}: {error}"
        );
        names_tensor(&error, "huge");
    }
}

#[test]
fn metadata_lengths_beyond_the_file() {
    // A key whose length runs past the end.
    let mut bytes = Raw::new().bytes();
    bytes[16..24].copy_from_slice(&1u64.to_le_bytes());
    bytes.truncate(24);
    bytes.extend_from_slice(&(1u64 << 40).to_le_bytes());
    bytes.extend_from_slice(b"key");
    bytes.extend_from_slice(&[0; 32]);
    let error = open_bad("key.gguf", &bytes);
    assert!(
        matches!(error, ModelError::GgufLengthBeyondFile { length, .. } if length == 1 << 40),
        "{error}"
    );

    // A string value whose length runs past the end.
    let mut value = u64::MAX.to_le_bytes().to_vec();
    value.extend_from_slice(b"abc");
    let error = open_bad(
        "string.gguf",
        &Raw::new().kv("general.name", 8, &value).bytes(),
    );
    assert!(
        matches!(error, ModelError::GgufLengthBeyondFile { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("general.name"), "{error}");

    // Arrays of every element width, a hostile count each: refused before any allocation.
    for element in [0u32, 2, 4, 8, 9, 10, 12] {
        let mut value = element.to_le_bytes().to_vec();
        value.extend_from_slice(&(u64::MAX / 2).to_le_bytes());
        let error = open_bad(
            "array.gguf",
            &Raw::new().kv("tokenizer.ggml.tokens", 9, &value).bytes(),
        );
        assert!(
            matches!(error, ModelError::GgufLengthBeyondFile { .. }),
            "element {element}: {error}"
        );
        assert!(
            error.to_string().contains("tokenizer.ggml.tokens"),
            "{error}"
        );
    }

    // Counts of tensors and keys that the file cannot hold.
    let mut bytes = Raw::new().bytes();
    bytes[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    let error = open_bad("tensors.gguf", &bytes);
    assert!(
        matches!(error, ModelError::GgufLengthBeyondFile { .. }),
        "{error}"
    );
    let mut bytes = Raw::new().bytes();
    bytes[16..24].copy_from_slice(&(1u64 << 50).to_le_bytes());
    let error = open_bad("keys.gguf", &bytes);
    assert!(
        matches!(error, ModelError::GgufLengthBeyondFile { .. }),
        "{error}"
    );

    // Arrays nested deeper than the bound, and unknown value types.
    let mut value = Vec::new();
    for _ in 0..100 {
        value.extend_from_slice(&9u32.to_le_bytes());
        value.extend_from_slice(&1u64.to_le_bytes());
    }
    let error = open_bad("deep.gguf", &Raw::new().kv("deep", 9, &value).bytes());
    assert!(
        matches!(error, ModelError::GgufInvalidValue { .. }),
        "{error}"
    );
    let error = open_bad("vtype.gguf", &Raw::new().kv("odd", 13, &[0; 8]).bytes());
    assert!(
        matches!(error, ModelError::GgufInvalidValue { .. }),
        "{error}"
    );
}

#[test]
fn alignments_that_are_not_powers_of_two() {
    for alignment in [0u32, 3, 48, 1000] {
        let bytes = Raw::new()
            .kv("general.alignment", 4, &alignment.to_le_bytes())
            .bytes();
        let error = open_bad("align.gguf", &bytes);
        assert!(
            matches!(error, ModelError::GgufAlignment { .. }),
            "{alignment}: {error}"
        );
    }
    // Not a u32.
    let bytes = Raw::new()
        .kv("general.alignment", 10, &64u64.to_le_bytes())
        .bytes();
    let error = open_bad("align64.gguf", &bytes);
    assert!(matches!(error, ModelError::GgufAlignment { .. }), "{error}");
    // A power of two other than 32 is fine, and a tensor off it is refused.
    let mut raw = Raw::new()
        .kv("general.alignment", 4, &64u32.to_le_bytes())
        .tensor("a", &[8], F32, 0)
        .tensor("b", &[8], F32, 32)
        .data(96);
    raw.alignment = 64;
    let error = open_bad("off.gguf", &raw.bytes());
    assert!(
        matches!(
            error,
            ModelError::GgufMisaligned {
                offset: 32,
                alignment: 64,
                ..
            }
        ),
        "{error}"
    );
    names_tensor(&error, "b");
}

#[test]
fn other_bad_headers() {
    let error = open_bad("magic.gguf", b"GGML\x03\0\0\0");
    assert!(matches!(error, ModelError::NotGguf { .. }), "{error}");
    for (version, big_endian) in [(1u32, false), (4, false), (3u32.swap_bytes(), true)] {
        let mut raw = Raw::new();
        raw.version = version;
        let error = open_bad("version.gguf", &raw.bytes());
        assert!(matches!(error, ModelError::GgufVersion { .. }), "{error}");
        assert_eq!(
            error.to_string().contains("big-endian"),
            big_endian,
            "{error}"
        );
    }
    let bytes = Raw::new().tensor("five", &[1, 1, 1, 1, 1], F32, 0).bytes();
    let error = open_bad("dims.gguf", &bytes);
    assert!(
        matches!(error, ModelError::GgufDimensions { dims: 5, .. }),
        "{error}"
    );
    let bytes = Raw::new().tensor("q", &[100, 2], Q4_K, 0).data(288).bytes();
    let error = open_bad("block.gguf", &bytes);
    assert!(
        matches!(
            error,
            ModelError::PartialBlock {
                row: 100,
                block: 256,
                ..
            }
        ),
        "{error}"
    );
    names_tensor(&error, "q");
    let bytes = Raw::new()
        .tensor("twice", &[8], F32, 0)
        .tensor("twice", &[8], F32, 32)
        .data(64)
        .bytes();
    let error = open_bad("dup.gguf", &bytes);
    assert!(
        matches!(error, ModelError::DuplicateTensor { .. }),
        "{error}"
    );
    let bytes = Raw::new().kv("k", 0, &[1]).kv("k", 0, &[2]).bytes();
    let error = open_bad("dupkey.gguf", &bytes);
    assert!(
        matches!(error, ModelError::GgufDuplicateKey { .. }),
        "{error}"
    );
    let bytes = Raw::new()
        .tensor("a", &[8], F32, 0)
        .tensor("b", &[8], F32, 64)
        .data(96)
        .bytes();
    let error = open_bad("gap.gguf", &bytes);
    assert!(matches!(error, ModelError::Gap { .. }), "{error}");
    names_tensor(&error, "b");
    let bytes = Raw::new().tensor("a", &[8], F32, 0).data(96).bytes();
    let error = open_bad("trailing.gguf", &bytes);
    assert!(matches!(error, ModelError::TrailingBytes { .. }), "{error}");
    let mut name = Vec::new();
    put_str(&mut name, "x");
    let mut infos = 2u64.to_le_bytes().to_vec();
    infos.extend_from_slice(&[0xff, 0xfe]);
    let mut bytes = Raw::new().bytes();
    bytes[8..16].copy_from_slice(&1u64.to_le_bytes());
    bytes.truncate(24);
    bytes.extend_from_slice(&infos);
    bytes.extend_from_slice(&[0; 32]);
    let error = open_bad("utf8.gguf", &bytes);
    assert!(
        matches!(error, ModelError::GgufInvalidString { .. }),
        "{error}"
    );
}

#[test]
fn split_models_with_a_missing_or_wrong_part() {
    let dir = temp_dir("split-bad");
    let data = vec![3u8; 144];
    let writer = GgufWriter::new()
        .tensor("blk.0.w", GgmlType::Q4_K, [1, 256], &data)
        .tensor("blk.1.w", GgmlType::Q4_K, [1, 256], &data)
        .tensor("blk.2.w", GgmlType::Q4_K, [1, 256], &data);
    let parts = writer.write_split(dir.path().join("m"), 3).unwrap();
    assert!(Model::open(&parts[2]).is_ok());

    std::fs::remove_file(&parts[1]).unwrap();
    for opened in [&parts[0], &parts[2]] {
        let error = Model::open(opened).unwrap_err();
        match &error {
            ModelError::MissingSplit {
                missing,
                part,
                count,
                ..
            } => assert_eq!((missing, *part, *count), (&parts[1], 2, 3)),
            other => panic!("expected MissingSplit, got {other}"),
        }
        assert!(
            error.to_string().contains("m-00002-of-00003.gguf"),
            "{error}"
        );
    }

    // A part from another split model (its split.no says 0 of 1... here: renamed part 1).
    std::fs::copy(&parts[0], &parts[1]).unwrap();
    let error = Model::open(&parts[0]).unwrap_err();
    assert!(matches!(error, ModelError::SplitMismatch { .. }), "{error}");
    assert!(
        error.to_string().contains("m-00002-of-00003.gguf"),
        "{error}"
    );

    // A part opened under another name.
    let lone = dir.path().join("lone.gguf");
    std::fs::copy(&parts[2], &lone).unwrap();
    let error = Model::open(&lone).unwrap_err();
    assert!(matches!(error, ModelError::SplitMismatch { .. }), "{error}");
    assert!(error.to_string().contains("lone.gguf"), "{error}");

    // Parts that disagree on the tensor count.
    let dir = temp_dir("split-count");
    let a = GgufWriter::new()
        .metadata("split.no", 0u16)
        .metadata("split.count", 2u16)
        .metadata("split.tensors.count", 3i32)
        .tensor("a", GgmlType::Q4_K, [1, 256], &data);
    let b = GgufWriter::new()
        .metadata("split.no", 1u16)
        .metadata("split.count", 2u16)
        .metadata("split.tensors.count", 3i32)
        .tensor("b", GgmlType::Q4_K, [1, 256], &data);
    a.write(dir.path().join("x-00001-of-00002.gguf")).unwrap();
    b.write(dir.path().join("x-00002-of-00002.gguf")).unwrap();
    let error = Model::open(dir.path().join("x-00001-of-00002.gguf")).unwrap_err();
    assert!(matches!(error, ModelError::SplitMismatch { .. }), "{error}");
    assert!(error.to_string().contains("hold 2 tensors"), "{error}");
}

// ---- the planning target --------------------------------------------------------------------

fn apu() -> MemoryTable {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/devices/amd-apu-radv.json");
    MemoryTable::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Gemma 2 27B as llama.cpp converts it (`gemma2`: 46 layers, hidden 4608, 32 heads of 128,
/// 16 KV heads, feed-forward 36864, vocabulary 256000, tied output), quantized as Q4_K_M does:
/// Q4_K weights, Q6_K for the embedding and for `attn_v`/`ffn_down` in the layers that
/// `llama-quant.cpp`'s `use_more_bits` picks, f32 norms. Shapes outermost first.
fn gemma2_27b_q4_k_m() -> Vec<(String, GgmlType, Vec<u64>)> {
    let (layers, hidden, heads, kv_heads, head_dim, ff, vocab) =
        (46u64, 4608u64, 32u64, 16u64, 128u64, 36864u64, 256_000u64);
    let more_bits = |l: u64| l < layers / 8 || l >= 7 * layers / 8 || (l - layers / 8) % 3 == 2;
    let mut t = vec![(
        "token_embd.weight".to_string(),
        GgmlType::Q6_K,
        vec![vocab, hidden],
    )];
    for l in 0..layers {
        let p = |name: &str| format!("blk.{l}.{name}");
        let wide = if more_bits(l) {
            GgmlType::Q6_K
        } else {
            GgmlType::Q4_K
        };
        t.extend([
            (p("attn_norm.weight"), GgmlType::F32, vec![hidden]),
            (
                p("attn_q.weight"),
                GgmlType::Q4_K,
                vec![heads * head_dim, hidden],
            ),
            (
                p("attn_k.weight"),
                GgmlType::Q4_K,
                vec![kv_heads * head_dim, hidden],
            ),
            (p("attn_v.weight"), wide, vec![kv_heads * head_dim, hidden]),
            (
                p("attn_output.weight"),
                GgmlType::Q4_K,
                vec![hidden, heads * head_dim],
            ),
            (p("post_attention_norm.weight"), GgmlType::F32, vec![hidden]),
            (p("ffn_norm.weight"), GgmlType::F32, vec![hidden]),
            (p("ffn_gate.weight"), GgmlType::Q4_K, vec![ff, hidden]),
            (p("ffn_up.weight"), GgmlType::Q4_K, vec![ff, hidden]),
            (p("ffn_down.weight"), wide, vec![hidden, ff]),
            (p("post_ffw_norm.weight"), GgmlType::F32, vec![hidden]),
        ]);
    }
    t.push((
        "output_norm.weight".to_string(),
        GgmlType::F32,
        vec![hidden],
    ));
    t
}

#[test]
fn a_27b_q4_k_m_gguf_plans_on_the_recorded_apu_device_local_first() {
    let tensors = gemma2_27b_q4_k_m();
    let mut writer = GgufWriter::new()
        .metadata("general.architecture", "gemma2")
        .metadata("general.name", "Gemma 2 27B (shape only)")
        .metadata("gemma2.block_count", 46u32)
        .metadata("general.file_type", 15u32); // LLAMA_FTYPE_MOSTLY_Q4_K_M
    for (name, ty, shape) in &tensors {
        writer = writer.tensor(name.clone(), *ty, shape.clone(), &[]);
    }
    // The header for real, the ~16 GB of data as a hole: a sparse file, mapped but never read.
    let (header, data_len) = writer.header_bytes().unwrap();
    let dir = temp_dir("27b");
    let path = dir.path().join("gemma-2-27b-Q4_K_M.gguf");
    std::fs::write(&path, &header).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(header.len() as u64 + data_len)
        .unwrap();

    let model = Model::open(&path).unwrap();
    assert_eq!(model.tensors().len(), 2 + 46 * 11);
    let total = model.total_bytes();
    assert!(
        (15_500_000_000..17_500_000_000).contains(&total),
        "a 27B Q4_K_M model is ~16.6 GB, not {total}"
    );
    // No padding between these tensors: the data section is exactly their bytes.
    assert_eq!(model.data_section_bytes(), total);
    assert_eq!(model.data_section_bytes(), data_len);
    let q6 = model
        .tensors()
        .iter()
        .filter(|t| t.dtype == GgmlType::Q6_K)
        .count();
    assert!(q6 > 20, "{q6} Q6_K tensors");

    let table = apu();
    let specs = model.to_specs();
    let plan = plan(&specs, &table, &PlanOptions::default()).unwrap();
    assert_eq!(plan.tensors.len(), specs.len(), "every tensor placed");
    assert_eq!(
        plan.total_bytes(),
        model.data_section_bytes(),
        "planned bytes"
    );
    for t in &plan.tensors {
        let flags = table.types[t.memory_type as usize].flags;
        assert!(
            flags.contains(MemoryFlags::DEVICE_LOCAL),
            "{} ({}) is not device-local: {t:?}",
            t.name,
            human(t.bytes)
        );
    }
    // Device-local first: the critical tier in plain VRAM, before any mapped memory.
    for t in plan.tensors.iter().filter(|t| t.tier == Tier::Critical) {
        assert_eq!(t.placement, strata::Placement::Vram, "{}", t.name);
    }
    let embd = plan
        .tensors
        .iter()
        .find(|t| t.name == "token_embd.weight")
        .unwrap();
    assert_eq!((embd.tier, embd.dtype.as_str()), (Tier::Critical, "q6_K"));
    let rendered = plan.to_report().render_table();
    assert!(rendered.contains("q4_K") && rendered.contains("blk.45.ffn_down.weight"));
}

fn human(bytes: u64) -> String {
    strata::table::human_bytes(bytes)
}
