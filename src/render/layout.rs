//! How a volume is cut up on the GPU: bricks, the unit of storage, and blocks, the unit of
//! empty-space skipping. Plain arithmetic, shared by the packer, the classifier, the shader's
//! parameters and the CPU reference.
//!
//! Both are counted in voxel *cells* (the spaces between voxel centres, where trilinear
//! interpolation happens): brick `i` along an axis covers cells `i*C .. (i+1)*C`, so filtering
//! anywhere in it needs the voxels `i*C ..= (i+1)*C`, and the shading normal (a stencil half a
//! voxel either way) one more on each side: its slot holds the `C + 3` voxels
//! `i*C - 1 ..= (i+1)*C + 1`, shared with its neighbours, so that no sample ever reads another
//! slot. Bricks are 32, 64 or 128 cells along each axis, whichever wastes the least slot space
//! for that axis (an axis of 511 cells takes four bricks of 128, one of 180 three of 64).
//! A block is a smaller box of `K` cells per axis (`K` divides `C`): it has the value and
//! |grad f| ranges that decide whether the transfer function leaves it empty. Blocks follow the
//! voxel spacing (about 8 of the finest voxels a side), so a CT of 5 mm slices gets flat
//! blocks (8 x 8 x 1 voxels) instead of boxes 16 times deeper than wide. An axis shorter than a
//! brick gets bricks only as long as it needs (a CT of 48 slices: bricks of 64 x 64 x 47
//! cells), so thin volumes carry no empty slot space.

/// The brick sizes (cells) chosen from per axis when a caller picks none.
pub const BRICK_SIZES: [usize; 3] = [32, 64, 128];

/// Voxels a slot holds before its brick's first cell.
pub const BORDER_BEFORE: usize = 1;

/// Cells per block side along the finest axis.
pub const BLOCK_TARGET: usize = 8;

/// Bricks and blocks of one volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrickLayout {
    /// Volume size in voxels, x fastest.
    pub dims: [usize; 3],
    /// Cells per brick along each axis, `C`: the size asked for (or the best of
    /// [`BRICK_SIZES`]), or the whole axis (rounded up to whole blocks) when it is shorter; a
    /// brick's slot holds `C + 3` voxels per axis.
    pub brick: [usize; 3],
    /// Cells per block along each axis, `K`: powers of two that divide `C`.
    pub block: [usize; 3],
    /// Bricks per axis.
    pub bricks: [usize; 3],
    /// Blocks per axis.
    pub blocks: [usize; 3],
}

/// How many pieces of `size` cells cover an axis of `n` voxels: at least one, also for a
/// single voxel (which has no cells).
pub fn pieces_along(n: usize, size: usize) -> usize {
    n.saturating_sub(1).div_ceil(size).max(1)
}

impl BrickLayout {
    /// Bricks of `brick` cells (a power of two, at least 2; fewer along a shorter axis), or per
    /// axis the one of [`BRICK_SIZES`] that pads least when `None`, and blocks shaped by
    /// `spacing`.
    pub fn new(dims: [usize; 3], spacing: [f64; 3], brick: Option<usize>) -> BrickLayout {
        if let Some(b) = brick {
            assert!(
                b.is_power_of_two() && b >= 2,
                "brick size {b} must be a power of two of at least 2"
            );
        }
        let finest = spacing.iter().copied().fold(f64::INFINITY, f64::min);
        let smallest = brick.unwrap_or(BRICK_SIZES[0]);
        let target = BLOCK_TARGET.min(smallest);
        let block = spacing.map(|s| {
            let want = (target as f64 * finest / s)
                .round()
                .clamp(1.0, target as f64) as usize;
            // The largest power of two not above `want`, so it divides the brick.
            1 << (usize::BITS - 1 - want.leading_zeros())
        });
        let brick = [0, 1, 2].map(|a| {
            let cells = dims[a].saturating_sub(1).max(1);
            let slots = |c: usize| pieces_along(dims[a], c) * (c + 3);
            let size = brick.unwrap_or_else(|| {
                // The least padding; of equals, the larger brick.
                *BRICK_SIZES
                    .iter()
                    .rev()
                    .min_by_key(|&&c| slots(c))
                    .expect("sizes")
            });
            if cells < size {
                cells.div_ceil(block[a]) * block[a]
            } else {
                size
            }
        });
        BrickLayout {
            dims,
            brick,
            block,
            bricks: [0, 1, 2].map(|a| pieces_along(dims[a], brick[a])),
            blocks: [0, 1, 2].map(|a| pieces_along(dims[a], block[a])),
        }
    }

