//! The soak: many allocate/upload/read-back/free cycles on one context, random but seeded,
//! across every placement the adapter serves and sizes from 4 KiB to 64 MiB, checking every byte
//! read back, and afterwards that placed buffers, heap usage and the process's resident memory
//! are back where they started.
//!
//! Each cycle places a buffer, writes it through the mapped or the staging path (both when the
//! memory is host-visible), reads it back whole (and sometimes a slice of it) and keeps it in a
//! small pool of live buffers, freeing a random older one when the pool is full, so that the
//! sub-allocator sees interleaved lifetimes, not just alloc-free pairs.
//!
//! The start figures are taken after a warm-up that touches every placement and both upload
//! paths once, so that the staging rings and the sub-allocator's first block, which live as long
//! as the context, count as the start rather than as a leak.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use strata::placement::{UploadPath, choose_memory_type};
use strata::{Context, Error, PlacedBuffer, Placement, Usage};

/// Resident memory may end at most `pool × max_bytes` above its start (256 MiB by default):
/// glibc keeps freed memory for reuse, and lavapipe's device memory is process memory, so up to
/// one pool's worth of buffers may stay resident after they are freed.
pub fn rss_tolerance(config: &SoakConfig) -> u64 {
    (config.pool.max(1) as u64).saturating_mul(config.max_bytes)
}

/// Resident memory may grow at most one largest buffer (`max_bytes`, 64 MiB by default) over
/// the second half of the cycles. By then the allocators have reached their working size (on
/// lavapipe their fragmentation still moves RSS by about 20 MiB either way), so steady growth
/// there is a leak: at the default sizes this catches a leak of 256 KiB per cycle at 500 cycles
/// and of 13 KiB per cycle at 10,000. (Leaked placed buffers are caught exactly, by the live
/// allocation count.)
pub fn rss_second_half_tolerance(config: &SoakConfig) -> u64 {
    config.max_bytes
}

/// Heap usage (`VK_EXT_memory_budget`) may end this much above its start: one 64 MiB block of
/// the sub-allocator, which keeps one empty block per memory type.
pub const HEAP_TOLERANCE: u64 = 64 << 20;

/// What to soak.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// Measured cycles (after the warm-up).
    pub cycles: u64,
    /// Seed of every random choice.
    pub seed: u64,
    /// Smallest buffer in bytes.
    pub min_bytes: u64,
    /// Largest buffer in bytes.
    pub max_bytes: u64,
    /// Buffers kept alive at once.
    pub pool: usize,
}

impl Default for SoakConfig {
    fn default() -> Self {
        Self {
            cycles: 10_000,
            seed: 1,
            min_bytes: 4 << 10,
            max_bytes: 64 << 20,
            pool: 4,
        }
    }
}

/// Live placed buffers and their bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Live {
    /// Buffers.
    pub buffers: u64,
    /// Bytes.
    pub bytes: u64,
}

/// The figures taken before and after the measured cycles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// Placed buffers alive (`VulkanDevice::live_allocations`).
    pub live: Live,
    /// `heapUsage` per heap, when the driver reports it.
    pub heap_usage: Option<Vec<u64>>,
    /// Resident set size in bytes (Linux).
    pub rss: Option<u64>,
}

/// Whether each check passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Checks {
    /// Every byte read back was the byte written.
    pub data: bool,
    /// Live placed buffers back at their start.
    pub live_allocations: bool,
    /// Heap usage back within [`HEAP_TOLERANCE`] (true when unreported).
    pub heap_usage: bool,
    /// Resident memory back within [`rss_tolerance`] of the start, and within
    /// [`rss_second_half_tolerance`] of the midpoint (true when unreadable).
    pub rss: bool,
}

impl Checks {
    /// Every check passed.
    pub fn all(&self) -> bool {
        self.data && self.live_allocations && self.heap_usage && self.rss
    }
}

