//! Volumes made in code: exact, small, and free of downloads. The golden tests draw them and
//! the viewer opens the CT-like phantom when it is given no file.

use glam::{DMat3, DVec3};

use super::{Decoded, Format, Space, Volume, VoxelData};

fn grid(dims: [usize; 3], spacing: [f64; 3], data: VoxelData) -> Volume {
    Volume::from_geometry(
        dims,
        spacing,
        DMat3::IDENTITY,
        DVec3::ZERO,
        Space::Lps,
        Decoded::scan(data),
        Format::Raw,
    )
    .expect("synthetic volumes have consistent sizes")
}

/// `f` at every voxel centre, with coordinates in -1..1 across the volume on each axis.
fn fill(dims: [usize; 3], f: impl Fn(DVec3) -> f64) -> Vec<f64> {
    let [nx, ny, nz] = dims;
    let c = |i: usize, n: usize| {
        if n == 1 {
            0.0
        } else {
            2.0 * i as f64 / (n - 1) as f64 - 1.0
        }
    };
    let mut out = Vec::with_capacity(nx * ny * nz);
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                out.push(f(DVec3::new(c(x, nx), c(y, ny), c(z, nz))));
            }
        }
    }
    out
}

/// A ball of value 1 and radius `radius` (in -1..1 units) in a field of 0, with edges smoothed
/// over about a voxel so the boundary has a well-defined gradient.
pub fn sphere(n: usize, radius: f64) -> Volume {
    let width = 2.0 / n as f64;
    let values = fill([n; 3], |p| {
        let s = (radius - p.length()) / width;
        (0.5 + s).clamp(0.0, 1.0)
    });
    grid(
        [n; 3],
        [1.0; 3],
        VoxelData::Float(values.iter().map(|&v| v as f32).collect()),
    )
}

/// The Marschner-Lobb test signal (fM = 6, alpha = 0.25) on -1..1, values in 0..1.
pub fn marschner_lobb(n: usize) -> Volume {
    let (fm, alpha) = (6.0, 0.25);
    let pi = std::f64::consts::PI;
    let values = fill([n; 3], |p| {
        let r = (p.x * p.x + p.y * p.y).sqrt();
        let rho = (2.0 * pi * fm * (pi * r / 2.0).cos()).cos();
        (1.0 - (pi * p.z / 2.0).sin() + alpha * (1.0 + rho)) / (2.0 * (1.0 + alpha))
    });
    grid(
        [n; 3],
        [1.0; 3],
        VoxelData::Float(values.iter().map(|&v| v as f32).collect()),
    )
}

/// A CT-like phantom in Hounsfield units (int16): a body of soft tissue under a layer of fat,
/// two lungs, a spine, ribs, a contrast-filled aorta and smaller vessels, with noise of the
/// given standard deviation. Axes: x left, y posterior, z superior (LPS), as in a chest CT.
pub fn ct_phantom(dims: [usize; 3], spacing: [f64; 3], noise_hu: f64) -> Volume {
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let mut normal = move || {
        // Sum of four uniforms: close enough to Gaussian for image noise, and deterministic.
        let mut s = 0.0;
        for _ in 0..4 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            s += (rng >> 11) as f64 / (1u64 << 53) as f64;
        }
        (s - 2.0) * (3.0f64).sqrt()
    };
    let ellipse = |p: DVec3, c: [f64; 2], r: [f64; 2]| {
        ((p.x - c[0]) / r[0]).powi(2) + ((p.y - c[1]) / r[1]).powi(2)
    };
    let values = fill(dims, |p| {
        let body = ellipse(p, [0.0, 0.0], [0.9, 0.7]);
        if body > 1.0 {
            return -1000.0;
        }
        let mut hu = if body > 0.8 { -100.0 } else { 40.0 };
        let in_z = p.z.abs() < 0.85;
        for side in [-1.0, 1.0] {
            if in_z && ellipse(p, [0.42 * side, -0.05], [0.3, 0.45]) < 1.0 {
                hu = -850.0;
            }
            // Small vessels inside each lung.
            if in_z && ellipse(p, [0.42 * side + 0.08, 0.05 + 0.1 * p.z], [0.03, 0.03]) < 1.0 {
                hu = 250.0;
            }
        }
        // Ribs: rings of bone just under the fat, every 0.3 in z.
        let rib = (p.z * 3.3).rem_euclid(1.0) < 0.22 && (0.6..0.72).contains(&body);
        if rib && p.y > -0.6 {
            hu = 700.0;
        }
        // Spine: a vertebral body of cortical shell and spongy core, behind the heart.
        let spine = ellipse(p, [0.0, 0.5], [0.12, 0.12]);
        if spine < 1.0 {
            hu = if spine > 0.6 { 1000.0 } else { 300.0 };
        }
        // Aorta, contrast-enhanced, in front of the spine.
        if ellipse(p, [-0.12, 0.25], [0.08, 0.08]) < 1.0 {
            hu = 350.0;
        }
        hu
    });
    let voxels = values
        .iter()
        .map(|&v| {
            let noisy = if v > -1000.0 {
                v + noise_hu * normal()
            } else {
                v
            };
            noisy.round().clamp(-1024.0, 3071.0) as i16
        })
        .collect();
    grid(dims, spacing, VoxelData::Int16(voxels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_volumes_have_the_expected_values() {
        let s = sphere(32, 0.5);
        assert_eq!(s.range, [0.0, 1.0]);
        let ml = marschner_lobb(17);
        assert!(ml.range[0] >= 0.0 && ml.range[1] <= 1.0);
        let ct = ct_phantom([48, 40, 24], [1.0, 1.0, 2.0], 0.0);
        assert_eq!(ct.range, [-1000.0, 1000.0]);
        let noisy = ct_phantom([48, 40, 24], [1.0, 1.0, 2.0], 20.0);
        assert!(noisy.range[0] < -1000.0 + 1.0 && noisy.range[1] > 1000.0);
    }
}
