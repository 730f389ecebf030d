//! The fuzz targets: functions from arbitrary bytes to an outcome label, which panic when Strata
//! panics or breaks a documented promise.
//!
//! Each target is deterministic: the same bytes give the same outcome (randomness a target needs
//! is seeded from a hash of its input), so every crash replays from its saved input.

use crate::check::{assert_distinct, check_policy, kind, plan_and_check};
use crate::mutate::Json;
use crate::seeds;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::{Component, Path};
use strata::model::{
    Dtype, GgmlType, GgufWriter, ModelIndex, TensorInfo, element_count, parse_gguf, parse_header,
};
use strata::placement::{PartLimit, describe_memory_type, placements_served_by, split_into_parts};
use strata::plan::{
    Classifier, PlacementCaps, PlanOptions, PlanPolicy, TensorSpec, TierReason, TierRule, layer_of,
    parse_bytes,
};
use strata::table::MemoryTable;
use strata::{Error, Placement, Usage};

/// One fuzz target and what the runner needs to drive it.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// The name on the command line.
    pub name: &'static str,
    /// What the target exercises.
    pub about: &'static str,
    /// The target itself: runs on any bytes, returns an outcome label, panics on a bug.
    pub run: fn(&[u8]) -> String,
    /// Valid inputs to start from.
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// Repairs a mutated input so that it gets past the first check more often (for model
    /// files: the header length prefix). Applied to half of the inputs.
    pub fixup: Option<fn(&mut [u8])>,
    /// Inputs are cut to this length.
    pub max_len: usize,
    /// Where the inputs hold JSON, for structured edits.
    pub json: Json,
}

/// Every target, in the order `strata-fuzz all` runs them.
pub const TARGETS: [Target; 5] = [
    Target {
        name: "model_header",
        about: "safetensors header parsing, then the loader's split and plan of its tensors",
        run: fuzz_model_header,
        seeds: seeds::model_headers,
        fixup: Some(fix_header_length),
        max_len: 16 << 10,
        json: Json::SafetensorsHeader,
    },
    Target {
        name: "gguf_header",
        about: "GGUF header parsing (metadata, tensor infos, layout), a write/read round trip, then the loader's split and plan of its tensors",
        run: fuzz_gguf_header,
        seeds: seeds::gguf_files,
        fixup: Some(fix_gguf_start),
        max_len: 16 << 10,
        json: Json::None,
    },
    Target {
        name: "model_index",
        about: "model.safetensors.index.json parsing and its promises",
        run: fuzz_model_index,
        seeds: seeds::model_indexes,
        fixup: None,
        max_len: 16 << 10,
        json: Json::Whole,
    },
    Target {
        name: "memory_table_json",
        about: "memory-table JSON, the placement policy on it, and plans of random tensors",
        run: fuzz_memory_table_json,
        seeds: seeds::memory_tables,
        fixup: None,
        max_len: 16 << 10,
        json: Json::Whole,
    },
    Target {
        name: "plan_rules",
        about: "tier rules, policies, caps and byte sizes as written by users, then planning",
        run: fuzz_plan_rules,
        seeds: seeds::plan_scripts,
        fixup: None,
        max_len: 4 << 10,
        json: Json::None,
    },
];

/// The target named `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// FNV-1a: a stable hash of an input, to seed a target's randomness and to name crash files.
pub fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `0`, `1`, `2-7`, `8+`: a coarse size bucket for outcome labels.
fn bucket(n: usize) -> &'static str {
    match n {
        0 => "0",
        1 => "1",
        2..=7 => "2-7",
        _ => "8+",
    }
}

/// Sets a model file's header length to where its JSON value ends, when it has one.
pub fn fix_header_length(bytes: &mut [u8]) {
    let Some(rest) = bytes.get(8..) else { return };
    let mut values =
        serde_json::Deserializer::from_slice(rest).into_iter::<serde::de::IgnoredAny>();
    if let Some(Ok(_)) = values.next() {
        let end = values.byte_offset() as u64;
        bytes[..8].copy_from_slice(&end.to_le_bytes());
    }
}