/// What a soak did.
#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    /// Adapter name.
    pub adapter: String,
    /// Driver and its version.
    pub driver: String,
    /// The seed.
    pub seed: u64,
    /// Measured cycles run.
    pub cycles: u64,
    /// Warm-up cycles run before the start figures.
    pub warmup_cycles: u64,
    /// Wall-clock seconds of the measured cycles.
    pub seconds: f64,
    /// The placements cycled through.
    pub placements: Vec<String>,
    /// Smallest and largest buffer asked for.
    pub min_bytes: u64,
    /// Largest buffer asked for.
    pub max_bytes: u64,
    /// Uploads through a mapping.
    pub mapped_uploads: u64,
    /// Uploads through the staging ring.
    pub staging_uploads: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// Bytes read back and compared.
    pub bytes_read: u64,
    /// Read-backs that differed from what was written.
    pub data_mismatches: u64,
    /// Most placed buffers alive at once.
    pub peak_live_buffers: u64,
    /// Figures after the warm-up.
    pub start: Snapshot,
    /// Figures after half of the measured cycles (every buffer dropped, the GPU idle).
    pub middle: Snapshot,
    /// Figures after the last cycle, every buffer dropped and the GPU idle.
    pub end: Snapshot,
    /// Peak resident set size of the process (Linux).
    pub rss_peak: Option<u64>,
    /// `(cycle, RSS)` sampled 20 times through the measured cycles (Linux).
    pub rss_samples: Vec<(u64, u64)>,
    /// `end.rss - start.rss` (negative when it shrank).
    pub rss_growth: Option<i64>,
    /// `end.rss - middle.rss`: growth over the second half.
    pub rss_growth_second_half: Option<i64>,
    /// The RSS tolerance applied to `rss_growth`.
    pub rss_tolerance: u64,
    /// The RSS tolerance applied to `rss_growth_second_half`.
    pub rss_second_half_tolerance: u64,
    /// The heap-usage tolerance applied.
    pub heap_tolerance: u64,
    /// The checks.
    pub checks: Checks,
}

/// The placements `ctx` serves for placed storage buffers: the named ones, `auto`, and every
/// `type=N` the buffers may use. Two names for one memory type are both kept: they are
/// different requests.
pub fn served_placements(ctx: &Context) -> Result<Vec<Placement>, Error> {
    let vk = ctx.vulkan("the soak")?;
    let table = vk.memory_table();
    let bits = vk.storage_type_bits();
    let mut candidates = Placement::NAMED.to_vec();
    candidates.push(Placement::Auto(Usage::Weights));
    candidates.extend((0..table.types.len() as u32).map(Placement::Type));
    Ok(candidates
        .into_iter()
        .filter(|&p| choose_memory_type(&table, p, bits).is_ok())
        .collect())
}

/// Figures now, after waiting for the GPU so that dropped buffers are released.
fn snapshot(ctx: &Context) -> Result<Snapshot, Error> {
    ctx.wait_idle()?;
    let vk = ctx.vulkan("the soak")?;
    let (buffers, bytes) = vk.live_allocations();
    let table = vk.memory_table();
    Ok(Snapshot {
        live: Live { buffers, bytes },
        heap_usage: table
            .has_budget()
            .then(|| table.heaps.iter().map(|h| h.usage.unwrap_or(0)).collect()),
        rss: crate::rss::current(),
    })
}

/// Fills `out` with bytes that depend on `seed` (SplitMix64, 8 bytes at a time).
fn fill(out: &mut [u8], seed: u64) {
    let mut state = seed;
    for chunk in out.chunks_mut(8) {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
    }
}

/// The soak's running state.
struct Soak<'a> {
    ctx: &'a Context,
    config: &'a SoakConfig,
    placements: Vec<Placement>,
    rng: StdRng,
    data: Vec<u8>,
    pool: Vec<PlacedBuffer>,
    report: SoakReport,
}

