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
                let at = |x: usize, xm: usize, xp: usize| {
                    let gx = (r[xp].to_f32() - r[xm].to_f32()) * h[0];
                    let gy = (ry1[x].to_f32() - ry0[x].to_f32()) * h[1];
                    let gz = (rz1[x].to_f32() - rz0[x].to_f32()) * h[2];
                    (gx * gx + gy * gy + gz * gz).sqrt()
                };
                if nx < 3 {
                    for (x, d) in dst.iter_mut().enumerate() {
                        let (xm, xp) = around(x, nx);
                        *d = at(x, xm, xp);
                    }
                    continue;
                }
                // The interior as zipped slices, so the loop vectorises.
                let inner = nx - 2;
                let lanes = dst[1..nx - 1]
                    .iter_mut()
                    .zip(&r[..inner])
                    .zip(&r[2..])
                    .zip(&ry0[1..nx - 1])
                    .zip(&ry1[1..nx - 1])
                    .zip(&rz0[1..nx - 1])
                    .zip(&rz1[1..nx - 1]);
                for ((((((d, xm), xp), y0), y1), z0), z1) in lanes {
                    let gx = (xp.to_f32() - xm.to_f32()) * h[0];
                    let gy = (y1.to_f32() - y0.to_f32()) * h[1];
                    let gz = (z1.to_f32() - z0.to_f32()) * h[2];
                    *d = (gx * gx + gy * gy + gz * gz).sqrt();
                }
                dst[0] = at(0, 0, 1);
                dst[nx - 1] = at(nx - 1, nx - 2, nx - 1);
            }
        });
    out
}

/// scipy's 3-D Sobel in physical units: derivative [-1, 0, 1] along each axis, smoothing
/// [1, 2, 1] along the other two, divided by 32 s_i.
///
/// Separable: per plane, each row's x-derivative D and x-smoothing S are formed once; the y and
/// z kernels then combine whole rows.
pub fn sobel<T: Scalar>(v: &[T], dims: [usize; 3], spacing: [f64; 3]) -> Vec<f32> {
    let [nx, ny, nz] = dims;
    let plane = nx * ny;
    let h = spacing.map(|s| (1.0 / (32.0 * s)) as f32);
    // D and S of one plane, row by row.
    let rows_of = |z: usize, d: &mut [f32], s: &mut [f32]| {
        for y in 0..ny {
            let r = &v[(y + ny * z) * nx..][..nx];
            for x in 0..nx {
                let (xm, xp) = around(x, nx);
                let (a, b, c) = (r[xm].to_f32(), r[x].to_f32(), r[xp].to_f32());
                d[y * nx + x] = c - a;
                s[y * nx + x] = a + 2.0 * b + c;
            }
        }
    };
    let mut out = vec![0f32; plane * nz];
    out.par_chunks_mut(plane).enumerate().for_each(|(z, slab)| {
        let (zm, zp) = around(z, nz);
        let mut d = [vec![0f32; plane], vec![0f32; plane], vec![0f32; plane]];
        let mut s = [vec![0f32; plane], vec![0f32; plane], vec![0f32; plane]];
        for (k, zz) in [zm, z, zp].into_iter().enumerate() {
            rows_of(zz, &mut d[k], &mut s[k]);
        }
        // Smoothed along z: d and s weighted 1, 2, 1 over the three planes; and s's z-derivative.
        let mut dz_smooth = vec![0f32; plane];
        let mut sz_smooth = vec![0f32; plane];
        let mut sz_diff = vec![0f32; plane];
        for i in 0..plane {
            dz_smooth[i] = d[0][i] + 2.0 * d[1][i] + d[2][i];
            sz_smooth[i] = s[0][i] + 2.0 * s[1][i] + s[2][i];
            sz_diff[i] = s[2][i] - s[0][i];
        }
        fn row(a: &[f32], y: usize, nx: usize) -> &[f32] {
            &a[y * nx..][..nx]
        }
        let row = |a, y| row(a, y, nx);
        for y in 0..ny {
            let (ym, yp) = around(y, ny);
            let (d0, d1, d2) = (row(&dz_smooth, ym), row(&dz_smooth, y), row(&dz_smooth, yp));
            let (s0, s2) = (row(&sz_smooth, ym), row(&sz_smooth, yp));
            let (z0, z1, z2) = (row(&sz_diff, ym), row(&sz_diff, y), row(&sz_diff, yp));
            let dst = &mut slab[y * nx..][..nx];
            for x in 0..nx {
                let gx = (d0[x] + 2.0 * d1[x] + d2[x]) * h[0];
                let gy = (s2[x] - s0[x]) * h[1];
                let gz = (z0[x] + 2.0 * z1[x] + z2[x]) * h[2];
                dst[x] = (gx * gx + gy * gy + gz * gz).sqrt();
            }
        }
    });
    out
}

