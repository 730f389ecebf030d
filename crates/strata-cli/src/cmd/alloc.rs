//! `strata alloc`: allocate one buffer in a placement, fill it, read it back, and prove where
//! it landed.

use crate::common::{AdapterArgs, print_json};
use serde::Serialize;
use std::process::ExitCode;
use std::time::Instant;
use strata::placement::{Fallback, UploadPath, Verification};
use strata::plan::parse_bytes;
use strata::table::{MemoryFlags, human_bytes};
use strata::{Context, PlaceOptions, PlacedBuffer, Placement};

/// Bytes filled (and read back) at a time.
const CHUNK: u64 = 32 << 20;
/// Bytes of each read-back sample (first, middle, last).
const SAMPLE: u64 = 4096;

/// Options of `strata alloc`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where: vram, vram-mapped, host (gtt), host-cached, type=N or auto.
    #[arg(long)]
    placement: Placement,
    /// How many bytes, e.g. 64MiB, 1.5GB.
    #[arg(long, value_parser = parse_bytes)]
    size: u64,
    /// Placements to try in order if the first cannot serve, e.g. vram-mapped,host (every
    /// skipped one is reported).
    #[arg(long, value_delimiter = ',', value_name = "P2,P3")]
    fallback: Vec<Placement>,
    /// Read the whole buffer back (not only samples), and exit non-zero unless the proof of
    /// placement is `verified` or `unverifiable` (a `mismatch` fails).
    #[arg(long)]
    verify: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    adapter: AdapterArgs,
}

/// What `strata alloc --json` prints.
#[derive(Debug, Serialize)]
struct Report {
    adapter: String,
    requested: Placement,
    placement: Placement,
    memory_type: u32,
    heap: u32,
    flags: MemoryFlags,
    bytes: u64,
    dedicated: bool,
    upload_path: UploadPath,
    fallbacks: Vec<Fallback>,
    heap_usage_before: Option<u64>,
    heap_usage_after: Option<u64>,
    verification: &'static str,
    verification_detail: String,
    upload_seconds: f64,
    upload_gb_per_s: f64,
    readback: &'static str,
    readback_bytes: u64,
    seed: u64,
}

