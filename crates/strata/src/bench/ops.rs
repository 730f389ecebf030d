//! The measurements behind each benchmark op.

use super::{BenchConfig, BenchOp, BenchRow, Samples, measure_decode, measure_replay_cost};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::kernels::{GemmSpec, GemvSpec, Layout, RunOptions};
use crate::placement::{PlaceOptions, PlacedBuffer, Placement, UploadPath};
use crate::recording::{Clock, Timing};
use crate::reference;
use std::time::Instant;

/// Measures one op on one placement; a placement the device lacks gives a "not available" row.
pub(super) fn measure(
    ctx: &Context,
    config: &BenchConfig,
    op: BenchOp,
    placement: Placement,
) -> Result<Vec<BenchRow>> {
    let result = match op {
        BenchOp::Upload => upload(ctx, config, placement),
        BenchOp::Download => download(ctx, config, placement).map(|r| vec![r]),
        BenchOp::Read => read(ctx, config, placement).map(|r| vec![r]),
        BenchOp::Gemv => gemv(ctx, config, placement).map(|r| vec![r]),
        BenchOp::Gemm => gemm(ctx, config, placement).map(|r| vec![r]),
        BenchOp::Decode => decode(ctx, config, placement).map(|r| vec![r]),
        BenchOp::Replay => replay(ctx, config, placement).map(|r| vec![r]),
    };
    match result {
        Ok(rows) => Ok(rows),
        Err(
            e @ (Error::Placement(_)
            | Error::NeedsVulkan { .. }
            | Error::OutOfMemory(_)
            | Error::TooLarge { .. }),
        ) => Ok(vec![BenchRow::unavailable(op, placement, e.to_string())]),
        Err(e) => Err(e),
    }
}

fn row(op: BenchOp, buffer: &PlacedBuffer, bytes: u64, samples: Samples, clock: Clock) -> BenchRow {
    BenchRow {
        op,
        placement: buffer.placement(),
        path: None,
        available: true,
        note: None,
        memory_type: buffer.memory_type(),
        heap: buffer.heap(),
        flags: buffer.flags(),
        bytes,
        gb_per_s: Some(bytes as f64 / samples.median / 1e9),
        seconds: Some(samples),
        clock: Some(clock),
        gflops: None,
        weight_gb_per_s: None,
        kernel: None,
        checked: true,
        decode: None,
        replay: None,
    }
}

/// Random bytes (not zeros: zeros can take faster paths).
fn random_bytes(len: u64, seed: u64) -> Vec<u8> {
    let words = reference::random_f32(len.div_ceil(4) as usize, seed);
    let mut bytes: Vec<u8> = bytemuck::cast_slice(&words).to_vec();
    bytes.truncate(len as usize);
    bytes
}

/// Times `f` once as a warm-up, then `iters` times on the wall clock.
fn wall_times(iters: u32, mut f: impl FnMut() -> Result<()>) -> Result<Samples> {
    f()?;
    let mut seconds = Vec::with_capacity(iters as usize);
    for _ in 0..iters {
        let start = Instant::now();
        f()?;
        seconds.push(start.elapsed().as_secs_f64());
    }
    Samples::of(seconds).ok_or_else(|| Error::InvalidArgument("no timed runs".into()))
}

/// How long kernels run back to back before timing starts. A GPU that idled while the CPU
/// prepared data runs at low clocks; short kernels timed straight away then measure the clock
/// ramp, not the memory (seen on an H200: the same GEMV 2.5x slower right after other ops).
pub const WARM_UP: std::time::Duration = std::time::Duration::from_secs(1);

/// Timed samples of a kernel, as [`time_kernel`] takes them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KernelTimes {
    /// Seconds per run, over the timed samples.
    pub samples: Samples,
    /// The clock the samples were read from.
    pub clock: Clock,
    /// Back-to-back runs in each sample.
    pub repeats: u32,
}

/// Times a kernel the way every Strata measurement does. `f(repeats)` runs the kernel
/// `repeats` times back to back in one pass and returns the time per run. One run calibrates
/// [`repeats_for`]; samples of that many runs are taken for [`WARM_UP`] untimed (at least one),
/// then `iters` (at least one) timed.
pub fn time_kernel(iters: u32, mut f: impl FnMut(u32) -> Result<Timing>) -> Result<KernelTimes> {
    let repeats = repeats_for(f(1)?.seconds);
    let start = Instant::now();
    let mut clock = f(repeats)?.clock;
    while start.elapsed() < WARM_UP {
        f(repeats)?;
    }
    let mut seconds = Vec::with_capacity(iters.max(1) as usize);
    for _ in 0..iters.max(1) {
        let t = f(repeats)?;
        clock = t.clock;
        seconds.push(t.seconds);
    }
    let samples =
        Samples::of(seconds).ok_or_else(|| Error::InvalidArgument("no timed runs".into()))?;
    Ok(KernelTimes {
        samples,
        clock,
        repeats,
    })
}

