//! CPU references in f64, the comparison every kernel check uses and the tolerances it is held
//! to, and the conversions to and from the kernels' 16-bit formats (through the `half` crate,
//! round to nearest even). [`quant`] decodes and makes ggml's quantized blocks.
//!
//! Every check of a result, in the tests, the CLI, the benchmarks and the examples, passes one
//! of the tolerances below to [`Comparison::passes`]; no other tolerance exists.

use crate::kernels::KernelDtype;
use half::{bf16, f16};
use serde::Serialize;

pub mod quant;

/// C = A·B in f64 accumulation (A is m×k, B is k×n, row-major).
pub fn matmul(a: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Vec<f64> {
    let mut c = vec![0f64; m * n];
    for i in 0..m {
        let row = &mut c[i * n..(i + 1) * n];
        for p in 0..k {
            let aip = f64::from(a[i * k + p]);
            let b_row = &b[p * n..(p + 1) * n];
            for (cj, &bpj) in row.iter_mut().zip(b_row) {
                *cj += aip * f64::from(bpj);
            }
        }
    }
    c
}

/// C = A·Bᵀ in f64 accumulation: A is m×k, B is n×k (the `nt` layout), both row-major.
pub fn matmul_nt(a: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Vec<f64> {
    let mut c = vec![0f64; m * n];
    for i in 0..m {
        let a_row = &a[i * k..(i + 1) * k];
        for j in 0..n {
            let b_row = &b[j * k..(j + 1) * k];
            c[i * n + j] = a_row
                .iter()
                .zip(b_row)
                .map(|(&x, &y)| f64::from(x) * f64::from(y))
                .sum();
        }
    }
    c
}

/// y = W·x for a batch, in f64 accumulation: W is `rows×cols` row-major, x is `batch×cols`,
/// the result is `batch×rows` (y[b·rows + r]).
pub fn gemv(w: &[f32], x: &[f32], rows: usize, cols: usize, batch: usize) -> Vec<f64> {
    let mut y = vec![0f64; batch * rows];
    for r in 0..rows {
        let w_row = &w[r * cols..(r + 1) * cols];
        for b in 0..batch {
            let x_row = &x[b * cols..(b + 1) * cols];
            y[b * rows + r] = w_row
                .iter()
                .zip(x_row)
                .map(|(&p, &q)| f64::from(p) * f64::from(q))
                .sum();
        }
    }
    y
}

/// The bits of each value rounded to f16.
pub fn f16_bits(values: &[f32]) -> Vec<u16> {
    values.iter().map(|&v| f16::from_f32(v).to_bits()).collect()
}

/// The values of f16 bits.
pub fn f16_values(bits: &[u16]) -> Vec<f32> {
    bits.iter().map(|&b| f16::from_bits(b).to_f32()).collect()
}

/// The bits of each value rounded to bf16.
pub fn bf16_bits(values: &[f32]) -> Vec<u16> {
    values
        .iter()
        .map(|&v| bf16::from_f32(v).to_bits())
        .collect()
}

/// The values of bf16 bits.
pub fn bf16_values(bits: &[u16]) -> Vec<f32> {
    bits.iter().map(|&b| bf16::from_bits(b).to_f32()).collect()
}

/// `values` as a buffer of `dtype` for the kernels: little-endian elements, rounded to the
/// dtype, padded with zeros to whole 4-byte words. For a quantized dtype: padded with zeros to
/// whole blocks and quantized ([`quant::quantize`]).
pub fn encode(values: &[f32], dtype: KernelDtype) -> Vec<u8> {
    let mut bytes: Vec<u8> = match dtype {
        KernelDtype::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        KernelDtype::F16 => f16_bits(values)
            .iter()
            .flat_map(|b| b.to_le_bytes())
            .collect(),
        KernelDtype::Bf16 => bf16_bits(values)
            .iter()
            .flat_map(|b| b.to_le_bytes())
            .collect(),
        quantized => quant::encode_padded(quantized, values),
    };
    bytes.resize(bytes.len().div_ceil(4) * 4, 0);
    bytes
}

/// `values` after rounding to `dtype`: exactly what a kernel reads from [`encode`]'s bytes,
/// so a reference computed on them measures only the kernel's own error.
pub fn round_to(values: &[f32], dtype: KernelDtype) -> Vec<f32> {
    match dtype {
        KernelDtype::F32 => values.to_vec(),
        KernelDtype::F16 => f16_values(&f16_bits(values)),
        KernelDtype::Bf16 => bf16_values(&bf16_bits(values)),
        quantized => quant::round_trip(quantized, values),
    }
}

/// The relative error one kernel may show against the f64 reference computed on its inputs
/// exactly as it reads them (rounded to f16/bf16, or the dequantized weights of a quantized
/// dtype): what f32 accumulation costs.
pub const KERNEL_TOLERANCE: f64 = 1e-5;

/// The relative error of a kernel that rounds f32 values to f16 on the way (the
/// cooperative-matrix GEMM of quantized weights, whose A it converts): f16 keeps 11 significant
/// bits.
pub const F16_ROUNDING_TOLERANCE: f64 = 1e-2;

/// The relative error of a chain of kernels (a decode token through every layer) or of a long
/// f32 reduction, against the f64 reference: each step's rounding compounds.
pub const CHAIN_TOLERANCE: f64 = 1e-3;

/// The relative error one kernel may show end to end: against the f64 reference on the
/// unrounded f32 inputs, the rounding of the inputs to `dtype` included.
///
/// f32: [`KERNEL_TOLERANCE`]; f16: [`F16_ROUNDING_TOLERANCE`]; bf16: 2e-2 (8 mantissa bits:
/// rounding the inputs alone moves a random dot product by about 0.4%, and a result of only a
/// few outputs can land past 1%). A quantized dtype is compared with its dequantized weights
/// (the quantization error is not the kernel's): GEMV decodes them exactly, so
/// [`KERNEL_TOLERANCE`].
pub fn end_to_end_tolerance(dtype: KernelDtype) -> f64 {
    match dtype {
        KernelDtype::F32 => KERNEL_TOLERANCE,
        KernelDtype::F16 => F16_ROUNDING_TOLERANCE,
        KernelDtype::Bf16 => 2e-2,
        _ => KERNEL_TOLERANCE,
    }
}

/// How far a result is from its reference.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Comparison {
    /// ‖out − ref‖₂ / ‖ref‖₂ (or ‖out − ref‖₂ when the reference is all zeros).
    pub rel_error: f64,
    /// max |out − ref|.
    pub max_abs_error: f64,
    /// Count of NaN or infinite outputs.
    pub non_finite: usize,
}

impl Comparison {
    /// `true` when every output is finite and the relative error is within `tolerance` (one of
    /// this module's tolerances).
    pub fn passes(&self, tolerance: f64) -> bool {
        self.non_finite == 0 && self.rel_error <= tolerance
    }
}

/// `true` when every output is within the error bound of an f32 sum of `terms` products:
/// |out − exact| ≤ terms·2⁻²⁴·Σ|products| (+ the rounding of the output itself), `magnitude`
/// holding each output's Σ|products|. A result of a few outputs whose terms cancel can miss a
/// relative tolerance meant for many outputs while every output is as close as f32 sums allow.
pub fn within_f32_sum_bound(out: &[f32], exact: &[f64], magnitude: &[f64], terms: usize) -> bool {
    let gamma = terms.max(1) as f64 * 2f64.powi(-24);
    out.len() == exact.len()
        && exact.len() == magnitude.len()
        && out.iter().zip(exact).zip(magnitude).all(|((&o, &e), &m)| {
            let o = f64::from(o);
            o.is_finite() && (o - e).abs() <= gamma * m + e.abs() * 2f64.powi(-24)
        })
}

/// Compares `out` with `reference` element by element. Lengths must match; a length mismatch
/// counts the missing elements as non-finite so it can never pass.
pub fn compare(out: &[f32], reference: &[f64]) -> Comparison {
    let mut diff2 = 0f64;
    let mut ref2 = 0f64;
    let mut max_abs = 0f64;
    let mut non_finite = out.len().abs_diff(reference.len());
    for (&o, &r) in out.iter().zip(reference) {
        let o = f64::from(o);
        if !o.is_finite() {
            non_finite += 1;
            continue;
        }
        let d = o - r;
        diff2 += d * d;
        ref2 += r * r;
        max_abs = max_abs.max(d.abs());
    }
    let rel_error = if ref2 > 0.0 {
        (diff2 / ref2).sqrt()
    } else {
        diff2.sqrt()
    };
    Comparison {
        rel_error,
        max_abs_error: max_abs,
        non_finite,
    }
}

/// `len` random values uniform in [-1, 1) from a seeded generator.
pub fn random_f32(len: usize, seed: u64) -> Vec<f32> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_matmul_small() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2x3
        let b = [7.0, 8.0, 9.0, 10.0, 11.0, 12.0]; // 3x2
        assert_eq!(matmul(&a, &b, 2, 2, 3), vec![58.0, 64.0, 139.0, 154.0]);
    }

    #[test]
    fn reference_matmul_nt_matches_nn() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2x3
        let b_nt = [7.0, 9.0, 11.0, 8.0, 10.0, 12.0]; // 2x3: the transpose of the 3x2 B above
        assert_eq!(
            matmul_nt(&a, &b_nt, 2, 2, 3),
            vec![58.0, 64.0, 139.0, 154.0]
        );
    }

    #[test]
    fn reference_gemv_batches() {
        let w = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2x3
        let x = [1.0, 0.0, -1.0, 0.5, 0.5, 0.5]; // 2x3
        assert_eq!(gemv(&w, &x, 2, 3, 2), vec![-2.0, -2.0, 3.0, 7.5]);
    }

    #[test]
    fn sixteen_bit_conversions() {
        let v = [1.0, -2.5, 65504.0, 1.0 / 3.0];
        assert_eq!(f16_values(&f16_bits(&v))[..3], v[..3]);
        assert_eq!(bf16_bits(&[1.0]), vec![0x3f80]);
        assert_eq!(bf16_values(&[0x3f80, 0xc020]), vec![1.0, -2.5]);
        // Three bf16 pad to two words; element 0 is the low half of word 0.
        let bytes = encode(&[1.0, 2.0, 3.0], KernelDtype::Bf16);
        assert_eq!(bytes.len(), 8);
        assert_eq!(
            u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            0x4000_3f80
        );
        assert_eq!(
            round_to(&[1.0 / 3.0], KernelDtype::Bf16),
            bf16_values(&bf16_bits(&[1.0 / 3.0]))
        );
    }

    #[test]
    fn nan_never_passes() {
        let c = compare(&[1.0, f32::NAN], &[1.0, 1.0]);
        assert!(!c.passes(1.0));
        let short = compare(&[1.0], &[1.0, 1.0]);
        assert!(!short.passes(1.0));
    }
}
