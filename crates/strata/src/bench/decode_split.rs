//! The decode workload across several devices: each device holds a contiguous range of the
//! layers and runs them as one replayed recording; the activation vector moves from device to
//! device through host memory (a read-back from one, a write into the next).
//!
//! Devices run one after another, as a layer split must (each needs the activation of the one
//! before it), so a token costs the sum of the devices' times plus the hops: the split buys
//! memory (a model larger than any one device) rather than speed.

use super::decode::{DecodeModel, DecodeShape};
use super::stats::Samples;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::placement::Placement;
use crate::reference;
use serde::Serialize;
use std::time::{Duration, Instant};

/// What the split decode workload measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SplitDecodeFigures {
    /// The whole model's shape.
    pub shape: DecodeShape,
    /// Layers on each device, in order.
    pub layers: Vec<u32>,
    /// Adapter name of each device.
    pub devices: Vec<String>,
    /// Tokens timed.
    pub tokens: usize,
    /// Tokens per second (from the median token).
    pub tokens_per_s: f64,
    /// Median wall time of a token, all devices and hops.
    pub wall_ms_per_token: f64,
    /// Median GPU time of each device's share of a token (where timestamps exist).
    pub kernel_ms_per_device: Vec<Option<f64>>,
    /// Median host time of a token outside the devices' GPU work (hops, submissions, waits).
    pub hop_ms_per_token: Option<f64>,
    /// Weight bytes of a token over the median wall time, GB/s.
    pub wall_gbps: f64,
    /// Relative error of the first token against an f64 CPU reference.
    pub rel_error: f64,
}

/// Layers per device: `layers` split in proportion to `weights` (contiguous, in order, each
/// device at least one layer while there are enough).
pub fn split_layer_counts(layers: u32, weights: &[f64]) -> Result<Vec<u32>> {
    if weights.is_empty() || weights.iter().any(|w| !w.is_finite() || *w <= 0.0) {
        return Err(Error::InvalidArgument(format!(
            "a split needs one positive weight per device, got {weights:?}"
        )));
    }
    if (layers as usize) < weights.len() {
        return Err(Error::Shape(format!(
            "{layers} layers cannot be split across {} devices",
            weights.len()
        )));
    }
    let sum: f64 = weights.iter().sum();
    let mut counts = Vec::with_capacity(weights.len());
    let mut assigned = 0u32;
    let mut cumulative = 0f64;
    for (i, w) in weights.iter().enumerate() {
        cumulative += w;
        let left_for_rest = (weights.len() - i - 1) as u32;
        let end = if left_for_rest == 0 {
            layers
        } else {
            ((f64::from(layers) * cumulative / sum).round() as u32)
                .clamp(assigned + 1, layers - left_for_rest)
        };
        counts.push(end - assigned);
        assigned = end;
    }
    Ok(counts)
}

