//! The transfer function on the GPU: the classification table every composited sample reads
//! (see [`crate::render::table`]) and the one-row colour and scalar-opacity table that maximum,
//! minimum and average projections read once per pixel. Rewritten on every edit and when the
//! sample distance changes.

use crate::gpu::{Gpu, GpuError};
use crate::render::table::{ClassTable, ClassTableTexture, VALUE_ENTRIES};

#[derive(Debug)]
pub struct LutTextures {
    scalar: wgpu::Texture,
    pub scalar_view: wgpu::TextureView,
    pub table: ClassTableTexture,
}

impl LutTextures {
    pub fn new(gpu: &Gpu) -> Result<LutTextures, GpuError> {
        let scalar = gpu.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("LutTextures::scalar"),
            size: wgpu::Extent3d {
                width: VALUE_ENTRIES as u32,
                height: 1,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba32Float,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        Ok(LutTextures {
            scalar_view: scalar.create_view(&Default::default()),
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
