//! The volume cut into bricks on the host: each brick's slot of `C + 3` voxels a side, encoded
//! in the pool's format (what the GPU reads back is exactly the normalised value and |grad f|
//! pairs the CPU reference samples), and the ranges of every block, gathered while the slots
//! are filled. A few bricks are made at a time, straight from the volume's own voxels, so the
//! host never holds a second copy of the volume.

use rayon::prelude::*;

use crate::render::layout::{BORDER_BEFORE, BrickLayout};
use crate::render::quantise::{PoolFormat, Quantisation, code_of, unorm};
use crate::volume::Volume;

/// A texel of the pool as the shader reads it: normalised value and |grad f|, 0..1.
pub type Texel = [f32; 2];

/// |grad f| for the pool: the values (data units per mm), or already their 16-bit codes.
#[derive(Debug, Clone, Copy)]
pub enum Gradient<'a> {
    Values(&'a [f32]),
    Codes(&'a [u16]),
}

/// What the pool is filled from: the volume's values, |grad f| when it is known (0 otherwise),
/// how both are normalised, and the format that stores them.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub volume: &'a Volume,
    pub gradient: Option<Gradient<'a>>,
    pub quantisation: Quantisation,
    pub format: PoolFormat,
}

/// The largest finite value of `values` (0 for none).
pub fn finite_max(values: &[f32]) -> f64 {
    values
        .par_iter()
        .copied()
        .filter(|x| x.is_finite())
        .reduce(|| 0.0, f32::max) as f64
}

/// |grad f| as 16-bit codes of `quantisation` (half the memory of the values, for a pool of
/// 16-bit texels).
pub fn gradient_codes(values: &[f32], quantisation: &Quantisation) -> Vec<u16> {
    values
        .par_iter()
        .map(|&g| quantisation.gradient_code(g))
        .collect()
}

impl<'a> Source<'a> {
    /// Texels normalised to the volume's range and, when given, to the gradient's largest
    /// finite value.
    pub fn new(volume: &'a Volume, gradient: Option<&'a [f32]>, format: PoolFormat) -> Source<'a> {
        if let Some(g) = gradient {
            assert_eq!(g.len(), volume.voxel_count(), "one |grad f| per voxel");
        }
        Source {
            volume,
            gradient: gradient.map(Gradient::Values),
            quantisation: Quantisation::new(volume.range, gradient.map_or(0.0, finite_max)),
            format,
        }
    }

    /// Texels from |grad f| already coded by `quantisation` (for a 16-bit pool).
    pub fn coded(volume: &'a Volume, codes: &'a [u16], quantisation: Quantisation) -> Source<'a> {
        assert_eq!(codes.len(), volume.voxel_count(), "one |grad f| per voxel");
        Source {
            volume,
            gradient: Some(Gradient::Codes(codes)),
            quantisation,
            format: PoolFormat::Unorm16,
        }
    }

    /// The texel of voxel `i`.
    pub(crate) fn texel_at(&self, i: usize, value: f32) -> Texel {
        let q = &self.quantisation;
        let gradient = match self.gradient {
            None => 0.0,
            Some(Gradient::Values(g)) => q.gradient_texel(g[i], self.format),
            Some(Gradient::Codes(c)) => unorm(c[i]),
        };
        [q.value_texel(value, self.format), gradient]
    }

    /// The texel of every voxel, x fastest: the unbricked volume the CPU reference samples.
    pub fn texels(&self) -> Vec<Texel> {
        let n = self.volume.voxel_count();
        let values = self.volume.data.range_to_f32(0, n);
        (0..n)
            .into_par_iter()
            .map(|i| self.texel_at(i, values[i]))
            .collect()
    }
}

/// Where the pool's bricks come from: a volume in memory ([`Source`]) or a store read brick by
/// brick (`crate::render::streamed`). Every brick's slot is made on demand, so the host holds a
/// few slots at a time, never a second copy of the volume.
pub trait BrickSupply: Sync {
    fn quantisation(&self) -> Quantisation;
    fn format(&self) -> PoolFormat;
    /// The texels of `brick`'s slot under `layout` (see [`slot_positions`]).
    fn slot(&self, layout: &BrickLayout, brick: [usize; 3]) -> Result<Vec<Texel>, String>;
}

