//! The value range of every block of a level, kept in the level array's attributes by the
//! stores gradvol writes (`convert` and the sparse writer), so that a renderer knows a brick is
//! transparent under its transfer function before reading it, and never reads it:
//!
//! ```json
//! "attributes": {"gradvol": {"ranges": {
//!     "block": [64, 64, 64], "fill": [0, 0],
//!     "blocks": [[0, 0, 0, -1024, 1532], [1, 0, 0, -1024, 87]]}}}
//! ```
//!
//! `block` is the side of a block in voxels (x, y, z; blocks start at voxel 0); each entry of
//! `blocks` is a block's position in the grid of blocks (x, y, z) and the smallest and largest
//! value in it; a block not listed holds only values in `fill` (a sparse store lists only the
//! chunks it wrote). A level whose attributes are missing or malformed has no known ranges:
//! its bricks are read as any store's.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::volume::voxels::Scalar;

/// Entries beyond which `measure` doubles the block side: the attributes stay small (a few MB
/// of JSON at most) for the largest levels.
pub const MAX_BLOCKS: usize = 1 << 16;

/// One block: its position in the grid of blocks (x, y, z), its smallest and largest value.
pub type BlockRange = (usize, usize, usize, f64, f64);

/// What the attributes hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredRanges {
    pub block: [usize; 3],
    pub fill: [f64; 2],
    pub blocks: Vec<BlockRange>,
}

/// A level's block ranges, checked against its dimensions.
#[derive(Debug, Clone)]
pub struct LevelRanges {
    block: [usize; 3],
    grid: [usize; 3],
    fill: [f64; 2],
    blocks: HashMap<[usize; 3], [f64; 2]>,
}

impl LevelRanges {
    /// The ranges a level of `dims` voxels keeps in its `attributes`, if they are there and
    /// make sense for it.
    pub fn of_attributes(
        attributes: &serde_json::Map<String, serde_json::Value>,
        dims: [usize; 3],
    ) -> Option<LevelRanges> {
        let value = attributes.get("gradvol")?.get("ranges")?;
        let stored: StoredRanges = serde_json::from_value(value.clone()).ok()?;
        LevelRanges::new(stored, dims)
    }

    fn new(stored: StoredRanges, dims: [usize; 3]) -> Option<LevelRanges> {
        if stored.block.contains(&0) || !stored.fill.iter().all(|v| v.is_finite()) {
            return None;
        }
        let grid = [0, 1, 2].map(|a| dims[a].div_ceil(stored.block[a]));
        let mut blocks = HashMap::with_capacity(stored.blocks.len());
        for (x, y, z, lo, hi) in stored.blocks {
            let inside = x < grid[0] && y < grid[1] && z < grid[2];
            if !inside || !lo.is_finite() || !hi.is_finite() || lo > hi {
                return None;
            }
            blocks.insert([x, y, z], [lo, hi]);
        }
        Some(LevelRanges {
            block: stored.block,
            grid,
            fill: stored.fill,
            blocks,
        })
    }

    /// The range of the values in voxels `first` to `last` (inclusive, x, y, z) of the level.
    pub fn of_region(&self, first: [usize; 3], last: [usize; 3]) -> [f64; 2] {
        let lo = [0, 1, 2].map(|a| (first[a] / self.block[a]).min(self.grid[a] - 1));
        let hi = [0, 1, 2].map(|a| (last[a] / self.block[a]).min(self.grid[a] - 1));
        let mut range = [f64::INFINITY, f64::NEG_INFINITY];
        for z in lo[2]..=hi[2] {
            for y in lo[1]..=hi[1] {
                for x in lo[0]..=hi[0] {
                    let r = self.blocks.get(&[x, y, z]).unwrap_or(&self.fill);
                    range = [range[0].min(r[0]), range[1].max(r[1])];
                }
            }
        }
        range
    }

