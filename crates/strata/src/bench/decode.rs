//! The decode workload: one token of a transformer-shaped model, every layer's matrix-vector
//! products recorded once and replayed token after token, so the time per token is what the
//! weights' memory allows, not what the calls cost.
//!
//! Per layer, as PyTorch's decode peer does it (`decode_peer.py`): four H×H products (q, k, v
//! from x; o from q), two I×H (gate and up from o) and one H×I (down from gate), weights
//! `[out, in]` in one placement, activations f32 in ordinary buffers. The activation that leaves
//! a layer enters the next, so every product waits for the one before it where the data says
//! so, and each token reads every weight once.

use super::stats::Samples;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::kernels::{GemvSpec, KernelDtype};
use crate::placement::{PlaceOptions, PlacedTensor, Placement, PlacementInfo};
use crate::recording::{ReadSlot, Replay, WriteSlot};
use crate::reference::{self, CHAIN_TOLERANCE};
use serde::Serialize;
use std::time::{Duration, Instant};

/// The model shape of the decode workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DecodeShape {
    /// Layers.
    pub layers: u32,
    /// Hidden size H.
    pub hidden: u32,
    /// MLP size I.
    pub intermediate: u32,
    /// Element type of the weights.
    pub dtype: KernelDtype,
}

/// The seven products of one layer: (rows, cols) of each weight, and which activation it reads
/// and writes (indices into [`ACTIVATIONS`]).
const PRODUCTS: [(Dim, Dim, usize, usize); 7] = [
    (Dim::H, Dim::H, X, Q), // q = Wq·x
    (Dim::H, Dim::H, X, K), // k = Wk·x
    (Dim::H, Dim::H, X, V), // v = Wv·x
    (Dim::H, Dim::H, Q, O), // o = Wo·q
    (Dim::I, Dim::H, O, G), // gate = Wg·o
    (Dim::I, Dim::H, O, U), // up = Wu·o
    (Dim::H, Dim::I, G, X), // x = Wd·gate
];
const X: usize = 0;
const Q: usize = 1;
const K: usize = 2;
const V: usize = 3;
const O: usize = 4;
const G: usize = 5;
const U: usize = 6;
/// The activation vectors and their length.
const ACTIVATIONS: [Dim; 7] = [Dim::H, Dim::H, Dim::H, Dim::H, Dim::H, Dim::I, Dim::I];

#[derive(Debug, Clone, Copy)]
enum Dim {
    H,
    I,
}

impl DecodeShape {
    /// A 7B-shaped model in bf16 on a GPU (32 layers, 4096/14336: 15.6 GB a token); 8 layers
    /// of 256/512 on a CPU driver.
    pub fn default_for(ctx: &Context) -> Self {
        match ctx.adapter_info().device_type {
            wgpu::DeviceType::Cpu => Self {
                layers: 8,
                hidden: 256,
                intermediate: 512,
                dtype: KernelDtype::Bf16,
            },
            _ => Self {
                layers: 32,
                hidden: 4096,
                intermediate: 14336,
                dtype: KernelDtype::Bf16,
            },
        }
    }

    fn size(&self, dim: Dim) -> u32 {
        match dim {
            Dim::H => self.hidden,
            Dim::I => self.intermediate,
        }
    }

    fn spec(&self, product: usize) -> GemvSpec {
        let (rows, cols, _, _) = PRODUCTS[product];
        GemvSpec {
            rows: self.size(rows),
            cols: self.size(cols),
            batch: 1,
            dtype: self.dtype,
        }
    }

    /// Matrix-vector products a token takes.
    pub fn products_per_token(&self) -> u64 {
        u64::from(self.layers) * PRODUCTS.len() as u64
    }

    /// Bytes of weights a token reads (every layer's seven matrices).
    pub fn weight_bytes(&self) -> u64 {
        let layer: u64 = (0..PRODUCTS.len())
            .map(|p| {
                let s = self.spec(p);
                u64::from(s.rows) * s.row_bytes()
            })
            .sum();
        layer * u64::from(self.layers)
    }

    fn check(&self) -> Result<()> {
        if self.layers == 0 || self.hidden == 0 || self.intermediate == 0 {
            return Err(Error::Shape(format!(
                "a decode model needs layers, hidden and intermediate >= 1, got {}x{}x{}",
                self.layers, self.hidden, self.intermediate
            )));
        }
        Ok(())
    }
}

impl std::fmt::Display for DecodeShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} layers, hidden {}, mlp {}, {}",
            self.layers, self.hidden, self.intermediate, self.dtype
        )
    }
}

