//! Model files: generated safetensors models (single and sharded) read back byte for byte, one
//! test per corrupt-file case (the typed error, and a message naming file and tensor), and a
//! seeded fuzz-like sweep that must never panic.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use strata::model::{
    Dtype, INDEX_FILE_NAME, Model, ModelError, ModelIndex, parse_header, write_safetensors,
    write_sharded,
};
use tempfile::TempDir;

/// A fresh directory under the system temp dir, removed on drop.
fn temp_dir(label: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("strata-model-files-{label}-"))
        .tempdir()
        .unwrap()
}

/// A tensor to write: (name, dtype, shape, data).
type Tensor = (String, Dtype, Vec<u64>, Vec<u8>);

/// A tensor of random bytes.
fn tensor(rng: &mut StdRng, name: &str, dtype: Dtype, shape: &[u64]) -> Tensor {
    let elements: u64 = shape.iter().product();
    let bytes = dtype
        .bytes_for(elements)
        .expect("test shapes fill whole bytes");
    let mut data = vec![0u8; bytes as usize];
    rng.fill(&mut data[..]);
    (name.to_string(), dtype, shape.to_vec(), data)
}

/// Many small tensors over every dtype, with a scalar, an empty tensor and sub-byte types.
fn many_tensors(rng: &mut StdRng, prefix: &str, count: usize) -> Vec<Tensor> {
    let mut tensors = Vec::new();
    for i in 0..count {
        let dtype = Dtype::ALL[i % Dtype::ALL.len()];
        // Even element counts keep F4 and F6 tensors at whole bytes (4 × 6 bits = 3 bytes).
        let shape = [1 + (i as u64 % 5), 4 * (1 + (i as u64 % 3))];
        tensors.push(tensor(
            rng,
            &format!("{prefix}.layers.{i}.weight"),
            dtype,
            &shape,
        ));
    }
    tensors.push(tensor(rng, &format!("{prefix}.scalar"), Dtype::F32, &[]));
    tensors.push(tensor(
        rng,
        &format!("{prefix}.empty"),
        Dtype::BF16,
        &[0, 7],
    ));
    tensors
}