/// The safetensors header of a whole file's bytes: `parse_header`, then the checks a loader
/// relies on (tensors tile the data section exactly, sizes are shape × dtype, names distinct),
/// then the loader's next steps on the tensors found: the split into parts and a plan on the
/// recorded lavapipe (tiered) and AMD APU (`only=vram`) tables.
pub fn fuzz_model_header(data: &[u8]) -> String {
    let file = Path::new("fuzz.safetensors");
    let header = match parse_header(file, data) {
        Ok(header) => header,
        Err(error) => {
            let text = error.to_string();
            assert!(
                text.contains("fuzz.safetensors"),
                "the error must name the file: {text}"
            );
            return format!("header:{}", kind(&error));
        }
    };
    let len = data.len() as u64;
    assert_eq!(header.data_start, 8 + header.header_len);
    assert!(header.data_start <= len, "data section starts past the end");
    let mut covered = header.data_start;
    for t in &header.tensors {
        assert_eq!(
            t.data_offset, covered,
            "{}: tensors must tile the data section",
            t.name
        );
        let elements = t.shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d));
        let bytes = elements.and_then(|n| t.dtype.bytes_for(n));
        assert_eq!(
            bytes,
            Some(t.bytes),
            "{}: size must be shape x dtype",
            t.name
        );
        covered = covered.checked_add(t.bytes).expect("offsets overflow");
        assert!(covered <= len, "{}: data past the end of the file", t.name);
    }
    assert_eq!(covered, len, "nothing may follow the last tensor");
    assert_distinct(header.tensors.iter().map(|t| t.name.as_str()), "tensor");

    let (specs, tiered, only) = split_and_plan(&header.tensors);
    format!("header:ok/{}/{tiered}/{only}", bucket(specs.len()))
}

/// Splits a tensor as the loader does (at [`TensorInfo::row_bytes`]), under a small and a
/// lavapipe-sized part limit, and checks the parts: whole rows, within the limit, adding up; or
/// `TooLarge` when a row cannot fit.
/// Checks every tensor's split into parts, then plans the tensors tiered on the first recorded
/// table and with only `vram` on the second: the specs and both plans' verdicts.
fn split_and_plan(tensors: &[TensorInfo]) -> (Vec<TensorSpec>, String, String) {
    for t in tensors {
        check_split(t);
    }
    let specs: Vec<TensorSpec> = tensors
        .iter()
        .map(|t| TensorSpec::new(t.name.clone(), t.dtype.name(), t.shape.clone(), t.bytes))
        .collect();
    let tables = seeds::recorded_tables();
    let tiered = plan_and_check(&specs, &tables[0].1, &PlanOptions::default());
    let only = PlanOptions {
        policy: PlanPolicy::Only(Placement::Vram),
        ..PlanOptions::default()
    };
    let only = plan_and_check(&specs, &tables[1].1, &only);
    (specs, tiered, only)
}

fn check_split(t: &TensorInfo) {
    let bytes = t.bytes;
    if bytes == 0 {
        return;
    }
    let row = t.row_bytes();
    assert!(
        row > 0 && row <= bytes,
        "{}: split unit within the tensor",
        t.name
    );
    // The unit holds whole elements (or whole blocks) of the tensor's type.
    if t.shape.len() > 1 {
        let inner = element_count(&t.shape[1..]);
        let expected = inner.and_then(|n| t.dtype.bytes_for(n)).filter(|&b| b > 0);
        assert!(
            expected.is_none_or(|e| e == row),
            "{}: split unit is one outer slice",
            t.name
        );
    }
    for limit in [4096, 128 << 20] {
        let limit = PartLimit {
            bytes: limit,
            name: "fuzz limit",
        };
        match split_into_parts(bytes, row, limit, "fuzz tensor") {
            Ok(parts) => {
                assert_eq!(parts.iter().sum::<u64>(), bytes, "parts add up");
                assert!(
                    parts.iter().all(|&p| p > 0 && p <= limit.bytes),
                    "parts within the limit"
                );
                if parts.len() > 1 {
                    assert!(
                        parts.iter().all(|p| p.is_multiple_of(row)),
                        "parts hold whole rows"
                    );
                }
            }
            Err(Error::TooLarge { .. }) => {
                assert!(bytes > limit.bytes && (row > limit.bytes || !bytes.is_multiple_of(row)));
            }
            Err(other) => panic!("unexpected split error: {other}"),
        }
    }
}