    /// The range of the whole level.
    pub fn whole(&self) -> [f64; 2] {
        let all = self.grid.iter().product::<usize>();
        let start = if self.blocks.len() < all {
            self.fill
        } else {
            [f64::INFINITY, f64::NEG_INFINITY]
        };
        self.blocks
            .values()
            .fold(start, |r, b| [r[0].min(b[0]), r[1].max(b[1])])
    }
}

/// The ranges of every block of `data` (a level of `dims` voxels, x fastest) in blocks of
/// `block` voxels a side, doubled until there are at most [`MAX_BLOCKS`]; `None` when a block
/// has no finite value (its samples could not be judged).
pub fn measure<T: Scalar>(data: &[T], dims: [usize; 3], block: usize) -> Option<StoredRanges> {
    let mut ranges = RangeMeasure::new(dims, block);
    ranges.add(data, 0, dims[2]);
    ranges.finish()
}

/// Block ranges measured a slab of z-planes at a time, in any order: what a writer that never
/// holds a whole level keeps.
#[derive(Debug, Clone)]
pub struct RangeMeasure {
    dims: [usize; 3],
    block: usize,
    grid: [usize; 3],
    /// Per block (x fastest), the range of its finite values seen so far.
    blocks: Vec<Option<[f64; 2]>>,
}

impl RangeMeasure {
    /// Blocks of `block` voxels a side over a level of `dims`, doubled until there are at most
    /// [`MAX_BLOCKS`].
    pub fn new(dims: [usize; 3], mut block: usize) -> RangeMeasure {
        let count = |b: usize| dims.iter().map(|&d| d.div_ceil(b)).product::<usize>();
        block = block.max(1);
        while count(block) > MAX_BLOCKS {
            block *= 2;
        }
        let grid = dims.map(|d| d.div_ceil(block));
        RangeMeasure {
            dims,
            block,
            grid,
            blocks: vec![None; grid.iter().product()],
        }
    }

    /// Folds in `depth` z-planes starting at plane `z0` (x fastest).
    pub fn add<T: Scalar>(&mut self, slab: &[T], z0: usize, depth: usize) {
        use rayon::prelude::*;
        let [nx, ny, _] = self.dims;
        let (b, grid) = (self.block, self.grid);
        if depth == 0 {
            return;
        }
        let (first, last) = (z0 / b, (z0 + depth - 1) / b);
        let layer = grid[0] * grid[1];
        self.blocks[first * layer..(last + 1) * layer]
            .par_iter_mut()
            .enumerate()
            .for_each(|(i, range)| {
                let (bx, by, bz) = (i % grid[0], i / grid[0] % grid[1], first + i / layer);
                let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
                for z in (bz * b).max(z0)..((bz + 1) * b).min(z0 + depth) {
                    for y in by * b..((by + 1) * b).min(ny) {
                        let row = ((z - z0) * ny + y) * nx;
                        for v in &slab[row + bx * b..row + ((bx + 1) * b).min(nx)] {
                            let v = v.to_f64();
                            if v.is_finite() {
                                lo = lo.min(v);
                                hi = hi.max(v);
                            }
                        }
                    }
                }
                if lo <= hi {
                    *range = Some(match *range {
                        Some([l, h]) => [l.min(lo), h.max(hi)],
                        None => [lo, hi],
                    });
                }
            });
    }