impl Soak<'_> {
    /// A size between the bounds, uniform in its logarithm; one in four is not a multiple of 4.
    fn random_size(&mut self) -> u64 {
        let (lo, hi) = (self.config.min_bytes as f64, self.config.max_bytes as f64);
        let size = (lo.ln() + self.rng.random::<f64>() * (hi.ln() - lo.ln())).exp() as u64;
        let size = size.clamp(self.config.min_bytes, self.config.max_bytes);
        if self.rng.random_bool(0.25) {
            size.saturating_sub(self.rng.random_range(1..4)).max(1)
        } else {
            size / 4 * 4
        }
    }

    /// One cycle: place, write, read back and compare, keep; free one when the pool is full.
    fn cycle(
        &mut self,
        placement: Placement,
        size: u64,
        path: Option<UploadPath>,
    ) -> Result<(), Error> {
        let buffer = self.ctx.place(size, placement)?;
        let path = match path {
            Some(path) => path,
            None if buffer.upload_path() == UploadPath::Mapped && self.rng.random_bool(0.5) => {
                UploadPath::Staging
            }
            None => buffer.upload_path(),
        };
        let len = size as usize;
        fill(&mut self.data[..len], self.rng.random());
        self.ctx
            .write_placed_with(&buffer, 0, &self.data[..len], path)?;
        match path {
            UploadPath::Mapped => self.report.mapped_uploads += 1,
            UploadPath::Staging => self.report.staging_uploads += 1,
        }
        self.report.bytes_written += size;

        let whole = self.ctx.read_placed(&buffer, 0, size)?;
        self.report.bytes_read += size;
        if whole != self.data[..len] {
            self.report.data_mismatches += 1;
            eprintln!("MISMATCH: {size} bytes in {placement} written through {path:?}");
        }
        if size >= 8 && self.rng.random_bool(0.25) {
            let offset = self.rng.random_range(0..size / 4) * 4;
            let n = self.rng.random_range(1..=size - offset);
            let slice = self.ctx.read_placed(&buffer, offset, n)?;
            self.report.bytes_read += n;
            if slice != self.data[offset as usize..(offset + n) as usize] {
                self.report.data_mismatches += 1;
                eprintln!("MISMATCH: bytes {offset}..+{n} of {size} in {placement}");
            }
        }

        self.pool.push(buffer);
        let live = self.ctx.vulkan("the soak")?.live_allocations().0;
        self.report.peak_live_buffers = self.report.peak_live_buffers.max(live);
        if self.pool.len() > self.config.pool {
            let victim = self.rng.random_range(0..self.pool.len());
            drop(self.pool.swap_remove(victim));
        }
        Ok(())
    }

    fn random_cycle(&mut self) -> Result<(), Error> {
        let placement = self.placements[self.rng.random_range(0..self.placements.len())];
        let size = self.random_size();
        self.cycle(placement, size, None)
    }
}

