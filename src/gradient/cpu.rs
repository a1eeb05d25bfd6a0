//! Gradient magnitude on the CPU: the reference every other path is compared with, and a fast
//! multi-threaded path in its own right (slabs of z in parallel).
//!
//! Voxels are read in their own type and converted per sample, so an int16 volume is never copied
//! to float: memory is the volume plus the float32 output (plus, for the Gaussian, its separable
//! passes).

use rayon::prelude::*;

use super::{GAUSSIAN_TRUNCATE, Operator};
use crate::volume::{Scalar, Volume, VoxelData};

/// |grad f| in data units per mm for every voxel, x fastest.
pub fn gradient_magnitude(volume: &Volume, operator: Operator) -> Vec<f32> {
    let dims = volume.dims;
    let spacing = volume.spacing;
    macro_rules! run {
        ($v:expr) => {
            match operator {
                Operator::Central => central($v, dims, spacing),
                Operator::Sobel => sobel($v, dims, spacing),
                Operator::Gaussian { sigma_mm } => gaussian($v, dims, spacing, sigma_mm),
            }
        };
    }
    match &volume.data {
        VoxelData::Int8(v) => run!(v),
        VoxelData::Uint8(v) => run!(v),
        VoxelData::Int16(v) => run!(v),
        VoxelData::Uint16(v) => run!(v),
        VoxelData::Int32(v) => run!(v),
        VoxelData::Uint32(v) => run!(v),
        VoxelData::Float(v) => run!(v),
        VoxelData::Double(v) => run!(v),
    }
}

/// Index of the neighbours one step before and after `i` on an axis of `n`, clamped to the edge
/// (which is also scipy's 'reflect' for a one-voxel reach).
#[inline]
fn around(i: usize, n: usize) -> (usize, usize) {
    (i.saturating_sub(1), (i + 1).min(n - 1))
}

/// VTK's vtkImageGradient: (f(x + e_i) - f(x - e_i)) / (2 s_i), clamped at the borders.
pub fn central<T: Scalar>(v: &[T], dims: [usize; 3], spacing: [f64; 3]) -> Vec<f32> {
    let [nx, ny, nz] = dims;
    let h = spacing.map(|s| (0.5 / s) as f32);
    let row = |y: usize, z: usize| &v[(y + ny * z) * nx..][..nx];
    let mut out = vec![0f32; nx * ny * nz];
    out.par_chunks_mut(nx * ny)
        .enumerate()
        .for_each(|(z, slab)| {
            let (zm, zp) = around(z, nz);
            for y in 0..ny {
                let (ym, yp) = around(y, ny);
                let (r, ry0, ry1, rz0, rz1) =
                    (row(y, z), row(ym, z), row(yp, z), row(y, zm), row(y, zp));
                let dst = &mut slab[y * nx..][..nx];
                for x in 0..nx {
                    let (xm, xp) = around(x, nx);
                    let gx = (r[xp].to_f32() - r[xm].to_f32()) * h[0];
                    let gy = (ry1[x].to_f32() - ry0[x].to_f32()) * h[1];
                    let gz = (rz1[x].to_f32() - rz0[x].to_f32()) * h[2];
                    dst[x] = (gx * gx + gy * gy + gz * gz).sqrt();
                }
            }
        });
    out
}

/// scipy's 3-D Sobel in physical units: derivative [-1, 0, 1] along each axis, smoothing
/// [1, 2, 1] along the other two, divided by 32 s_i.
pub fn sobel<T: Scalar>(v: &[T], dims: [usize; 3], spacing: [f64; 3]) -> Vec<f32> {
    let [nx, ny, nz] = dims;
    let h = spacing.map(|s| 1.0 / (32.0 * s));
    let row = |y: usize, z: usize| &v[(y + ny * z) * nx..][..nx];
    let mut out = vec![0f32; nx * ny * nz];
    out.par_chunks_mut(nx * ny)
        .enumerate()
        .for_each(|(z, slab)| {
            let (zm, zp) = around(z, nz);
            for y in 0..ny {
                let (ym, yp) = around(y, ny);
                // The 3x3 rows around (y, z), indexed [dz][dy].
                let rows = [zm, z, zp].map(|zz| [ym, y, yp].map(|yy| row(yy, zz)));
                let dst = &mut slab[y * nx..][..nx];
                for x in 0..nx {
                    let (xm, xp) = around(x, nx);
                    let mut diff = [[0f64; 3]; 3]; // f(x+1) - f(x-1) per row
                    let mut smooth = [[0f64; 3]; 3]; // f(x-1) + 2 f(x) + f(x+1) per row
                    for dz in 0..3 {
                        for dy in 0..3 {
                            let r = rows[dz][dy];
                            let (a, b, c) = (r[xm].to_f64(), r[x].to_f64(), r[xp].to_f64());
                            diff[dz][dy] = c - a;
                            smooth[dz][dy] = a + 2.0 * b + c;
                        }
                    }
                    const W: [f64; 3] = [1.0, 2.0, 1.0];
                    let (mut gx, mut gy, mut gz) = (0.0, 0.0, 0.0);
                    for k in 0..3 {
                        for (dy, wy) in W.iter().enumerate() {
                            gx += W[k] * wy * diff[k][dy];
                        }
                        gy += W[k] * (smooth[k][2] - smooth[k][0]);
                        gz += W[k] * (smooth[2][k] - smooth[0][k]);
                    }
                    let (gx, gy, gz) = (gx * h[0], gy * h[1], gz * h[2]);
                    dst[x] = (gx * gx + gy * gy + gz * gz).sqrt() as f32;
                }
            }
        });
    out
}

