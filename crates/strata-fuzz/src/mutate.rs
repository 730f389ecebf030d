//! The mutator: small random edits of an input, stacked a few at a time.
//!
//! The edits are those of libFuzzer's default mutator that need no coverage: flip a bit, set a
//! byte, insert or delete bytes, copy a run of bytes elsewhere, splice with another input,
//! insert or overwrite a dictionary token, replace a number with an awkward one, and overwrite
//! eight bytes with an awkward little-endian integer (for length prefixes).

use rand::Rng;
use rand::rngs::StdRng;

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
}

impl Mutator {
    /// A mutator drawing from `rng`, inserting `dictionary` tokens, keeping inputs at most
    /// `max_len` bytes long.
    pub fn new(rng: StdRng, dictionary: Vec<Vec<u8>>, max_len: usize) -> Self {
        Self {
            rng,
            dictionary,
            max_len: max_len.max(1),
        }
    }

    /// The random source, for the runner's own choices.
    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    /// Applies 1 to 8 edits (fewer more often) to `input`; `others` are splice partners.
    pub fn mutate(&mut self, input: &mut Vec<u8>, others: &[Vec<u8>]) {
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
    fn numbers_are_replaced_whole() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut input = b"[12,345]".to_vec();
        replace_number(&mut rng, &mut input);
        let text = String::from_utf8(input).unwrap();
        assert!(text.starts_with('[') && text.ends_with(']') && text.contains(','), "{text}");
    }
}
