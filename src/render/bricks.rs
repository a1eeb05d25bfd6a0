//! The volume cut into bricks on the host: each brick's slot of `C + 3` voxels a side as
//! normalised value and |grad f| pairs (exactly what the GPU will read back from the pool's
//! format), and the ranges of every block, gathered while the slots are filled. A slab of bricks (one row of bricks along z) is converted at a time, so
//! the host never holds a second copy of the volume.

use rayon::prelude::*;

use crate::render::layout::{BORDER_BEFORE, BrickLayout};
use crate::render::quantise::{PoolFormat, Quantisation};
use crate::volume::Volume;

/// A texel of the pool as the shader reads it: normalised value and |grad f|, 0..1.
pub type Texel = [f32; 2];

/// What the pool is filled from: the volume's values, |grad f| when it is known (0 otherwise),
/// how both are normalised, and the format that stores them.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub volume: &'a Volume,
    pub gradient: Option<&'a [f32]>,
    pub quantisation: Quantisation,
    pub format: PoolFormat,
}

impl<'a> Source<'a> {
    /// Codes normalised to the volume's range and, when given, to the gradient's largest
    /// finite value.
    pub fn new(volume: &'a Volume, gradient: Option<&'a [f32]>, format: PoolFormat) -> Source<'a> {
        if let Some(g) = gradient {
            assert_eq!(g.len(), volume.voxel_count(), "one |grad f| per voxel");
        }
        let gradient_max = gradient.map_or(0.0, |g| {
            g.par_iter()
                .copied()
                .filter(|x| x.is_finite())
                .reduce(|| 0.0, f32::max) as f64
        });
        Source {
            volume,
            gradient,
            quantisation: Quantisation::new(volume.range, gradient_max),
            format,
        }
    }

    fn texel(&self, value: f32, gradient: Option<f32>) -> Texel {
        let q = &self.quantisation;
        [
            q.value_texel(value, self.format),
            gradient.map_or(0.0, |g| q.gradient_texel(g, self.format)),
        ]
    }

    /// The texel of every voxel, x fastest: the unbricked volume the CPU reference samples.
    pub fn texels(&self) -> Vec<Texel> {
        let n = self.volume.voxel_count();
        let values = self.volume.data.range_to_f32(0, n);
        (0..n)
            .into_par_iter()
            .map(|i| self.texel(values[i], self.gradient.map(|g| g[i])))
            .collect()
    }
}

/// One brick's slot: `C + 3` texels per axis, x fastest, from the voxel before the brick's
/// first cell to the one after its last; voxels past the volume's ends repeat its edge (clamp
/// to edge).
#[derive(Debug, Clone, PartialEq)]
pub struct PackedBrick {
    pub brick: [usize; 3],
    pub texels: Vec<Texel>,
}

/// `[value min, value max, |grad f| min, |grad f| max]` texels of every block (x fastest), over
/// the voxels its cells interpolate between.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockRanges {
    pub ranges: Vec<[f32; 4]>,
}

/// Fills every brick's slot in slabs along z, hands each slab's bricks to `sink` (in order of
/// their linear index), and returns the block ranges.
pub fn pack(
    layout: &BrickLayout,
    source: &Source,
    mut sink: impl FnMut(Vec<PackedBrick>),
) -> BlockRanges {
    let [nx, ny, nz] = layout.dims;
    let [cx, cy, cz] = layout.brick;
    let [sx, sy, sz] = layout.slot_side();
    let plane = nx * ny;
    let mut ranges = vec![[f32::INFINITY, 0.0, f32::INFINITY, 0.0]; layout.block_count()];
    for bz in 0..layout.bricks[2] {
        // The slab's planes: from the one before the bricks' first cell to their slots' end.
        let first = (bz * cz).saturating_sub(BORDER_BEFORE);
        let z0 = (bz * cz) as isize - BORDER_BEFORE as isize;
        let z1 = (bz * cz + sz - 1 - BORDER_BEFORE).min(nz - 1);
        let values = source
            .volume
            .data
            .range_to_f32(first * plane, (z1 - first + 1) * plane);
        let gradient = source.gradient.map(|g| &g[first * plane..(z1 + 1) * plane]);
        // The volume's index along an axis of `n` for slot texel `t` of a brick starting at cell
        // `c0`: clamped to the volume.
        let at = |c0: usize, t: usize, n: usize| {
            (c0 as isize - BORDER_BEFORE as isize + t as isize).clamp(0, n as isize - 1) as usize
        };
        let bricks: Vec<PackedBrick> = (0..layout.bricks[0] * layout.bricks[1])
            .into_par_iter()
            .map(|i| {
                let (bx, by) = (i % layout.bricks[0], i / layout.bricks[0]);
                let mut texels = Vec::with_capacity(layout.slot_voxels());
                for z in 0..sz {
                    let vz = (z0 + z as isize).clamp(0, nz as isize - 1) as usize - first;
                    for y in 0..sy {
                        let row = (vz * ny + at(by * cy, y, ny)) * nx;
                        for x in 0..sx {
                            let i = row + at(bx * cx, x, nx);
                            texels.push(source.texel(values[i], gradient.map(|g| g[i])));
                        }
                    }
                }
                PackedBrick {
                    brick: [bx, by, bz],
                    texels,
                }
            })
            .collect();
        for brick in &bricks {
            block_ranges_of(layout, brick, &mut ranges);
        }
        sink(bricks);
    }
    BlockRanges { ranges }
}

