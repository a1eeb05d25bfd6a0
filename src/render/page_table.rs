//! The page table: for every brick of the volume, where its slot lies in the pool.
//!
//! One `r32uint` texel per brick of the finest level: the slot's coordinates in the pool's grid
//! of slots (8 bits each, x from bit 0, y from bit 8, z from bit 16), the pyramid level whose
//! brick the slot holds (bits 24 to 27; 0 is the volume itself) and a resident flag (bit 31).
//! A brick drawn from a coarser level points at the slot of the coarse brick that covers it;
//! the raymarcher maps its samples into that level's voxels (see `crate::render::lod`).

use crate::gpu::{Gpu, GpuError, read_only_texture};
use crate::render::layout::BrickLayout;

/// Slots per pool axis the entry format can address (a slot is at least 5 texels a side and
/// 3-D textures at most 2048 on most devices: 409).
pub const MAX_SLOTS_PER_AXIS: usize = 1 << 8;

/// Pyramid levels an entry can name.
pub const MAX_LEVELS: usize = 16;

/// Bit 31: the brick has a slot.
pub const RESIDENT: u32 = 1 << 31;

/// One brick's entry: its slot, holding a brick of the volume itself.
pub fn entry(slot: [usize; 3]) -> u32 {
    level_entry(slot, 0)
}

/// One brick's entry: its slot, holding a brick of pyramid level `level`.
pub fn level_entry(slot: [usize; 3], level: usize) -> u32 {
    debug_assert!(slot.iter().all(|&s| s < MAX_SLOTS_PER_AXIS) && level < MAX_LEVELS);
    RESIDENT
        | slot[0] as u32
        | (slot[1] as u32) << 8
        | (slot[2] as u32) << 16
        | (level as u32) << 24
}

/// The slot an entry names.
pub fn slot_of(entry: u32) -> [usize; 3] {
    [0, 8, 16].map(|shift| ((entry >> shift) & 0xff) as usize)
}

/// The pyramid level of the brick in an entry's slot.
pub fn level_of(entry: u32) -> usize {
    ((entry >> 24) & 0xf) as usize
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
        let table = PageTable {
            texture,
            view,
            entries,
        };
        table.write(gpu);
        Ok(table)
    }

    /// Uploads the entries (after they changed: a pool filled while on show).
    pub fn write(&self, gpu: &Gpu) {
        let size = self.texture.size();
        gpu.queue.write_texture(
            self.texture.as_image_copy(),
            bytemuck::cast_slice(&self.entries),
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(4 * size.width),
                rows_per_image: Some(size.height),
            },
            size,
        );
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
        for slot in [[0, 0, 0], [255, 5, 17], [3, 255, 255]] {
            for level in [0, 1, 15] {
                let e = level_entry(slot, level);
                assert!(e & RESIDENT != 0);
                assert_eq!((slot_of(e), level_of(e)), (slot, level));
            }
        }
        assert_eq!(entry([1, 2, 3]), level_entry([1, 2, 3], 0));
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
