//! A bounded little-endian reader over a GGUF file's bytes.
//!
//! Every read checks the bytes left first, and every count read from the file is checked
//! against them before anything is allocated for it: a hostile length costs an error, never a
//! large allocation or a panic.

use crate::model::ModelError;
use std::path::Path;

/// A position in a file's bytes, with the file's name for errors.
pub(crate) struct Cursor<'a> {
    file: &'a Path,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `bytes`, the whole content of `file`.
    pub(crate) fn new(file: &'a Path, bytes: &'a [u8]) -> Self {
        Cursor { file, bytes, at: 0 }
    }

    /// The file's name, for errors.
    pub(crate) fn file(&self) -> &'a Path {
        self.file
    }

    /// The offset of the next byte to read.
    pub(crate) fn offset(&self) -> u64 {
        self.at as u64
    }

    /// The bytes left from the cursor to the end of the file.
    pub(crate) fn remaining(&self) -> u64 {
        (self.bytes.len() - self.at) as u64
    }

    /// The next `n` bytes, or [`ModelError::GgufTruncated`] naming `what`.
    pub(crate) fn take(
        &mut self,
        n: u64,
        what: impl Fn() -> String,
    ) -> Result<&'a [u8], ModelError> {
        let taken = usize::try_from(n)
            .ok()
            .and_then(|n| self.at.checked_add(n))
            .and_then(|end| self.bytes.get(self.at..end));
        let Some(taken) = taken else {
            return Err(ModelError::GgufTruncated {
                file: self.file.to_path_buf(),
                what: what(),
                offset: self.offset(),
                needed: n,
                file_len: self.bytes.len() as u64,
            });
        };
        self.at += taken.len();
        Ok(taken)
    }

    fn array<const N: usize>(&mut self, what: impl Fn() -> String) -> Result<[u8; N], ModelError> {
        let bytes = self.take(N as u64, what)?;
        // `take` returned exactly N bytes.
        Ok(bytes.try_into().unwrap_or([0; N]))
    }

    /// A little-endian `u32`.
    pub(crate) fn u32(&mut self, what: impl Fn() -> String) -> Result<u32, ModelError> {
        self.array(what).map(u32::from_le_bytes)
    }

    /// A little-endian `u64`.
    pub(crate) fn u64(&mut self, what: impl Fn() -> String) -> Result<u64, ModelError> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// `N` raw bytes, for the fixed-size metadata values.
    pub(crate) fn bytes<const N: usize>(
        &mut self,
        what: impl Fn() -> String,
    ) -> Result<[u8; N], ModelError> {
        self.array(what)
    }

    /// A `u64` count of items that each take at least `min_item_bytes` bytes in the file,
    /// refused with [`ModelError::GgufLengthBeyondFile`] when that many items cannot fit in the
    /// bytes left. The count returned is thus at most the bytes left (for items of 1 byte or
    /// more), so it is safe to reserve room for.
    pub(crate) fn count(
        &mut self,
        min_item_bytes: u64,
        what: impl Fn() -> String,
    ) -> Result<u64, ModelError> {
        let count = self.u64(&what)?;
        let needed = count.saturating_mul(min_item_bytes);
        if needed > self.remaining() {
            return Err(ModelError::GgufLengthBeyondFile {
                file: self.file.to_path_buf(),
                what: what(),
                length: count,
                needed,
                offset: self.offset(),
                remaining: self.remaining(),
            });
        }
        Ok(count)
    }

    /// A GGUF string: a `u64` length, then that many bytes of UTF-8, borrowed from the file.
    pub(crate) fn string(&mut self, what: impl Fn() -> String) -> Result<&'a str, ModelError> {
        let len = self.count(1, || format!("the length of {}", what()))?;
        let bytes = self.take(len, &what)?;
        std::str::from_utf8(bytes).map_err(|_| ModelError::GgufInvalidString {
            file: self.file.to_path_buf(),
            what: what(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounded() {
        let file = Path::new("t.gguf");
        let mut bytes = 3u64.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"abc");
        bytes.extend_from_slice(&7u32.to_le_bytes());
        let mut cursor = Cursor::new(file, &bytes);
        assert_eq!(cursor.string(|| "s".into()).unwrap(), "abc");
        assert_eq!(cursor.u32(|| "n".into()).unwrap(), 7);
        assert_eq!(cursor.remaining(), 0);
        assert!(matches!(
            cursor.u32(|| "more".into()),
            Err(ModelError::GgufTruncated {
                needed: 4,
                offset: 15,
                ..
            })
        ));
    }

    #[test]
    fn hostile_lengths_are_refused_before_allocating() {
        let file = Path::new("t.gguf");
        let bytes = u64::MAX.to_le_bytes();
        let error = Cursor::new(file, &bytes)
            .string(|| "key".into())
            .unwrap_err();
        assert!(matches!(
            error,
            ModelError::GgufLengthBeyondFile {
                length: u64::MAX,
                ..
            }
        ));
        let bytes = 2u64.to_le_bytes();
        let error = Cursor::new(file, &bytes)
            .count(u64::MAX, || "n".into())
            .unwrap_err();
        assert!(matches!(
            error,
            ModelError::GgufLengthBeyondFile {
                needed: u64::MAX,
                ..
            }
        ));
        let mut bytes = 2u64.to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0xff, 0xfe]);
        let error = Cursor::new(file, &bytes)
            .string(|| "name".into())
            .unwrap_err();
        assert!(
            matches!(error, ModelError::GgufInvalidString { .. }),
            "{error}"
        );
    }
}
