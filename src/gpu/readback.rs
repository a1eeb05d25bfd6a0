//! Copying GPU buffers back to the host.

use super::{Gpu, GpuError};

/// Copies `size` bytes of `source` (which needs `COPY_SRC`) into `out`, waiting for the GPU.
pub fn read_buffer(
    gpu: &Gpu,
    source: &wgpu::Buffer,
    size: u64,
    out: &mut [u8],
) -> Result<(), GpuError> {
    let staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback::staging"),
        size,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = gpu
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("readback"),
        });
    encoder.copy_buffer_to_buffer(source, 0, &staging, 0, size);
    gpu.queue.submit([encoder.finish()]);
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

/// Reads an RGBA8 `texture` (which needs `COPY_SRC`) of `width` x `height` into tightly packed
/// rows, waiting for the GPU.
pub fn read_rgba8(
    gpu: &Gpu,
    texture: &wgpu::Texture,
    width: u32,
    height: u32,
) -> Result<Vec<u8>, GpuError> {
    let row = 4 * width as usize;
    let padded = row.next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT as usize);
    let size = (padded * height as usize) as u64;
    let buffer = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback::image"),
        size,
        usage: wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = gpu
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("readback::image"),
        });
    encoder.copy_texture_to_buffer(
        wgpu::TexelCopyTextureInfo {
            texture,
            mip_level: 0,
            origin: wgpu::Origin3d::ZERO,
            aspect: wgpu::TextureAspect::All,
        },
        wgpu::TexelCopyBufferInfo {
            buffer: &buffer,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(padded as u32),
                rows_per_image: Some(height),
            },
        },
        wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
    );
    gpu.queue.submit([encoder.finish()]);
    let mut raw = vec![0u8; size as usize];
    read_buffer(gpu, &buffer, size, &mut raw)?;
    let mut out = Vec::with_capacity(row * height as usize);
    for y in 0..height as usize {
        out.extend_from_slice(&raw[y * padded..y * padded + row]);
    }
    Ok(out)
}