/// splitmix64: a fast, well-mixed pattern that can be regenerated at any offset.
fn pattern_word(seed: u64, index: u64) -> u64 {
    let mut z = seed.wrapping_add(index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The pattern's bytes from `offset` (a multiple of 8) on, `len` of them.
fn pattern(seed: u64, offset: u64, len: u64) -> Vec<u8> {
    let mut out = vec![0u8; len.next_multiple_of(8) as usize];
    for (i, word) in out.chunks_exact_mut(8).enumerate() {
        word.copy_from_slice(&pattern_word(seed, offset / 8 + i as u64).to_le_bytes());
    }
    out.truncate(len as usize);
    out
}

/// Fills the buffer chunk by chunk through its upload path; returns the seconds spent writing
/// (generating the pattern is not counted).
fn fill(ctx: &Context, buffer: &PlacedBuffer, seed: u64) -> anyhow::Result<f64> {
    let mut writing = std::time::Duration::ZERO;
    for offset in (0..buffer.bytes()).step_by(CHUNK as usize) {
        let len = (buffer.bytes() - offset).min(CHUNK);
        let data = pattern(seed, offset, len);
        let started = Instant::now();
        ctx.write_placed(buffer, offset, &data)?;
        writing += started.elapsed();
    }
    let started = Instant::now();
    ctx.wait_idle()?;
    writing += started.elapsed();
    Ok(writing.as_secs_f64())
}

/// The ranges read back: the first, middle and last 4 KiB (offsets multiples of 8), or the
/// whole buffer in chunks.
fn readback_ranges(bytes: u64, whole: bool) -> Vec<(u64, u64)> {
    if whole {
        return (0..bytes)
            .step_by(CHUNK as usize)
            .map(|o| (o, (bytes - o).min(CHUNK)))
            .collect();
    }
    let middle = bytes / 2 / 8 * 8;
    let last = bytes.saturating_sub(SAMPLE) / 8 * 8;
    let mut ranges = vec![
        (0, SAMPLE.min(bytes)),
        (middle, SAMPLE.min(bytes - middle)),
        (last, bytes - last),
    ];
    ranges.sort_unstable();
    ranges.dedup();
    ranges
}

/// Reads the ranges back and compares them with the pattern; returns (all equal, bytes read).
fn read_back(
    ctx: &Context,
    buffer: &PlacedBuffer,
    seed: u64,
    whole: bool,
) -> anyhow::Result<(bool, u64)> {
    let mut read = 0;
    for (offset, len) in readback_ranges(buffer.bytes(), whole) {
        let back = ctx.read_placed(buffer, offset, len)?;
        read += len;
        if back != pattern(seed, offset, len) {
            return Ok((false, read));
        }
    }
    Ok((true, read))
}

/// Runs `strata alloc`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let ctx = args.adapter.context()?;
    let info = ctx.adapter_info();
    ctx.vulkan("strata alloc")?; // an exact memory type and its proof need Vulkan
    let options = PlaceOptions {
        fallback: args.fallback.clone(),
        ..PlaceOptions::new(args.placement)
    };
    let proved = ctx.place_proved(args.size, &options)?;
    let buffer = &proved.buffer;
    let (Some(memory_type), Some(heap), Some(flags)) =
        (buffer.memory_type(), buffer.heap(), buffer.flags())
    else {
        anyhow::bail!("strata alloc: the buffer is not in an exact memory type");
    };

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let upload_seconds = fill(&ctx, buffer, seed)?;
    let (readback_ok, readback_bytes) = read_back(&ctx, buffer, seed, args.verify)?;
    let (heap_usage_before, heap_usage_after) = proved.heap_usage();
    let verification = &proved.verification;
    let report = Report {
        adapter: info.name.clone(),
        requested: args.placement,
        placement: buffer.placement(),
        memory_type,
        heap,
        flags,
        bytes: buffer.bytes(),
        dedicated: buffer.info().dedicated,
        upload_path: buffer.upload_path(),
        fallbacks: proved.fallbacks.clone(),
        heap_usage_before,
        heap_usage_after,
        verification: verification.word(),
        verification_detail: verification.detail().to_string(),
        upload_seconds,
        upload_gb_per_s: buffer.bytes() as f64 / upload_seconds.max(1e-9) / 1e9,
        readback: if readback_ok { "ok" } else { "mismatch" },
        readback_bytes,
        seed,
    };

    if args.json {
        print_json(&report)?;
    } else {
        print_human(&report);
    }
    if !readback_ok {
        eprintln!("error: the bytes read back differ from the bytes written (seed {seed})");
        return Ok(ExitCode::FAILURE);
    }
    if args.verify && matches!(verification, Verification::Mismatch { .. }) {
        eprintln!(
            "error: proof of placement failed: {}",
            report.verification_detail
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_human(r: &Report) {
    println!(
        "allocated {} in {}: memory type {} (heap {}), flags {}",
        human_bytes(r.bytes),
        r.placement,
        r.memory_type,
        r.heap,
        r.flags
    );
    println!(
        "  {} allocation, upload path {}",
        if r.dedicated {
            "dedicated"
        } else {
            "sub-allocated"
        },
        match r.upload_path {
            UploadPath::Mapped => "mapped (memcpy into a mapping)",
            UploadPath::Staging => "staging (bounded staging ring + GPU copy)",
        }
    );
    for f in &r.fallbacks {
        println!("  fallback: {} skipped: {}", f.placement, f.reason);
    }
    println!(
        "  upload: {} in {:.3} s ({:.2} GB/s); read back {}: {}",
        human_bytes(r.bytes),
        r.upload_seconds,
        r.upload_gb_per_s,
        human_bytes(r.readback_bytes),
        r.readback
    );
    let optional = |v: Option<u64>| v.map_or_else(|| "n/a".to_string(), human_bytes);
    println!(
        "  heap {} usage: {} -> {}",
        r.heap,
        optional(r.heap_usage_before),
        optional(r.heap_usage_after)
    );
    println!(
        "  proof of placement: {}: {}",
        r.verification, r.verification_detail
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_is_the_same_at_any_offset() {
        let whole = pattern(7, 0, 100);
        assert_eq!(pattern(7, 40, 60), whole[40..]);
        assert_eq!(pattern(7, 8, 5), whole[8..13]);
        assert_ne!(pattern(8, 0, 100), whole);
    }

    #[test]
    fn samples_are_first_middle_and_last() {
        assert_eq!(readback_ranges(100, false), vec![(0, 100), (48, 52)]);
        let mib = 1 << 20;
        let ranges = readback_ranges(64 * mib, false);
        assert_eq!(
            ranges,
            vec![(0, 4096), (32 * mib, 4096), (64 * mib - 4096, 4096)]
        );
        let whole = readback_ranges(2 * CHUNK + 4, true);
        assert_eq!(whole.iter().map(|r| r.1).sum::<u64>(), 2 * CHUNK + 4);
    }
}
