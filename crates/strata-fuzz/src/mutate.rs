//! The mutator: small random edits of an input, stacked a few at a time.
//!
//! The edits are those of libFuzzer's default mutator that need no coverage: flip a bit, set a
//! byte, insert or delete bytes, copy a run of bytes elsewhere, splice with another input,
//! insert or overwrite a dictionary token, replace a number with an awkward one, and overwrite
//! eight bytes with an awkward little-endian integer (for length prefixes).
//!
//! For JSON inputs there are structured edits too ([`Json`]): the input is parsed, one node is
//! changed (a number made awkward, a string replaced by a dictionary word, an array element or
//! an object key removed, duplicated or renamed, a node replaced by another type) and the input
//! written back. Byte edits mostly break the JSON; structured edits reach the checks behind the
//! parser.

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::Value;

/// Where an input holds JSON that structured edits may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Json {
    /// Not JSON: byte edits only.
    None,
    /// The whole input is one JSON document.
    Whole,
    /// A safetensors file: an 8-byte little-endian length, that many bytes of JSON, then data.
    /// Structured edits rewrite the length to match.
    SafetensorsHeader,
}

/// Numbers that break parsers: limits of integer types, one past them, floats out of range.
const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1",
    "3",
    "255",
    "256",
    "65536",
    "2147483648",
    "4294967295",
    "4294967296",
    "9007199254740993",
    "9223372036854775807",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999",
    "1e309",
    "-0",
    "0.5",
    "1.5",
];

/// Integers written as eight little-endian bytes by the "awkward u64" edit.
const INTEGERS: &[u64] = &[
    0,
    1,
    7,
    8,
    255,
    4096,
    u32::MAX as u64,
    1 << 32,
    100_000_000,
    100_000_001,
    i64::MAX as u64,
    u64::MAX,
    u64::MAX - 7,
];

/// Applies random edits to inputs.
#[derive(Debug)]
pub struct Mutator {
    rng: StdRng,
    dictionary: Vec<Vec<u8>>,
    max_len: usize,
    json: Json,
}

impl Mutator {
    /// A mutator drawing from `rng`, inserting `dictionary` tokens, keeping inputs at most
    /// `max_len` bytes long.
    pub fn new(rng: StdRng, dictionary: Vec<Vec<u8>>, max_len: usize) -> Self {
        Self {
            rng,
            dictionary,
            max_len: max_len.max(1),
            json: Json::None,
        }
    }

    /// Also makes structured edits to the JSON the inputs hold (half of all mutations).
    #[must_use]
    pub fn with_json(mut self, json: Json) -> Self {
        self.json = json;
        self
    }

    /// The random source, for the runner's own choices.
    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    /// Applies 1 to 8 edits (fewer more often) to `input`; `others` are splice partners.
    pub fn mutate(&mut self, input: &mut Vec<u8>, others: &[Vec<u8>]) {
        if self.json != Json::None && self.rng.random_bool(0.5) && self.mutate_json(input) {
            input.truncate(self.max_len);
            return;
        }
        let edits = 1 + self.rng.random_range(0..8u32).trailing_zeros().min(7);
        for _ in 0..edits {
            self.mutate_once(input, others);
        }
        input.truncate(self.max_len);
    }

    fn mutate_once(&mut self, input: &mut Vec<u8>, others: &[Vec<u8>]) {
        let rng = &mut self.rng;
        if input.is_empty() {
            input.push(rng.random());
            return;
        }
        let len = input.len();
        let at = rng.random_range(0..len);
        match rng.random_range(0..10) {
            0 => input[at] ^= 1 << rng.random_range(0..8),
            1 => input[at] = rng.random(),
            2 => {
                let count = rng.random_range(1..=4);
                let bytes: Vec<u8> = (0..count).map(|_| rng.random()).collect();
                input.splice(at..at, bytes);
            }
            3 => {
                // Mostly short deletions, sometimes long ones.
                let most = if rng.random_bool(0.9) { 16 } else { len };
                let count = rng.random_range(1..=most.min(len - at));
                input.drain(at..at + count);
            }
            4 | 5 => {
                let token = &self.dictionary[rng.random_range(0..self.dictionary.len())];
                if rng.random_bool(0.5) {
                    input.splice(at..at, token.iter().copied());
                } else {
                    let end = (at + token.len()).min(len);
                    input.splice(at..end, token.iter().copied());
                }
            }
            6 => {
                let from = rng.random_range(0..len);
                let count = rng.random_range(1..=(len - from).min(64));
                let run = input[from..from + count].to_vec();
                input.splice(at..at, run);
            }
            7 => {
                if let Some(other) = others.get(rng.random_range(0..others.len().max(1))) {
                    let from = rng.random_range(0..=other.len());
                    input.truncate(at);
                    input.extend_from_slice(&other[from..]);
                }
            }
            8 => replace_number(rng, input),
            _ => {
                let value = INTEGERS[rng.random_range(0..INTEGERS.len())];
                let at = if rng.random_bool(0.5) { 0 } else { at };
                let end = (at + 8).min(len);
                input.splice(at..end, value.to_le_bytes());
            }
        }
    }
}

