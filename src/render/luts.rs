//! The transfer function on the GPU: the classification table every composited sample reads
//! (see [`crate::render::table`]) and the one-row colour and scalar-opacity table that maximum,
//! minimum and average projections read once per pixel. Rewritten on every edit and when the
//! sample distance changes.

use crate::gpu::{Gpu, GpuError, read_only_texture};
use crate::render::table::{ClassTable, ClassTableTexture, GRADIENT_ENTRIES, VALUE_ENTRIES};

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
            table: ClassTableTexture::new(gpu, [VALUE_ENTRIES, GRADIENT_ENTRIES])?,
        })
    }

    /// Uploads a baked table (4 MiB for a 1-D table, 1 MiB for the default raster of widgets)
    /// and the colour row (32 KiB). A table of another size gets a new texture first: then
    /// the answer is `Ok(true)` and the bind groups that name the old one must be made again.
    pub fn write(&mut self, gpu: &Gpu, table: &ClassTable) -> Result<bool, GpuError> {
        let resized = self.table.size() != [table.columns, table.rows];
        if resized {
            self.table = ClassTableTexture::new(gpu, [table.columns, table.rows])?;
        }
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
        Ok(resized)
    }

    pub fn bytes(&self) -> u64 {
        16 * VALUE_ENTRIES as u64 + self.table.bytes()
    }
}