/// What the decode workload measured on one placement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecodeFigures {
    /// The model shape.
    pub shape: DecodeShape,
    /// Tokens timed (after a warm-up).
    pub tokens: usize,
    /// Tokens per second on the wall clock (from the median token).
    pub tokens_per_s: f64,
    /// Median wall time of a token: new activations written, the recording submitted, the GPU
    /// waited for and the result read back.
    pub wall_ms_per_token: f64,
    /// Median GPU time of a token (timestamps around the recording), when the device has them.
    pub kernel_ms_per_token: Option<f64>,
    /// Weight bytes per token over the median wall time, GB/s.
    pub wall_gbps: f64,
    /// Weight bytes per token over the median GPU time, GB/s.
    pub kernel_gbps: Option<f64>,
    /// Median host time to encode and submit one token's recording, per recorded op, µs.
    pub encode_us_per_op: f64,
    /// Bytes of weights a token reads.
    pub weight_bytes: u64,
    /// Ops in the token's recording (the products plus the activation write and read).
    pub ops: usize,
    /// The GEMV kernel variant of each distinct product shape.
    pub kernels: Vec<String>,
    /// Relative error of the first token against an f64 CPU reference.
    pub rel_error: f64,
    /// Wall times of the timed tokens.
    pub wall: Samples,
    /// Where the weights landed (the first layer's first matrix; all share its placement).
    pub weights: PlacementInfo,
}

/// A decode model placed on one device: every layer's weights, the activations, and the
/// token's recording, prepared to be replayed.
#[derive(Debug)]
pub struct DecodeModel {
    shape: DecodeShape,
    /// Keeps the weights alive as long as the recording that reads them.
    weights: Vec<PlacedTensor>,
    _activations: Vec<wgpu::Buffer>,
    replay: Replay,
    input: WriteSlot,
    output: ReadSlot,
    kernels: Vec<String>,
    /// One layer's weights as f32 values (rounded to the dtype), for the CPU reference: every
    /// layer holds the same values (in buffers of its own, so the GPU reads them all).
    referenceweights: Vec<Vec<f32>>,
}

impl DecodeModel {
    /// Places `shape`'s weights in `placement` (random values scaled so activations keep their
    /// size from layer to layer) and records one token.
    pub fn new(ctx: &Context, shape: DecodeShape, placement: Placement, seed: u64) -> Result<Self> {
        shape.check()?;
        let options = PlaceOptions::new(placement);
        let mut referenceweights = Vec::with_capacity(PRODUCTS.len());
        let mut encoded = Vec::with_capacity(PRODUCTS.len());
        for p in 0..PRODUCTS.len() {
            let spec = shape.spec(p);
            let scale = (3.0 / spec.cols as f32).sqrt();
            let values: Vec<f32> =
                reference::random_f32(spec.rows as usize * spec.cols as usize, seed ^ p as u64)
                    .into_iter()
                    .map(|v| v * scale)
                    .collect();
            encoded.push(reference::encode(&values, shape.dtype));
            referenceweights.push(reference::round_to(&values, shape.dtype));
        }
        let mut weights = Vec::with_capacity(shape.products_per_token() as usize);
        for _ in 0..shape.layers {
            for (p, bytes) in encoded.iter().enumerate() {
                let (tensor, _) =
                    ctx.place_tensor(bytes.len() as u64, shape.spec(p).row_bytes(), &options)?;
                ctx.write_tensor(&tensor, bytes)?;
                weights.push(tensor);
            }
        }
        let activations = ACTIVATIONS
            .iter()
            .map(|&d| ctx.create_storage_buffer(u64::from(shape.size(d)) * 4, "decode activation"))
            .collect::<Result<Vec<_>>>()?;

        let mut recording = ctx.record().label("decode token");
        let hidden_bytes = u64::from(shape.hidden) * 4;
        let input = recording.write(&activations[X], 0, &vec![0u8; hidden_bytes as usize])?;
        let mut kernels: Vec<String> = Vec::new();
        for layer in weights.chunks(PRODUCTS.len()) {
            for (p, tensor) in layer.iter().enumerate() {
                let (_, _, from, to) = PRODUCTS[p];
                let variant = recording.gemv(
                    &tensor.operands(),
                    &activations[from],
                    &activations[to],
                    shape.spec(p),
                )?;
                if !kernels.contains(&variant) {
                    kernels.push(variant);
                }
            }
        }
        let output = recording.read(&activations[X], 0, hidden_bytes)?;
        let replay = recording.finish()?;
        Ok(Self {
            shape,
            weights,
            _activations: activations,
            replay,
            input,
            output,
            kernels,
            referenceweights,
        })
    }

    /// The model's shape.
    pub fn shape(&self) -> DecodeShape {
        self.shape
    }

    /// Runs one token: writes `x` (hidden floats), submits, waits, reads the result into `out`.
    /// Returns the GPU time and the host encode time.
    pub fn token(&mut self, x: &[f32], out: &mut [f32]) -> Result<(Option<Duration>, Duration)> {
        self.replay.write(&self.input, bytemuck::cast_slice(x))?;
        let report = self.replay.submit()?.wait()?;
        self.replay
            .read(&self.output, bytemuck::cast_slice_mut(out))?;
        Ok((report.gpu, report.encode))
    }

    /// The token on the CPU in f64 accumulation (the products run in parallel over rows).
    pub fn reference_token(&self, x: &[f32]) -> Vec<f64> {
        self.reference_layers(x, self.shape.layers)
    }