impl Mutator {
    /// One or two structured edits of the input's JSON; `false` when it holds no valid JSON.
    fn mutate_json(&mut self, input: &mut Vec<u8>) -> bool {
        let (prefix_len, json_end) = match self.json {
            Json::None => return false,
            Json::Whole => (0, input.len()),
            Json::SafetensorsHeader => {
                let Some(prefix) = input.first_chunk::<8>() else {
                    return false;
                };
                let len = u64::from_le_bytes(*prefix);
                match usize::try_from(len).ok().and_then(|l| l.checked_add(8)) {
                    Some(end) if end <= input.len() => (8, end),
                    _ => return false,
                }
            }
        };
        let Ok(mut value) = serde_json::from_slice::<Value>(&input[prefix_len..json_end]) else {
            return false;
        };
        for _ in 0..self.rng.random_range(1..=2) {
            let nodes = count_nodes(&value);
            let target = self.rng.random_range(0..nodes);
            let mut seen = 0;
            edit_node(
                &mut value,
                target,
                &mut seen,
                &mut self.rng,
                &self.dictionary,
            );
        }
        let Ok(text) = serde_json::to_vec(&value) else {
            return false;
        };
        let rest = input.split_off(json_end);
        input.truncate(prefix_len);
        if self.json == Json::SafetensorsHeader {
            input.clear();
            input.extend_from_slice(&(text.len() as u64).to_le_bytes());
        }
        input.extend_from_slice(&text);
        input.extend_from_slice(&rest);
        true
    }
}

/// Nodes in a JSON value, itself included.
fn count_nodes(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(count_nodes).sum(),
        Value::Object(map) => map.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// Walks to node number `target` (pre-order) and edits it.
fn edit_node(
    value: &mut Value,
    target: usize,
    seen: &mut usize,
    rng: &mut StdRng,
    dictionary: &[Vec<u8>],
) -> bool {
    if *seen == target {
        edit_here(value, rng, dictionary);
        return true;
    }
    *seen += 1;
    match value {
        Value::Array(items) => items
            .iter_mut()
            .any(|item| edit_node(item, target, seen, rng, dictionary)),
        Value::Object(map) => map
            .values_mut()
            .any(|item| edit_node(item, target, seen, rng, dictionary)),
        _ => false,
    }
}

fn word(rng: &mut StdRng, dictionary: &[Vec<u8>]) -> String {
    let bytes = &dictionary[rng
        .random_range(0..dictionary.len().max(1))
        .min(dictionary.len().saturating_sub(1))];
    String::from_utf8_lossy(bytes).into_owned()
}

/// One structured edit of `value` itself.
fn edit_here(value: &mut Value, rng: &mut StdRng, dictionary: &[Vec<u8>]) {
    if rng.random_bool(0.1) {
        // Another type altogether.
        *value = match rng.random_range(0..6) {
            0 => Value::Null,
            1 => Value::Bool(rng.random()),
            2 => Value::Array(Vec::new()),
            3 => Value::Object(Default::default()),
            4 => Value::String(word(rng, dictionary)),
            _ => Value::from(INTEGERS[rng.random_range(0..INTEGERS.len())]),
        };
        return;
    }
    match value {
        Value::Number(n) => {
            let current = n.as_u64().unwrap_or(0);
            *value = match rng.random_range(0..6) {
                0 => Value::from(current.wrapping_add(1)),
                1 => Value::from(current.saturating_sub(1)),
                2 => Value::from(current.wrapping_mul(2)),
                3 => Value::from(-(rng.random_range(1..1000) as i64)),
                4 => Value::from(rng.random::<f64>() * 1e20),
                _ => Value::from(INTEGERS[rng.random_range(0..INTEGERS.len())]),
            };
        }
        Value::String(text) => {
            *text = match rng.random_range(0..3) {
                0 => word(rng, dictionary),
                1 => String::new(),
                _ => format!("{text}{}", word(rng, dictionary)),
            };
        }
        Value::Array(items) => match rng.random_range(0..4) {
            0 if !items.is_empty() => {
                items.remove(rng.random_range(0..items.len()));
            }
            1 if !items.is_empty() => {
                let item = items[rng.random_range(0..items.len())].clone();
                items.insert(rng.random_range(0..=items.len()), item);
            }
            2 => items.push(Value::from(INTEGERS[rng.random_range(0..INTEGERS.len())])),
            _ => items.reverse(),
        },
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = keys.get(rng.random_range(0..keys.len().max(1))).cloned();
            match (rng.random_range(0..4), key) {
                (0, Some(key)) => {
                    map.remove(&key);
                }
                (1, Some(key)) => {
                    // The same entry under a second name (a duplicate tensor, a second heap).
                    if let Some(v) = map.get(&key).cloned() {
                        map.insert(format!("{key}{}", word(rng, dictionary)), v);
                    }
                }
                (2, Some(key)) => {
                    if let Some(v) = map.remove(&key) {
                        map.insert(word(rng, dictionary), v);
                    }
                }
                _ => {
                    let v = Value::from(INTEGERS[rng.random_range(0..INTEGERS.len())]);
                    map.insert(word(rng, dictionary), v);
                }
            }
        }
        Value::Bool(b) => *b = !*b,
        Value::Null => *value = Value::from(0),
    }
}