    /// The ranges of every block; `None` when a block has no finite value.
    pub fn finish(self) -> Option<StoredRanges> {
        let [gx, gy, _] = self.grid;
        let blocks = self
            .blocks
            .iter()
            .enumerate()
            .map(|(i, r)| r.map(|[lo, hi]| (i % gx, i / gx % gy, i / (gx * gy), lo, hi)))
            .collect::<Option<Vec<BlockRange>>>()?;
        Some(StoredRanges {
            block: [self.block; 3],
            fill: [0.0, 0.0],
            blocks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_take_the_union_of_their_blocks_and_unlisted_blocks_hold_the_fill() {
        // 10 x 4 x 4 voxels in blocks of 4: a grid of 3 x 1 x 1.
        let mut data = vec![0u16; 10 * 4 * 4];
        data[5] = 7; // block 1
        data[9 + 10 * 3] = 300; // block 2
        let stored = measure(&data, [10, 4, 4], 4).unwrap();
        assert_eq!(stored.blocks.len(), 3);
        let r = LevelRanges::new(stored, [10, 4, 4]).unwrap();
        assert_eq!(r.of_region([0, 0, 0], [3, 3, 3]), [0.0, 0.0]);
        assert_eq!(r.of_region([3, 0, 0], [4, 0, 0]), [0.0, 7.0]);
        assert_eq!(r.of_region([9, 3, 3], [9, 3, 3]), [0.0, 300.0]);
        assert_eq!(r.whole(), [0.0, 300.0]);

        // A sparse listing: only block 2; the rest is the fill.
        let sparse = StoredRanges {
            block: [4; 3],
            fill: [0.0, 0.0],
            blocks: vec![(2, 0, 0, 100.0, 300.0)],
        };
        let r = LevelRanges::new(sparse, [10, 4, 4]).unwrap();
        assert_eq!(r.of_region([0, 0, 0], [4, 3, 3]), [0.0, 0.0]);
        assert_eq!(r.of_region([8, 0, 0], [9, 3, 3]), [100.0, 300.0]);
        assert_eq!(r.whole(), [0.0, 300.0]);
    }

    #[test]
    fn nonsense_is_no_ranges_and_many_blocks_grow() {
        let bad = |blocks, block| StoredRanges {
            block,
            fill: [0.0, 0.0],
            blocks,
        };
        assert!(LevelRanges::new(bad(vec![(3, 0, 0, 0.0, 1.0)], [4; 3]), [10, 4, 4]).is_none());
        assert!(LevelRanges::new(bad(vec![(0, 0, 0, 2.0, 1.0)], [4; 3]), [10, 4, 4]).is_none());
        assert!(LevelRanges::new(bad(vec![], [0, 4, 4]), [10, 4, 4]).is_none());
        let attributes = serde_json::json!({"gradvol": {"ranges": {"block": [4, 4, 4]}}});
        let map = attributes.as_object().unwrap();
        assert!(LevelRanges::of_attributes(map, [10, 4, 4]).is_none());
        // 300 x 300 x 300 in blocks of 4 would be 421875 entries; in blocks of 8, 54872.
        let stored = measure(&vec![1u8; 300 * 300 * 300], [300, 300, 300], 4).unwrap();
        assert_eq!(stored.block, [8; 3]);
        assert!(stored.blocks.len() <= MAX_BLOCKS);
        assert!(measure(&[f32::NAN; 8], [2, 2, 2], 4).is_none());
    }

    #[test]
    fn ranges_measured_slab_by_slab_equal_the_whole_level() {
        // 9 x 7 x 13 in blocks of 4, fed in slabs of 3, 5 and 5 planes that cut blocks.
        let dims = [9, 7, 13];
        let data: Vec<f32> = (0..9 * 7 * 13)
            .map(|i| ((i * 37) % 101) as f32 - 50.0)
            .collect();
        let whole = measure(&data, dims, 4).unwrap();
        let mut slabs = RangeMeasure::new(dims, 4);
        let plane = 9 * 7;
        for (z0, depth) in [(0, 3), (3, 5), (8, 5)] {
            slabs.add(&data[z0 * plane..(z0 + depth) * plane], z0, depth);
        }
        assert_eq!(slabs.finish().unwrap(), whole);
        // A block whose finite values all sit in one slab still has a range.
        let mut half = vec![f32::NAN; 4 * 4 * 8];
        half[4 * 4 * 6] = 3.0;
        let mut slabs = RangeMeasure::new([4, 4, 8], 8);
        slabs.add(&half[..64], 0, 4);
        slabs.add(&half[64..], 4, 4);
        assert_eq!(slabs.finish().unwrap().blocks, vec![(0, 0, 0, 3.0, 3.0)]);
    }
}
