//! Every crash the fuzzer found, kept as a regression test: each input must now run without a
//! panic. Inputs live in `crates/strata-fuzz/regressions/TARGET/` (the files `strata-fuzz` writes
//! to its crash folder, renamed to say what they broke), so a new one is added by copying the
//! crash file there; a few are also written out below where the bytes tell the story.

use std::path::Path;
use strata_fuzz::runner::run_one;
use strata_fuzz::targets::{TARGETS, target};

#[test]
fn saved_crash_inputs_no_longer_crash() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let mut replayed = 0;
    for t in &TARGETS {
        let dir = root.join(t.name);
        let inputs = strata_fuzz::runner::read_corpus(&dir).expect("readable regression folder");
        for (i, input) in inputs.iter().enumerate() {
            if let Err(message) = run_one(t, input) {
                panic!(
                    "{}: regression input {i} in {} crashes again: {message}",
                    t.name,
                    dir.display()
                );
            }
            replayed += 1;
        }
    }
    println!("{replayed} saved input(s) replayed");
}

/// Runs `input` on `target_name` and fails on a panic.
fn replay(target_name: &str, input: &[u8]) -> String {
    let t = target(target_name).expect("a target of that name");
    run_one(t, input).unwrap_or_else(|message| panic!("{target_name}: {message}"))
}

#[test]
fn header_edge_cases() {
    // A length prefix of u64::MAX, one past the file, exactly the file with no JSON.
    replay("model_header", &u64::MAX.to_le_bytes());
    replay("model_header", &[9, 0, 0, 0, 0, 0, 0, 0, b'{', b'}']);
    replay("model_header", &[0; 8]);
    // Offsets at the top of u64, a shape whose product overflows, a zero-size tensor at the end.
    let header = br#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[18446744073709551615,0]}}"#;
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header);
    replay("model_header", &file);
    let header = br#"{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,0]}}"#;
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header);
    replay("model_header", &file);
    let header = br#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"z":{"dtype":"U8","shape":[0],"data_offsets":[2,2]}}"#;
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header);
    file.extend_from_slice(&[1, 2]);
    assert_eq!(
        replay("model_header", &file),
        "header:ok/2-7/plan:ok/plan:ok"
    );
}

#[test]
fn table_and_plan_edge_cases() {
    // Raw hex flags beyond the named ones, a heap of u64::MAX bytes, no types at all.
    let table = br#"{"heaps":[{"index":0,"size":18446744073709551615,"flags":["0xfffffffc"]}],"types":[{"index":0,"heap":0,"flags":["0xffffffff"]}]}"#;
    replay("memory_table_json", table);
    replay("memory_table_json", br#"{"heaps":[],"types":[]}"#);
    // A safety margin of NaN and of 1, a cap of 0, a rule that matches everything.
    replay("plan_rules", b"margin NaN\ntensor a 1\n");
    replay(
        "plan_rules",
        b"margin 1\ncap vram=0\nrule *=critical\ntensor model.layers.0.w BF16 2x2\n",
    );
    replay("plan_rules", b"rule [=critical\nrule {a,=bulk\nrule \\=bulk\ntensor model.layers.99999999999999999999.w 4\n");
}

#[test]
fn gguf_edge_cases() {
    let header = |version: u32, tensors: u64, keys: u64| {
        let mut bytes = b"GGUF".to_vec();
        bytes.extend_from_slice(&version.to_le_bytes());
        bytes.extend_from_slice(&tensors.to_le_bytes());
        bytes.extend_from_slice(&keys.to_le_bytes());
        bytes
    };
    // Magic alone, a big-endian version, counts of u64::MAX.
    replay("gguf_header", b"GGUF");
    replay("gguf_header", &header(3u32.swap_bytes(), 0, 0));
    replay("gguf_header", &header(3, u64::MAX, 0));
    replay("gguf_header", &header(3, 0, u64::MAX));
    // A key, then an array of u64::MAX strings; arrays of arrays nested 1000 deep.
    let mut file = header(3, 0, 1);
    file.extend_from_slice(&1u64.to_le_bytes());
    file.push(b'k');
    file.extend_from_slice(&9u32.to_le_bytes());
    file.extend_from_slice(&8u32.to_le_bytes());
    file.extend_from_slice(&u64::MAX.to_le_bytes());
    replay("gguf_header", &file);
    let mut file = header(3, 0, 1);
    file.extend_from_slice(&1u64.to_le_bytes());
    file.push(b'k');
    file.extend_from_slice(&9u32.to_le_bytes());
    for _ in 0..1000 {
        file.extend_from_slice(&9u32.to_le_bytes());
        file.extend_from_slice(&1u64.to_le_bytes());
    }
    replay("gguf_header", &file);
    // A tensor at the top of u64, and one whose dimensions overflow.
    for (ne, offset) in [([8u64, 1], u64::MAX - 7), ([1 << 32, 1 << 32], 0)] {
        let mut file = header(3, 1, 0);
        file.extend_from_slice(&1u64.to_le_bytes());
        file.push(b't');
        file.extend_from_slice(&2u32.to_le_bytes());
        file.extend_from_slice(&ne[0].to_le_bytes());
        file.extend_from_slice(&ne[1].to_le_bytes());
        file.extend_from_slice(&0u32.to_le_bytes());
        file.extend_from_slice(&offset.to_le_bytes());
        file.resize(64, 0);
        replay("gguf_header", &file);
    }
}
