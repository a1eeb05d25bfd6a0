//! Statistics that tell a user which gradients a volume has: range, mean, percentiles, a
//! log-binned histogram of |grad f|, the joint histogram of value x |grad f|, and a suggested
//! gradient-opacity curve.
//!
//! Everything is computed in a few parallel passes over the data without copying it: percentiles
//! come from a fine histogram (65536 bins between 0 and the maximum), so they are exact to within
//! max / 65536.

use rayon::prelude::*;
use serde::Serialize;

use super::boundary::{BoundaryEmphasis, boundary_emphasis};
use crate::volume::Volume;

/// Bins of the fine histogram that percentiles are read from.
pub const FINE_BINS: usize = 1 << 16;
/// Bins of the log-spaced |grad f| histogram.
pub const HISTOGRAM_BINS: usize = 128;
/// The log histogram spans four decades below the maximum (plus one bin for smaller values).
const DECADES: f64 = 4.0;
/// Bins per axis of the joint value x |grad f| histogram.
pub const JOINT_BINS: usize = 256;

/// Summary of |grad f| over a volume, in data units per mm.
#[derive(Debug, Clone, Serialize)]
pub struct GradientStats {
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    /// Voxels whose gradient is NaN or infinite (beside NaN or infinite values); every
    /// statistic leaves them out.
    pub non_finite: u64,
    pub percentiles: Percentiles,
    pub histogram: Histogram,
    pub joint_histogram: JointHistogram,
    /// `[[|grad f|, opacity], ...]`: a ramp from 0 at the median to 1 at the 95th percentile,
    /// which hides homogeneous regions and keeps boundaries.
    pub suggested_gradient_opacity: Vec<[f64; 2]>,
    /// Kindlmann and Durkin's boundary emphasis: a scalar-opacity curve over value that peaks
    /// at the centres of boundaries, and the boundary width it estimated.
    pub boundary_emphasis: Option<BoundaryEmphasis>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p99_9: f64,
}

/// Counts of |grad f| in bins whose edges are log-spaced from max / 10^4 to max; the first bin
/// holds everything from 0 up to its upper edge.
#[derive(Debug, Clone, Serialize)]
pub struct Histogram {
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
}

/// Counts over value (columns) x |grad f| (rows), row-major: `counts[g * JOINT_BINS + v]`.
/// Values span the volume's range; |grad f| spans 0 to the 99.9th percentile (larger values go
/// into the last row).
#[derive(Debug, Clone, Serialize)]
pub struct JointHistogram {
    pub value_range: [f64; 2],
    pub gradient_range: [f64; 2],
    pub bins: usize,
    pub counts: Vec<u64>,
}

fn add(mut a: Vec<u64>, b: Vec<u64>) -> Vec<u64> {
    a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
    a
}

/// Bin of `x` among `bins` equal bins over [lo, hi]; values outside go to the end bins.
#[inline]
fn linear_bin(x: f64, lo: f64, hi: f64, bins: usize) -> usize {
    if hi <= lo {
        return 0;
    }
    (((x - lo) / (hi - lo) * bins as f64) as isize).clamp(0, bins as isize - 1) as usize
}