/// Runs the soak on `ctx`. A Strata error stops it and is returned; data mismatches and figures
/// that do not come back are in the report's [`Checks`].
pub fn soak(ctx: &Context, config: &SoakConfig) -> Result<SoakReport, Error> {
    if config.min_bytes == 0 || config.min_bytes > config.max_bytes {
        return Err(Error::InvalidArgument(format!(
            "soak sizes {}..={} bytes: need 0 < min <= max",
            config.min_bytes, config.max_bytes
        )));
    }
    let placements = served_placements(ctx)?;
    let info = ctx.adapter_info();
    let empty = Snapshot {
        live: Live {
            buffers: 0,
            bytes: 0,
        },
        heap_usage: None,
        rss: None,
    };
    let max_len = usize::try_from(config.max_bytes)
        .map_err(|_| Error::InvalidArgument("max_bytes does not fit in memory".into()))?;
    let mut soak = Soak {
        ctx,
        config,
        placements: placements.clone(),
        rng: StdRng::seed_from_u64(config.seed),
        data: vec![0; max_len],
        pool: Vec::new(),
        report: SoakReport {
            adapter: info.name.clone(),
            driver: format!("{} {}", info.driver, info.driver_info)
                .trim()
                .to_string(),
            seed: config.seed,
            cycles: 0,
            warmup_cycles: 0,
            seconds: 0.0,
            placements: placements.iter().map(Placement::to_string).collect(),
            min_bytes: config.min_bytes,
            max_bytes: config.max_bytes,
            mapped_uploads: 0,
            staging_uploads: 0,
            bytes_written: 0,
            bytes_read: 0,
            data_mismatches: 0,
            peak_live_buffers: 0,
            start: empty.clone(),
            middle: empty.clone(),
            end: empty,
            rss_peak: None,
            rss_samples: Vec::new(),
            rss_growth: None,
            rss_growth_second_half: None,
            rss_tolerance: rss_tolerance(config),
            rss_second_half_tolerance: rss_second_half_tolerance(config),
            heap_tolerance: HEAP_TOLERANCE,
            checks: Checks {
                data: true,
                live_allocations: true,
                heap_usage: true,
                rss: true,
            },
        },
    };

    // Warm-up: every placement through every path it has, at the largest size, then a pool's
    // worth of random cycles so that the pool's high-water mark is reached once.
    for &placement in &placements {
        for path in [UploadPath::Staging, UploadPath::Mapped] {
            let mappable =
                choose_memory_type(&ctx.vulkan("the soak")?.memory_table(), placement, u32::MAX)
                    .is_ok_and(|c| c.flags.contains(strata::table::MemoryFlags::HOST_VISIBLE));
            if path == UploadPath::Mapped && !mappable {
                continue;
            }
            soak.cycle(placement, config.max_bytes, Some(path))?;
            soak.report.warmup_cycles += 1;
        }
    }
    for _ in 0..config.pool * 2 {
        soak.random_cycle()?;
        soak.report.warmup_cycles += 1;
    }
    soak.pool.clear();
    soak.report.start = snapshot(ctx)?;

    let started = std::time::Instant::now();
    for i in 0..config.cycles {
        soak.random_cycle()?;
        soak.report.cycles += 1;
        if i + 1 == config.cycles / 2 {
            soak.pool.clear();
            soak.report.middle = snapshot(ctx)?;
        }
        if i % 64 == 63 {
            ctx.wait_idle()?;
        }
        if (i + 1) % config.cycles.div_ceil(20).max(1) == 0 {
            if let Some(rss) = crate::rss::current() {
                soak.report.rss_samples.push((i + 1, rss));
            }
        }
    }
    soak.report.seconds = started.elapsed().as_secs_f64();
    soak.pool.clear();
    let end = snapshot(ctx)?;
    let mut report = soak.report;
    report.end = end;
    report.rss_peak = crate::rss::peak();
    let growth = |from: Option<u64>, to: Option<u64>| Some(to? as i64 - from? as i64);
    report.rss_growth = growth(report.start.rss, report.end.rss);
    report.rss_growth_second_half = if config.cycles >= 2 {
        growth(report.middle.rss, report.end.rss)
    } else {
        None
    };
    report.checks = Checks {
        data: report.data_mismatches == 0,
        live_allocations: report.end.live == report.start.live,
        heap_usage: match (&report.start.heap_usage, &report.end.heap_usage) {
            (Some(s), Some(e)) => s.iter().zip(e).all(|(&s, &e)| e <= s + HEAP_TOLERANCE),
            _ => true,
        },
        rss: report
            .rss_growth
            .is_none_or(|g| g <= report.rss_tolerance as i64)
            && report
                .rss_growth_second_half
                .is_none_or(|g| g <= report.rss_second_half_tolerance as i64),
    };
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_depends_on_the_seed_and_covers_odd_lengths() {
        let (mut a, mut b) = (vec![0u8; 13], vec![0u8; 13]);
        fill(&mut a, 1);
        fill(&mut b, 2);
        assert_ne!(a, b);
        assert!(a.iter().any(|&x| x != 0));
    }
}