fn kernel_times(iters: u32, f: impl FnMut(u32) -> Result<Timing>) -> Result<(Samples, Clock)> {
    time_kernel(iters, f).map(|t| (t.samples, t.clock))
}

/// GPU time one timed kernel sample aims at.
pub const SAMPLE_SECONDS: f64 = 2e-3;

/// Runs per timed kernel sample for a kernel that takes `seconds_per_run`: enough back-to-back
/// runs in one pass for about [`SAMPLE_SECONDS`] of GPU work (1 to 1000), so that every sample
/// sees the GPU at its working clocks and a submission's fixed cost is spread over many runs,
/// as a CUDA timing loop does. A single short dispatch between CPU round trips leaves the GPU
/// mostly idle, and a GPU that idles lowers its clocks.
pub fn repeats_for(seconds_per_run: f64) -> u32 {
    (SAMPLE_SECONDS / seconds_per_run.max(1e-9))
        .ceil()
        .clamp(1.0, 1000.0) as u32
}

fn upload(ctx: &Context, config: &BenchConfig, placement: Placement) -> Result<Vec<BenchRow>> {
    let buffer = ctx.place(config.size, placement)?;
    let data = random_bytes(config.size, config.seed);
    let mut paths = vec![UploadPath::Staging];
    if buffer.upload_path() == UploadPath::Mapped {
        paths.insert(0, UploadPath::Mapped);
    }
    let mut rows = Vec::new();
    for path in paths {
        // Checked first: the bytes must arrive intact by this path.
        ctx.write_placed_with(&buffer, 0, &data, path)?;
        check_sample(ctx, &buffer, &data)?;
        let samples = wall_times(config.iters, || {
            ctx.write_placed_with(&buffer, 0, &data, path)?;
            ctx.wait_idle()
        })?;
        let mut r = row(
            BenchOp::Upload,
            &buffer,
            config.size,
            samples,
            Clock::WallClock,
        );
        r.path = Some(path);
        rows.push(r);
    }
    Ok(rows)
}

/// Compares the first, middle and last 64 KiB of `buffer` with `data`.
fn check_sample(ctx: &Context, buffer: &PlacedBuffer, data: &[u8]) -> Result<()> {
    let len = data.len() as u64;
    let window = (64u64 << 10).min(len) / 4 * 4;
    for start in [0, (len / 2) / 4 * 4, (len - window) / 4 * 4] {
        let got = ctx.read_placed(buffer, start, window)?;
        if got != data[start as usize..(start + window) as usize] {
            return Err(Error::Gpu {
                during: format!("checking {} at offset {start}", buffer.placement()),
                message: "the bytes read back differ from the bytes written".into(),
            });
        }
    }
    Ok(())
}

fn download(ctx: &Context, config: &BenchConfig, placement: Placement) -> Result<BenchRow> {
    let buffer = ctx.place(config.size, placement)?;
    let data = random_bytes(config.size, config.seed ^ 0xD0);
    ctx.write_placed(&buffer, 0, &data)?;
    if ctx.read_placed(&buffer, 0, config.size)? != data {
        return Err(Error::Gpu {
            during: format!("checking the download from {placement}"),
            message: "the bytes read back differ from the bytes written".into(),
        });
    }
    // One destination for every run: the cost measured is the transfer, not page faults.
    let mut out = vec![0u8; config.size as usize];
    let samples = wall_times(config.iters, || ctx.read_placed_into(&buffer, 0, &mut out))?;
    Ok(row(
        BenchOp::Download,
        &buffer,
        config.size,
        samples,
        Clock::WallClock,
    ))
}

