//! How a verifying load checks that a tensor's memory holds the file's bytes.

use std::fmt;
use std::str::FromStr;

/// How [`LoadOptions::verify`](super::LoadOptions::verify) checks each tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum VerifyMethod {
    /// `checksum` for a tensor larger than [`CHECKSUM_FROM`] whose bytes a comparison would
    /// read across the bus (bytes that went through the staging ring, memory the CPU reads
    /// uncached: device-local memory, a BAR window, write-combined system memory); `bytes`
    /// for host-cached mappings, which the CPU compares in place at memory speed, and for
    /// smaller tensors, read back in one copy for less than a checksum's round trip costs.
    #[default]
    Auto,
    /// Every byte compared with the file: read straight from a host-cached mapping, otherwise
    /// copied back by the GPU into the read-back ring.
    Bytes,
    /// The GPU computes a [`checksum`](crate::checksum) of the buffer where it lies, the CPU
    /// the same checksum of the file's bytes, and the two are compared. Nothing is read back
    /// but two words; it also proves that the GPU reads the bytes the file has. Catches every
    /// fault a load can make (a copy that did not land, a wrong offset, zeroed or stale pages)
    /// but one in 2^32 per 4 KiB block changed; [`VerifyMethod::Bytes`] is exact.
    Checksum,
}

/// Tensors of more bytes than this are checksummed under [`VerifyMethod::Auto`]: one read-back
/// slot. A checksum costs a GPU round trip of about 0.8 ms a tensor on the H200 (run 23), the
/// time the bus takes to carry 40 MB: smaller tensors are read back sooner (BENCHMARKS.md).
pub const CHECKSUM_FROM: u64 = super::LOAD_CHUNK;

impl VerifyMethod {
    /// The method used for a tensor of `bytes`: `Bytes` or `Checksum`, never `Auto`. `staged`
    /// says its bytes went through the staging ring; `host_cached` that its memory is
    /// host-visible and host-cached; `storage` that its buffers can be bound for a kernel (a
    /// checksum needs it).
    pub fn for_tensor(
        self,
        bytes: u64,
        staged: bool,
        host_cached: bool,
        storage: bool,
    ) -> VerifyMethod {
        let far = staged || !host_cached;
        match self {
            VerifyMethod::Checksum if storage => VerifyMethod::Checksum,
            VerifyMethod::Auto if storage && far && bytes > CHECKSUM_FROM => VerifyMethod::Checksum,
            _ => VerifyMethod::Bytes,
        }
    }
}

/// A verification method that is not `auto`, `bytes` or `checksum`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown verification method `{0}`: expected auto, bytes or checksum")]
pub struct UnknownVerifyMethod(pub String);

impl FromStr for VerifyMethod {
    type Err = UnknownVerifyMethod;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(VerifyMethod::Auto),
            "bytes" => Ok(VerifyMethod::Bytes),
            "checksum" => Ok(VerifyMethod::Checksum),
            _ => Err(UnknownVerifyMethod(s.trim().to_string())),
        }
    }
}

impl fmt::Display for VerifyMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VerifyMethod::Auto => "auto",
            VerifyMethod::Bytes => "bytes",
            VerifyMethod::Checksum => "checksum",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_checksums_what_the_cpu_reads_slowly() {
        use VerifyMethod::*;
        let big = CHECKSUM_FROM + 1;
        // (method, bytes, staged, host_cached, storage) -> used
        for (method, bytes, staged, cached, storage, used) in [
            (Auto, big, true, false, true, Checksum),
            (Auto, big, true, true, true, Checksum),
            (Auto, big, false, false, true, Checksum),
            (Auto, big, false, true, true, Bytes),
            (Auto, big, true, false, false, Bytes),
            (Auto, CHECKSUM_FROM, true, false, true, Bytes),
            (Auto, 4, false, false, true, Bytes),
            (Checksum, 4, false, true, true, Checksum),
            (Checksum, big, true, false, false, Bytes),
            (Bytes, big, true, false, true, Bytes),
            (Bytes, big, false, true, true, Bytes),
        ] {
            assert_eq!(
                method.for_tensor(bytes, staged, cached, storage),
                used,
                "{method} {bytes} bytes staged={staged} cached={cached} storage={storage}"
            );
        }
    }

    #[test]
    fn names_round_trip() {
        for method in [
            VerifyMethod::Auto,
            VerifyMethod::Bytes,
            VerifyMethod::Checksum,
        ] {
            assert_eq!(method.to_string().parse::<VerifyMethod>(), Ok(method));
        }
        assert_eq!(" Checksum ".parse(), Ok(VerifyMethod::Checksum));
        assert!("crc".parse::<VerifyMethod>().is_err());
    }
}