/// Places `shape`'s layers across `contexts` (`layers[i]` on device i, weights in `placement`
/// on each), checks a token against the CPU, warms up for `warm_up`, and times `tokens` tokens.
/// On any error every device's buffers are released (they are dropped with the models).
pub fn measure_decode_across(
    contexts: &[&Context],
    shape: DecodeShape,
    layers: &[u32],
    placement: Placement,
    tokens: usize,
    warm_up: Duration,
    seed: u64,
) -> Result<SplitDecodeFigures> {
    if contexts.is_empty() || contexts.len() != layers.len() {
        return Err(Error::InvalidArgument(format!(
            "{} devices given layer counts for {}",
            contexts.len(),
            layers.len()
        )));
    }
    if layers.iter().sum::<u32>() != shape.layers {
        return Err(Error::Shape(format!(
            "layer counts {layers:?} do not add up to the model's {} layers",
            shape.layers
        )));
    }
    let mut models = Vec::with_capacity(contexts.len());
    for (ctx, &count) in contexts.iter().zip(layers) {
        let part = DecodeShape {
            layers: count,
            ..shape
        };
        models.push(DecodeModel::new(ctx, part, placement, seed)?);
    }
    let hidden = shape.hidden as usize;
    let x = reference::random_f32(hidden, seed ^ 0x7);
    let mut out = vec![0f32; hidden];
    run_token(&mut models, &x, &mut out)?;
    // Every device holds the same per-layer values, so the whole model is one long stack.
    let whole = models
        .first()
        .map(|m| m.reference_layers(&x, shape.layers))
        .unwrap_or_default();
    let cmp = reference::compare(&out, &whole);
    if !cmp.passes(reference::CHAIN_TOLERANCE) {
        return Err(Error::Gpu {
            during: "checking the split decode token".into(),
            message: format!("relative error {:.2e} against the CPU", cmp.rel_error),
        });
    }
    let mut input = out.clone();
    let started = Instant::now();
    while started.elapsed() < warm_up {
        run_token(&mut models, &input, &mut out)?;
        input.copy_from_slice(&out);
        super::decode::renormalize(&mut input);
    }
    let mut wall = Vec::with_capacity(tokens);
    let mut per_device: Vec<Vec<f64>> = vec![Vec::new(); models.len()];
    let mut hops = Vec::with_capacity(tokens);
    for _ in 0..tokens.max(1) {
        let start = Instant::now();
        let gpu = run_token(&mut models, &input, &mut out)?;
        let w = start.elapsed().as_secs_f64();
        wall.push(w);
        let mut all_timed = true;
        let mut gpu_total = 0.0;
        for (d, g) in gpu.iter().enumerate() {
            match g {
                Some(g) => {
                    per_device[d].push(g.as_secs_f64());
                    gpu_total += g.as_secs_f64();
                }
                None => all_timed = false,
            }
        }
        if all_timed {
            hops.push((w - gpu_total).max(0.0));
        }
        input.copy_from_slice(&out);
        super::decode::renormalize(&mut input);
    }
    let wall = Samples::of(wall).ok_or_else(|| Error::InvalidArgument("no tokens".into()))?;
    Ok(SplitDecodeFigures {
        shape,
        layers: layers.to_vec(),
        devices: contexts.iter().map(|c| c.adapter_info().name).collect(),
        tokens: wall.runs,
        tokens_per_s: 1.0 / wall.median,
        wall_ms_per_token: wall.median * 1e3,
        kernel_ms_per_device: per_device
            .into_iter()
            .map(|s| Samples::of(s).map(|s| s.median * 1e3))
            .collect(),
        hop_ms_per_token: Samples::of(hops).map(|s| s.median * 1e3),
        wall_gbps: shape.weight_bytes() as f64 / wall.median / 1e9,
        rel_error: cmp.rel_error,
    })
}

/// One token through every device in turn; each device's GPU time.
fn run_token(
    models: &mut [DecodeModel],
    input: &[f32],
    out: &mut [f32],
) -> Result<Vec<Option<Duration>>> {
    let mut carry = input.to_vec();
    let mut gpu = Vec::with_capacity(models.len());
    for model in models.iter_mut() {
        let (g, _) = model.token(&carry, out)?;
        gpu.push(g);
        carry.copy_from_slice(out);
    }
    Ok(gpu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_counts_follow_the_weights_and_add_up() {
        assert_eq!(split_layer_counts(32, &[1.0, 1.0]).unwrap(), vec![16, 16]);
        assert_eq!(split_layer_counts(32, &[3.0, 1.0]).unwrap(), vec![24, 8]);
        assert_eq!(
            split_layer_counts(3, &[100.0, 1.0, 1.0]).unwrap(),
            vec![1, 1, 1]
        );
        for layers in 3..50 {
            for weights in [[1.0, 2.0, 3.0], [5.0, 1.0, 1.0], [1.0, 1.0, 9.0]] {
                let counts = split_layer_counts(layers, &weights).unwrap();
                assert_eq!(counts.iter().sum::<u32>(), layers);
                assert!(counts.iter().all(|&c| c >= 1), "{counts:?}");
            }
        }
        assert!(split_layer_counts(1, &[1.0, 1.0]).is_err());
        assert!(split_layer_counts(8, &[1.0, 0.0]).is_err());
        assert!(split_layer_counts(8, &[]).is_err());
    }
}