/// No kernel reaches further than this many voxels (callers refuse such sigmas first; see
/// [`check_gaussian`]).
pub const MAX_GAUSSIAN_RADIUS: usize = 4096;

/// scipy's kernel radius for sigma in voxels: int(truncate sigma + 0.5).
pub fn gaussian_radius(sigma: f64) -> usize {
    (GAUSSIAN_TRUNCATE * sigma + 0.5).clamp(0.0, usize::MAX as f64 / 2.0) as usize
}

/// Refuses a Gaussian whose kernel would reach past four times the volume's longest side or
/// [`MAX_GAUSSIAN_RADIUS`] voxels: beyond that the result is the volume's mean gradient and the
/// cost is unbounded. Returns the reason.
pub fn check_gaussian(dims: [usize; 3], spacing: [f64; 3], sigma_mm: f64) -> Result<(), String> {
    if !(sigma_mm.is_finite() && sigma_mm > 0.0) {
        return Err(format!(
            "sigma must be a positive number of millimetres, not {sigma_mm}"
        ));
    }
    let limit = (4 * dims.iter().max().copied().unwrap_or(1)).min(MAX_GAUSSIAN_RADIUS);
    for axis in 0..3 {
        let radius = gaussian_radius(sigma_mm / spacing[axis]);
        if radius > limit {
            return Err(format!(
                "sigma {sigma_mm} mm is a kernel of {radius} voxels along axis {} (spacing {} mm), \
                 wider than the volume; choose a smaller --sigma-mm",
                ["x", "y", "z"][axis],
                spacing[axis]
            ));
        }
    }
    Ok(())
}