impl BrickSupply for Source<'_> {
    fn quantisation(&self) -> Quantisation {
        self.quantisation
    }

    fn format(&self) -> PoolFormat {
        self.format
    }

    fn slot(&self, layout: &BrickLayout, brick: [usize; 3]) -> Result<Vec<Texel>, String> {
        let [nx, ny, _] = layout.dims;
        let mut texels = Vec::with_capacity(layout.slot_voxels());
        slot_positions(layout, brick, |[x, y, z]| {
            let i = x + nx * (y + ny * z);
            texels.push(self.texel_at(i, self.volume.data.get_f64(i) as f32));
        });
        Ok(texels)
    }
}

/// Calls `visit` with the voxel (x, y, z) behind every texel of `brick`'s slot, x fastest: from
/// the voxel before the brick's first cell to the one after its last, indices past the volume's
/// ends clamped to its edge.
pub fn slot_positions(layout: &BrickLayout, brick: [usize; 3], mut visit: impl FnMut([usize; 3])) {
    let [nx, ny, nz] = layout.dims;
    let [sx, sy, sz] = layout.slot_side();
    let at = |a: usize, t: usize, n: usize| {
        let first = (brick[a] * layout.brick[a]) as isize - BORDER_BEFORE as isize;
        (first + t as isize).clamp(0, n as isize - 1) as usize
    };
    for z in 0..sz {
        let vz = at(2, z, nz);
        for y in 0..sy {
            let vy = at(1, y, ny);
            for x in 0..sx {
                visit([at(0, x, nx), vy, vz]);
            }
        }
    }
}

/// The voxel range (first, last inclusive) along each axis that `brick`'s slot reads.
pub fn slot_span(layout: &BrickLayout, brick: [usize; 3]) -> [[usize; 2]; 3] {
    [0, 1, 2].map(|a| {
        let n = layout.dims[a];
        let first = (brick[a] * layout.brick[a]).saturating_sub(BORDER_BEFORE);
        let last =
            (brick[a] * layout.brick[a] + layout.slot_side()[a] - 1 - BORDER_BEFORE).min(n - 1);
        [first.min(n - 1), last]
    })
}

/// One brick's slot: `C + 3` texels per axis, x fastest, from the voxel before the brick's
/// first cell to the one after its last (voxels past the volume's ends repeat its edge: clamp
/// to edge), encoded in the pool's format.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedBrick {
    pub brick: [usize; 3],
    pub format: PoolFormat,
    pub bytes: Vec<u8>,
}

impl PackedBrick {
    /// Texel `i` as the GPU reads it.
    pub fn texel(&self, i: usize) -> Texel {
        match self.format {
            PoolFormat::Unorm16 => {
                let b = &self.bytes[4 * i..4 * i + 4];
                [
                    unorm(u16::from_ne_bytes([b[0], b[1]])),
                    unorm(u16::from_ne_bytes([b[2], b[3]])),
                ]
            }
            PoolFormat::Float32 => {
                let b = &self.bytes[8 * i..8 * i + 8];
                [
                    f32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
                    f32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
                ]
            }
        }
    }
}

/// `[value min, value max, |grad f| min, |grad f| max]` texels of every block (x fastest), over
/// the voxels its cells interpolate between.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockRanges {
    pub ranges: Vec<[f32; 4]>,
}

