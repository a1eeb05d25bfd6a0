//! Output written slab by slab: a storage buffer holding as many z-planes of float32 as fit the
//! device's binding limit (and a caller's cap). Each slab goes either back to the host, plane by
//! plane into one volume, or straight into a 3-D texture on the GPU with no host round trip.
//!
//! Rows in the buffer are padded to [`wgpu::COPY_BYTES_PER_ROW_ALIGNMENT`] so that a slab can be
//! copied into a texture as it is; the shaders index with [`SlabOutput::row_pitch`].

use crate::gpu::volume_texture::VolumeTexture;
use crate::gpu::{Gpu, GpuError, device_binding_limit, guarded, readback};

/// Where the slabs end up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// One float32 volume in host memory, x fastest.
    Host,
    /// An r32float 3-D texture that stays on the GPU.
    Texture,
}

/// What a pass produced, by [`Destination`].
#[derive(Debug)]
pub enum Output {
    Host(Vec<f32>),
    Texture(VolumeTexture),
}

impl Output {
    pub fn into_host(self) -> Vec<f32> {
        match self {
            Output::Host(values) => values,
            Output::Texture(_) => unreachable!("asked for Destination::Host"),
        }
    }

    pub fn into_texture(self) -> VolumeTexture {
        match self {
            Output::Texture(texture) => texture,
            Output::Host(_) => unreachable!("asked for Destination::Texture"),
        }
    }
}

/// A storage buffer for `depth` planes, and the volume being filled from it.
#[derive(Debug)]
pub struct SlabOutput {
    pub buffer: wgpu::Buffer,
    /// Planes per slab.
    pub depth: u32,
    /// Floats from one row of the buffer to the next (x extent rounded up to 64).
    pub row_pitch: u32,
    plane_bytes: u64,
    dims: [u32; 3],
    sink: Output,
}

impl SlabOutput {
    /// Sizes slabs for a `dims` volume, at most `slab_bytes` each, and makes the destination:
    /// the host volume or the texture, allocated once here.
    pub fn new(
        gpu: &Gpu,
        dims: [u32; 3],
        slab_bytes: u64,
        destination: Destination,
        label: &str,
    ) -> Result<SlabOutput, GpuError> {
        let [nx, ny, nz] = dims;
        let row_pitch = nx.next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT / 4);
        let plane_bytes = 4 * row_pitch as u64 * ny as u64;
        let binding = device_binding_limit(gpu);
        if plane_bytes > binding {
            return Err(GpuError::PlaneTooLarge(plane_bytes, binding));
        }
        let depth = ((slab_bytes.min(binding).max(plane_bytes) / plane_bytes) as u32).min(nz);
        let buffer = guarded(gpu, "the output slab", || {
            gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: plane_bytes * depth as u64,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            })
        })?;
        let sink = match destination {
            Destination::Host => {
                let voxels = nx as usize * ny as usize * nz as usize;
                let mut values = Vec::new();
                values
                    .try_reserve_exact(voxels)
                    .map_err(|_| GpuError::Allocation(format!("{voxels} host floats")))?;
                values.resize(voxels, 0f32);
                Output::Host(values)
            }
            Destination::Texture => Output::Texture(VolumeTexture::empty(gpu, dims, label)?),
        };
        Ok(SlabOutput {
            buffer,
            depth,
            row_pitch,
            plane_bytes,
            dims,
            sink,
        })
    }

    /// The slabs as (first plane, planes).
    pub fn slabs(&self) -> impl Iterator<Item = (u32, u32)> + use<> {
        let (depth, nz) = (self.depth, self.dims[2]);
        (0..nz)
            .step_by(depth as usize)
            .map(move |z| (z, depth.min(nz - z)))
    }

    /// Moves the slab starting at plane `z`, `d` planes deep, to the destination: read back
    /// (waiting for the GPU), or copied into the texture (queued, no wait).
    pub fn finish_slab(&mut self, gpu: &Gpu, z: u32, d: u32) -> Result<(), GpuError> {
        let [nx, ny, _] = self.dims;
        match &mut self.sink {
            Output::Host(values) => {
                let size = self.plane_bytes * d as u64;
                let mut padded = vec![0f32; (size / 4) as usize];
                readback::read_buffer(gpu, &self.buffer, 0, bytemuck::cast_slice_mut(&mut padded))?;
                let plane = nx as usize * ny as usize;
                let out = &mut values[z as usize * plane..(z + d) as usize * plane];
                for (dst, src) in out
                    .chunks_exact_mut(nx as usize)
                    .zip(padded.chunks_exact(self.row_pitch as usize))
                {
                    dst.copy_from_slice(&src[..nx as usize]);
                }
            }
            Output::Texture(texture) => {
                let mut encoder =
                    gpu.device
                        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                            label: Some("SlabOutput::copy"),
                        });
                encoder.copy_buffer_to_texture(
                    wgpu::TexelCopyBufferInfo {
                        buffer: &self.buffer,
                        layout: wgpu::TexelCopyBufferLayout {
                            offset: 0,
                            bytes_per_row: Some(4 * self.row_pitch),
                            rows_per_image: Some(ny),
                        },
                    },
                    wgpu::TexelCopyTextureInfo {
                        texture: &texture.texture,
                        mip_level: 0,
                        origin: wgpu::Origin3d { x: 0, y: 0, z },
                        aspect: wgpu::TextureAspect::All,
                    },
                    wgpu::Extent3d {
                        width: nx,
                        height: ny,
                        depth_or_array_layers: d,
                    },
                );
                gpu.queue.submit([encoder.finish()]);
            }
        }
        Ok(())
    }

    pub fn into_output(self) -> Output {
        self.sink
    }
}
