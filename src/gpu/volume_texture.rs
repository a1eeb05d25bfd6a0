//! A float volume on the GPU, an r32float 3-D texture: the compute passes' input (the scalar
//! volume) and their resident output (|grad f|).

use crate::gpu::{Gpu, GpuError, guarded, readback};
use crate::volume::Volume;

/// Slabs of at most this many voxels are converted to float and uploaded at a time, so the host
/// never holds a float copy of the whole volume.
const UPLOAD_VOXELS: usize = 1 << 22;

#[derive(Debug)]
pub struct VolumeTexture {
    pub texture: wgpu::Texture,
    pub view: wgpu::TextureView,
    pub dims: [u32; 3],
}

impl VolumeTexture {
    /// Uploads `volume` as float values. Fails when a side exceeds the device's 3-D texture limit.
    pub fn upload(gpu: &Gpu, volume: &Volume) -> Result<VolumeTexture, GpuError> {
        Self::from_slabs(gpu, volume.dims, "VolumeTexture::scalar", |start, len| {
            volume.data.range_to_f32(start, len)
        })
    }

    /// Uploads float values already in memory, x fastest (a gradient magnitude volume).
    pub fn from_values(
        gpu: &Gpu,
        dims: [usize; 3],
        values: &[f32],
        label: &str,
    ) -> Result<VolumeTexture, GpuError> {
        assert_eq!(values.len(), dims.iter().product::<usize>());
        Self::from_slabs(gpu, dims, label, |start, len| {
            values[start..start + len].to_vec()
        })
    }

    /// An r32float texture of `dims` with undefined contents, for a pass to fill.
    pub fn empty(gpu: &Gpu, dims: [u32; 3], label: &str) -> Result<VolumeTexture, GpuError> {
        let max = gpu.device.limits().max_texture_dimension_3d;
        if dims.iter().any(|&d| d > max) {
            let [nx, ny, nz] = dims.map(|d| d as usize);
            return Err(GpuError::VolumeTooLarge(nx, ny, nz, max));
        }
        let texture = guarded(gpu, "the volume texture", || {
            gpu.device.create_texture(&wgpu::TextureDescriptor {
                label: Some(label),
                size: wgpu::Extent3d {
                    width: dims[0],
                    height: dims[1],
                    depth_or_array_layers: dims[2],
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D3,
                format: wgpu::TextureFormat::R32Float,
                usage: wgpu::TextureUsages::TEXTURE_BINDING
                    | wgpu::TextureUsages::COPY_DST
                    | wgpu::TextureUsages::COPY_SRC,
                view_formats: &[],
            })
        })?;
        let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
        Ok(VolumeTexture {
            texture,
            view,
            dims,
        })
    }

    /// Reads the whole texture back, x fastest, a bounded number of planes at a time.
    pub fn read(&self, gpu: &Gpu) -> Result<Vec<f32>, GpuError> {
        let [nx, ny, nz] = self.dims;
        let plane = nx as usize * ny as usize;
        let mut values = Vec::new();
        values
            .try_reserve_exact(plane * nz as usize)
            .map_err(|_| GpuError::Allocation(format!("{} host floats", plane * nz as usize)))?;
        let depth = (UPLOAD_VOXELS / plane).max(1) as u32;
        for z in (0..nz).step_by(depth as usize) {
            let d = depth.min(nz - z);
            let bytes = readback::read_texture(gpu, &self.texture, [nx, ny], z, d, 4)?;
            values.extend(
                bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            );
        }
        Ok(values)
    }

    /// Creates the texture and fills it slab by slab with `values(first voxel, count)`.
    fn from_slabs(
        gpu: &Gpu,
        volume_dims: [usize; 3],
        label: &str,
        values: impl Fn(usize, usize) -> Vec<f32>,
    ) -> Result<VolumeTexture, GpuError> {
        let max = gpu.device.limits().max_texture_dimension_3d as usize;
        let [nx, ny, nz] = volume_dims;
        if volume_dims.iter().any(|&d| d > max) {
            return Err(GpuError::VolumeTooLarge(nx, ny, nz, max as u32));
        }
        let texture = Self::empty(gpu, volume_dims.map(|d| d as u32), label)?;
        let dims = texture.dims;
        let slab = nx * ny;
        let depth = (UPLOAD_VOXELS / slab).max(1);
        let mut z = 0;
        while z < nz {
            let d = depth.min(nz - z);
            let values = values(z * slab, d * slab);
            gpu.queue.write_texture(
                wgpu::TexelCopyTextureInfo {
                    texture: &texture.texture,
                    mip_level: 0,
                    origin: wgpu::Origin3d {
                        x: 0,
                        y: 0,
                        z: z as u32,
                    },
                    aspect: wgpu::TextureAspect::All,
                },
                bytemuck::cast_slice(&values),
                wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(4 * dims[0]),
                    rows_per_image: Some(dims[1]),
                },
                wgpu::Extent3d {
                    width: dims[0],
                    height: dims[1],
                    depth_or_array_layers: d as u32,
                },
            );
            // Submitting releases the staging copy of this slab before the next is made.
            gpu.queue.submit([]);
            z += d;
        }
        Ok(texture)
    }
}