/// Widens the ranges of the blocks inside `brick` by the texels of their cells.
fn block_ranges_of(layout: &BrickLayout, brick: &PackedBrick, ranges: &mut [[f32; 4]]) {
    let [sx, sy, _] = layout.slot_side();
    let per = layout.blocks_per_brick();
    for mz in 0..per[2] {
        for my in 0..per[1] {
            for mx in 0..per[0] {
                let m = [mx, my, mz];
                let block = [0, 1, 2].map(|a| brick.brick[a] * per[a] + m[a]);
                if (0..3).any(|a| block[a] >= layout.blocks[a]) {
                    continue;
                }
                // Texels of the block's cells: the slot's first texel is the border voxel.
                let lo = [0, 1, 2].map(|a| m[a] * layout.block[a] + BORDER_BEFORE);
                let hi = [0, 1, 2].map(|a| lo[a] + layout.block[a]);
                let r = &mut ranges[layout.block_index(block)];
                for z in lo[2]..=hi[2] {
                    for y in lo[1]..=hi[1] {
                        let row = &brick.texels[(z * sy + y) * sx..][..sx];
                        for &[v, g] in &row[lo[0]..=hi[0]] {
                            r[0] = r[0].min(v);
                            r[1] = r[1].max(v);
                            r[2] = r[2].min(g);
                            r[3] = r[3].max(g);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::synthetic::ct_phantom;

    #[test]
    fn slots_hold_their_voxels_and_the_shared_border() {
        let v = ct_phantom([21, 17, 9], [1.0, 1.0, 2.0], 10.0);
        let gradient: Vec<f32> = (0..v.voxel_count()).map(|i| i as f32).collect();
        let source = Source::new(&v, Some(&gradient), PoolFormat::Unorm16);
        let coded = source.texels();
        let layout = BrickLayout::new(v.dims, v.spacing, Some(8));
        assert_eq!(layout.bricks, [3, 2, 1]);
        let mut seen = Vec::new();
        let blocks = pack(&layout, &source, |bricks| seen.extend(bricks));
        assert_eq!(seen.len(), 6);
        let [sx, sy, sz] = layout.slot_side();
        for b in &seen {
            for z in 0..sz {
                for y in 0..sy {
                    for x in 0..sx {
                        let at = |i: usize, a: usize| {
                            (b.brick[a] * layout.brick[a] + i)
                                .saturating_sub(1)
                                .min(v.dims[a] - 1)
                        };
                        let (vx, vy, vz) = (at(x, 0), at(y, 1), at(z, 2));
                        let want = coded[vx + 21 * (vy + 17 * vz)];
                        assert_eq!(b.texels[x + sx * (y + sy * z)], want);
                    }
                }
            }
        }
        // Every voxel a block's cells touch lies within its ranges.
        for z in 0..9 {
            for y in 0..17 {
                for x in 0..21 {
                    let [vc, gc] = coded[x + 21 * (y + 17 * z)];
                    let p = [x, y, z];
                    let owners = |a: usize| {
                        let k = layout.block[a];
                        let last = layout.blocks[a] - 1;
                        [(p[a] / k).min(last), (p[a].max(1) - 1) / k]
                    };
                    for i in owners(0) {
                        for j in owners(1) {
                            for k in owners(2) {
                                let r = blocks.ranges[layout.block_index([i, j, k])];
                                assert!(r[0] <= vc && vc <= r[1], "{p:?}");
                                assert!(r[2] <= gc && gc <= r[3], "{p:?}");
                            }
                        }
                    }
                }
            }
        }
    }
}