/// Puts the GGUF magic and a supported version at the start of a mutated input, so that more
/// inputs get past the first two checks.
pub fn fix_gguf_start(bytes: &mut [u8]) {
    if let Some(start) = bytes.get_mut(..8) {
        start[..4].copy_from_slice(b"GGUF");
        if !matches!(start[4..8], [2 | 3, 0, 0, 0]) {
            start[4..8].copy_from_slice(&3u32.to_le_bytes());
        }
    }
}

/// A GGUF file's bytes: `parse_gguf`, then the promises a loader relies on (the data section
/// is aligned and runs to the end of the file; every tensor lies inside it, aligned, in offset
/// order, without overlap; sizes are whole rows of whole blocks of its ggml type; names
/// distinct), then a write/read round trip (writing what was read and reading it again gives
/// the same bytes), then the loader's split and a plan on the recorded lavapipe (tiered) and
/// AMD APU (`only=vram`) tables.
pub fn fuzz_gguf_header(data: &[u8]) -> String {
    let file = Path::new("fuzz.gguf");
    let header = match parse_gguf(file, data) {
        Ok(header) => header,
        Err(error) => {
            let text = error.to_string();
            assert!(
                text.contains("fuzz.gguf"),
                "the error must name the file: {text}"
            );
            return format!("gguf:{}", kind(&error));
        }
    };
    let len = data.len() as u64;
    assert!(header.alignment.is_power_of_two());
    assert!(matches!(header.version, 2 | 3));
    assert_eq!(
        header.data_start + header.data_len,
        len,
        "data section runs to the end"
    );
    if !header.tensors.is_empty() {
        assert!(
            header.data_start.is_multiple_of(header.alignment),
            "aligned data section"
        );
    }
    let mut covered = header.data_start;
    for t in &header.tensors {
        let ty: GgmlType = t.dtype.ggml().expect("a GGUF tensor has a ggml type");
        assert!(
            t.data_offset >= covered,
            "{}: in offset order, no overlap",
            t.name
        );
        assert!(
            (t.data_offset - header.data_start).is_multiple_of(header.alignment),
            "{}: aligned",
            t.name
        );
        let row = t.shape.last().copied().unwrap_or(1);
        assert!(
            row.is_multiple_of(ty.block_size()),
            "{}: whole blocks",
            t.name
        );
        let elements = element_count(&t.shape);
        assert_eq!(
            elements.and_then(|n| ty.row_bytes(n)),
            Some(t.bytes),
            "{}: size",
            t.name
        );
        let end = t
            .data_offset
            .checked_add(t.bytes)
            .expect("offsets overflow");
        assert!(end <= len, "{}: data past the end of the file", t.name);
        if t.bytes > 0 {
            covered = end;
        }
    }
    assert_distinct(header.tensors.iter().map(|t| t.name.as_str()), "tensor");
    assert_distinct(header.metadata.iter().map(|(k, _)| k), "metadata key");

    let rewrite = |header: &strata::model::GgufHeader, bytes: &[u8]| -> Vec<u8> {
        let mut writer = GgufWriter::new()
            .version(header.version)
            .alignment(header.alignment as u32);
        for (key, value) in header.metadata.iter() {
            if key != "general.alignment" {
                writer = writer.metadata(key, value.clone());
            }
        }
        for t in &header.tensors {
            let start = t.data_offset as usize;
            let ty = t.dtype.ggml().expect("a ggml type");
            writer = writer.tensor(
                t.name.clone(),
                ty,
                t.shape.clone(),
                &bytes[start..start + t.bytes as usize],
            );
        }
        writer.to_bytes().expect("what was read can be written")
    };
    let once = rewrite(&header, data);
    let reread = parse_gguf(file, &once).expect("what was written can be read");
    let names = |h: &strata::model::GgufHeader| -> Vec<(String, String, Vec<u64>, u64)> {
        h.tensors
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    t.dtype.to_string(),
                    t.shape.clone(),
                    t.bytes,
                )
            })
            .collect()
    };
    assert_eq!(
        names(&reread),
        names(&header),
        "round trip keeps the tensors"
    );
    assert_eq!(rewrite(&reread, &once), once, "writing is idempotent");

    let (specs, tiered, only) = split_and_plan(&header.tensors);
    format!(
        "gguf:ok/{}/{}/{tiered}/{only}",
        bucket(specs.len()),
        bucket(header.metadata.len())
    )
}