fn read(ctx: &Context, config: &BenchConfig, placement: Placement) -> Result<BenchRow> {
    let (tensor, _) = ctx.place_tensor(config.size / 16 * 16, 16, &PlaceOptions::new(placement))?;
    let values = reference::random_f32((tensor.bytes() / 4) as usize, config.seed ^ 0x5EAD);
    ctx.write_tensor(&tensor, bytemuck::cast_slice(&values))?;
    let expected: f64 = values.iter().map(|&v| f64::from(v)).sum();
    let (sum, _) = ctx.stream_sum(&tensor.operands())?;
    let tolerance = reference::CHAIN_TOLERANCE
        * values
            .iter()
            .map(|v| f64::from(v.abs()))
            .sum::<f64>()
            .max(1.0);
    if (sum - expected).abs() > tolerance {
        return Err(Error::Gpu {
            during: format!("checking the streaming read of {placement}"),
            message: format!("GPU sum {sum} differs from the CPU sum {expected}"),
        });
    }
    let (samples, clock) = kernel_times(config.iters, |repeats| {
        ctx.stream_sum_timed(&tensor.operands(), repeats)
            .map(|(_, t)| t)
    })?;
    let mut r = row(
        BenchOp::Read,
        tensor.first(),
        tensor.bytes(),
        samples,
        clock,
    );
    r.kernel = Some("stream_sum (vec4 loads, subgroup/shared reduction)".into());
    Ok(r)
}

fn gemv(ctx: &Context, config: &BenchConfig, placement: Placement) -> Result<BenchRow> {
    // Weights [rows, cols] of `config.size` bytes in the placement; x and y in ordinary buffers.
    let dtype = config.gemv_dtype.unwrap_or(config.dtype);
    // Whole blocks of every quantized type (256 divides both).
    let cols: u32 = match ctx.adapter_info().device_type {
        wgpu::DeviceType::Cpu => 1024,
        _ => 8192,
    };
    let row_bytes = dtype.row_bytes(cols);
    let rows = u32::try_from((config.size / row_bytes).max(1)).unwrap_or(u32::MAX);
    let spec = GemvSpec {
        rows,
        cols,
        batch: 1,
        dtype,
    };
    let elements = rows as usize * cols as usize;
    // The weights' bytes and the values the kernel must read from them.
    let (weights, values) = if dtype.is_quantized() {
        let blocks = elements / dtype.block_elements() as usize;
        let bytes = reference::quant::random_blocks(dtype, blocks, config.seed ^ 0x6E)?;
        let values = reference::quant::dequantize(dtype, &bytes)?;
        (bytes, values)
    } else {
        let values = reference::random_f32(elements, config.seed ^ 0x6E);
        (
            reference::encode(&values, dtype),
            reference::round_to(&values, dtype),
        )
    };
    // Against the values the kernel reads (rounded, or decoded exactly): only the f32 sums
    // differ.
    let tolerance = reference::KERNEL_TOLERANCE;
    let (tensor, _) = ctx.place_tensor(
        weights.len() as u64,
        row_bytes,
        &PlaceOptions::new(placement),
    )?;
    ctx.write_tensor(&tensor, &weights)?;
    let x = reference::random_f32(cols as usize, config.seed ^ 0x7E);
    let x_buf = ctx.upload(&x)?;
    let y_buf = ctx.upload(&vec![f32::NAN; rows as usize])?;
    let parts = tensor.operands();
    let first = ctx.gemv(&parts, &x_buf, &y_buf, spec)?;
    let y = ctx.read_back::<f32>(&y_buf, rows as usize)?;
    let expected = reference::gemv(&values, &x, rows as usize, cols as usize, 1);
    let cmp = reference::compare(&y, &expected);
    if !cmp.passes(tolerance) {
        return Err(Error::Gpu {
            during: format!("checking the gemv benchmark in {placement}"),
            message: format!(
                "relative error {:.2e} (tolerance {tolerance:.0e})",
                cmp.rel_error
            ),
        });
    }
    let (samples, clock) = kernel_times(config.iters, |repeats| {
        ctx.gemv_with(&parts, &x_buf, &y_buf, spec, RunOptions::repeated(repeats))
            .map(|r| r.timing)
    })?;
    let bytes = weights.len() as u64 + 4 * (u64::from(cols) + u64::from(rows));
    let mut r = row(BenchOp::Gemv, tensor.first(), bytes, samples, clock);
    r.gflops = Some(2.0 * f64::from(rows) * f64::from(cols) / samples.median / 1e9);
    r.kernel = Some(format!("{} ({rows}x{cols} {dtype})", first.variant));
    r.weight_gb_per_s = Some(weights.len() as f64 / samples.median / 1e9);
    Ok(r)
}

