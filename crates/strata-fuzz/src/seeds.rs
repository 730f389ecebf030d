//! Valid starting inputs for every target, generated in code, and the recorded memory tables.
//!
//! A mutational fuzzer without coverage gets deep only by starting deep: every seed here is
//! accepted by its parser, so one or two mutations away lie the interesting refusals.

use serde_json::{Value, json};
use std::sync::OnceLock;
use strata::model::{Dtype, GgmlType, GgufArray, GgufValue, GgufWriter};
use strata::table::MemoryTable;

/// The memory tables recorded from real devices (`tests/devices/`), by
/// short name: `lavapipe`, `apu` (AMD APU on RADV), `h100`, `no-rebar` (a consumer NVIDIA card
/// without resizable BAR).
pub const RECORDED_TABLES: [(&str, &str); 4] = [
    (
        "lavapipe",
        include_str!("../../strata/tests/devices/lavapipe-mesa-22.3.6.json"),
    ),
    (
        "apu",
        include_str!("../../strata/tests/devices/amd-apu-radv.json"),
    ),
    (
        "h100",
        include_str!("../../strata/tests/devices/nvidia-h100-vulkan.json"),
    ),
    (
        "no-rebar",
        include_str!("../../strata/tests/devices/nvidia-consumer-no-rebar.json"),
    ),
];

/// The recorded tables, parsed once. They are part of this crate, so a parse failure is a bug.
pub fn recorded_tables() -> &'static [(&'static str, MemoryTable)] {
    static TABLES: OnceLock<Vec<(&'static str, MemoryTable)>> = OnceLock::new();
    TABLES.get_or_init(|| {
        RECORDED_TABLES
            .iter()
            .map(|&(name, json)| {
                let table = MemoryTable::from_json(json)
                    .unwrap_or_else(|e| panic!("recorded table {name} does not parse: {e}"));
                (name, table)
            })
            .collect()
    })
}

/// A safetensors file in memory: the 8-byte little-endian header length, the header, the data.
/// `pad` spaces are appended to the header, as writers do to align the data section.
pub fn safetensors_bytes(header: &Value, data: &[u8], pad: usize) -> Vec<u8> {
    let mut text = header.to_string();
    text.push_str(&" ".repeat(pad));
    let mut bytes = (text.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(text.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

/// Builds a header and data section for `(name, dtype, shape)` tensors laid out back to back.
fn model_file(tensors: &[(&str, Dtype, &[u64])], metadata: Option<Value>, pad: usize) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    if let Some(metadata) = metadata {
        header.insert("__metadata__".into(), metadata);
    }
    let mut offset = 0u64;
    for &(name, dtype, shape) in tensors {
        let elements: u64 = shape.iter().product();
        let bytes = dtype
            .bytes_for(elements)
            .unwrap_or_else(|| panic!("seed tensor {name} is not a whole number of bytes"));
        header.insert(
            name.to_string(),
            json!({"dtype": dtype.name(), "shape": shape, "data_offsets": [offset, offset + bytes]}),
        );
        offset += bytes;
    }
    let data: Vec<u8> = (0..offset).map(|i| (i * 31 + 7) as u8).collect();
    safetensors_bytes(&Value::Object(header), &data, pad)
}

/// Valid safetensors files: empty, a small model with metadata, one tensor of every dtype, and a
/// model whose header is padded.
pub fn model_headers() -> Vec<Vec<u8>> {
    let small: &[(&str, Dtype, &[u64])] = &[
        ("model.embed_tokens.weight", Dtype::BF16, &[8, 4]),
        ("model.layers.0.mlp.up_proj.weight", Dtype::F16, &[4, 6]),
        ("model.layers.1.mlp.up_proj.weight", Dtype::F8E4M3, &[4, 6]),
        ("model.layers.1.input_layernorm.weight", Dtype::F32, &[4]),
        ("model.norm.weight", Dtype::F32, &[4]),
        ("lm_head.weight", Dtype::BF16, &[8, 4]),
        ("packed", Dtype::F4, &[6]),
        ("nothing", Dtype::U8, &[0]),
        ("scalar", Dtype::F32, &[]),
    ];
    let shapes: Vec<(String, Dtype, Vec<u64>)> = Dtype::ALL
        .iter()
        .map(|&dtype| {
            // 8 elements are a whole number of bytes for every width (4 and 6 bits included).
            (format!("t.{}", dtype.name()), dtype, vec![2, 4])
        })
        .collect();
    let every_dtype: Vec<(&str, Dtype, &[u64])> = shapes
        .iter()
        .map(|(n, d, s)| (n.as_str(), *d, s.as_slice()))
        .collect();
    vec![
        model_file(&[], None, 0),
        model_file(small, Some(json!({"format": "pt"})), 0),
        model_file(&every_dtype, None, 0),
        model_file(small, None, 5),
    ]
}

/// Deterministic filler bytes for seed tensors.
fn filler(len: u64, salt: u64) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + salt * 7 + 3) as u8).collect()
}