/// A sharded model's index: `ModelIndex::parse`, then its promises (names distinct, shard names
/// relative paths without `..`, `shard_files` sorted, distinct and complete).
pub fn fuzz_model_index(data: &[u8]) -> String {
    let file = Path::new("model.safetensors.index.json");
    let index = match ModelIndex::parse(file, data) {
        Ok(index) => index,
        Err(error) => {
            let text = error.to_string();
            assert!(
                text.contains("index.json"),
                "the error must name the file: {text}"
            );
            return format!("index:{}", kind(&error));
        }
    };
    assert_distinct(index.weight_map.iter().map(|(t, _)| t.as_str()), "tensor");
    for (tensor, shard) in &index.weight_map {
        let path = Path::new(shard);
        assert!(
            !shard.is_empty() && !path.is_absolute(),
            "{tensor}: shard `{shard}`"
        );
        assert!(
            path.components()
                .all(|c| matches!(c, Component::Normal(_) | Component::CurDir)),
            "{tensor}: shard `{shard}` leaves the index's directory"
        );
    }
    let files = index.shard_files();
    assert!(
        files.windows(2).all(|w| w[0] < w[1]),
        "shard files sorted and distinct"
    );
    for (_, shard) in &index.weight_map {
        assert!(
            files.contains(&shard.as_str()),
            "shard `{shard}` missing from shard_files"
        );
    }
    format!("index:ok/{}", bucket(files.len()))
}

/// Memory-table JSON: `MemoryTable::from_json` on the bytes (as lossy UTF-8); on success the
/// table must round-trip through JSON, the placement policy must keep its rule for every
/// placement and several `memoryTypeBits`, and a plan of random tensors with random options
/// (seeded from the input) must keep every promise or fail with the error the input calls for.
pub fn fuzz_memory_table_json(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    let table = match MemoryTable::from_json(&text) {
        Ok(table) => table,
        Err(error) => {
            let _ = error.to_string();
            return format!("table:{}", kind(&error));
        }
    };
    table
        .validate()
        .expect("from_json returns only valid tables");
    let _ = table.to_string();
    let json = serde_json::to_string(&table).expect("a table serialises");
    let back = MemoryTable::from_json(&json).expect("a table's own JSON reads back");
    assert_eq!(back, table, "memory table JSON does not round-trip");

    let mut rng = StdRng::seed_from_u64(fnv1a(data));
    let type_count = table.types.len() as u32;
    let mut placements = Placement::NAMED.to_vec();
    placements.extend([Usage::Weights, Usage::Staging, Usage::Readback].map(Placement::Auto));
    placements.extend((0..=type_count.min(31)).map(Placement::Type));
    for &placement in &placements {
        for bits in [
            u32::MAX,
            rng.random(),
            1u32.checked_shl(type_count).map_or(u32::MAX, |b| b - 1),
        ] {
            check_policy(&table, placement, bits, random_size(&mut rng, &table));
        }
    }
    for index in 0..type_count {
        for placement in placements_served_by(&table, index) {
            let choice = strata::placement::choose_memory_type(&table, placement, u32::MAX);
            assert_eq!(choice.map(|c| c.memory_type).ok(), Some(index));
        }
        let device = [
            strata::wgpu::DeviceType::IntegratedGpu,
            strata::wgpu::DeviceType::Cpu,
        ];
        let text = describe_memory_type(
            &table,
            index,
            rng.random_range(0x1000..0x1010),
            device[index as usize % 2],
        );
        assert!(!text.is_empty());
    }

    let tensors = random_tensors(&mut rng, &table);
    let options = random_options(&mut rng, type_count);
    let outcome = plan_and_check(&tensors, &table, &options);
    let budget = if table.has_budget() {
        "budget"
    } else {
        "no-budget"
    };
    format!("table:ok/{budget}/{outcome}")
}

/// A tensor size: zero, small, around a gigabyte, a fraction of a heap, or close to `u64::MAX`.
fn random_size(rng: &mut StdRng, table: &MemoryTable) -> u64 {
    let heap = table
        .heaps
        .get(rng.random_range(0..table.heaps.len().max(1)))
        .map_or(1 << 30, |h| h.size);
    match rng.random_range(0..6) {
        0 => 0,
        1 => rng.random_range(1..=1 << 20),
        2 => rng.random_range(1..=16u64 << 30),
        3 => heap / rng.random_range(1..=8),
        4 => heap.saturating_add(rng.random_range(0..=1)),
        _ => u64::MAX - rng.random_range(0..=1 << 20),
    }
}

