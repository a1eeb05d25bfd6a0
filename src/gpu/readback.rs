//! Copying GPU buffers and textures back to the host.

use super::{Gpu, GpuError};

/// Maps `staging` (`MAP_READ`, already written by submitted work), waiting for the GPU, and
/// copies its first `out.len()` bytes into `out`.
fn map_into(gpu: &Gpu, staging: &wgpu::Buffer, out: &mut [u8]) -> Result<(), GpuError> {
    let (tx, rx) = std::sync::mpsc::channel();
    staging.map_async(wgpu::MapMode::Read, .., move |r| {
        let _ = tx.send(r);
    });
    gpu.device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| GpuError::Readback(e.to_string()))?;
    rx.recv()
        .map_err(|e| GpuError::Readback(e.to_string()))?
        .map_err(|e| GpuError::Readback(e.to_string()))?;
    let view = staging
        .get_mapped_range(..)
        .map_err(|e| GpuError::Readback(e.to_string()))?;
    out.copy_from_slice(&view[..out.len()]);
    drop(view);
    staging.unmap();
    Ok(())
}

fn staging(gpu: &Gpu, size: u64) -> wgpu::Buffer {
    gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback::staging"),
        size,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

/// Copies `out.len()` bytes of `source` (which needs `COPY_SRC`) from byte `offset` into `out`,
/// waiting for the GPU.
pub fn read_buffer(
    gpu: &Gpu,
    source: &wgpu::Buffer,
    offset: u64,
    out: &mut [u8],
) -> Result<(), GpuError> {
    let size = out.len() as u64;
    let staging = staging(gpu, size);
    let mut encoder = gpu
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("readback"),
        });
    encoder.copy_buffer_to_buffer(source, offset, &staging, 0, size);
    gpu.queue.submit([encoder.finish()]);
    map_into(gpu, &staging, out)
}

/// Reads `depth` planes from plane `z` of a `texture` (which needs `COPY_SRC`) of `width` x
/// `height` texels of `texel_bytes` each into tightly packed rows, waiting for the GPU. One copy
/// into a mapped buffer with padded rows, then the padding is dropped.
pub fn read_texture(
    gpu: &Gpu,
    texture: &wgpu::Texture,
    [width, height]: [u32; 2],
    z: u32,
    depth: u32,
    texel_bytes: u32,
) -> Result<Vec<u8>, GpuError> {
    let row = (texel_bytes * width) as usize;
    let padded = row.next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT as usize);
    let rows = height as usize * depth as usize;
    let staging = staging(gpu, (padded * rows) as u64);
    let mut encoder = gpu
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("readback::texture"),
        });
    encoder.copy_texture_to_buffer(
        wgpu::TexelCopyTextureInfo {
            texture,
            mip_level: 0,
            origin: wgpu::Origin3d { x: 0, y: 0, z },
            aspect: wgpu::TextureAspect::All,
        },
        wgpu::TexelCopyBufferInfo {
            buffer: &staging,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(padded as u32),
                rows_per_image: Some(height),
            },
        },
        wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: depth,
        },
    );
    gpu.queue.submit([encoder.finish()]);
    let mut raw = vec![0u8; padded * rows];
    map_into(gpu, &staging, &mut raw)?;
    let mut out = Vec::with_capacity(row * rows);
    for r in raw.chunks_exact(padded) {
        out.extend_from_slice(&r[..row]);
    }
    Ok(out)
}

/// Reads an RGBA8 `texture` (which needs `COPY_SRC`) of `width` x `height` into tightly packed
/// rows, waiting for the GPU.
pub fn read_rgba8(
    gpu: &Gpu,
    texture: &wgpu::Texture,
    width: u32,
    height: u32,
) -> Result<Vec<u8>, GpuError> {
    read_texture(gpu, texture, [width, height], 0, 1, 4)
}
