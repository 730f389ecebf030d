//! The benchmark's bar chart: one panel per op, one bar per placement (and upload path).

use super::bench_report::{Report, op_unit, row_figure};
use plotters::prelude::*;
use std::path::Path;
use strata::bench::BenchOp;

/// Draws `report` to an SVG file.
pub fn draw(report: &Report, path: &Path) -> anyhow::Result<()> {
    let ops: Vec<BenchOp> = BenchOp::ALL
        .into_iter()
        .filter(|op| *op != BenchOp::Replay)
        .filter(|op| report.rows.iter().any(|r| r.op == *op && r.available))
        .collect();
    if ops.is_empty() {
        anyhow::bail!("nothing to plot: no op was measured");
    }
    let height = 260 * ops.len() as u32 + 60;
    let root = SVGBackend::new(path, (900, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!(
        "strata bench — {} ({} buffers, median of {})",
        report.adapter,
        strata::table::human_bytes(report.size),
        report.iters
    );
    let root = root.titled(&title, ("sans-serif", 20))?;
    let panels = root.split_evenly((ops.len(), 1));
    for (panel, op) in panels.iter().zip(&ops) {
        let bars: Vec<(String, f64)> = report
            .rows
            .iter()
            .filter(|r| r.op == *op && r.available)
            .filter_map(|r| {
                let label = match r.path {
                    Some(p) => format!("{} ({})", r.placement, format!("{p:?}").to_lowercase()),
                    None => r.placement.to_string(),
                };
                row_figure(r).map(|f| (label, f))
            })
            .collect();
        let max = bars.iter().map(|(_, v)| *v).fold(0.0, f64::max).max(1e-9) * 1.15;
        let labels: Vec<String> = bars.iter().map(|(l, _)| l.clone()).collect();
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("{op} ({})", op_unit(*op)), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(170)
            .build_cartesian_2d(0.0..max, (0..bars.len()).into_segmented())?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .x_desc(op_unit(*op))
            .draw()?;
        chart.draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
            let mut bar = Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(i)),
                    (*v, SegmentValue::Exact(i + 1)),
                ],
                Palette99::pick(i).filled(),
            );
            bar.set_margin(4, 4, 0, 0);
            bar
        }))?;
        chart.draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
            Text::new(
                format!("{v:.1}"),
                (*v, SegmentValue::CenterOf(i)),
                ("sans-serif", 13),
            )
        }))?;
    }
    root.present()?;
    Ok(())
}