/// Asserts that `model` holds exactly `written`, bytes included, in file order.
fn assert_holds(model: &Model, written: &[&Tensor]) {
    assert_eq!(model.tensors().len(), written.len());
    let total: u64 = written.iter().map(|t| t.3.len() as u64).sum();
    assert_eq!(model.total_bytes(), total);
    for (name, dtype, shape, data) in written {
        let info = model
            .tensor(name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(info.dtype, *dtype, "{name}");
        assert_eq!(&info.shape, shape, "{name}");
        assert_eq!(info.bytes, data.len() as u64, "{name}");
        assert_eq!(model.tensor_data(info), Some(&data[..]), "{name}");
    }
    // File order: by shard, then by offset.
    for pair in model.tensors().windows(2) {
        let key = |t: &strata::model::TensorInfo| (t.shard, t.data_offset);
        assert!(
            key(&pair[0]) <= key(&pair[1]),
            "{} before {}",
            pair[0].name,
            pair[1].name
        );
    }
    let specs = model.to_specs();
    assert_eq!(specs.len(), written.len());
    for (spec, info) in specs.iter().zip(model.tensors()) {
        assert_eq!(spec.name, info.name);
        assert_eq!(spec.dtype, info.dtype.name());
        assert_eq!(spec.bytes, info.bytes);
    }
}

#[test]
fn single_file_round_trips_every_dtype() {
    let dir = temp_dir("single");
    let mut rng = StdRng::seed_from_u64(1);
    let tensors = many_tensors(&mut rng, "model", 200);
    let path = dir.path().join("model.safetensors");
    write_safetensors(&path, &tensors).unwrap();

    let written: Vec<&Tensor> = tensors.iter().collect();
    let by_file = Model::open(&path).unwrap();
    assert_holds(&by_file, &written);
    assert_eq!(by_file.shards().len(), 1);
    assert_eq!(by_file.path(), path);

    let by_dir = Model::open(dir.path()).unwrap();
    assert_holds(&by_dir, &written);

    // The safetensors crate's own reader agrees on every tensor.
    let bytes = std::fs::read(&path).unwrap();
    let theirs = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(theirs.len(), by_file.tensors().len());
    for info in by_file.tensors() {
        let view = theirs.tensor(&info.name).unwrap();
        assert_eq!(view.data(), by_file.tensor_data(info).unwrap());
        assert_eq!(
            Dtype::try_from(view.dtype()),
            Ok(info.dtype.safetensors().unwrap())
        );
    }
}

#[test]
fn sharded_model_round_trips() {
    let dir = temp_dir("sharded");
    let mut rng = StdRng::seed_from_u64(2);
    let shards: Vec<Vec<Tensor>> = (0..3)
        .map(|s| many_tensors(&mut rng, &format!("shard{s}"), 40))
        .collect();
    let index = write_sharded(dir.path(), &shards).unwrap();
    assert_eq!(index, dir.path().join(INDEX_FILE_NAME));

    let written: Vec<&Tensor> = shards.iter().flatten().collect();
    for model in [
        Model::open(&index).unwrap(),
        Model::open(dir.path()).unwrap(),
    ] {
        assert_holds(&model, &written);
        assert_eq!(model.shards().len(), 3);
        for (s, shard) in shards.iter().enumerate() {
            let expected = dir
                .path()
                .join(format!("model-{:05}-of-00003.safetensors", s + 1));
            assert_eq!(model.shards()[s].path(), expected);
            for (name, ..) in shard {
                assert_eq!(model.tensor(name).unwrap().shard, s);
            }
        }
    }
}

#[test]
fn tensor_data_refuses_a_foreign_tensor() {
    let dir = temp_dir("foreign");
    let mut rng = StdRng::seed_from_u64(3);
    let path = dir.path().join("a.safetensors");
    write_safetensors(&path, &many_tensors(&mut rng, "m", 4)).unwrap();
    let model = Model::open(&path).unwrap();
    let mut info = model.tensors()[0].clone();
    info.data_offset += 1;
    assert_eq!(model.tensor_data(&info), None);
    info.name = "nope".into();
    assert_eq!(model.tensor_data(&info), None);
}

#[test]
fn writer_checks_its_input() {
    let dir = temp_dir("writer");
    let path = dir.path().join("w.safetensors");
    let short = [("w", Dtype::F32, vec![2, 2], vec![0u8; 15])];
    let err = write_safetensors(&path, &short).unwrap_err();
    assert!(
        matches!(
            err,
            ModelError::SizeMismatch {
                expected: 16,
                actual: 15,
                ..
            }
        ),
        "{err}"
    );
    let twice = [
        ("w", Dtype::U8, vec![1], vec![0u8]),
        ("w", Dtype::U8, vec![1], vec![1]),
    ];
    let err = write_safetensors(&path, &twice).unwrap_err();
    assert!(matches!(err, ModelError::DuplicateTensor { .. }), "{err}");
    let err = write_sharded(dir.path(), &[&twice[..1], &twice[1..]]).unwrap_err();
    assert!(matches!(err, ModelError::DuplicateTensor { .. }), "{err}");
    assert!(!path.exists());
}

// ---- Corrupt files: one test per case. ----

/// A safetensors file's bytes from a header (JSON text) and a data section.
fn raw_file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

/// Writes a file of raw bytes into `dir` and opens it as a model, expecting an error.
fn open_raw(dir: &TempDir, bytes: &[u8]) -> (PathBuf, ModelError) {
    let path = dir.path().join("bad.safetensors");
    std::fs::write(&path, bytes).unwrap();
    let err = Model::open(&path).expect_err("a corrupt file must not open");
    (path, err)
}

/// Asserts that the error's message names the file and, if given, the tensor.
fn assert_names(err: &ModelError, file: &Path, tensor: Option<&str>) {
    let message = err.to_string();
    let file_name = file.file_name().unwrap().to_string_lossy();
    assert!(
        message.contains(&*file_name),
        "`{message}` does not name {file_name}"
    );
    if let Some(tensor) = tensor {
        assert!(
            message.contains(&format!("`{tensor}`")),
            "`{message}` does not name {tensor}"
        );
    }
}

/// A header of two U8 tensors `a` and `b` with the given offsets.
fn two_tensors(a: (u64, u64), b: (u64, u64), b_len: u64) -> String {
    format!(
        r#"{{"a":{{"dtype":"U8","shape":[{}],"data_offsets":[{},{}]}},"b":{{"dtype":"U8","shape":[{b_len}],"data_offsets":[{},{}]}}}}"#,
        a.1 - a.0,
        a.0,
        a.1,
        b.0,
        b.1
    )
}

#[test]
fn missing_file() {
    let dir = temp_dir("missing");
    let path = dir.path().join("nothing.safetensors");
    let err = Model::open(&path).unwrap_err();
    assert!(matches!(err, ModelError::MissingFile { .. }), "{err}");
    assert_names(&err, &path, None);
}

#[test]
fn directory_without_a_model() {
    let dir = temp_dir("empty-dir");
    let err = Model::open(dir.path()).unwrap_err();
    assert!(
        matches!(err, ModelError::NoModelInDirectory { .. }),
        "{err}"
    );
    assert_names(&err, dir.path(), None);
}

#[test]
fn truncated_before_the_header_length() {
    let dir = temp_dir("truncated");
    for len in 0..8 {
        let (path, err) = open_raw(&dir, &[0u8; 8][..len]);
        assert!(
            matches!(err, ModelError::Truncated { len: l, .. } if l == len as u64),
            "{err}"
        );
        assert_names(&err, &path, None);
    }
}

#[test]
fn header_length_beyond_the_file() {
    let dir = temp_dir("beyond");
    let whole = raw_file(
        r#"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#,
        &[7],
    );
    let (path, err) = open_raw(&dir, &whole[..20]); // Truncated inside the header.
    assert!(
        matches!(err, ModelError::HeaderBeyondFile { file_len: 20, .. }),
        "{err}"
    );
    assert_names(&err, &path, None);
    let (_, err) = open_raw(&dir, &u64::MAX.to_le_bytes());
    assert!(matches!(err, ModelError::HeaderBeyondFile { .. }), "{err}");
}

#[test]
fn header_too_large() {
    let header_len = strata::model::MAX_HEADER_LEN + 1;
    let mut bytes = header_len.to_le_bytes().to_vec();
    bytes.resize(8 + header_len as usize, b' ');
    let err = parse_header(Path::new("big.safetensors"), &bytes).unwrap_err();
    assert!(matches!(err, ModelError::HeaderTooLarge { .. }), "{err}");
    assert_names(&err, Path::new("big.safetensors"), None);
}

#[test]
fn invalid_header_json() {
    let dir = temp_dir("json");
    for header in [
        r#"{"t": {"dtype""#,
        "[1, 2]",
        "\u{0}",
        r#"{"__metadata__": {"a": 1}}"#,
    ] {
        let (path, err) = open_raw(&dir, &raw_file(header, &[]));
        assert!(
            matches!(err, ModelError::InvalidHeader { .. }),
            "{header}: {err}"
        );
        assert_names(&err, &path, None);
    }
    let mut bytes = raw_file("{}", &[]);
    bytes[8] = 0xff; // Not UTF-8.
    let (_, err) = open_raw(&dir, &bytes);
    assert!(matches!(err, ModelError::InvalidHeader { .. }), "{err}");
}

#[test]
fn invalid_tensor_entry() {
    let dir = temp_dir("entry");
    for entry in [
        r#"{"dtype":"U8","shape":[1]}"#,
        r#"{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}"#,
        r#"{"dtype":"U8","shape":[1],"data_offsets":[0]}"#,
        r#"[]"#,
    ] {
        let (path, err) = open_raw(&dir, &raw_file(&format!(r#"{{"w.0":{entry}}}"#), &[0]));
        assert!(
            matches!(err, ModelError::InvalidTensorEntry { .. }),
            "{entry}: {err}"
        );
        assert_names(&err, &path, Some("w.0"));
    }
}

#[test]
fn unknown_dtype() {
    let dir = temp_dir("dtype");
    let header = r#"{"w":{"dtype":"Q4_K","shape":[2],"data_offsets":[0,2]}}"#;
    let (path, err) = open_raw(&dir, &raw_file(header, &[0, 0]));
    assert!(
        matches!(&err, ModelError::UnknownDtype { dtype, .. } if dtype == "Q4_K"),
        "{err}"
    );
    assert_names(&err, &path, Some("w"));
    assert!(err.to_string().contains("Q4_K"));
}

#[test]
fn offsets_out_of_range() {
    let dir = temp_dir("range");
    // End past the data (what a file truncated inside its data looks like).
    let (path, err) = open_raw(&dir, &raw_file(&two_tensors((0, 2), (2, 6), 4), &[0; 5]));
    assert!(
        matches!(
            err,
            ModelError::OffsetsOutOfRange {
                end: 6,
                data_len: 5,
                ..
            }
        ),
        "{err}"
    );
    assert_names(&err, &path, Some("b"));
    // Reversed offsets.
    let header = r#"{"r":{"dtype":"U8","shape":[0],"data_offsets":[3,1]}}"#;
    let (path, err) = open_raw(&dir, &raw_file(header, &[0; 3]));
    assert!(matches!(err, ModelError::OffsetsOutOfRange { .. }), "{err}");
    assert_names(&err, &path, Some("r"));
    // Offsets beyond u64 are not even numbers we accept.
    let header = r#"{"o":{"dtype":"U8","shape":[1],"data_offsets":[0,18446744073709551616]}}"#;
    let (_, err) = open_raw(&dir, &raw_file(header, &[0]));
    assert!(
        matches!(err, ModelError::InvalidTensorEntry { .. }),
        "{err}"
    );
}

#[test]
fn truncated_inside_the_data() {
    let dir = temp_dir("truncated-data");
    let mut rng = StdRng::seed_from_u64(4);
    let path = dir.path().join("model.safetensors");
    write_safetensors(&path, &many_tensors(&mut rng, "m", 10)).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(bytes.len() - 1);
    let (path, err) = open_raw(&dir, &bytes);
    assert!(matches!(err, ModelError::OffsetsOutOfRange { .. }), "{err}");
    assert_names(&err, &path, None);
}

#[test]
fn overlapping_offsets() {
    let dir = temp_dir("overlap");
    let (path, err) = open_raw(&dir, &raw_file(&two_tensors((0, 4), (2, 6), 4), &[0; 6]));
    assert!(
        matches!(&err, ModelError::OverlappingTensors { tensor, other, .. } if tensor == "b" && other == "a"),
        "{err}"
    );
    assert_names(&err, &path, Some("a"));
    assert_names(&err, &path, Some("b"));
}

#[test]
fn gaps_and_trailing_bytes() {
    let dir = temp_dir("gap");
    let (path, err) = open_raw(&dir, &raw_file(&two_tensors((0, 2), (3, 5), 2), &[0; 5]));
    assert!(
        matches!(
            err,
            ModelError::Gap {
                start: 2,
                end: 3,
                ..
            }
        ),
        "{err}"
    );
    assert_names(&err, &path, Some("b"));
    let (path, err) = open_raw(&dir, &raw_file(&two_tensors((0, 2), (2, 4), 2), &[0; 6]));
    assert!(
        matches!(
            err,
            ModelError::TrailingBytes {
                start: 4,
                end: 6,
                ..
            }
        ),
        "{err}"
    );
    assert_names(&err, &path, None);
}

#[test]
fn shape_and_offsets_disagree() {
    let dir = temp_dir("size");
    let header = r#"{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}"#;
    let (path, err) = open_raw(&dir, &raw_file(header, &[0; 20]));
    assert!(
        matches!(
            err,
            ModelError::SizeMismatch {
                expected: 24,
                actual: 20,
                ..
            }
        ),
        "{err}"
    );
    assert_names(&err, &path, Some("w"));
    let header = r#"{"f":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#;
    let (path, err) = open_raw(&dir, &raw_file(header, &[0; 2]));
    assert!(
        matches!(err, ModelError::PartialByte { elements: 3, .. }),
        "{err}"
    );
    assert_names(&err, &path, Some("f"));
}

#[test]
fn shape_overflow() {
    let dir = temp_dir("overflow");
    for shape in ["[4294967296,4294967296]", "[2305843009213693952]"] {
        let header = format!(r#"{{"big":{{"dtype":"F64","shape":{shape},"data_offsets":[0,8]}}}}"#);
        let (path, err) = open_raw(&dir, &raw_file(&header, &[0; 8]));
        assert!(
            matches!(err, ModelError::ShapeOverflow { .. }),
            "{shape}: {err}"
        );
        assert_names(&err, &path, Some("big"));
    }
}

#[test]
fn duplicate_tensor_in_one_file() {
    let dir = temp_dir("dup-file");
    let entry = r#"{"dtype":"U8","shape":[1],"data_offsets":[0,1]}"#;
    let (path, err) = open_raw(
        &dir,
        &raw_file(&format!(r#"{{"d":{entry},"d":{entry}}}"#), &[0]),
    );
    assert!(matches!(err, ModelError::DuplicateTensor { .. }), "{err}");
    assert_names(&err, &path, Some("d"));
}

/// A valid two-shard model in `dir`: shard 1 holds `a`, `b`; shard 2 holds `c`.
fn two_shards(dir: &TempDir) -> PathBuf {
    let one = vec![
        ("a", Dtype::U8, vec![2], vec![1u8, 2]),
        ("b", Dtype::U8, vec![1], vec![3]),
    ];
    let two = vec![("c", Dtype::I16, vec![1], vec![4u8, 5])];
    write_sharded(dir.path(), &[one, two]).unwrap()
}

const SHARD_1: &str = "model-00001-of-00002.safetensors";
const SHARD_2: &str = "model-00002-of-00002.safetensors";

fn write_index(path: &Path, weight_map: &[(&str, &str)]) {
    let map: serde_json::Map<String, serde_json::Value> = weight_map
        .iter()
        .map(|(t, s)| (t.to_string(), (*s).into()))
        .collect();
    let index = serde_json::json!({ "metadata": {}, "weight_map": map });
    std::fs::write(path, serde_json::to_vec(&index).unwrap()).unwrap();
}

#[test]
fn sharded_index_names_a_missing_shard() {
    let dir = temp_dir("missing-shard");
    let index = two_shards(&dir);
    std::fs::remove_file(dir.path().join(SHARD_2)).unwrap();
    let err = Model::open(&index).unwrap_err();
    assert!(
        matches!(&err, ModelError::MissingShard { shard, tensor, .. } if shard.ends_with(SHARD_2) && tensor == "c"),
        "{err}"
    );
    assert_names(&err, &index, Some("c"));
    assert!(err.to_string().contains(SHARD_2), "{err}");
}

#[test]
fn sharded_index_maps_a_tensor_to_the_wrong_shard() {
    let dir = temp_dir("wrong-shard");
    let index = two_shards(&dir);
    write_index(&index, &[("a", SHARD_1), ("b", SHARD_2), ("c", SHARD_2)]);
    let err = Model::open(&index).unwrap_err();
    assert!(
        matches!(&err, ModelError::TensorNotInShard { tensor, .. } if tensor == "b"),
        "{err}"
    );
    assert_names(&err, &index, Some("b"));
    assert!(err.to_string().contains(SHARD_2), "{err}");
    // A tensor that no shard has.
    write_index(
        &index,
        &[
            ("a", SHARD_1),
            ("b", SHARD_1),
            ("c", SHARD_2),
            ("d", SHARD_2),
        ],
    );
    let err = Model::open(&index).unwrap_err();
    assert!(
        matches!(&err, ModelError::TensorNotInShard { tensor, .. } if tensor == "d"),
        "{err}"
    );
}

#[test]
fn sharded_shard_holds_an_unlisted_tensor() {
    let dir = temp_dir("unlisted");
    let index = two_shards(&dir);
    write_index(&index, &[("a", SHARD_1), ("c", SHARD_2)]);
    let err = Model::open(&index).unwrap_err();
    assert!(
        matches!(&err, ModelError::TensorNotInIndex { tensor, .. } if tensor == "b"),
        "{err}"
    );
    assert_names(&err, &index, Some("b"));
    assert!(err.to_string().contains(SHARD_1), "{err}");
}

#[test]
fn sharded_duplicate_tensor_across_shards() {
    let dir = temp_dir("dup-shards");
    let index = two_shards(&dir);
    // Shard 2 now holds `a` too.
    write_safetensors(
        dir.path().join(SHARD_2),
        &[
            ("a", Dtype::U8, vec![1], vec![9u8]),
            ("c", Dtype::I16, vec![1], vec![4, 5]),
        ],
    )
    .unwrap();
    let err = Model::open(&index).unwrap_err();
    assert!(
        matches!(&err, ModelError::DuplicateTensor { tensor, first, second }
            if tensor == "a" && first.ends_with(SHARD_1) && second.ends_with(SHARD_2)),
        "{err}"
    );
    assert_names(&err, Path::new(SHARD_1), Some("a"));
    assert_names(&err, Path::new(SHARD_2), Some("a"));
}

#[test]
fn sharded_corrupt_shard_names_the_shard() {
    let dir = temp_dir("corrupt-shard");
    let index = two_shards(&dir);
    std::fs::write(dir.path().join(SHARD_2), [1u8, 2, 3]).unwrap();
    let err = Model::open(&index).unwrap_err();
    assert!(matches!(err, ModelError::Truncated { .. }), "{err}");
    assert_names(&err, Path::new(SHARD_2), None);
}

#[test]
fn invalid_index_json() {
    let dir = temp_dir("index-json");
    let index = two_shards(&dir);
    let cases = [
        r#"{"weight_map": {"a": "#.to_string(),
        r#"{"metadata": {}}"#.to_string(),
        r#"{"weight_map": {"a": 1}}"#.to_string(),
        format!(r#"{{"weight_map": {{"a": "{SHARD_1}", "a": "{SHARD_2}"}}}}"#),
        r#"{"weight_map": {"a": "../model-00001-of-00002.safetensors"}}"#.to_string(),
        r#"{"weight_map": {"a": "/etc/passwd"}}"#.to_string(),
        r#"{"weight_map": {"a": ""}}"#.to_string(),
    ];
    for case in &cases {
        std::fs::write(&index, case).unwrap();
        let err = Model::open(&index).unwrap_err();
        assert!(
            matches!(err, ModelError::InvalidIndex { .. }),
            "{case}: {err}"
        );
        assert_names(&err, &index, None);
    }
}

// ---- Fuzz-like sweep: any input gives Ok or Err, never a panic. ----

/// Runs `f` on `input`, turning a panic into a test failure that describes the input.
fn no_panic<T>(what: &str, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => value,
        Err(_) => panic!("panicked on {what}"),
    }
}

fn small_valid_file(rng: &mut StdRng) -> Vec<u8> {
    let tensors = [
        tensor(rng, "embed", Dtype::BF16, &[3, 4]),
        tensor(rng, "norm", Dtype::F32, &[4]),
        tensor(rng, "scale", Dtype::F8E4M3, &[2, 2]),
        tensor(rng, "packed", Dtype::F4, &[6]),
        tensor(rng, "ids", Dtype::I64, &[2]),
        tensor(rng, "nothing", Dtype::U8, &[0]),
    ];
    safetensors::serialize(
        tensors.iter().map(|(name, dtype, shape, data)| {
            let shape: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
            let view = safetensors::tensor::TensorView::new((*dtype).into(), shape, data).unwrap();
            (name.clone(), view)
        }),
        None,
    )
    .unwrap()
}

#[test]
fn fuzz_truncations_and_flipped_header_bytes_never_panic() {
    let file = Path::new("fuzz.safetensors");
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let valid = small_valid_file(&mut rng);
    let header_end = 8 + u64::from_le_bytes(valid[..8].try_into().unwrap()) as usize;
    assert!(parse_header(file, &valid).is_ok());

    // Every truncation: only the whole file is valid.
    for len in 0..valid.len() {
        let result = no_panic(&format!("truncation to {len} bytes"), || {
            parse_header(file, &valid[..len])
        });
        assert!(result.is_err(), "truncation to {len} bytes was accepted");
    }

    // Seeded mutations of the header (and the length prefix): 1 to 4 random bytes each.
    let (mut accepted, mut refused) = (0, 0);
    for case in 0..4000 {
        let mut bytes = valid.clone();
        let mut changes = Vec::new();
        for _ in 0..rng.random_range(1..=4) {
            let at = rng.random_range(0..header_end);
            // A flipped bit, a byte that matters to JSON and numbers, or any byte at all.
            const JSON_BYTES: &[u8] = b"{}[]\",:0123456789-eE. \\";
            let value = match rng.random_range(0..3) {
                0 => bytes[at] ^ (1 << rng.random_range(0..8)),
                1 => JSON_BYTES[rng.random_range(0..JSON_BYTES.len())],
                _ => rng.random(),
            };
            bytes[at] = value;
            changes.push((at, value));
        }
        let what = format!("case {case}: bytes set {changes:?}");
        match no_panic(&what, || parse_header(file, &bytes)) {
            Ok(header) => {
                accepted += 1;
                // Whatever was accepted must slice inside the file.
                for t in &header.tensors {
                    assert!(t.data_offset + t.bytes <= bytes.len() as u64, "{what}");
                }
            }
            Err(err) => {
                refused += 1;
                no_panic(&what, || err.to_string());
            }
        }
    }
    // Both outcomes occur: the sweep reaches past the first check.
    assert!(
        accepted > 0 && refused > 0,
        "{accepted} accepted, {refused} refused"
    );
    println!("header mutations: {accepted} accepted, {refused} refused");

    // Random garbage after a plausible length prefix.
    for case in 0..500 {
        let len = rng.random_range(0..200usize);
        let mut bytes = vec![0u8; len];
        rng.fill(&mut bytes[..]);
        if len >= 8 && rng.random_bool(0.5) {
            bytes[..8].copy_from_slice(&(rng.random_range(0..len as u64)).to_le_bytes());
        }
        let _ = no_panic(&format!("garbage case {case}: {bytes:?}"), || {
            parse_header(file, &bytes)
        });
    }
}

#[test]
fn fuzz_index_json_never_panics() {
    let file = Path::new(INDEX_FILE_NAME);
    let valid = br#"{"metadata":{"total_size":6},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}"#;
    assert!(ModelIndex::parse(file, valid).is_ok());
    let mut rng = StdRng::seed_from_u64(8);
    for len in 0..valid.len() {
        let _ = no_panic(&format!("index truncated to {len}"), || {
            ModelIndex::parse(file, &valid[..len])
        });
    }
    for case in 0..2000 {
        let mut bytes = valid.to_vec();
        for _ in 0..rng.random_range(1..=3) {
            let at = rng.random_range(0..bytes.len());
            bytes[at] = rng.random();
        }
        let _ = no_panic(&format!("index case {case}: {bytes:?}"), || {
            ModelIndex::parse(file, &bytes)
        });
    }
}

#[test]
fn fuzz_open_on_disk_never_panics() {
    // The same sweep through `Model::open`, i.e. through the memory map (fewer cases: files).
    let dir = temp_dir("fuzz-open");
    let path = dir.path().join("f.safetensors");
    let mut rng = StdRng::seed_from_u64(9);
    let valid = small_valid_file(&mut rng);
    for len in 0..=valid.len() {
        std::fs::write(&path, &valid[..len]).unwrap();
        let result = no_panic(&format!("file truncated to {len}"), || Model::open(&path));
        assert_eq!(result.is_ok(), len == valid.len(), "truncation to {len}");
    }
    for case in 0..300 {
        let mut bytes = valid.clone();
        let at = rng.random_range(0..bytes.len());
        bytes[at] = rng.random();
        std::fs::write(&path, &bytes).unwrap();
        let _ = no_panic(
            &format!("file case {case}: byte {at} set to {}", bytes[at]),
            || {
                Model::open(&path).map(|m| {
                    m.tensors()
                        .iter()
                        .filter(|t| m.tensor_data(t).is_some())
                        .count()
                })
            },
        );
    }
}
