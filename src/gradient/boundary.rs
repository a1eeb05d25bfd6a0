//! Kindlmann and Durkin's semi-automatic transfer function ("Semi-automatic generation of transfer
//! functions for direct volume rendering", 1998): opacity over value that emphasises boundaries.
//!
//! Across a boundary blurred by a Gaussian of width sigma, the first derivative f' peaks at the
//! boundary's centre and the second derivative f'' swings from + to - through it. Averaged per
//! value v, g(v) = mean |grad f| and h(v) = mean f'' along the gradient give the signed distance
//! of value v from the boundary centre: p(v) = -sigma^2 h(v) / g(v), with
//! sigma = 2 g_max / (sqrt(e) (h_max - h_min)) for an ideal blurred step. Opacity is a tent of p:
//! 1 at the centre, 0 at sigma and beyond.

use rayon::prelude::*;
use serde::Serialize;

use crate::volume::Volume;

/// Value bins of the g(v), h(v) tables.
pub const BINS: usize = 64;

#[derive(Debug, Clone, Serialize)]
pub struct BoundaryEmphasis {
    /// Estimated boundary width (Gaussian sigma) in mm.
    pub sigma_mm: f64,
    /// `[[value, opacity], ...]` at the bin centres.
    pub scalar_opacity: Vec<[f64; 2]>,
    /// Per bin: centre value, mean |grad f| (units/mm), mean second derivative (units/mm^2),
    /// voxel count.
    pub table: Vec<[f64; 4]>,
}

/// Computes the suggestion from the volume and its |grad f| (`gradient`, one per voxel, from any
/// operator): g is that magnitude, h its derivative along the direction of the local central
/// difference. `None` when the volume has no boundaries to speak of.
pub fn boundary_emphasis(volume: &Volume, gradient: &[f32]) -> Option<BoundaryEmphasis> {
    let [nx, ny, nz] = volume.dims;
    let [lo, hi] = volume.range;
    if hi <= lo || gradient.len() != nx * ny * nz {
        return None;
    }
    let f = |i: usize| volume.data.get_f64(i);
    let inv2 = volume.spacing.map(|s| 0.5 / s);
    let bin = |v: f64| (((v - lo) / (hi - lo) * BINS as f64) as usize).min(BINS - 1);
    // Per bin: sum of g, sum of h, count.
    let sums = (0..nz)
        .into_par_iter()
        .fold(
            || vec![[0f64; 3]; BINS],
            |mut acc, z| {
                let (zm, zp) = (z.saturating_sub(1), (z + 1).min(nz - 1));
                for y in 0..ny {
                    let (ym, yp) = (y.saturating_sub(1), (y + 1).min(ny - 1));
                    for x in 0..nx {
                        let (xm, xp) = (x.saturating_sub(1), (x + 1).min(nx - 1));
                        let at = |x: usize, y: usize, z: usize| x + nx * (y + ny * z);
                        let i = at(x, y, z);
                        let value = f(i);
                        if !value.is_finite() {
                            continue;
                        }
                        let grad = [
                            (f(at(xp, y, z)) - f(at(xm, y, z))) * inv2[0],
                            (f(at(x, yp, z)) - f(at(x, ym, z))) * inv2[1],
                            (f(at(x, y, zp)) - f(at(x, y, zm))) * inv2[2],
                        ];
                        let g = gradient[i] as f64;
                        let direction_norm =
                            (grad[0] * grad[0] + grad[1] * grad[1] + grad[2] * grad[2]).sqrt();
                        let mut h = 0.0;
                        if g.is_finite() && direction_norm > 0.0 {
                            // d|grad f| along the gradient's direction.
                            let gm = |j: usize| gradient[j] as f64;
                            let dg = [
                                (gm(at(xp, y, z)) - gm(at(xm, y, z))) * inv2[0],
                                (gm(at(x, yp, z)) - gm(at(x, ym, z))) * inv2[1],
                                (gm(at(x, y, zp)) - gm(at(x, y, zm))) * inv2[2],
                            ];
                            h = (dg[0] * grad[0] + dg[1] * grad[1] + dg[2] * grad[2])
                                / direction_norm;
                        }
                        if !(g.is_finite() && h.is_finite()) {
                            continue;
                        }
                        let b = &mut acc[bin(value)];
                        b[0] += g;
                        b[1] += h;
                        b[2] += 1.0;
                    }
                }
                acc
            },
        )
        .reduce(
            || vec![[0f64; 3]; BINS],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(b) {
                    x[0] += y[0];
                    x[1] += y[1];
                    x[2] += y[2];
                }
                a
            },
        );
    let width = (hi - lo) / BINS as f64;
    let table: Vec<[f64; 4]> = sums
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let n = s[2].max(1.0);
            [lo + (k as f64 + 0.5) * width, s[0] / n, s[1] / n, s[2]]
        })
        .collect();
    let populated = || table.iter().filter(|t| t[3] > 0.0);
    let g_max = populated().map(|t| t[1]).fold(0.0, f64::max);
    let h_max = populated().map(|t| t[2]).fold(f64::NEG_INFINITY, f64::max);
    let h_min = populated().map(|t| t[2]).fold(f64::INFINITY, f64::min);
    if g_max <= 0.0 || h_max <= h_min {
        return None;
    }
    let sigma = 2.0 * g_max / ((1f64).exp().sqrt() * (h_max - h_min));
    // Bins whose mean gradient is a small fraction of the largest hold no boundary.
    let floor = 0.05 * g_max;
    let scalar_opacity = table
        .iter()
        .map(|t| {
            let opacity = if t[3] > 0.0 && t[1] > floor {
                let p = -sigma * sigma * t[2] / t[1];
                (1.0 - p.abs() / sigma).max(0.0)
            } else {
                0.0
            };
            [t[0], opacity]
        })
        .collect();
    Some(BoundaryEmphasis {
        sigma_mm: sigma,
        scalar_opacity,
        table,
    })
}