impl GradientStats {
    /// Statistics of `gradient` (one |grad f| per voxel of `volume`, x fastest).
    pub fn compute(volume: &Volume, gradient: &[f32]) -> GradientStats {
        assert_eq!(
            gradient.len(),
            volume.voxel_count(),
            "one gradient per voxel"
        );
        let chunk = 1 << 16;
        let (min, max, sum, finite) = gradient
            .par_chunks(chunk)
            .map(|c| {
                c.iter()
                    .map(|&g| g as f64)
                    .filter(|g| g.is_finite())
                    .fold((f64::INFINITY, 0f64, 0f64, 0u64), |(lo, hi, s, n), g| {
                        (lo.min(g), hi.max(g), s + g, n + 1)
                    })
            })
            .reduce(
                || (f64::INFINITY, 0.0, 0.0, 0),
                |a, b| (a.0.min(b.0), a.1.max(b.1), a.2 + b.2, a.3 + b.3),
            );
        let min = if min.is_finite() { min } else { 0.0 };

        let fine = gradient
            .par_chunks(chunk)
            .fold(
                || vec![0u64; FINE_BINS],
                |mut h, c| {
                    for &g in c.iter().filter(|g| g.is_finite()) {
                        h[linear_bin(g as f64, 0.0, max, FINE_BINS)] += 1;
                    }
                    h
                },
            )
            .reduce(|| vec![0u64; FINE_BINS], add);
        let percentiles = Percentiles::from_fine(&fine, max);
        let edges = log_edges(max);
        let histogram = Histogram {
            counts: log_counts(gradient, &edges),
            edges,
        };
        let top = joint_gradient_top(&percentiles, max);
        let joint_histogram = joint_histogram(volume, gradient, top);
        let extent = Extent {
            min,
            max,
            sum,
            finite,
            voxels: gradient.len() as u64,
        };
        GradientStats::assemble(
            extent,
            percentiles,
            histogram,
            joint_histogram,
            boundary_emphasis(volume, gradient),
        )
    }

    /// The statistics from their parts, however they were counted (here, or by the GPU's
    /// statistics pass).
    pub fn assemble(
        extent: Extent,
        percentiles: Percentiles,
        histogram: Histogram,
        joint_histogram: JointHistogram,
        boundary_emphasis: Option<BoundaryEmphasis>,
    ) -> GradientStats {
        let suggested_gradient_opacity = if percentiles.p95 > percentiles.p50 {
            vec![[0.0, 0.0], [percentiles.p50, 0.0], [percentiles.p95, 1.0]]
        } else {
            vec![[0.0, 1.0]]
        };
        GradientStats {
            min: extent.min,
            max: extent.max,
            mean: extent.sum / extent.finite.max(1) as f64,
            non_finite: extent.voxels - extent.finite,
            percentiles,
            histogram,
            joint_histogram,
            suggested_gradient_opacity,
            boundary_emphasis,
        }
    }
}

/// Range, sum and counts of |grad f| over a volume: the first pass of the statistics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Extent {
    /// Smallest and largest finite |grad f| (0 and 0 when there is none).
    pub min: f64,
    pub max: f64,
    /// Sum of the finite gradients.
    pub sum: f64,
    /// Voxels whose gradient is finite, and all voxels.
    pub finite: u64,
    pub voxels: u64,
}

impl Percentiles {
    /// The percentiles from the fine histogram (`FINE_BINS` equal bins over [0, max]).
    pub fn from_fine(fine: &[u64], max: f64) -> Percentiles {
        let percentile = |p: f64| percentile_of(fine, max, p);
        Percentiles {
            p50: percentile(50.0),
            p90: percentile(90.0),
            p95: percentile(95.0),
            p99: percentile(99.0),
            p99_9: percentile(99.9),
        }
    }
}

/// The top of the joint histogram's |grad f| axis: the 99.9th percentile, so that a few extreme
/// gradients do not squash the rest into the first rows.
pub fn joint_gradient_top(percentiles: &Percentiles, max: f64) -> f64 {
    percentiles.p99_9.max(max * 1e-6)
}

/// The p-th percentile from a histogram of equal bins over [0, max], interpolated in its bin.
fn percentile_of(hist: &[u64], max: f64, p: f64) -> f64 {
    let total: u64 = hist.iter().sum();
    if total == 0 || max <= 0.0 {
        return 0.0;
    }
    let target = p / 100.0 * total as f64;
    let width = max / hist.len() as f64;
    let mut below = 0u64;
    for (i, &count) in hist.iter().enumerate() {
        if count > 0 && (below + count) as f64 >= target {
            let within = ((target - below as f64) / count as f64).clamp(0.0, 1.0);
            return (i as f64 + within) * width;
        }
        below += count;
    }
    max
}

/// Edges of the log histogram: 0, then [`HISTOGRAM_BINS`] edges log-spaced over four decades
/// below `max`; `[0, 0]` (one bin) when `max` is 0.
pub fn log_edges(max: f64) -> Vec<f64> {
    if max <= 0.0 {
        return vec![0.0, 0.0];
    }
    let lo = max * 10f64.powf(-DECADES);
    let mut edges = vec![0.0];
    edges.extend(
        (0..HISTOGRAM_BINS).map(|i| lo * (max / lo).powf(i as f64 / (HISTOGRAM_BINS - 1) as f64)),
    );
    edges
}

