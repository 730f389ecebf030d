//! CPU references in f64 and the comparison every kernel check uses.

use serde::Serialize;

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
    /// `true` when every output is finite and the relative error is within `tolerance`.
    pub fn passes(&self, tolerance: f64) -> bool {
        self.non_finite == 0 && self.rel_error <= tolerance
    }
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
    let rel_error = if ref2 > 0.0 { (diff2 / ref2).sqrt() } else { diff2.sqrt() };
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
    fn nan_never_passes() {
        let c = compare(&[1.0, f32::NAN], &[1.0, 1.0]);
        assert!(!c.passes(1.0));
        let short = compare(&[1.0], &[1.0, 1.0]);
        assert!(!short.passes(1.0));
    }
}