/// Replaces one run of ASCII digits (with its sign) by an awkward number.
fn replace_number(rng: &mut StdRng, input: &mut Vec<u8>) {
    let runs: Vec<(usize, usize)> = {
        let mut runs = Vec::new();
        let mut i = 0;
        while i < input.len() {
            if input[i].is_ascii_digit() || input[i] == b'-' {
                let start = i;
                while i < input.len() && (input[i].is_ascii_digit() || input[i] == b'-') {
                    i += 1;
                }
                runs.push((start, i));
            } else {
                i += 1;
            }
        }
        runs
    };
    let number = NUMBERS[rng.random_range(0..NUMBERS.len())].as_bytes();
    match runs.get(rng.random_range(0..runs.len().max(1))) {
        Some(&(start, end)) => {
            input.splice(start..end, number.iter().copied());
        }
        None => {
            let at = rng.random_range(0..=input.len());
            input.splice(at..at, number.iter().copied());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn mutations_change_inputs_and_respect_the_length_cap() {
        let mut m = Mutator::new(StdRng::seed_from_u64(1), vec![b"{}".to_vec()], 64);
        let seed = br#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#.to_vec();
        let mut changed = 0;
        for _ in 0..1000 {
            let mut input = seed.clone();
            m.mutate(&mut input, std::slice::from_ref(&seed));
            assert!(input.len() <= 64);
            changed += usize::from(input != seed[..seed.len().min(64)]);
        }
        assert!(changed > 900, "only {changed} of 1000 inputs changed");
    }

    #[test]
    fn structured_edits_keep_the_json_valid_and_fix_the_length() {
        let words = vec![b"dtype".to_vec(), b"F32".to_vec()];
        let mut m = Mutator::new(StdRng::seed_from_u64(2), words, 1 << 16)
            .with_json(Json::SafetensorsHeader);
        let header = br#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
        let mut file = (header.len() as u64).to_le_bytes().to_vec();
        file.extend_from_slice(header);
        file.extend_from_slice(&[9; 8]);
        for _ in 0..200 {
            let mut input = file.clone();
            assert!(m.mutate_json(&mut input));
            let len = u64::from_le_bytes(input[..8].try_into().unwrap()) as usize;
            assert!(serde_json::from_slice::<Value>(&input[8..8 + len]).is_ok());
            assert_eq!(&input[8 + len..], &[9; 8], "the data section is kept");
        }
    }

    #[test]
    fn numbers_are_replaced_whole() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut input = b"[12,345]".to_vec();
        replace_number(&mut rng, &mut input);
        let text = String::from_utf8(input).unwrap();
        assert!(
            text.starts_with('[') && text.ends_with(']') && text.contains(','),
            "{text}"
        );
    }
}
