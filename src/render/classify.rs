//! Brick classification: which blocks the transfer function leaves empty.
//!
//! A block is empty when every sample in it gets zero opacity: when the classification table
//! is zero over the rectangle of its value range x its |grad f| range. That holds for 1-D
//! curves (the scalar opacity zero over the values, or the gradient opacity over the |grad f|s)
//! and for 2-D widgets alike, and it is one query of a summed-area table of the entries with
//! positive alpha, so a classification is one pass over the blocks, a few milliseconds even
//! for a volume of hundreds of millions of voxels, and it runs on every transfer-function
//! edit. Conservative by construction: the entries on both sides of a range count (the sampler
//! filters between them), widened by one more for rounding.

use crate::gpu::{Gpu, GpuError, read_only_texture};
use crate::render::bricks::BlockRanges;
use crate::render::layout::BrickLayout;
use crate::render::quantise::Quantisation;
use crate::render::table::ClassTable;

/// A summed-area table of the classification table's entries with positive alpha: whether
/// any entry in a rectangle is visible is one lookup of four sums.
#[derive(Debug)]
pub struct Visible {
    columns: usize,
    rows: usize,
    /// (columns + 1) x (rows + 1) sums; sum[r][c] counts the entries above and left of (c, r).
    sums: Vec<u32>,
}

impl Visible {
    pub fn new(table: &ClassTable) -> Visible {
        let (columns, rows) = (table.columns, table.rows);
        let width = columns + 1;
        let mut sums = vec![0u32; width * (rows + 1)];
        for r in 0..rows {
            let mut run = 0;
            for c in 0..columns {
                run += u32::from(table.entries[r * columns + c][3].to_f32() > 0.0);
                sums[(r + 1) * width + c + 1] = sums[r * width + c + 1] + run;
            }
        }
        Visible {
            columns,
            rows,
            sums,
        }
    }

    /// Whether any entry between column positions `c` and row positions `r` (each a pair in
    /// either order, clamped to the table) is visible. The entries on both sides of a
    /// position count (the sampler filters between them), widened by one more for rounding.
    pub fn any(&self, c: [f32; 2], r: [f32; 2]) -> bool {
        let span = |[a, b]: [f32; 2], n: usize| {
            let last = (n - 1) as f32;
            let (a, b) = (a.clamp(0.0, last), b.clamp(0.0, last));
            let first = (a.min(b).floor() as usize).saturating_sub(1);
            let end = (a.max(b).ceil() as usize + 1).min(n - 1);
            (first, end + 1)
        };
        let (c0, c1) = span(c, self.columns);
        let (r0, r1) = span(r, self.rows);
        let w = self.columns + 1;
        let at = |r: usize, c: usize| self.sums[r * w + c] as i64;
        at(r1, c1) - at(r0, c1) - at(r1, c0) + at(r0, c0) > 0
    }
}

/// The outcome of one classification.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Classification {
    /// 1 for a block a ray must sample, 0 for an empty one; x fastest.
    pub occupancy: Vec<u8>,
    pub blocks_empty: usize,
    /// Bricks all of whose blocks are empty.
    pub bricks_empty: usize,
}

/// Classifies every block of a volume normalised by `q` for `table`.
pub fn classify(
    layout: &BrickLayout,
    blocks: &BlockRanges,
    table: &ClassTable,
    q: &Quantisation,
) -> Classification {
    let visible = Visible::new(table);
    let [scale, offset] = table.value_mapping(q);
    let rows = table.gradient_mapping(q);
    let occupancy: Vec<u8> = blocks
        .ranges
        .iter()
        .map(|&[v0, v1, g0, g1]| {
            if v0 > v1 {
                return 0; // no voxel (cannot happen for a block of a real volume)
            }
            let columns = [v0 * scale + offset, v1 * scale + offset];
            let rows = [table.row_of(g0, rows), table.row_of(g1, rows)];
            u8::from(visible.any(columns, rows))
        })
        .collect();
    let blocks_empty = occupancy.iter().filter(|&&o| o == 0).count();
    let mut occupied_bricks = vec![false; layout.brick_count()];
    for bz in 0..layout.blocks[2] {
        for by in 0..layout.blocks[1] {
            for bx in 0..layout.blocks[0] {
                let b = [bx, by, bz];
                if occupancy[layout.block_index(b)] != 0 {
                    occupied_bricks[layout.brick_index(layout.brick_of_block(b))] = true;
                }
            }
        }
    }
    let bricks_empty = occupied_bricks.iter().filter(|&&o| !o).count();
    Classification {
        occupancy,
        blocks_empty,
        bricks_empty,
    }
}