    /// The bricks of a coarser pyramid level of `dims` whose slots fit the finest level's:
    /// `brick` cells per axis (the finest level's), or the whole axis where it is shorter.
    /// Blocks play no part in a coarse level (skipping is decided on the finest level's).
    pub fn coarse(dims: [usize; 3], brick: [usize; 3]) -> BrickLayout {
        let brick = [0, 1, 2].map(|a| brick[a].min(dims[a].saturating_sub(1).max(1)));
        BrickLayout {
            dims,
            brick,
            block: brick,
            bricks: [0, 1, 2].map(|a| pieces_along(dims[a], brick[a])),
            blocks: [0, 1, 2].map(|a| pieces_along(dims[a], brick[a])),
        }
    }

    /// Voxels per slot along each axis: the brick's cells and its shared borders.
    pub fn slot_side(&self) -> [usize; 3] {
        self.brick.map(|c| c + 3)
    }

    /// Voxels in one slot.
    pub fn slot_voxels(&self) -> usize {
        self.slot_side().iter().product()
    }

    pub fn brick_count(&self) -> usize {
        self.bricks.iter().product()
    }

    pub fn block_count(&self) -> usize {
        self.blocks.iter().product()
    }

    /// Blocks per brick along each axis.
    pub fn blocks_per_brick(&self) -> [usize; 3] {
        [0, 1, 2].map(|a| self.brick[a] / self.block[a])
    }

    /// The linear index (x fastest) of brick `b`.
    pub fn brick_index(&self, b: [usize; 3]) -> usize {
        b[0] + self.bricks[0] * (b[1] + self.bricks[1] * b[2])
    }

    /// The linear index (x fastest) of block `b`.
    pub fn block_index(&self, b: [usize; 3]) -> usize {
        b[0] + self.blocks[0] * (b[1] + self.blocks[1] * b[2])
    }

    /// The brick holding block `b`.
    pub fn brick_of_block(&self, b: [usize; 3]) -> [usize; 3] {
        [0, 1, 2].map(|a| b[a] * self.block[a] / self.brick[a])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_every_cell_and_a_single_voxel() {
        assert_eq!(pieces_along(1, 32), 1);
        assert_eq!(pieces_along(2, 32), 1);
        assert_eq!(pieces_along(33, 32), 1);
        assert_eq!(pieces_along(34, 32), 2);
        assert_eq!(pieces_along(512, 32), 16);
    }

    #[test]
    fn blocks_follow_the_spacing_and_divide_the_brick() {
        // A CT of 0.57 mm pixels and 5 mm slices: flat blocks.
        let ct = BrickLayout::new([512, 512, 48], [0.5703, 0.5703, 5.0], Some(32));
        assert_eq!(ct.block, [8, 8, 1]);
        assert_eq!(ct.bricks, [16, 16, 2]);
        assert_eq!(ct.blocks, [64, 64, 47]);
        assert_eq!(ct.blocks_per_brick(), [4, 4, 32]);
        // Chosen per axis: 511 cells in four bricks of 128, the 47 along z in one brick of
        // their own size.
        let ct = BrickLayout::new([512, 512, 48], [0.5703, 0.5703, 5.0], None);
        assert_eq!(ct.brick, [128, 128, 47]);
        assert_eq!(ct.bricks, [4, 4, 1]);
        assert_eq!(ct.slot_side(), [131, 131, 50]);
        let mri = BrickLayout::new([181, 217, 181], [1.0; 3], None);
        assert_eq!(mri.brick, [64, 32, 64]);
        // A single voxel: one brick of one block.
        let thin = BrickLayout::new([40, 30, 1], [1.0; 3], Some(64));
        assert_eq!(thin.brick, [40, 32, 8]);
        assert_eq!(thin.bricks, [1, 1, 1]);
        let mri32 = BrickLayout::new([181, 217, 181], [1.0; 3], Some(32));
        assert_eq!(mri32.block, [8; 3]);
        assert_eq!(mri32.blocks, [23, 27, 23]);
        // Small bricks bound the blocks.
        let small = BrickLayout::new([20, 20, 20], [1.0, 2.0, 3.0], Some(4));
        assert_eq!(small.block, [4, 2, 1]);
        for l in [ct, mri, mri32, small, thin] {
            for a in 0..3 {
                assert_eq!(l.brick[a] % l.block[a], 0);
                // The last block lies in the last brick.
                assert_eq!(
                    (l.blocks[a] - 1) * l.block[a] / l.brick[a],
                    l.bricks[a] - 1,
                    "{l:?}"
                );
            }
        }
    }
}
