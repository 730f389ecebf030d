//! Byte sizes as people write them: `8GiB`, `512MiB`, `1.5GB`, `1024`.

/// A byte size that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid byte size `{input}`: {reason} (examples: 8GiB, 512MiB, 1.5GB, 1024)")]
pub struct ByteSizeError {
    /// The text as given.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Units, matched case-insensitively. Binary units (`KiB`, `MiB`, `GiB`, `TiB`) are powers of
/// 1024, decimal units (`kB`, `MB`, `GB`, `TB`) powers of 1000, and single letters (`K`, `M`,
/// `G`, `T`) binary, as `dd` reads them.
const UNITS: &[(&str, u64)] = &[
    ("", 1),
    ("b", 1),
    ("k", 1 << 10),
    ("kib", 1 << 10),
    ("kb", 1_000),
    ("m", 1 << 20),
    ("mib", 1 << 20),
    ("mb", 1_000_000),
    ("g", 1 << 30),
    ("gib", 1 << 30),
    ("gb", 1_000_000_000),
    ("t", 1 << 40),
    ("tib", 1 << 40),
    ("tb", 1_000_000_000_000),
];

/// Parses a byte size: a decimal number (with an optional fraction), optional spaces and an
/// optional unit. `KiB`/`MiB`/`GiB`/`TiB` and the single letters `K`/`M`/`G`/`T` are binary
/// (1024-based), `kB`/`MB`/`GB`/`TB` decimal, `B` or no unit bytes; units ignore case. A
/// fraction of a byte is rounded down: `1.5GB` is 1,500,000,000, `0.5KiB` is 512.
pub fn parse_bytes(text: &str) -> Result<u64, ByteSizeError> {
    let error = |reason: &str| ByteSizeError {
        input: text.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(error("empty"));
    }
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let multiplier = UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|&(_, m)| m)
        .ok_or_else(|| error("unknown unit (use B, KiB, MiB, GiB, TiB, kB, MB, GB or TB)"))?;

    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits_ok(whole) || !digits_ok(fraction) {
        return Err(error("expected a number such as 8, 1.5 or 512"));
    }
    // Exact arithmetic: (whole.fraction) * multiplier, in u128, fraction digits beyond what can
    // matter dropped (a multiplier has at most 13 digits).
    let fraction = &fraction[..fraction.len().min(18)];
    let too_large = || error("too large (the limit is 2^64 - 1 bytes)");
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse::<u64>().map_err(|_| too_large())?.into()
    };
    let scale = 10u128.pow(fraction.len() as u32);
    let fraction: u128 = if fraction.is_empty() {
        0
    } else {
        fraction
            .parse::<u64>()
            .map_err(|_| error("bad fraction"))?
            .into()
    };
    let multiplier = u128::from(multiplier);
    let bytes = whole
        .checked_mul(multiplier)
        .and_then(|b| b.checked_add(fraction * multiplier / scale))
        .ok_or_else(too_large)?;
    u64::try_from(bytes).map_err(|_| too_large())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("8GiB"), Ok(8 << 30));
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("1.5GB"), Ok(1_500_000_000));
        assert_eq!(parse_bytes("1.5 gib"), Ok(3 << 29));
        assert_eq!(parse_bytes("16G"), Ok(16 << 30));
        assert_eq!(parse_bytes("0.5KiB"), Ok(512));
        assert_eq!(parse_bytes(".5k"), Ok(512));
        assert_eq!(parse_bytes("7B"), Ok(7));
        assert_eq!(parse_bytes(" 2 TB "), Ok(2_000_000_000_000));
        assert_eq!(parse_bytes("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(
            parse_bytes("0.333333333333333333333333GiB"),
            Ok(357_913_941)
        );
    }

    #[test]
    fn bad_sizes_are_errors() {
        for bad in [
            "",
            " ",
            "GiB",
            "8 GiBs",
            "8XB",
            "1.2.3GB",
            "-1",
            "1e9",
            ".",
            "16EiB",
            "18446744073709551616",
            "17179869184GiB",
        ] {
            let err = parse_bytes(bad);
            assert!(err.is_err(), "{bad}: {err:?}");
        }
        let err = parse_bytes("8 parsecs").unwrap_err();
        assert!(err.to_string().contains("8 parsecs"), "{err}");
    }
}