fn random_tensors(rng: &mut StdRng, table: &MemoryTable) -> Vec<TensorSpec> {
    const STEMS: [&str; 9] = [
        "model.embed_tokens",
        "model.layers.0.mlp",
        "model.layers.1.self_attn",
        "model.layers.7.mlp",
        "model.norm",
        "lm_head",
        "transformer.h.2.attn",
        "blocks.3.ffn",
        "vision.encoder",
    ];
    let count = rng.random_range(0..24);
    let mut tensors: Vec<TensorSpec> = (0..count)
        .map(|i| {
            let bytes = random_size(rng, table);
            let stem = STEMS[rng.random_range(0..STEMS.len())];
            TensorSpec::new(format!("{stem}.{i}.weight"), "U8", [bytes], bytes)
        })
        .collect();
    if count > 1 && rng.random_bool(0.05) {
        let name = tensors[0].name.clone();
        tensors[count - 1].name = name;
    }
    tensors
}

fn random_options(rng: &mut StdRng, type_count: u32) -> PlanOptions {
    let policy = if rng.random_bool(0.5) {
        PlanPolicy::Tiered
    } else {
        let choices = [
            Placement::Vram,
            Placement::VramMapped,
            Placement::Host,
            Placement::HostCached,
            Placement::Auto(Usage::Weights),
            Placement::Type(rng.random_range(0..=type_count.min(31))),
        ];
        PlanPolicy::Only(choices[rng.random_range(0..choices.len())])
    };
    let mut cap = || match rng.random_range(0..4) {
        0 => Some(rng.random_range(0..=32u64 << 30)),
        1 => Some(0),
        _ => None,
    };
    let caps = PlacementCaps {
        vram: cap(),
        vram_mapped: cap(),
        host: cap(),
    };
    let margins = [0.0, 0.05, 0.5, 0.999, 1.0, -0.1, f64::NAN, rng.random()];
    let rules = [
        "*embed*=bulk",
        "*.layers.[0-3].*=critical",
        "*mlp*=bulk",
        "*=critical",
    ];
    PlanOptions {
        policy,
        rules: rules
            .iter()
            .filter(|_| rng.random_bool(0.3))
            .map(|r| r.parse().expect("built-in rules parse"))
            .collect(),
        default_rules: rng.random_bool(0.7),
        caps,
        safety_margin: margins[rng.random_range(0..margins.len())],
    }
}

/// A plan script, one command per line, as a user would write them on the command line:
///
/// ```text
/// table apu                      # lavapipe | apu | h100 | no-rebar (default apu)
/// policy only=vram               # a PlanPolicy
/// cap vram=8GiB                  # PLACEMENT=SIZE
/// margin 0.05                    # the safety margin
/// defaults off                   # no default tier rules
/// rule *.layers.[0-3].*=critical # a TierRule
/// tensor NAME DTYPE AxBxC        # or: tensor NAME SIZE
/// ```
///
/// Any other line is tried as a tier rule, a policy, a placement and a byte size. Every parser
/// must refuse with a typed error or give a value whose text form parses back to it; then the
/// tensors are planned (the classification must follow the first matching user rule) and the
/// plan checked.
pub fn fuzz_plan_rules(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    let tables = seeds::recorded_tables();
    let mut table = &tables[1].1;
    let mut options = PlanOptions::default();
    let mut tensors = Vec::new();
    let mut refused = 0usize;
    for line in text.lines() {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "table" => {
                if let Some((_, t)) = tables.iter().find(|(name, _)| *name == rest.trim()) {
                    table = t;
                }
            }
            "policy" => match parse_policy(rest) {
                Some(policy) => options.policy = policy,
                None => refused += 1,
            },
            "cap" => {
                let parsed = rest
                    .split_once('=')
                    .and_then(|(p, size)| Some((parse_placement(p)?, parse_size(size)?)));
                match parsed {
                    Some((placement, bytes)) => {
                        options.caps.set(placement, Some(bytes));
                    }
                    None => refused += 1,
                }
            }
            "margin" => match rest.trim().parse::<f64>() {
                Ok(margin) => options.safety_margin = margin,
                Err(_) => refused += 1,
            },
            "defaults" => options.default_rules = rest.trim() != "off",
            "rule" => match parse_rule(rest) {
                Some(rule) => options.rules.push(rule),
                None => refused += 1,
            },
            "tensor" => match parse_tensor(rest) {
                Some(tensor) => tensors.push(tensor),
                None => refused += 1,
            },
            _ => {
                let _ = parse_rule(line);
                let _ = parse_policy(line);
                let _ = parse_placement(line);
                let _ = parse_size(line);
                let _ = layer_of(line).map(|found| check_layer(line, found));
            }
        }
    }
    let classifier = Classifier::new(&options.rules, options.default_rules, &tensors);
    for tensor in &tensors {
        let class = classifier.classify(&tensor.name);
        let _ = class.to_string();
        if let Some(rule) = options.rules.iter().find(|r| r.matches(&tensor.name)) {
            assert_eq!(
                class.tier,
                rule.tier(),
                "{}: the first matching rule decides",
                tensor.name
            );
            assert_eq!(class.reason, TierReason::Rule(rule.pattern().to_string()));
        }
        if let Some(found) = layer_of(&tensor.name) {
            check_layer(&tensor.name, found);
        }
    }
    let outcome = plan_and_check(&tensors, table, &options);
    let refused = if refused > 0 { "refusals" } else { "clean" };
    format!("rules:{}/{refused}/{outcome}", bucket(options.rules.len()))
}

