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
    let (dims, spacing) = (volume.dims, volume.spacing);
    match &volume.data {
        VoxelData::Int8(v) => gradient_of(v, dims, spacing, operator),
        VoxelData::Uint8(v) => gradient_of(v, dims, spacing, operator),
        VoxelData::Int16(v) => gradient_of(v, dims, spacing, operator),
        VoxelData::Uint16(v) => gradient_of(v, dims, spacing, operator),
        VoxelData::Int32(v) => gradient_of(v, dims, spacing, operator),
        VoxelData::Uint32(v) => gradient_of(v, dims, spacing, operator),
        VoxelData::Float(v) => gradient_of(v, dims, spacing, operator),
        VoxelData::Double(v) => gradient_of(v, dims, spacing, operator),
    }
}

/// |grad f| by `operator` of the voxels `v` (`dims`, x fastest, `spacing` mm apart).
pub fn gradient_of<T: Scalar>(
    v: &[T],
    dims: [usize; 3],
    spacing: [f64; 3],
    operator: Operator,
) -> Vec<f32> {
    match operator {
        Operator::Central => central(v, dims, spacing),
        Operator::Sobel => sobel(v, dims, spacing),
        Operator::Gaussian { sigma_mm } => gaussian(v, dims, spacing, sigma_mm),
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

/// The three products a gradient needs for one z-plane, from that plane alone: (s_y s_x f,
/// d_y s_x f, s_y d_x f), x fastest.
struct PlaneProducts([Vec<f64>; 3]);

/// Scratch and kernels for computing [`PlaneProducts`].
struct PlaneKernels<'a> {
    dims: [usize; 3],
    x: (&'a [f64], &'a [f64], &'a [usize]),
    y: (&'a [f64], &'a [f64], &'a [usize]),
}

impl PlaneKernels<'_> {
    fn products<T: Scalar>(&self, v: &[T], z: usize) -> PlaneProducts {
        let [nx, ny, _] = self.dims;
        let (sx, dx, tx) = self.x;
        let (sy, dy, ty) = self.y;
        let (lx, ly) = (sx.len(), sy.len());
        // Along x: smoothed and differentiated rows.
        let mut a0 = vec![0f64; nx * ny];
        let mut a1 = vec![0f64; nx * ny];
        for y in 0..ny {
            let row = &v[(y + ny * z) * nx..][..nx];
            for x in 0..nx {
                let t = &tx[x * lx..][..lx];
                let (mut s0, mut s1) = (0.0, 0.0);
                for k in 0..lx {
                    let f = row[t[k]].to_f64();
                    s0 += sx[k] * f;
                    s1 += dx[k] * f;
                }
                a0[y * nx + x] = s0;
                a1[y * nx + x] = s1;
            }
        }
        // Along y: whole rows accumulated.
        let mut out = [
            vec![0f64; nx * ny],
            vec![0f64; nx * ny],
            vec![0f64; nx * ny],
        ];
        for y in 0..ny {
            for k in 0..ly {
                let j = ty[y * ly + k] * nx;
                let (r0, r1) = (&a0[j..j + nx], &a1[j..j + nx]);
                let [o0, o1, o2] = &mut out;
                let (o0, o1, o2) = (
                    &mut o0[y * nx..][..nx],
                    &mut o1[y * nx..][..nx],
                    &mut o2[y * nx..][..nx],
                );
                for x in 0..nx {
                    o0[x] += sy[k] * r0[x];
                    o1[x] += dy[k] * r0[x];
                    o2[x] += sy[k] * r1[x];
                }
            }
        }
        PlaneProducts(out)
    }
}

/// Derivative-of-Gaussian gradient with sigma in mm on every axis, in data units per mm.
///
/// The x and y passes stay within a z-plane, so each plane's three products are computed once
/// and kept only while the z kernel reaches them: z is swept in a few chunks in parallel, each
/// holding a window of at most 2r + 2 planes. Memory beyond the input and output is that
/// window per thread, not whole intermediate volumes.
pub fn gaussian<T: Scalar>(
    v: &[T],
    dims: [usize; 3],
    spacing: [f64; 3],
    sigma_mm: f64,
) -> Vec<f32> {
    let [nx, ny, nz] = dims;
    let plane = nx * ny;
    let k = spacing.map(|s| gaussian_kernels(sigma_mm / s));
    let taps = [0, 1, 2].map(|a| tap_table(dims[a], k[a].0.len()));
    let kernels = PlaneKernels {
        dims,
        x: (&k[0].0, &k[0].1, &taps[0]),
        y: (&k[1].0, &k[1].1, &taps[1]),
    };
    let (sz, dz, tz) = (&k[2].0, &k[2].1, &taps[2]);
    let (lz, r) = (sz.len(), sz.len() / 2);
    let h = spacing.map(|s| 1.0 / s);
    let chunk = nz.div_ceil(2 * rayon::current_num_threads()).max(1);
    let mut out = vec![0f32; v.len()];
    out.par_chunks_mut(plane * chunk)
        .enumerate()
        .for_each(|(c, slabs)| {
            let mut window: std::collections::BTreeMap<usize, PlaneProducts> = Default::default();
            let (mut gx, mut gy, mut gz) =
                (vec![0f64; plane], vec![0f64; plane], vec![0f64; plane]);
            for (i, slab) in slabs.chunks_mut(plane).enumerate() {
                let z = c * chunk + i;
                gx.fill(0.0);
                gy.fill(0.0);
                gz.fill(0.0);
                for kk in 0..lz {
                    let j = tz[z * lz + kk];
                    let p = window.entry(j).or_insert_with(|| kernels.products(v, j));
                    let [b00, b01, b10] = &p.0;
                    let (ws, wd) = (sz[kk], dz[kk]);
                    for q in 0..plane {
                        gx[q] += ws * b10[q];
                        gy[q] += ws * b01[q];
                        gz[q] += wd * b00[q];
                    }
                }
                for (q, d) in slab.iter_mut().enumerate() {
                    let (a, b, c) = (gx[q] * h[0], gy[q] * h[1], gz[q] * h[2]);
                    *d = (a * a + b * b + c * c).sqrt() as f32;
                }
                // Planes below z + 1 - r are not reached again (reflection maps past the borders
                // back inside the reach).
                window.retain(|&j, _| j + r > z);
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
