//! Summaries of repeated timings.

use serde::Serialize;

/// Median and spread of repeated measurements, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Samples {
    /// Median.
    pub median: f64,
    /// Fastest run.
    pub min: f64,
    /// Slowest run.
    pub max: f64,
    /// Runs measured (after warm-up).
    pub runs: usize,
}

impl Samples {
    /// Summarises `seconds`; `None` when empty.
    pub fn of(mut seconds: Vec<f64>) -> Option<Self> {
        if seconds.is_empty() {
            return None;
        }
        seconds.sort_by(f64::total_cmp);
        let n = seconds.len();
        let median = if n % 2 == 1 {
            seconds[n / 2]
        } else {
            (seconds[n / 2 - 1] + seconds[n / 2]) / 2.0
        };
        Some(Self {
            median,
            min: seconds[0],
            max: seconds[n - 1],
            runs: n,
        })
    }

    /// Relative spread (max − min) / median.
    pub fn spread(&self) -> f64 {
        if self.median > 0.0 {
            (self.max - self.min) / self.median
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(Samples::of(vec![3.0, 1.0, 2.0]).unwrap().median, 2.0);
        assert_eq!(Samples::of(vec![4.0, 1.0, 2.0, 3.0]).unwrap().median, 2.5);
        assert!(Samples::of(vec![]).is_none());
    }
}
