//! The page table: for every brick of the volume, where its slot lies in the pool.
//!
//! One `r32uint` texel per brick: the slot's coordinates in the pool's grid of slots (10 bits
//! each, x from bit 0, y from bit 10, z from bit 20) and a resident flag (bit 31). Today every
//! brick of a volume is resident at full resolution; the streaming that follows adds bricks
//! that are not (and coarser levels) without touching the raymarcher, which always reads a
//! brick's slot from here.

use crate::gpu::{Gpu, GpuError, read_only_texture};
use crate::render::layout::BrickLayout;

/// Slots per pool axis the entry format can address.
pub const MAX_SLOTS_PER_AXIS: usize = 1 << 10;

/// Bit 31: the brick has a slot.
pub const RESIDENT: u32 = 1 << 31;

/// One brick's entry.
pub fn entry(slot: [usize; 3]) -> u32 {
    debug_assert!(slot.iter().all(|&s| s < MAX_SLOTS_PER_AXIS));
    RESIDENT | slot[0] as u32 | (slot[1] as u32) << 10 | (slot[2] as u32) << 20
}

/// The slot an entry names.
pub fn slot_of(entry: u32) -> [usize; 3] {
    [0, 10, 20].map(|shift| ((entry >> shift) & 0x3ff) as usize)
}

/// The grid of slots a pool for `bricks` (slots of `side` voxels per axis) uses, each axis at
/// most `max_side` voxels (the device's 3-D texture limit): the brick grid itself when it
/// fits, else the smallest grid with room for all of them. `None` when no grid fits.
pub fn pool_grid(bricks: [usize; 3], side: [usize; 3], max_side: usize) -> Option<[usize; 3]> {
    let most = side.map(|s| (max_side / s).min(MAX_SLOTS_PER_AXIS));
    if most.contains(&0) {
        return None;
    }
    if (0..3).all(|a| bricks[a] <= most[a]) {
        return Some(bricks);
    }
    let count: usize = bricks.iter().product();
    let mut best: Option<[usize; 3]> = None;
    for z in 1..=most[2] {
        for y in 1..=most[1] {
            let x = count.div_ceil(y * z);
            if x > most[0] {
                continue;
            }
            let size = x * y * z;
            if best.is_none_or(|b| size < b.iter().product()) {
                best = Some([x, y, z]);
            }
            if size == count {
                return best;
            }
        }
    }
    best
}

/// Where each brick lives: brick `i` (x fastest) in slot `i` of the pool grid (x fastest).
pub fn assign_slots(layout: &BrickLayout, grid: [usize; 3]) -> Vec<u32> {
    (0..layout.brick_count())
        .map(|i| {
            entry([
                i % grid[0],
                (i / grid[0]) % grid[1],
                i / (grid[0] * grid[1]),
            ])
        })
        .collect()
}

/// The page table on the GPU.
#[derive(Debug)]
pub struct PageTable {
    pub texture: wgpu::Texture,
    pub view: wgpu::TextureView,
    /// The entries, as uploaded.
    pub entries: Vec<u32>,
}

impl PageTable {
    pub fn new(gpu: &Gpu, layout: &BrickLayout, entries: Vec<u32>) -> Result<PageTable, GpuError> {
        let [bx, by, bz] = layout.bricks.map(|b| b as u32);
        let (texture, view) = read_only_texture(
            gpu,
            "the page table",
            "PageTable::entries",
            [bx, by, bz],
            wgpu::TextureDimension::D3,
            wgpu::TextureFormat::R32Uint,
        )?;
        gpu.queue.write_texture(
            texture.as_image_copy(),
            bytemuck::cast_slice(&entries),
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(4 * bx),
                rows_per_image: Some(by),
            },
            texture.size(),
        );
        Ok(PageTable {
            texture,
            view,
            entries,
        })
    }

    pub fn bytes(&self) -> u64 {
        4 * self.entries.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        for slot in [[0, 0, 0], [1023, 5, 17], [3, 1023, 1023]] {
            let e = entry(slot);
            assert!(e & RESIDENT != 0);
            assert_eq!(slot_of(e), slot);
        }
    }

    #[test]
    fn the_pool_grid_is_the_brick_grid_when_it_fits_and_folds_otherwise() {
        assert_eq!(pool_grid([16, 16, 2], [34; 3], 4096), Some([16, 16, 2]));
        // 157 bricks of 34 voxels in a row do not fit 4096 texels: folded, no slot wasted
        // beyond the last row.
        let g = pool_grid([157, 1, 1], [34, 8, 8], 4096).unwrap();
        assert!(g[0] * 34 <= 4096 && g[1] * 8 <= 4096 && g[2] * 8 <= 4096);
        assert!(g.iter().product::<usize>() >= 157);
        assert!(g.iter().product::<usize>() < 157 + 120, "{g:?}");
        assert_eq!(pool_grid([2, 2, 2], [34; 3], 32), None);
        let layout = BrickLayout::new([300, 10, 10], [1.0; 3], Some(8));
        let grid = pool_grid(layout.bricks, layout.slot_side(), 100).unwrap();
        let entries = assign_slots(&layout, grid);
        let mut slots: Vec<[usize; 3]> = entries.iter().map(|&e| slot_of(e)).collect();
        assert!(slots.iter().all(|s| (0..3).all(|a| s[a] < grid[a])));
        slots.sort();
        slots.dedup();
        assert_eq!(slots.len(), layout.brick_count(), "one slot per brick");
    }
}
