//! Split GGUF models: `NAME-00001-of-00003.gguf` and its sibling parts, read as one model.
//!
//! llama.cpp's `gguf-split` writes each part as a complete GGUF file holding some of the
//! tensors; the first part carries the model's metadata, and every part carries `split.no`
//! (`u16`, from 0), `split.count` (`u16`) and `split.tensors.count` (`i32`, the whole model's
//! tensor count).

use super::header::GgufHeader;
use crate::model::ModelError;
use std::path::{Path, PathBuf};

/// The metadata key of a part's number, from 0.
pub const SPLIT_NO: &str = "split.no";
/// The metadata key of the number of parts.
pub const SPLIT_COUNT: &str = "split.count";
/// The metadata key of the whole model's tensor count.
pub const SPLIT_TENSORS_COUNT: &str = "split.tensors.count";

/// A split part's file name, taken apart: `PREFIX-KKKKK-of-NNNNN.gguf`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitName {
    /// Everything before `-KKKKK-of-NNNNN.gguf`, the directory included.
    pub prefix: PathBuf,
    /// The part's number, from 1.
    pub part: u32,
    /// The number of parts.
    pub count: u32,
}

impl SplitName {
    /// The split name of `path`, when its file name is `PREFIX-KKKKK-of-NNNNN.gguf` with
    /// `1 <= K <= N` (five digits each, as llama.cpp writes them).
    pub fn parse(path: &Path) -> Option<SplitName> {
        let name = path.file_name()?.to_str()?;
        let stem = name.strip_suffix(".gguf")?;
        let (rest, count) = stem.rsplit_once("-of-")?;
        let (prefix, part) = rest.rsplit_once('-')?;
        let number = |digits: &str| {
            (digits.len() == 5 && digits.bytes().all(|b| b.is_ascii_digit()))
                .then(|| digits.parse::<u32>().ok())
                .flatten()
        };
        let (part, count) = (number(part)?, number(count)?);
        if prefix.is_empty() || part == 0 || part > count {
            return None;
        }
        Some(SplitName {
            prefix: path.with_file_name(prefix),
            part,
            count,
        })
    }

    /// The path of part `part` (from 1) of this split model.
    pub fn part_path(&self, part: u32) -> PathBuf {
        let mut name = self.prefix.file_name().unwrap_or_default().to_os_string();
        name.push(format!("-{part:05}-of-{:05}.gguf", self.count));
        self.prefix.with_file_name(name)
    }
}

/// What a part's metadata says of the split, when it has any `split.*` key.
struct SplitKeys {
    no: Option<u64>,
    count: Option<u64>,
    tensors: Option<u64>,
}

fn split_keys(header: &GgufHeader) -> Option<SplitKeys> {
    let keys = SplitKeys {
        no: header.metadata.get_u64(SPLIT_NO),
        count: header.metadata.get_u64(SPLIT_COUNT),
        tensors: header.metadata.get_u64(SPLIT_TENSORS_COUNT),
    };
    (keys.no.is_some() || keys.count.is_some() || keys.tensors.is_some()).then_some(keys)
}

/// Checks a file opened on its own: one whose metadata says it is one part of several must be
/// opened by its split name, with its siblings.
pub(crate) fn check_single(path: &Path, header: &GgufHeader) -> Result<(), ModelError> {
    match split_keys(header).and_then(|keys| keys.count) {
        Some(count) if count > 1 => Err(ModelError::SplitMismatch {
            file: path.to_path_buf(),
            reason: format!(
                "the file is one part of {count} (`{SPLIT_COUNT}`), but its name is not NAME-KKKKK-of-{count:05}.gguf: rename the parts as llama.cpp's gguf-split names them"
            ),
        }),
        _ => Ok(()),
    }
}

/// Checks the parts of a split model, in order, against their names and each other: every
/// part says it is part K of N, and all agree on the whole model's tensor count, which the
/// parts' tensors add up to.
pub(crate) fn check_parts(
    split: &SplitName,
    parts: &[(PathBuf, &GgufHeader)],
) -> Result<(), ModelError> {
    let mismatch = |file: &Path, reason: String| ModelError::SplitMismatch {
        file: file.to_path_buf(),
        reason,
    };
    let mut declared_tensors: Option<u64> = None;
    let mut total = 0u64;
    for (index, (path, header)) in parts.iter().enumerate() {
        let Some(keys) = split_keys(header) else {
            return Err(mismatch(
                path,
                format!(
                    "part {} of {} has no `{SPLIT_NO}`/`{SPLIT_COUNT}` metadata",
                    index + 1,
                    split.count
                ),
            ));
        };
        if keys.no != Some(index as u64) || keys.count != Some(u64::from(split.count)) {
            let show = |v: Option<u64>| v.map_or("absent".to_string(), |v| v.to_string());
            return Err(mismatch(
                path,
                format!(
                    "named part {} of {}, but `{SPLIT_NO}` is {} (from 0) and `{SPLIT_COUNT}` is {}",
                    index + 1,
                    split.count,
                    show(keys.no),
                    show(keys.count)
                ),
            ));
        }
        if let Some(tensors) = keys.tensors {
            match declared_tensors {
                Some(first) if first != tensors => {
                    return Err(mismatch(
                        path,
                        format!(
                            "`{SPLIT_TENSORS_COUNT}` is {tensors}, but the first part says {first}"
                        ),
                    ));
                }
                _ => declared_tensors = Some(tensors),
            }
        }
        total = total.saturating_add(header.tensors.len() as u64);
    }
    if let (Some(declared), Some((last, _))) = (declared_tensors, parts.last()) {
        if declared != total {
            return Err(mismatch(
                last,
                format!(
                    "`{SPLIT_TENSORS_COUNT}` is {declared}, but the {} parts hold {total} tensors",
                    split.count
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_names() {
        let name = SplitName::parse(Path::new("/m/gemma-27b-Q4_K_M-00002-of-00003.gguf")).unwrap();
        assert_eq!(name.prefix, Path::new("/m/gemma-27b-Q4_K_M"));
        assert_eq!((name.part, name.count), (2, 3));
        assert_eq!(
            name.part_path(1),
            Path::new("/m/gemma-27b-Q4_K_M-00001-of-00003.gguf")
        );
        for not_split in [
            "model.gguf",
            "m-1-of-3.gguf",
            "m-00004-of-00003.gguf",
            "m-00000-of-00003.gguf",
            "-00001-of-00003.gguf",
            "m-00001-of-00003.safetensors",
        ] {
            assert_eq!(SplitName::parse(Path::new(not_split)), None, "{not_split}");
        }
    }
}