/// Valid GGUF files, written by Strata's writer: empty (versions 2 and 3), a small
/// Llama-shaped model with metadata of every value type, one tensor of every ggml type at
/// alignment 64, and the parts of a split model.
pub fn gguf_files() -> Vec<Vec<u8>> {
    let write = |writer: GgufWriter<'_>| {
        writer
            .to_bytes()
            .unwrap_or_else(|e| panic!("seed GGUF file does not write: {e}"))
    };
    let q4 = filler(4 * 144, 1);
    let q6 = filler(2 * 210, 2);
    let norm = filler(4 * 256, 3);
    let embd = filler(8 * 2 * 34, 4);
    let small = || {
        GgufWriter::new()
            .metadata("general.architecture", "llama")
            .metadata("general.name", "seed")
            .metadata("llama.block_count", 1u32)
            .metadata("llama.rope.freq_base", 10000.0f32)
            .metadata(
                "tokenizer.ggml.tokens",
                GgufValue::Array(GgufArray::String(vec![
                    "<s>".into(),
                    "a".into(),
                    String::new(),
                ])),
            )
            .metadata(
                "tokenizer.ggml.scores",
                GgufValue::Array(GgufArray::F32(vec![0.0, -1.5])),
            )
            .metadata("u8", 1u8)
            .metadata("i8", -1i8)
            .metadata("u16", 2u16)
            .metadata("i16", -2i16)
            .metadata("i32", -3i32)
            .metadata("bool", true)
            .metadata("u64", 4u64)
            .metadata("i64", -4i64)
            .metadata("f64", 0.5f64)
            .metadata(
                "nested",
                GgufValue::Array(GgufArray::Array(vec![
                    GgufArray::U16(vec![1, 2]),
                    GgufArray::Bool(vec![false]),
                ])),
            )
            .tensor("token_embd.weight", GgmlType::Q8_0, [8, 64], &embd)
            .tensor("blk.0.attn_norm.weight", GgmlType::F32, [256], &norm)
            .tensor("blk.0.attn_q.weight", GgmlType::Q4_K, [4, 256], &q4)
            .tensor("blk.0.ffn_down.weight", GgmlType::Q6_K, [2, 256], &q6)
            .tensor("output_norm.weight", GgmlType::F32, [256], &norm)
            .tensor("empty", GgmlType::Q4_K, [0, 256], &[])
    };
    let blocks: Vec<Vec<u8>> = GgmlType::ALL
        .iter()
        .enumerate()
        .map(|(i, ty)| filler(ty.block_bytes(), i as u64))
        .collect();
    let mut every_type = GgufWriter::new().alignment(64);
    for (ty, data) in GgmlType::ALL.iter().zip(&blocks) {
        every_type = every_type.tensor(format!("t.{ty}"), *ty, [1, ty.block_size()], data);
    }
    let split_part = GgufWriter::new()
        .metadata("split.no", 1u16)
        .metadata("split.count", 3u16)
        .metadata("split.tensors.count", 7i32)
        .tensor("blk.1.attn_q.weight", GgmlType::Q4_K, [4, 256], &q4);
    vec![
        write(GgufWriter::new()),
        write(GgufWriter::new().version(2)),
        write(small()),
        write(small().version(2).alignment(16)),
        write(every_type),
        write(split_part),
    ]
}

/// Valid `model.safetensors.index.json` files.
pub fn model_indexes() -> Vec<Vec<u8>> {
    let mut map = serde_json::Map::new();
    for layer in 0..6 {
        let shard = format!("model-0000{}-of-00003.safetensors", 1 + layer / 2);
        map.insert(
            format!("model.layers.{layer}.mlp.up_proj.weight"),
            json!(shard),
        );
    }
    map.insert(
        "model.embed_tokens.weight".into(),
        json!("model-00001-of-00003.safetensors"),
    );
    let hugging_face = json!({"metadata": {"total_size": 123456}, "weight_map": map});
    let nested = json!({"weight_map": {"a": "sub/dir/a.safetensors", "b": "b.safetensors"}});
    [hugging_face, json!({"weight_map": {}}), nested]
        .iter()
        .map(|v| serde_json::to_vec_pretty(v).unwrap_or_default())
        .collect()
}

/// Valid memory-table JSON: every recorded table bare, as `{"memory": ...}` and as a whole
/// `strata info --json` document, plus a table with budgets, usage and raw hex flags.
pub fn memory_tables() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (_, text) in RECORDED_TABLES {
        out.push(text.as_bytes().to_vec());
        let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        out.push(json!({"memory": value}).to_string().into_bytes());
        let info = json!({"adapters": [{"name": "cpu", "memory": null}, {"name": "gpu", "memory": value}]});
        out.push(info.to_string().into_bytes());
    }
    let budgets = json!({
        "heaps": [
            {"index": 0, "size": 8589934592u64, "flags": ["DEVICE_LOCAL"], "budget": 7516192768u64, "usage": 1073741824u64},
            {"index": 1, "size": 34359738368u64, "flags": [], "budget": 17179869184u64, "usage": 0}
        ],
        "types": [
            {"index": 0, "heap": 0, "flags": ["DEVICE_LOCAL"]},
            {"index": 1, "heap": 1, "flags": ["HOST_VISIBLE", "HOST_COHERENT"]},
            {"index": 2, "heap": 1, "flags": ["VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT", "HOST_COHERENT", "HOST_CACHED"]},
            {"index": 3, "heap": 0, "flags": ["DEVICE_LOCAL", "HOST_VISIBLE", "HOST_COHERENT"]},
            {"index": 4, "heap": 0, "flags": ["DEVICE_LOCAL", "0x40", "0x80"]}
        ]
    });
    out.push(budgets.to_string().into_bytes());
    out
}