/// scipy's Gaussian kernels for sigma in voxels: (smoothing, first derivative) as correlation
/// weights over offsets -r..=r, r = int(truncate sigma + 0.5). The smoothing weights sum to 1;
/// the derivative weights are j / sigma^2 times them and are not renormalised, as in scipy.
pub fn gaussian_kernels(sigma: f64) -> (Vec<f64>, Vec<f64>) {
    let radius = gaussian_radius(sigma).min(MAX_GAUSSIAN_RADIUS) as i64;
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

/// For each position along an axis of `n`, the reflected index each tap reads:
/// `taps[i * K + k]` for kernel length K.
fn tap_table(n: usize, len: usize) -> Vec<usize> {
    let r = (len / 2) as i64;
    (0..n as i64)
        .flat_map(|i| (0..len as i64).map(move |k| reflect(i + k - r, n)))
        .collect()
}

/// Along x, from the voxels in their own type: (smoothed, differentiated), in one sweep.
fn x_pass<T: Scalar>(
    v: &[T],
    dims: [usize; 3],
    smooth: &[f64],
    deriv: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let [nx, ny, _] = dims;
    let len = smooth.len();
    let taps = tap_table(nx, len);
    let mut a0 = vec![0f64; v.len()];
    let mut a1 = vec![0f64; v.len()];
    a0.par_chunks_mut(nx)
        .zip(a1.par_chunks_mut(nx))
        .zip(v.par_chunks(nx))
        .with_min_len(ny)
        .for_each(|((o0, o1), row)| {
            for x in 0..nx {
                let t = &taps[x * len..][..len];
                let (mut s0, mut s1) = (0.0, 0.0);
                for k in 0..len {
                    let f = row[t[k]].to_f64();
                    s0 += smooth[k] * f;
                    s1 += deriv[k] * f;
                }
                o0[x] = s0;
                o1[x] = s1;
            }
        });
    (a0, a1)
}

/// Along y: `src` correlated with each of `kernels`, reading `src` once. Whole rows are
/// accumulated (`out_row += w * src_row`), which vectorises.
fn y_pass(src: &[f64], dims: [usize; 3], kernels: &[&[f64]]) -> Vec<Vec<f64>> {
    let [nx, ny, _] = dims;
    let plane = nx * ny;
    let len = kernels[0].len();
    let taps = tap_table(ny, len);
    let mut outs: Vec<Vec<f64>> = kernels.iter().map(|_| vec![0f64; src.len()]).collect();
    // One job per z-plane, each writing that plane of every output.
    let mut planes: Vec<Vec<&mut [f64]>> = (0..dims[2]).map(|_| Vec::new()).collect();
    for out in outs.iter_mut() {
        for (z, p) in out.chunks_mut(plane).enumerate() {
            planes[z].push(p);
        }
    }
    planes.par_iter_mut().enumerate().for_each(|(z, outs)| {
        for y in 0..ny {
            for k in 0..len {
                let j = taps[y * len + k];
                let row = &src[(j + ny * z) * nx..][..nx];
                for (out, kernel) in outs.iter_mut().zip(kernels) {
                    let w = kernel[k];
                    for (d, s) in out[y * nx..][..nx].iter_mut().zip(row) {
                        *d += w * s;
                    }
                }
            }
        }
    });
    outs
}

/// Derivative-of-Gaussian gradient with sigma in mm on every axis, in data units per mm.
///
/// x: smoothed and differentiated in one sweep; y: the smoothed volume through both kernels in
/// one sweep, the differentiated one smoothed; z: the three components accumulated row by row
/// and turned into the magnitude at once, never stored.
pub fn gaussian<T: Scalar>(
    v: &[T],
    dims: [usize; 3],
    spacing: [f64; 3],
    sigma_mm: f64,
) -> Vec<f32> {
    let [nx, ny, nz] = dims;
    let plane = nx * ny;
    let k = spacing.map(|s| gaussian_kernels(sigma_mm / s));
    let (a0, a1) = x_pass(v, dims, &k[0].0, &k[0].1);
    let mut b0 = y_pass(&a0, dims, &[&k[1].0, &k[1].1]).into_iter();
    drop(a0);
    let (b00, b01) = (
        b0.next().expect("two kernels"),
        b0.next().expect("two kernels"),
    );
    let b10 = y_pass(&a1, dims, &[&k[1].0]).pop().expect("one kernel");
    drop(a1);
    let (smooth_z, deriv_z) = (&k[2].0, &k[2].1);
    let len = smooth_z.len();
    let taps = tap_table(nz, len);
    let h = spacing.map(|s| 1.0 / s);
    let mut out = vec![0f32; v.len()];
    out.par_chunks_mut(plane).enumerate().for_each(|(z, slab)| {
        let (mut gx, mut gy, mut gz) = (vec![0f64; nx], vec![0f64; nx], vec![0f64; nx]);
        for y in 0..ny {
            gx.fill(0.0);
            gy.fill(0.0);
            gz.fill(0.0);
            for kk in 0..len {
                let base = (y + ny * taps[z * len + kk]) * nx;
                let (ws, wd) = (smooth_z[kk], deriv_z[kk]);
                let rows = (&b10[base..][..nx], &b01[base..][..nx], &b00[base..][..nx]);
                for x in 0..nx {
                    gx[x] += ws * rows.0[x];
                    gy[x] += ws * rows.1[x];
                    gz[x] += wd * rows.2[x];
                }
            }
            for (x, d) in slab[y * nx..][..nx].iter_mut().enumerate() {
                let (a, b, c) = (gx[x] * h[0], gy[x] * h[1], gz[x] * h[2]);
                *d = (a * a + b * b + c * c).sqrt() as f32;
            }
        }
    });
    out
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