/// What filling a heap did.
#[derive(Debug, Clone, Serialize)]
pub struct FillReport {
    /// Adapter name.
    pub adapter: String,
    /// The placement filled.
    pub placement: String,
    /// Its heap.
    pub heap: u32,
    /// The heap's size.
    pub heap_size: u64,
    /// Whether the device reports a budget for it (`VK_EXT_memory_budget`).
    pub heap_budget: Option<u64>,
    /// Bytes per buffer.
    pub chunk_bytes: u64,
    /// Buffers placed before the refusal.
    pub placed: u64,
    /// The refusal, as Strata reported it (`None`: the device never refused within the bound).
    pub refusal: Option<String>,
    /// The refusal is `Error::OutOfMemory`.
    pub refusal_is_out_of_memory: bool,
    /// A second request of the same size while full was refused the same way.
    pub refused_again: bool,
    /// A plain wgpu buffer of the same size while full: `ok` or Strata's error.
    pub wgpu_buffer_while_full: String,
    /// After freeing everything, a buffer of the same size was placed, written and read back.
    pub works_after_release: bool,
    /// Live placed buffers before and after.
    pub live_start: Live,
    /// Live placed buffers at the end.
    pub live_end: Live,
}

impl FillReport {
    /// The device refused with a typed out-of-memory error, worked again after the release,
    /// and every buffer was released.
    pub fn passed(&self) -> bool {
        self.refusal_is_out_of_memory
            && self.refused_again
            && self.works_after_release
            && self.live_start == self.live_end
    }
}

/// Places `chunk` bytes at a time in `placement` until the device refuses (at most enough
/// chunks for the heap's size twice over, since some drivers overcommit), then checks that the
/// refusal is a typed [`Error::OutOfMemory`], that a second request is refused the same way,
/// that after dropping everything a buffer of the same size is placed, written and read back,
/// and that no placed buffer is left.
///
/// Only operations that allocate are tried while the heap is full: on lavapipe device memory
/// is process memory, and when the fill is made by limiting the process's address space the
/// Vulkan layers themselves run out of host memory too (see `RELIABILITY.md`).
pub fn fill_heap(ctx: &Context, placement: Placement, chunk: u64) -> Result<FillReport, Error> {
    let vk = ctx.vulkan("filling a heap")?;
    let table = vk.memory_table();
    let choice = choose_memory_type(&table, placement, vk.storage_type_bits())?;
    let heap = table
        .heaps
        .get(choice.heap as usize)
        .cloned()
        .ok_or_else(|| Error::InvalidArgument(format!("heap {} is missing", choice.heap)))?;
    let live = |ctx: &Context| -> Result<Live, Error> {
        ctx.wait_idle()?;
        let (buffers, bytes) = ctx.vulkan("filling a heap")?.live_allocations();
        Ok(Live { buffers, bytes })
    };
    let live_start = live(ctx)?;
    let bound = (heap.size / chunk.max(1))
        .saturating_mul(2)
        .saturating_add(2);
    let mut held = Vec::new();
    let mut refusal = None;
    while (held.len() as u64) < bound {
        match ctx.place(chunk, placement) {
            Ok(buffer) => held.push(buffer),
            Err(e) => {
                refusal = Some(e);
                break;
            }
        }
    }
    let refusal_is_out_of_memory = matches!(refusal, Some(Error::OutOfMemory(_)));
    let refused_again =
        refusal.is_some() && matches!(ctx.place(chunk, placement), Err(Error::OutOfMemory(_)));
    let wgpu_buffer_while_full = match ctx.create_storage_buffer(chunk, "fill: plain wgpu buffer") {
        Ok(_) => "ok".to_string(),
        Err(e) => e.to_string(),
    };
    let placed = held.len() as u64;
    drop(held);
    ctx.wait_idle()?;

    let works_after_release = {
        let buffer = ctx.place(chunk, placement)?;
        let mut pattern = vec![0u8; 1 << 20];
        fill(&mut pattern, chunk);
        ctx.write_placed(&buffer, 0, &pattern)?;
        ctx.read_placed(&buffer, 0, pattern.len() as u64)? == pattern
    };
    Ok(FillReport {
        adapter: ctx.adapter_info().name,
        placement: placement.to_string(),
        heap: choice.heap,
        heap_size: heap.size,
        heap_budget: heap.budget,
        chunk_bytes: chunk,
        placed,
        refusal: refusal.map(|e| e.to_string()),
        refusal_is_out_of_memory,
        refused_again,
        wgpu_buffer_while_full,
        works_after_release,
        live_start,
        live_end: live(ctx)?,
    })
}
