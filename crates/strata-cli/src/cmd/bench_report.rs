//! The benchmark's report: the JSON document, the table printed to the terminal, and CSV.

use serde::Serialize;
use strata::Placement;
use strata::bench::{BenchOp, BenchRow};

/// The JSON document.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Adapter name.
    pub adapter: String,
    /// Driver.
    pub driver: String,
    /// Buffer size.
    pub size: u64,
    /// Element type.
    pub dtype: String,
    /// Element type of the gemv weights when it differs from `dtype`.
    pub gemv_dtype: Option<String>,
    /// Timed runs per measurement.
    pub iters: u32,
    /// Every measurement.
    pub rows: Vec<BenchRow>,
    /// The decode op split across devices (`--devices`), per placement.
    pub split_decode: Vec<SplitDecodeRow>,
}

/// The decode op split across devices, on one placement.
#[derive(Debug, Serialize)]
pub struct SplitDecodeRow {
    /// Where every device's weights were placed.
    pub placement: Placement,
    /// The figures, or `None` when a device lacks the placement (see `note`).
    pub figures: Option<strata::bench::SplitDecodeFigures>,
    /// Why there are no figures.
    pub note: Option<String>,
}

/// The figure a row is judged by: GB/s, or GFLOP/s for gemm.
pub(crate) fn row_figure(row: &BenchRow) -> Option<f64> {
    if row.op == BenchOp::Gemm {
        row.gflops
    } else {
        row.gb_per_s
    }
}

pub(crate) fn op_unit(op: BenchOp) -> &'static str {
    if op == BenchOp::Gemm {
        "GFLOP/s"
    } else {
        "GB/s"
    }
}

/// The `vram` figure of the same op (and upload path) that a row is compared with.
fn vram_figure(report: &Report, row: &BenchRow) -> Option<f64> {
    report
        .rows
        .iter()
        .find(|r| {
            r.op == row.op && r.placement == Placement::Vram && r.path == row.path && r.available
        })
        .and_then(row_figure)
}

pub(crate) fn print_table(report: &Report) {
    println!("{} — {}", report.adapter, report.driver);
    let (main, special): (Vec<&BenchRow>, Vec<&BenchRow>) = report
        .rows
        .iter()
        .partition(|r| !matches!(r.op, BenchOp::Decode | BenchOp::Replay) || !r.available);
    println!(
        "{:<9} {:<12} {:<8} {:>11} {:>10} {:>7} {:>8}  {:>4} {:>4}  flags",
        "op", "placement", "path", "median", "rate", "spread", "vs vram", "type", "heap"
    );
    let mut unavailable: Vec<(Placement, String)> = Vec::new();
    for row in main {
        if !row.available {
            let note = row.note.as_deref().unwrap_or("");
            let first_line = note.lines().next().unwrap_or("").to_string();
            if !unavailable.iter().any(|(p, _)| *p == row.placement) {
                unavailable.push((row.placement, first_line));
            }
            continue;
        }
        let path = row.path.map_or("", |p| match p {
            strata::placement::UploadPath::Mapped => "mapped",
            strata::placement::UploadPath::Staging => "staging",
        });
        let median = row
            .seconds
            .map_or(String::new(), |s| format!("{:.3} ms", s.median * 1e3));
        let spread = row
            .seconds
            .map_or(String::new(), |s| format!("{:.1}%", s.spread() * 100.0));
        let rate = row_figure(row).map_or(String::new(), |f| format!("{f:.1}"));
        let ratio = match (row_figure(row), vram_figure(report, row)) {
            (Some(f), Some(v)) if v > 0.0 => format!("{:.2}x", f / v),
            _ => String::new(),
        };
        println!(
            "{:<9} {:<12} {:<8} {:>11} {:>10} {:>7} {:>8}  {:>4} {:>4}  {}",
            row.op.to_string(),
            row.placement.to_string(),
            path,
            median,
            rate,
            spread,
            ratio,
            row.memory_type.map_or(String::new(), |t| t.to_string()),
            row.heap.map_or(String::new(), |h| h.to_string()),
            row.flags.map_or(String::new(), |f| f.to_string()),
        );
    }
    for row in report
        .rows
        .iter()
        .filter(|r| r.op == BenchOp::Gemv && r.available)
    {
        if let (Some(rate), Some(kernel)) = (row.weight_gb_per_s, &row.kernel) {
            println!(
                "gemv {}: weights at {rate:.1} GB/s, kernel {kernel}",
                row.placement
            );
        }
    }
    for (placement, why) in unavailable {
        println!("{placement}: not available — {why}");
    }
    println!(
        "rate: GB/s (gemm: GFLOP/s); upload/download timed on the wall clock, read/gemv/gemm on GPU timestamps when the device has them"
    );
    print_decode(&special);
    print_split_decode(report);
    print_replay(&special);
}

