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