/// Fills every brick's slot, a few bricks at a time (in order of their linear index), hands
/// each batch to `sink`, and returns the block ranges; the first brick the supply cannot make
/// stops it.
pub fn pack<S: BrickSupply + ?Sized>(
    layout: &BrickLayout,
    source: &S,
    mut sink: impl FnMut(Vec<PackedBrick>),
) -> Result<BlockRanges, String> {
    let mut ranges = vec![[f32::INFINITY, 0.0, f32::INFINITY, 0.0]; layout.block_count()];
    let batch = 2 * rayon::current_num_threads().max(1);
    let count = layout.brick_count();
    for first in (0..count).step_by(batch) {
        let made: Vec<(PackedBrick, Vec<Texel>)> = (first..(first + batch).min(count))
            .into_par_iter()
            .map(|i| {
                let [bx, by] = [
                    i % layout.bricks[0],
                    (i / layout.bricks[0]) % layout.bricks[1],
                ];
                let brick = [bx, by, i / (layout.bricks[0] * layout.bricks[1])];
                let texels = source.slot(layout, brick)?;
                let bytes = encode(&texels, source.format());
                let packed = PackedBrick {
                    brick,
                    format: source.format(),
                    bytes,
                };
                Ok((packed, texels))
            })
            .collect::<Result<_, String>>()?;
        let mut bricks = Vec::with_capacity(made.len());
        for (packed, texels) in made {
            block_ranges_of(layout, packed.brick, &texels, &mut ranges);
            bricks.push(packed);
        }
        sink(bricks);
    }
    Ok(BlockRanges { ranges })
}

/// Texels as the pool stores them: 16-bit codes or float32 pairs, native byte order.
pub(crate) fn encode(texels: &[Texel], format: PoolFormat) -> Vec<u8> {
    match format {
        PoolFormat::Unorm16 => texels
            .iter()
            .flat_map(|&[v, g]| {
                let [a, b] = code_of(v).to_ne_bytes();
                let [c, d] = code_of(g).to_ne_bytes();
                [a, b, c, d]
            })
            .collect(),
        PoolFormat::Float32 => bytemuck::cast_slice(texels).to_vec(),
    }
}

/// Widens the ranges of the blocks inside `brick` by the `texels` of their cells.
pub(crate) fn block_ranges_of(
    layout: &BrickLayout,
    brick: [usize; 3],
    texels: &[Texel],
    ranges: &mut [[f32; 4]],
) {
    for (i, [v0, v1, g0, g1]) in brick_block_ranges(layout, brick, texels) {
        let r = &mut ranges[i];
        *r = [r[0].min(v0), r[1].max(v1), r[2].min(g0), r[3].max(g1)];
    }
}

/// The range (value min, max, |grad f| min, max) of each block inside `brick`, from the
/// `texels` of its cells, with the block's index.
pub(crate) fn brick_block_ranges(
    layout: &BrickLayout,
    brick: [usize; 3],
    texels: &[Texel],
) -> Vec<(usize, [f32; 4])> {
    let [sx, sy, _] = layout.slot_side();
    let per = layout.blocks_per_brick();
    let mut out = Vec::with_capacity(per.iter().product());
    for mz in 0..per[2] {
        for my in 0..per[1] {
            for mx in 0..per[0] {
                let m = [mx, my, mz];
                let block = [0, 1, 2].map(|a| brick[a] * per[a] + m[a]);
                if (0..3).any(|a| block[a] >= layout.blocks[a]) {
                    continue;
                }
                // Texels of the block's cells: the slot's first texel is the border voxel.
                let lo = [0, 1, 2].map(|a| m[a] * layout.block[a] + BORDER_BEFORE);
                let hi = [0, 1, 2].map(|a| lo[a] + layout.block[a]);
                let mut r = [f32::INFINITY, 0.0, f32::INFINITY, 0.0];
                for z in lo[2]..=hi[2] {
                    for y in lo[1]..=hi[1] {
                        let row = &texels[(z * sy + y) * sx..][..sx];
                        for &[v, g] in &row[lo[0]..=hi[0]] {
                            r[0] = r[0].min(v);
                            r[1] = r[1].max(v);
                            r[2] = r[2].min(g);
                            r[3] = r[3].max(g);
                        }
                    }
                }
                out.push((layout.block_index(block), r));
            }
        }
    }
    out
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
        let blocks = pack(&layout, &source, |bricks| seen.extend(bricks)).unwrap();
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
                        assert_eq!(b.texel(x + sx * (y + sy * z)), want);
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