/// scipy's Gaussian kernels for sigma in voxels: (smoothing, first derivative) as correlation
/// weights over offsets -r..=r, r = int(truncate sigma + 0.5). The smoothing weights sum to 1;
/// the derivative weights are j / sigma^2 times them and are not renormalised, as in scipy.
pub fn gaussian_kernels(sigma: f64) -> (Vec<f64>, Vec<f64>) {
    let radius = (GAUSSIAN_TRUNCATE * sigma + 0.5) as i64;
    let phi: Vec<f64> = (-radius..=radius)
        .map(|j| (-0.5 * (j * j) as f64 / (sigma * sigma)).exp())
        .collect();
    let sum: f64 = phi.iter().sum();
    let smooth: Vec<f64> = phi.iter().map(|p| p / sum).collect();
    let derivative = (-radius..=radius)
        .zip(&smooth)
        .map(|(j, w)| j as f64 / (sigma * sigma) * w)
        .collect();
    (smooth, derivative)
}

/// scipy's 'reflect' border (d c b a | a b c d | d c b a), repeated for any reach.
#[inline]
fn reflect(i: i64, n: usize) -> usize {
    let n = n as i64;
    let m = i.rem_euclid(2 * n);
    (if m < n { m } else { 2 * n - 1 - m }) as usize
}

/// Correlates `src` with `weights` (offsets -r..=r) along `axis`, 'reflect' borders.
fn correlate_axis(src: &[f64], dims: [usize; 3], axis: usize, weights: &[f64]) -> Vec<f64> {
    let [nx, ny, _] = dims;
    let n = dims[axis];
    let stride = [1, nx, nx * ny][axis];
    let r = (weights.len() / 2) as i64;
    let mut out = vec![0f64; src.len()];
    out.par_chunks_mut(nx * ny)
        .enumerate()
        .for_each(|(z, slab)| {
            for y in 0..ny {
                for x in 0..nx {
                    let i = [x, y, z][axis] as i64;
                    let base = x + nx * (y + ny * z) - i as usize * stride;
                    let mut acc = 0.0;
                    for (k, w) in weights.iter().enumerate() {
                        acc += w * src[base + reflect(i + k as i64 - r, n) * stride];
                    }
                    slab[x + nx * y] = acc;
                }
            }
        });
    out
}

/// Derivative-of-Gaussian gradient with sigma in mm on every axis, in data units per mm.
pub fn gaussian<T: Scalar>(
    v: &[T],
    dims: [usize; 3],
    spacing: [f64; 3],
    sigma_mm: f64,
) -> Vec<f32> {
    let f: Vec<f64> = v.par_iter().map(|x| x.to_f64()).collect();
    let k = spacing.map(|s| gaussian_kernels(sigma_mm / s));
    let a0 = correlate_axis(&f, dims, 0, &k[0].0);
    let a1 = correlate_axis(&f, dims, 0, &k[0].1);
    drop(f);
    let b00 = correlate_axis(&a0, dims, 1, &k[1].0);
    let b01 = correlate_axis(&a0, dims, 1, &k[1].1);
    drop(a0);
    let b10 = correlate_axis(&a1, dims, 1, &k[1].0);
    drop(a1);
    let gx = correlate_axis(&b10, dims, 2, &k[2].0);
    drop(b10);
    let gy = correlate_axis(&b01, dims, 2, &k[2].0);
    drop(b01);
    let gz = correlate_axis(&b00, dims, 2, &k[2].1);
    let h = spacing.map(|s| 1.0 / s);
    (0..gx.len())
        .into_par_iter()
        .map(|i| {
            let (x, y, z) = (gx[i] * h[0], gy[i] * h[1], gz[i] * h[2]);
            (x * x + y * y + z * z).sqrt() as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_repeats_the_mirror_beyond_one_length() {
        let n = 4;
        let got: Vec<usize> = (-5..9).map(|i| reflect(i, n)).collect();
        assert_eq!(got, vec![3, 3, 2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0, 0]);
    }

    #[test]
    fn kernels_match_scipy_conventions() {
        let (smooth, deriv) = gaussian_kernels(2.0);
        assert_eq!(smooth.len(), 17); // radius int(4 * 2 + 0.5) = 8
        assert!((smooth.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        // Forward neighbours weigh positively: a rising ramp has a positive derivative, slightly
        // under 1 because the derivative kernel is not renormalised (0.99965325 in scipy).
        let slope: f64 = deriv
            .iter()
            .enumerate()
            .map(|(k, w)| w * (k as f64 - 8.0))
            .sum();
        assert!((slope - 0.9996532513430595).abs() < 1e-12, "{slope}");
    }

    #[test]
    fn linear_ramp_gives_its_slope_in_units_per_mm() {
        // f = 3x + 4y per voxel, spacing (0.5, 2, 1): slopes 6 and 2 per mm, |grad| = sqrt(40).
        let dims = [6, 5, 4];
        let v: Vec<f32> = (0..120)
            .map(|i| {
                let (x, y) = (i % 6, (i / 6) % 5);
                (3 * x + 4 * y) as f32
            })
            .collect();
        let spacing = [0.5, 2.0, 1.0];
        let expected = 40f32.sqrt();
        let interior = |g: &[f32]| g[2 + 6 * (2 + 5 * 2)];
        assert!((interior(&central(&v, dims, spacing)) - expected).abs() < 1e-5);
        assert!((interior(&sobel(&v, dims, spacing)) - expected).abs() < 1e-5);
    }
}
