//! Box-averaged copies of volumes too large for the GPU's 3-D textures.
//!
//! Each axis is shrunk by the smallest integer factor that brings it within the limit; each new
//! voxel is the mean of the finite values in its box (a box at the far end may be partial), and
//! sits at the box's centre, so the volume keeps its place in patient space (a partial last box
//! moves its voxel by at most half a box along that axis).

use glam::{DMat3, DVec4};
use rayon::prelude::*;

use super::{Decoded, Volume, VoxelData};

impl Volume {
    /// A box-averaged float32 copy whose every side is at most `max_side`, and the factor per
    /// axis; `None` when the volume fits already.
    pub fn downsampled_to_fit(&self, max_side: usize) -> Option<(Volume, [usize; 3])> {
        let max_side = max_side.max(1);
        if self.dims.iter().all(|&d| d <= max_side) {
            return None;
        }
        let factors = self.dims.map(|d| d.div_ceil(max_side));
        Some((self.box_average(factors), factors))
    }

    /// The mean of every `factors` box of voxels, as a volume of its own.
    pub fn box_average(&self, factors: [usize; 3]) -> Volume {
        let [nx, ny, nz] = self.dims;
        let [fx, fy, fz] = factors;
        let dims = [nx.div_ceil(fx), ny.div_ceil(fy), nz.div_ceil(fz)];
        let [mx, my, _] = dims;
        let mut values = vec![0f32; dims.iter().product()];
        values
            .par_chunks_mut(mx * my)
            .enumerate()
            .for_each(|(k, plane)| {
                for (j, row) in plane.chunks_exact_mut(mx).enumerate() {
                    for (i, out) in row.iter_mut().enumerate() {
                        let (mut sum, mut n) = (0f64, 0u32);
                        for z in k * fz..((k + 1) * fz).min(nz) {
                            for y in j * fy..((j + 1) * fy).min(ny) {
                                for x in i * fx..((i + 1) * fx).min(nx) {
                                    let v = self.data.get_f64(x + nx * (y + ny * z));
                                    if v.is_finite() {
                                        sum += v;
                                        n += 1;
                                    }
                                }
                            }
                        }
                        *out = if n > 0 {
                            (sum / n as f64) as f32
                        } else {
                            f32::NAN
                        };
                    }
                }
            });
        let m = self.world_from_voxel;
        let axes = DMat3::from_cols(
            m.x_axis.truncate(),
            m.y_axis.truncate(),
            m.z_axis.truncate(),
        );
        // The first box's centre, in the old voxel index space.
        let centre = factors.map(|f| (f as f64 - 1.0) / 2.0);
        let origin = (m * DVec4::new(centre[0], centre[1], centre[2], 1.0)).truncate();
        let spacing = [0, 1, 2].map(|a| self.spacing[a] * factors[a] as f64);
        let mut volume = Volume::from_geometry(
            dims,
            spacing,
            axes,
            origin,
            self.space,
            Decoded::scan(VoxelData::Float(values)),
            self.format,
        )
        .expect("a box average of a valid volume is valid");
        volume.notes = self.notes.clone();
        volume.notes.push(format!(
            "box-averaged by {fx}x{fy}x{fz} from {nx}x{ny}x{nz} to {}x{}x{}",
            dims[0], dims[1], dims[2]
        ));
        volume
    }
}

#[cfg(test)]
mod tests {
    use glam::{DMat3, DVec3};

    use super::*;
    use crate::volume::{Format, Space};

    fn ramp(dims: [usize; 3]) -> Volume {
        let values = (0..dims.iter().product::<usize>())
            .map(|i| {
                let (x, y, z) = (
                    i % dims[0],
                    (i / dims[0]) % dims[1],
                    i / (dims[0] * dims[1]),
                );
                (x + 10 * y + 100 * z) as f32
            })
            .collect();
        let axes = DMat3::from_cols(DVec3::X, -DVec3::Y, DVec3::Z);
        Volume::from_geometry(
            dims,
            [0.5, 0.7, 2.0],
            axes,
            DVec3::new(10.0, 20.0, -5.0),
            Space::Lps,
            Decoded::scan(VoxelData::Float(values)),
            Format::Raw,
        )
        .unwrap()
    }

    #[test]
    fn a_volume_that_fits_is_left_alone() {
        assert!(ramp([4, 3, 2]).downsampled_to_fit(4).is_none());
    }

    #[test]
    fn boxes_average_and_keep_the_volume_in_place() {
        let v = ramp([9, 4, 3]);
        let (small, factors) = v.downsampled_to_fit(4).unwrap();
        assert_eq!(factors, [3, 1, 1]);
        assert_eq!(small.dims, [3, 4, 3]);
        assert_eq!(small.spacing, [1.5, 0.7, 2.0]);
        // A linear ramp's box mean is the ramp at the box centre, and the new voxel sits there.
        let (y, z) = (2, 1);
        for (i, x) in [(0usize, 1.0), (1, 4.0), (2, 7.0)] {
            let got = small.data.get_f64(i + 3 * (y + 4 * z));
            assert_eq!(got, x + 10.0 * y as f64 + 100.0 * z as f64);
            let at = small.world_from_voxel * DVec4::new(i as f64, y as f64, z as f64, 1.0);
            let want = v.world_from_voxel * DVec4::new(x, y as f64, z as f64, 1.0);
            assert!((at - want).length() < 1e-12, "{at} vs {want}");
        }
        assert!(small.notes.last().unwrap().contains("3x1x1"));
    }

    #[test]
    fn a_partial_last_box_averages_what_it_has() {
        let (small, factors) = ramp([5, 1, 1]).downsampled_to_fit(3).unwrap();
        assert_eq!((factors, small.dims), ([2, 1, 1], [3, 1, 1]));
        let got: Vec<f64> = (0..3).map(|i| small.data.get_f64(i)).collect();
        assert_eq!(got, vec![0.5, 2.5, 4.0]);
    }
}