/// The decode op across devices, against the same op on the first device alone.
fn print_split_decode(report: &Report) {
    for row in &report.split_decode {
        let Some(f) = &row.figures else {
            println!(
                "decode across devices, {}: not available — {}",
                row.placement,
                row.note
                    .as_deref()
                    .unwrap_or("")
                    .lines()
                    .next()
                    .unwrap_or("")
            );
            continue;
        };
        let alone = report
            .rows
            .iter()
            .find(|r| r.op == BenchOp::Decode && r.placement == row.placement)
            .and_then(|r| r.decode.as_ref());
        let versus = alone.map_or(String::new(), |a| {
            format!(
                ", {:.2}x the time of one device alone ({:.3} ms)",
                f.wall_ms_per_token / a.wall_ms_per_token,
                a.wall_ms_per_token
            )
        });
        let kernels: Vec<String> = f
            .kernel_ms_per_device
            .iter()
            .map(|k| k.map_or("—".into(), |k| format!("{k:.3}")))
            .collect();
        let hops = f
            .hop_ms_per_token
            .map_or("—".into(), |h| format!("{h:.3} ms"));
        println!(
            "decode across {} devices ({}; layers {:?}), {}: {:.1} tokens/s, {:.3} ms a token \
             ({:.1} GB/s of weights){versus}; GPU ms per device {}, hops and waits {hops}",
            f.devices.len(),
            f.devices.join(", "),
            f.layers,
            row.placement,
            f.tokens_per_s,
            f.wall_ms_per_token,
            f.wall_gbps,
            kernels.join(" + ")
        );
    }
}

/// The `decode` rows: tokens per second and time per token, wall and kernel.
fn print_decode(rows: &[&BenchRow]) {
    let decoded: Vec<_> = rows
        .iter()
        .filter_map(|r| r.decode.as_ref().map(|d| (r, d)))
        .collect();
    let Some((_, first)) = decoded.first() else {
        return;
    };
    println!(
        "decode: {} ({:.2} GB of weights, {} ops a token), median of {} tokens",
        first.shape,
        first.weight_bytes as f64 / 1e9,
        first.ops,
        first.tokens
    );
    println!(
        "{:<12} {:>9} {:>14} {:>16} {:>10} {:>12} {:>9}  {:>4} {:>4}",
        "placement",
        "tokens/s",
        "wall ms/token",
        "kernel ms/token",
        "wall GB/s",
        "kernel GB/s",
        "µs/op cpu",
        "type",
        "heap"
    );
    let opt =
        |v: Option<f64>, digits: usize| v.map_or("—".to_string(), |v| format!("{v:.digits$}"));
    for (row, d) in &decoded {
        println!(
            "{:<12} {:>9.1} {:>14.3} {:>16} {:>10.1} {:>12} {:>9.2}  {:>4} {:>4}",
            row.placement.to_string(),
            d.tokens_per_s,
            d.wall_ms_per_token,
            opt(d.kernel_ms_per_token, 3),
            d.wall_gbps,
            opt(d.kernel_gbps, 1),
            d.encode_us_per_op,
            row.memory_type.map_or(String::new(), |t| t.to_string()),
            row.heap.map_or(String::new(), |h| h.to_string()),
        );
    }
}

/// The `replay` row: CPU cost per op of a replayed recording.
fn print_replay(rows: &[&BenchRow]) {
    for r in rows.iter().filter_map(|r| r.replay.as_ref()) {
        let gpu = r
            .gpu_us_per_op
            .map_or("—".to_string(), |g| format!("{g:.2} µs"));
        println!(
            "replay: {} tiny dispatches a submission, median of {}: {:.2} µs of CPU per op to \
             encode and submit, {:.2} µs wall per op, {gpu} GPU per op",
            r.ops, r.submissions, r.encode_us_per_op, r.wall_us_per_op
        );
    }
}

pub(crate) fn to_csv(report: &Report) -> String {
    let mut out = String::from(
        "adapter,op,placement,path,available,memory_type,heap,flags,bytes,median_s,min_s,max_s,gb_per_s,gflops,clock,kernel,note\n",
    );
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    for r in &report.rows {
        let path = r
            .path
            .map(|p| format!("{p:?}").to_lowercase())
            .unwrap_or_default();
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v}"));
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            quote(&report.adapter),
            r.op,
            r.placement,
            path,
            r.available,
            r.memory_type.map_or(String::new(), |t| t.to_string()),
            r.heap.map_or(String::new(), |h| h.to_string()),
            quote(&r.flags.map_or(String::new(), |f| f.to_string())),
            r.bytes,
            opt(r.seconds.map(|s| s.median)),
            opt(r.seconds.map(|s| s.min)),
            opt(r.seconds.map(|s| s.max)),
            opt(r.gb_per_s),
            opt(r.gflops),
            r.clock.map(|c| format!("{c:?}")).unwrap_or_default(),
            quote(r.kernel.as_deref().unwrap_or("")),
            quote(r.note.as_deref().unwrap_or("").lines().next().unwrap_or("")),
        ));
    }
    out
}