    /// The CPU reference through `layers` layers of this model's values (every layer holds
    /// the same values, so a model split across devices is checked against one long stack).
    pub fn reference_layers(&self, x: &[f32], layers: u32) -> Vec<f64> {
        let mut acts: Vec<Vec<f32>> = ACTIVATIONS
            .iter()
            .map(|&d| vec![0f32; self.shape.size(d) as usize])
            .collect();
        acts[X] = x.to_vec();
        let mut last = Vec::new();
        for _ in 0..layers {
            for (p, &(_, _, from, to)) in PRODUCTS.iter().enumerate() {
                let spec = self.shape.spec(p);
                let y = parallel_gemv(
                    &self.referenceweights[p],
                    &acts[from],
                    spec.rows as usize,
                    spec.cols as usize,
                );
                acts[to] = y.iter().map(|&v| v as f32).collect();
                if to == X {
                    last = y;
                }
            }
        }
        last
    }

    /// Ops in the token's recording.
    pub fn ops(&self) -> usize {
        self.replay.len()
    }

    /// The GEMV variants the recording uses.
    pub fn kernels(&self) -> &[String] {
        &self.kernels
    }

    /// Where the weights landed (every tensor shares the first one's placement).
    pub fn weights_info(&self) -> Option<PlacementInfo> {
        self.weights.first().map(|t| t.first().info())
    }
}

/// y = W·x with f64 sums, rows split across the machine's threads.
fn parallel_gemv(w: &[f32], x: &[f32], rows: usize, cols: usize) -> Vec<f64> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = rows.div_ceil(threads).max(1);
    let mut y = vec![0f64; rows];
    std::thread::scope(|scope| {
        for (i, out) in y.chunks_mut(chunk).enumerate() {
            let first = i * chunk;
            scope.spawn(move || {
                for (j, v) in out.iter_mut().enumerate() {
                    let row = &w[(first + j) * cols..(first + j + 1) * cols];
                    *v = row
                        .iter()
                        .zip(x)
                        .map(|(&a, &b)| f64::from(a) * f64::from(b))
                        .sum();
                }
            });
        }
    });
    y
}

/// Builds the model in `placement`, checks the first token against the CPU, warms the GPU up
/// for `warm_up`, then times `tokens` tokens.
pub fn measure_decode(
    ctx: &Context,
    shape: DecodeShape,
    placement: Placement,
    tokens: usize,
    warm_up: Duration,
    seed: u64,
) -> Result<DecodeFigures> {
    let mut model = DecodeModel::new(ctx, shape, placement, seed)?;
    let x = reference::random_f32(shape.hidden as usize, seed ^ 0x7);
    let mut out = vec![0f32; shape.hidden as usize];
    model.token(&x, &mut out)?;
    let cmp = reference::compare(&out, &model.reference_token(&x));
    if !cmp.passes(CHAIN_TOLERANCE) {
        return Err(Error::Gpu {
            during: format!("checking the decode token in {placement}"),
            message: format!(
                "relative error {:.2e} against the CPU (tolerance {CHAIN_TOLERANCE:.0e})",
                cmp.rel_error
            ),
        });
    }
    // Each token starts from the last one's output, as generation does.
    let mut input = out.clone();
    let started = Instant::now();
    while started.elapsed() < warm_up {
        model.token(&input, &mut out)?;
        input.copy_from_slice(&out);
        renormalize(&mut input);
    }
    let mut wall = Vec::with_capacity(tokens);
    let mut gpu = Vec::with_capacity(tokens);
    let mut encode = Vec::with_capacity(tokens);
    for _ in 0..tokens.max(1) {
        let start = Instant::now();
        let (g, e) = model.token(&input, &mut out)?;
        wall.push(start.elapsed().as_secs_f64());
        if let Some(g) = g {
            gpu.push(g.as_secs_f64());
        }
        encode.push(e.as_secs_f64());
        input.copy_from_slice(&out);
        renormalize(&mut input);
    }
    let wall = Samples::of(wall).ok_or_else(|| Error::InvalidArgument("no tokens".into()))?;
    let kernel = Samples::of(gpu).map(|s| s.median);
    let encode = Samples::of(encode).map_or(0.0, |s| s.median);
    let bytes = shape.weight_bytes() as f64;
    Ok(DecodeFigures {
        shape,
        tokens: wall.runs,
        tokens_per_s: 1.0 / wall.median,
        wall_ms_per_token: wall.median * 1e3,
        kernel_ms_per_token: kernel.map(|k| k * 1e3),
        wall_gbps: bytes / wall.median / 1e9,
        kernel_gbps: kernel.map(|k| bytes / k / 1e9),
        encode_us_per_op: encode * 1e6 / model.ops() as f64,
        weight_bytes: shape.weight_bytes(),
        ops: model.ops(),
        kernels: model.kernels().to_vec(),
        rel_error: cmp.rel_error,
        wall,
        weights: model
            .weights_info()
            .ok_or_else(|| Error::InvalidArgument("a decode model without weights".into()))?,
    })
}

/// Scales a vector back to unit RMS, so activations stay finite over many tokens.
pub(crate) fn renormalize(x: &mut [f32]) {
    let rms = (x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len().max(1) as f64)
        .sqrt();
    if rms.is_finite() && rms > 0.0 {
        for v in x {
            *v = (f64::from(*v) / rms) as f32;
        }
    }
}
