//! The brick pool: one 3-D texture holding every resident brick in a slot of `C + 2` voxels a
//! side, value and |grad f| in one texel (`rg16unorm`: 4 bytes a voxel), so one filtered fetch
//! serves both. Slots are laid out as a grid that fits the device's 3-D texture limit, so a
//! volume longer than that limit on one side still fits if its voxels do.

use crate::gpu::{Gpu, GpuError, read_only_texture};
use crate::render::bricks::PackedBrick;
use crate::render::layout::BrickLayout;
use crate::render::page_table::slot_of;
use crate::render::quantise::PoolFormat;

/// The 3-D texture of brick slots. A clone shares the texture (a handle): a job may fill slots
/// while the renderer draws.
#[derive(Debug, Clone)]
pub struct BrickPool {
    pub texture: wgpu::Texture,
    pub view: wgpu::TextureView,
    pub format: PoolFormat,
    /// Slots per axis.
    pub grid: [usize; 3],
    /// Voxels per slot along each axis.
    pub side: [usize; 3],
}

impl BrickPool {
    /// An empty pool of `grid` slots for bricks of `layout`.
    pub fn new(
        gpu: &Gpu,
        layout: &BrickLayout,
        grid: [usize; 3],
        format: PoolFormat,
    ) -> Result<BrickPool, GpuError> {
        let side = layout.slot_side();
        let [w, h, d] = [0, 1, 2].map(|a| (grid[a] * side[a]) as u32);
        let (texture, view) = read_only_texture(
            gpu,
            "the brick pool",
            "BrickPool::texture",
            [w, h, d],
            wgpu::TextureDimension::D3,
            format.texture_format(),
        )?;
        Ok(BrickPool {
            texture,
            view,
            format,
            grid,
            side,
        })
    }

    /// Texels per axis.
    pub fn texels(&self) -> [usize; 3] {
        [0, 1, 2].map(|a| self.grid[a] * self.side[a])
    }

    pub fn bytes(&self) -> u64 {
        self.texels().iter().map(|&t| t as u64).product::<u64>() * self.format.bytes_per_texel()
    }

    /// Writes `bricks` into the slots `entries` (the page table) gives them, then submits and
    /// waits, so that the staging copies are released before the next bricks are made.
    pub fn upload(&self, gpu: &Gpu, layout: &BrickLayout, entries: &[u32], bricks: &[PackedBrick]) {
        let side = layout.slot_side();
        let writes: Vec<_> = bricks
            .iter()
            .map(|b| {
                let slot = slot_of(entries[layout.brick_index(b.brick)]);
                (slot, side, b.bytes.as_slice())
            })
            .collect();
        self.upload_slots(gpu, &writes);
    }

    /// Writes each `(slot, side, bytes)`: a box of `side` texels (at most the pool's slot; a
    /// coarser level's brick may be smaller) at the slot's first texel. Submits and waits.
    pub fn upload_slots(&self, gpu: &Gpu, writes: &[([usize; 3], [usize; 3], &[u8])]) {
        let [sx, sy, sz] = self.side.map(|s| s as u32);
        for &(slot, side, bytes) in writes {
            debug_assert!((0..3).all(|a| side[a] <= self.side[a]));
            let [wx, wy, wz] = side.map(|s| s as u32);
            gpu.queue.write_texture(
                wgpu::TexelCopyTextureInfo {
                    texture: &self.texture,
                    mip_level: 0,
                    origin: wgpu::Origin3d {
                        x: slot[0] as u32 * sx,
                        y: slot[1] as u32 * sy,
                        z: slot[2] as u32 * sz,
                    },
                    aspect: wgpu::TextureAspect::All,
                },
                bytes,
                wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(wx * self.format.bytes_per_texel() as u32),
                    rows_per_image: Some(wy),
                },
                wgpu::Extent3d {
                    width: wx,
                    height: wy,
                    depth_or_array_layers: wz,
                },
            );
        }
        gpu.queue.submit([]);
        // The wait only frees staging memory; a failure here shows at the next draw.
        let _ = gpu.device.poll(wgpu::PollType::wait_indefinitely());
    }
}