fn log_counts(gradient: &[f32], edges: &[f64]) -> Vec<u64> {
    let bins = edges.len() - 1;
    if bins == 1 {
        // A constant volume: every finite gradient is 0.
        return vec![gradient.iter().filter(|g| g.is_finite()).count() as u64];
    }
    let (lo, max) = (edges[1], edges[bins]);
    let (log_lo, log_span) = (lo.ln(), (max / lo).ln());
    gradient
        .par_chunks(1 << 16)
        .fold(
            || vec![0u64; bins],
            |mut h, c| {
                for &g in c.iter().filter(|g| g.is_finite()) {
                    let g = g as f64;
                    let b = if g < lo {
                        0
                    } else {
                        1 + (((g.ln() - log_lo) / log_span * (bins - 1) as f64) as usize)
                            .min(bins - 2)
                    };
                    h[b] += 1;
                }
                h
            },
        )
        .reduce(|| vec![0u64; bins], add)
}

fn joint_histogram(volume: &Volume, gradient: &[f32], gradient_top: f64) -> JointHistogram {
    joint_histogram_on(volume, gradient, gradient_top, |g| g / gradient_top)
}

/// The joint histogram with its |grad f| bins equal on another axis: `position` maps |grad f|
/// to 0..1 along it (`g / gradient_top` for the linear axis of [`GradientStats`]; the 2-D
/// editor's square-root and log axes bin through their warp, so that every row of the chart
/// is a bin of its own).
pub fn joint_histogram_on(
    volume: &Volume,
    gradient: &[f32],
    gradient_top: f64,
    position: impl Fn(f64) -> f64 + Sync,
) -> JointHistogram {
    let [vlo, vhi] = volume.range;
    let slab = volume.dims[0] * volume.dims[1];
    let counts = gradient
        .par_chunks(slab)
        .enumerate()
        .fold(
            || vec![0u64; JOINT_BINS * JOINT_BINS],
            |mut h, (z, c)| {
                for (i, &g) in c.iter().enumerate() {
                    let value = volume.data.get_f64(z * slab + i);
                    if !value.is_finite() || !g.is_finite() {
                        continue;
                    }
                    let vb = linear_bin(value, vlo, vhi, JOINT_BINS);
                    let gb = linear_bin(position(g as f64), 0.0, 1.0, JOINT_BINS);
                    h[gb * JOINT_BINS + vb] += 1;
                }
                h
            },
        )
        .reduce(|| vec![0u64; JOINT_BINS * JOINT_BINS], add);
    JointHistogram {
        value_range: [vlo, vhi],
        gradient_range: [0.0, gradient_top],
        bins: JOINT_BINS,
        counts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_uniform_ramp() {
        // 0, 1, ..., 999 (once each): the p-th percentile is about 10 p.
        let hist_max = 999.0;
        let values: Vec<f64> = (0..1000).map(|i| i as f64).collect();
        let mut hist = vec![0u64; FINE_BINS];
        for v in &values {
            hist[linear_bin(*v, 0.0, hist_max, FINE_BINS)] += 1;
        }
        for p in [50.0, 90.0, 99.0] {
            let got = percentile_of(&hist, hist_max, p);
            assert!(
                (got - 10.0 * p).abs() <= 1.0 + hist_max / FINE_BINS as f64,
                "p{p}: {got}"
            );
        }
    }

    #[test]
    fn log_histogram_counts_everything_once() {
        let g: Vec<f32> = (0..10_000).map(|i| (i as f32 * 0.37) % 500.0).collect();
        let edges = log_edges(500.0);
        let counts = log_counts(&g, &edges);
        assert_eq!(counts.iter().sum::<u64>(), 10_000);
        assert_eq!(edges.len(), counts.len() + 1);
        assert!(edges.windows(2).all(|w| w[0] < w[1]));
        assert!((edges.last().unwrap() - 500.0).abs() < 1e-9);
    }
}