fn gemm(ctx: &Context, config: &BenchConfig, placement: Placement) -> Result<BenchRow> {
    // Square operands sized to the device's speed; A, B and C all in the placement.
    let dtype = config.dtype;
    let n: u32 = match ctx.adapter_info().device_type {
        wgpu::DeviceType::Cpu => 256,
        _ => 4096,
    };
    let elements = u64::from(n) * u64::from(n);
    let in_bytes = dtype.buffer_bytes(elements)?;
    let a = ctx.place(in_bytes, placement)?;
    let b = ctx.place(in_bytes, placement)?;
    let c = ctx.place(4 * elements, placement)?;
    let av = reference::round_to(
        &reference::random_f32(elements as usize, config.seed ^ 0xA),
        dtype,
    );
    let bv = reference::round_to(
        &reference::random_f32(elements as usize, config.seed ^ 0xB),
        dtype,
    );
    ctx.write_placed(&a, 0, &reference::encode(&av, dtype))?;
    ctx.write_placed(&b, 0, &reference::encode(&bv, dtype))?;
    let spec = GemmSpec {
        m: n,
        n,
        k: n,
        dtype,
        layout: Layout::NN,
    };
    let first = ctx.gemm(a.buffer(), b.buffer(), c.buffer(), spec)?;
    check_gemm_sample(ctx, &c, &av, &bv, n as usize, config.seed)?;
    let (samples, clock) = kernel_times(config.iters, |repeats| {
        let options = RunOptions::repeated(repeats);
        ctx.gemm_with(a.buffer(), b.buffer(), c.buffer(), spec, options)
            .map(|r| r.timing)
    })?;
    let mut r = row(
        BenchOp::Gemm,
        &a,
        2 * in_bytes + 4 * elements,
        samples,
        clock,
    );
    r.gflops = Some(2.0 * f64::from(n).powi(3) / samples.median / 1e9);
    r.gb_per_s = None;
    r.kernel = Some(format!("{} ({n}x{n}x{n} {dtype})", first.variant));
    Ok(r)
}

/// Checks 64 sampled elements of C = A·B against f64 dot products.
fn check_gemm_sample(
    ctx: &Context,
    c: &PlacedBuffer,
    a: &[f32],
    b: &[f32],
    n: usize,
    seed: u64,
) -> Result<()> {
    let out: Vec<f32> = bytemuck::pod_collect_to_vec(&ctx.read_placed(c, 0, c.bytes())?);
    let picks = reference::random_f32(128, seed ^ 0xC);
    let mut got = Vec::new();
    let mut want = Vec::new();
    for pair in picks.chunks(2) {
        let i = ((pair[0] + 1.0) / 2.0 * n as f32) as usize % n;
        let j = ((pair[1] + 1.0) / 2.0 * n as f32) as usize % n;
        want.push(
            (0..n)
                .map(|p| f64::from(a[i * n + p]) * f64::from(b[p * n + j]))
                .sum::<f64>(),
        );
        got.push(out[i * n + j]);
    }
    let cmp = reference::compare(&got, &want);
    if !cmp.passes(reference::KERNEL_TOLERANCE) {
        return Err(Error::Gpu {
            during: "checking the gemm benchmark".into(),
            message: format!("sampled relative error {:.2e}", cmp.rel_error),
        });
    }
    Ok(())
}

fn decode(ctx: &Context, config: &BenchConfig, placement: Placement) -> Result<BenchRow> {
    let figures = measure_decode(
        ctx,
        config.decode,
        placement,
        config.tokens,
        WARM_UP,
        config.seed,
    )?;
    let info = &figures.weights;
    let mut r = BenchRow::unavailable(BenchOp::Decode, placement, String::new());
    r.available = true;
    r.note = None;
    r.memory_type = info.memory_type;
    r.heap = info.heap;
    r.flags = info.flags;
    r.bytes = figures.weight_bytes;
    r.seconds = Some(figures.wall);
    r.clock = Some(Clock::WallClock);
    r.gb_per_s = Some(figures.wall_gbps);
    r.kernel = Some(figures.kernels.join(", "));
    r.checked = true;
    r.decode = Some(figures);
    Ok(r)
}

fn replay(ctx: &Context, config: &BenchConfig, placement: Placement) -> Result<BenchRow> {
    let figures = measure_replay_cost(ctx, config.replay_ops, 20)?;
    let mut r = BenchRow::unavailable(
        BenchOp::Replay,
        placement,
        format!(
            "{} tiny dispatches a submission; placement-independent",
            figures.ops
        ),
    );
    r.available = true;
    r.seconds = Some(figures.encode);
    r.clock = Some(Clock::WallClock);
    r.kernel = Some("increment (an application kernel)".into());
    r.checked = true;
    r.replay = Some(figures);
    Ok(r)
}