/// Valid plan scripts for [`crate::fuzz_plan_rules`] (the format is described there).
pub fn plan_scripts() -> Vec<Vec<u8>> {
    let scripts = [
        "table apu\npolicy tiered\ncap vram=512MiB\ncap vram-mapped=1GiB\nmargin 0.05\n\
         rule *embed*=critical\nrule *.layers.[0-3].*=critical\nrule *mlp*=bulk\n\
         tensor model.embed_tokens.weight BF16 32000x4096\n\
         tensor model.layers.0.mlp.up_proj.weight BF16 11008x4096\n\
         tensor model.layers.1.mlp.up_proj.weight BF16 11008x4096\n\
         tensor model.layers.31.self_attn.q_proj.weight F16 4096x4096\n\
         tensor model.norm.weight F32 4096\n\
         tensor lm_head.weight BF16 32000x4096\n",
        "table lavapipe\npolicy only=vram\ndefaults off\nrule {*norm*,*ln_*}=critical\n\
         tensor transformer.h.0.ln_1.weight F32 768\ntensor transformer.h.11.mlp.c_fc.weight F16 768x3072\n\
         tensor transformer.wte.weight F16 50257x768\n",
        "table h100\npolicy only=type=0\nmargin 0\ncap host=1.5GB\n\
         tensor blocks.0.attn.weight U8 1024x1024\ntensor blocks.7.attn.weight I8 1024x1024\n",
        "table no-rebar\npolicy tiered\ncap vram=4G\nrule *=bulk\n\
         tensor vision.blocks.0.ffn.weight F8_E4M3 4096x4096\n\
         tensor model.layers.2.mlp.down_proj.weight F4 4096x11008\n",
    ];
    scripts.iter().map(|s| s.as_bytes().to_vec()).collect()
}

/// Tokens the mutator inserts: JSON syntax and keys, dtype and flag names, awkward numbers,
/// path pieces, glob syntax and the words of plan scripts.
pub fn dictionary() -> Vec<Vec<u8>> {
    let mut words: Vec<String> = [
        "{",
        "}",
        "[",
        "]",
        "\"",
        ":",
        ",",
        "null",
        "true",
        "false",
        "\"\"",
        "{}",
        "[]",
        "\\u0000",
        "\\\"",
        "dtype",
        "shape",
        "data_offsets",
        "__metadata__",
        "weight_map",
        "metadata",
        "total_size",
        "heaps",
        "types",
        "index",
        "heap",
        "size",
        "flags",
        "budget",
        "usage",
        "memory",
        "adapters",
        "DEVICE_LOCAL",
        "HOST_VISIBLE",
        "HOST_COHERENT",
        "HOST_CACHED",
        "LAZILY_ALLOCATED",
        "PROTECTED",
        "DEVICE_COHERENT_AMD",
        "MULTI_INSTANCE",
        "VK_MEMORY_PROPERTY_HOST_CACHED_BIT",
        "0x0",
        "0xffffffff",
        "0x100000000",
        "0",
        "-1",
        "1",
        "7",
        "255",
        "256",
        "4096",
        "65535",
        "4294967295",
        "4294967296",
        "9007199254740993",
        "18446744073709551615",
        "18446744073709551616",
        "1e309",
        "-0",
        "0.5",
        "1.0e2",
        "..",
        "/",
        "\\",
        "./",
        "C:\\",
        "model-00001-of-00002.safetensors",
        "=critical",
        "=bulk",
        "*",
        "?",
        "[0-3]",
        "{a,b}",
        "**",
        "[!a]",
        "policy ",
        "only=",
        "tiered",
        "cap ",
        "margin ",
        "rule ",
        "tensor ",
        "table ",
        "defaults off",
        "vram",
        "vram-mapped",
        "host",
        "gtt",
        "host-cached",
        "type=",
        "type=31",
        "auto",
        "GiB",
        "MiB",
        "KiB",
        "GB",
        "TB",
        "x",
        "\n",
        "model.layers.",
        "transformer.h.",
        "blocks.",
        ".weight",
        "embed",
        "norm",
        "lm_head",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    words.extend(Dtype::ALL.iter().map(|d| d.name().to_string()));
    words.extend(["Q4", "bf16", "F8"].map(String::from));
    words.extend(
        [
            "GGUF",
            "general.alignment",
            "split.count",
            "blk.",
            "token_embd",
        ]
        .map(String::from),
    );
    words.into_iter().map(String::into_bytes).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_tables_parse() {
        assert_eq!(recorded_tables().len(), 4);
    }
}
