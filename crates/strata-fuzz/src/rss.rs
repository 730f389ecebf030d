//! The process's resident memory, from `/proc/self/status` (Linux; `None` elsewhere).

/// Resident set size now (`VmRSS`), in bytes.
pub fn current() -> Option<u64> {
    status_field("VmRSS:")
}

/// Peak resident set size so far (`VmHWM`), in bytes.
pub fn peak() -> Option<u64> {
    status_field("VmHWM:")
}

/// Virtual address space in use (`VmSize`), in bytes.
pub fn virtual_size() -> Option<u64> {
    status_field("VmSize:")
}

/// Limits this process's address space (`RLIMIT_AS`, soft limit) to `bytes` above what it uses
/// now, with util-linux's `prlimit` tool (no `unsafe` here). Returns the limit set.
pub fn limit_address_space(headroom: u64) -> Result<u64, String> {
    let size = virtual_size().ok_or("cannot read VmSize from /proc/self/status")?;
    let limit = size.saturating_add(headroom);
    let status = std::process::Command::new("prlimit")
        .arg(format!("--pid={}", std::process::id()))
        .arg(format!("--as={limit}:unlimited"))
        .status()
        .map_err(|e| format!("cannot run prlimit (util-linux): {e}"))?;
    if status.success() {
        Ok(limit)
    } else {
        Err(format!("prlimit failed: {status}"))
    }
}

/// A `kB` field of `/proc/self/status`, in bytes.
fn status_field(name: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line[name.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    #[test]
    fn rss_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            let rss = super::current().expect("VmRSS");
            assert!(rss > 0 && super::peak().expect("VmHWM") >= rss);
        }
    }
}