/// `layer_of` found `(stack, index)` in `name`: the name starts with the stack, followed by the
/// index's digits.
fn check_layer(name: &str, (stack, index): (&str, u64)) {
    assert!(
        name.starts_with(stack),
        "{name}: stack `{stack}` is not a prefix"
    );
    let digits = name[stack.len()..].split('.').next().unwrap_or("");
    assert_eq!(
        digits.parse::<u64>().ok(),
        Some(index),
        "{name}: layer index"
    );
}

fn parse_rule(text: &str) -> Option<TierRule> {
    match text.parse::<TierRule>() {
        Ok(rule) => {
            assert!(
                !rule.pattern().is_empty(),
                "`{text}`: empty pattern accepted"
            );
            let again: TierRule = rule.to_string().parse().unwrap_or_else(|e| {
                panic!("`{text}` parsed, but its text form `{rule}` does not: {e}")
            });
            assert_eq!(
                (again.pattern(), again.tier()),
                (rule.pattern(), rule.tier()),
                "`{text}`"
            );
            Some(rule)
        }
        Err(error) => {
            let _ = error.to_string();
            None
        }
    }
}

fn parse_policy(text: &str) -> Option<PlanPolicy> {
    let policy = text.parse::<PlanPolicy>().ok()?;
    assert_eq!(
        policy.to_string().parse::<PlanPolicy>().ok(),
        Some(policy),
        "`{text}`"
    );
    Some(policy)
}

fn parse_placement(text: &str) -> Option<Placement> {
    let placement = text.parse::<Placement>().ok()?;
    assert_eq!(
        placement.to_string().parse::<Placement>().ok(),
        Some(placement),
        "`{text}`"
    );
    Some(placement)
}

fn parse_size(text: &str) -> Option<u64> {
    let bytes = parse_bytes(text).ok()?;
    let trimmed = text.trim();
    if trimmed.bytes().all(|b| b.is_ascii_digit()) {
        assert_eq!(
            trimmed.parse::<u64>().ok(),
            Some(bytes),
            "`{text}`: plain bytes"
        );
    }
    Some(bytes)
}

/// `NAME DTYPE AxBxC` (an empty shape is a scalar) or `NAME SIZE`.
fn parse_tensor(text: &str) -> Option<TensorSpec> {
    let mut words = text.split_whitespace();
    let name = words.next()?;
    let second = words.next()?;
    if let Some(dtype) = Dtype::from_name(second) {
        let shape = words
            .next()
            .unwrap_or("")
            .split('x')
            .filter(|d| !d.is_empty())
            .map(|d| d.parse::<u64>().ok())
            .collect::<Option<Vec<u64>>>()?;
        let elements = shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d))?;
        let bytes = dtype.bytes_for(elements)?;
        return Some(TensorSpec::new(name, dtype.name(), shape, bytes));
    }
    let bytes = parse_size(second)?;
    Some(TensorSpec::new(name, "U8", [bytes], bytes))
}