/// The block occupancy on the GPU: an `r8uint` texel per block, what the raymarcher reads
/// when it enters a block.
#[derive(Debug)]
pub struct OccupancyTexture {
    texture: wgpu::Texture,
    pub view: wgpu::TextureView,
}

impl OccupancyTexture {
    pub fn new(gpu: &Gpu, layout: &BrickLayout) -> Result<OccupancyTexture, GpuError> {
        let [bx, by, bz] = layout.blocks.map(|b| b as u32);
        let (texture, view) = read_only_texture(
            gpu,
            "the block occupancy grid",
            "OccupancyTexture::blocks",
            [bx, by, bz],
            wgpu::TextureDimension::D3,
            wgpu::TextureFormat::R8Uint,
        )?;
        Ok(OccupancyTexture { texture, view })
    }

    /// Uploads one classification's occupancy.
    pub fn write(&self, gpu: &Gpu, layout: &BrickLayout, occupancy: &[u8]) {
        let [bx, by, _] = layout.blocks;
        gpu.queue.write_texture(
            self.texture.as_image_copy(),
            occupancy,
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(bx as u32),
                rows_per_image: Some(by as u32),
            },
            self.texture.size(),
        );
    }

    pub fn bytes(&self) -> u64 {
        let size = self.texture.size();
        size.width as u64 * size.height as u64 * size.depth_or_array_layers as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tf::TransferFunction;

    fn layout() -> BrickLayout {
        // 3 blocks of 8 cells along x, in one brick of 32 cells.
        BrickLayout::new([25, 2, 2], [1.0; 3], Some(32))
    }

    #[test]
    fn blocks_are_empty_where_either_curve_is_zero_over_their_range() {
        let q = Quantisation::new([-1000.0, 1000.0], 100.0);
        let n = |v: f64| ((v + 1000.0) / 2000.0) as f32;
        let g = |x: f64| (x / 100.0) as f32;
        let blocks = BlockRanges {
            ranges: vec![
                [n(-1000.0), n(-900.0), g(0.0), g(50.0)], // air
                [n(-950.0), n(100.0), g(0.0), g(1.0)],    // reaches tissue, but uniform
                [n(200.0), n(300.0), g(30.0), g(60.0)],   // tissue with edges
            ],
        };
        let mut tf = TransferFunction::default_for_range([-1000.0, 1000.0]);
        tf.scalar_opacity = vec![[-1000.0, 0.0], [0.0, 0.0], [50.0, 0.5], [1000.0, 0.5]];
        tf.gradient_opacity = vec![[0.0, 0.0], [10.0, 0.0], [20.0, 1.0]];
        let l = layout();
        let with_gradient = classify(&l, &blocks, &ClassTable::bake(&tf, &q, 1.0), &q);
        assert_eq!(with_gradient.occupancy, vec![0, 0, 1]);
        assert_eq!(with_gradient.blocks_empty, 2);
        assert_eq!(with_gradient.bricks_empty, 0);
        tf.gradient_opacity = vec![[0.0, 1.0]];
        let scalar_only = classify(&l, &blocks, &ClassTable::bake(&tf, &q, 1.0), &q);
        assert_eq!(scalar_only.occupancy, vec![0, 1, 1]);
        tf.gradient_opacity = vec![[0.0, 0.0]];
        let nothing = classify(&l, &blocks, &ClassTable::bake(&tf, &q, 1.0), &q);
        assert_eq!(nothing.occupancy, vec![0, 0, 0]);
        assert_eq!(nothing.bricks_empty, 1);
    }
}
