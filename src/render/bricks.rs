//! Empty-space skipping: the volume cut into bricks of [`BRICK`] voxel cells, each with the
//! minimum and maximum of the voxels its cells interpolate between. When the transfer function
//! changes, a brick whose whole value range maps to zero opacity is marked empty, and rays step
//! over it in one jump. Samples in an empty brick would have contributed nothing, so the image
//! is the same with and without skipping; only the time differs.

use rayon::prelude::*;

use crate::tf::Lut;
use crate::volume::Volume;

/// Cells per brick side.
pub const BRICK: usize = 8;

/// Per-brick value ranges of one volume.
#[derive(Debug, Clone)]
pub struct BrickGrid {
    /// Bricks per axis.
    pub dims: [usize; 3],
    /// `[min, max]` per brick, x fastest.
    pub ranges: Vec<[f32; 2]>,
}

/// Bricks along an axis of `n` voxels: brick i covers cells i*BRICK .. (i+1)*BRICK, that is
/// voxels i*BRICK ..= min((i+1)*BRICK, n-1).
pub fn bricks_along(n: usize) -> usize {
    n.saturating_sub(1) / BRICK + 1
}

impl BrickGrid {
    pub fn new(volume: &Volume) -> BrickGrid {
        let [nx, ny, nz] = volume.dims;
        let dims = [nx, ny, nz].map(bricks_along);
        let [bx, by, bz] = dims;
        // One slab of bricks (all bricks with the same z index) per task; its voxel planes are
        // converted to float once.
        let ranges: Vec<[f32; 2]> = (0..bz)
            .into_par_iter()
            .flat_map_iter(|k| {
                let z0 = k * BRICK;
                let z1 = ((k + 1) * BRICK).min(nz - 1);
                let plane = nx * ny;
                let values = volume.data.range_to_f32(z0 * plane, (z1 - z0 + 1) * plane);
                let mut out = vec![[f32::INFINITY, f32::NEG_INFINITY]; bx * by];
                for z in 0..=(z1 - z0) {
                    for y in 0..ny {
                        let row = &values[(z * ny + y) * nx..][..nx];
                        // A voxel on a brick boundary belongs to both bricks.
                        let js = [y / BRICK, (y.max(1) - 1) / BRICK];
                        for (x, &v) in row.iter().enumerate() {
                            if v.is_nan() {
                                continue;
                            }
                            let is = [x / BRICK, (x.max(1) - 1) / BRICK];
                            for j in js {
                                for i in is {
                                    if i < bx && j < by {
                                        let r = &mut out[j * bx + i];
                                        r[0] = r[0].min(v);
                                        r[1] = r[1].max(v);
                                    }
                                }
                            }
                        }
                    }
                }
                out.into_iter()
            })
            .collect();
        BrickGrid { dims, ranges }
    }

    /// 1 for each brick where some value in its range has non-zero opacity in `scalar` (times
    /// `factor`, the constant gradient opacity), else 0. Conservative: the table's entries on
    /// both sides of the range count, as lookups interpolate between them.
    pub fn occupancy(&self, scalar: &Lut, factor: f32) -> Vec<u8> {
        let [lo, scale] = scalar.mapping();
        let last = scalar.entries.len() - 1;
        // Prefix counts of entries with alpha > 0, for a range query per brick.
        let mut visible = Vec::with_capacity(scalar.entries.len() + 1);
        visible.push(0u32);
        for e in &scalar.entries {
            let seen = visible[visible.len() - 1] + u32::from(e[3] * factor > 0.0);
            visible.push(seen);
        }
        let index = |x: f32| ((x - lo) * scale).clamp(0.0, last as f32);
        self.ranges
            .iter()
            .map(|&[min, max]| {
                if min > max {
                    return 0; // only NaN voxels
                }
                let a = index(min).floor() as usize;
                let b = (index(max).ceil() as usize).min(last);
                u8::from(visible[b + 1] - visible[a] > 0)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tf::TransferFunction;
    use crate::volume::synthetic::ct_phantom;

    #[test]
    fn brick_ranges_cover_every_cell_they_own() {
        let v = ct_phantom([21, 17, 9], [1.0; 3], 10.0);
        let grid = BrickGrid::new(&v);
        // 20, 16 and 8 cells; the last voxel of an axis that is a multiple of 8 cells long gets
        // a brick of its own, as the shader's clamped lookup puts it there.
        assert_eq!(grid.dims, [3, 3, 2]);
        let [bx, by, bz] = grid.dims;
        let values = v.data.range_to_f32(0, v.voxel_count());
        for z in 0..9 {
            for y in 0..17 {
                for x in 0..21 {
                    let val = values[x + 21 * (y + 17 * z)];
                    // Every brick whose cells touch this voxel holds its value in range.
                    let owners = |c: usize| [c / BRICK, (c.max(1) - 1) / BRICK];
                    for i in owners(x) {
                        for j in owners(y) {
                            for k in owners(z) {
                                assert!(i < bx && j < by && k < bz);
                                let [lo, hi] = grid.ranges[(k * by + j) * bx + i];
                                assert!(lo <= val && val <= hi, "{x},{y},{z}");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn occupancy_marks_bricks_by_opacity_of_their_range() {
        let grid = BrickGrid {
            dims: [3, 1, 1],
            ranges: vec![[-1000.0, -900.0], [-950.0, 100.0], [200.0, 300.0]],
        };
        let mut tf = TransferFunction::default_for_range([-1000.0, 1000.0]);
        tf.scalar_opacity = vec![[-1000.0, 0.0], [0.0, 0.0], [50.0, 0.5], [1000.0, 0.5]];
        let luts = tf.bake();
        assert_eq!(grid.occupancy(&luts.scalar, 1.0), vec![0, 1, 1]);
        assert_eq!(grid.occupancy(&luts.scalar, 0.0), vec![0, 0, 0]);
    }
}
