//! The transfer function on the GPU: the classification table every composited sample reads
//! (see [`crate::render::table`]) and the one-row colour and scalar-opacity table that maximum,
//! minimum and average projections read once per pixel. Rewritten on every edit and when the
//! sample distance changes.

use crate::gpu::{Gpu, GpuError, read_only_texture};
use crate::render::table::{ClassTable, ClassTableTexture, VALUE_ENTRIES};

#[derive(Debug)]
pub struct LutTextures {
    scalar: wgpu::Texture,
    pub scalar_view: wgpu::TextureView,
    pub table: ClassTableTexture,
}

impl LutTextures {
    pub fn new(gpu: &Gpu) -> Result<LutTextures, GpuError> {
        let (scalar, scalar_view) = read_only_texture(
            gpu,
            "the colour table",
            "LutTextures::scalar",
            [VALUE_ENTRIES as u32, 1, 1],
            wgpu::TextureDimension::D2,
            wgpu::TextureFormat::Rgba32Float,
        )?;
        Ok(LutTextures {
            scalar_view,
            scalar,
            table: ClassTableTexture::new(gpu)?,
        })
    }

    /// Uploads a baked table: 4 MiB for the table, 32 KiB for the colour row.
    pub fn write(&self, gpu: &Gpu, table: &ClassTable) {
        gpu.queue.write_texture(
            self.scalar.as_image_copy(),
            bytemuck::cast_slice(&table.scalar.entries),
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: None,
                rows_per_image: None,
            },
            self.scalar.size(),
        );
        self.table.write(gpu, table);
    }

    pub fn bytes(&self) -> u64 {
        16 * VALUE_ENTRIES as u64 + self.table.bytes()
    }
}
