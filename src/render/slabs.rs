//! Output written slab by slab: a storage buffer holding as many z-planes of float32 as fit the
//! device's binding limit (and a caller's cap), read back into one host volume plane by plane.

use crate::gpu::{Gpu, GpuError, device_binding_limit, guarded, readback};

/// A storage buffer for `depth` planes, and the host volume being filled from it.
#[derive(Debug)]
pub struct SlabOutput {
    pub buffer: wgpu::Buffer,
    /// Planes per slab.
    pub depth: u32,
    plane_bytes: u64,
    dims: [u32; 3],
    result: Vec<f32>,
}

impl SlabOutput {
    /// Sizes slabs for a `dims` volume, at most `slab_bytes` each.
    pub fn new(
        gpu: &Gpu,
        dims: [u32; 3],
        slab_bytes: u64,
        label: &str,
    ) -> Result<SlabOutput, GpuError> {
        let [nx, ny, nz] = dims;
        let plane_bytes = 4 * nx as u64 * ny as u64;
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
        Ok(SlabOutput {
            buffer,
            depth,
            plane_bytes,
            dims,
            result: vec![0f32; nx as usize * ny as usize * nz as usize],
        })
    }

    /// The slabs as (first plane, planes).
    pub fn slabs(&self) -> impl Iterator<Item = (u32, u32)> + use<> {
        let (depth, nz) = (self.depth, self.dims[2]);
        (0..nz)
            .step_by(depth as usize)
            .map(move |z| (z, depth.min(nz - z)))
    }

    /// Copies the slab starting at plane `z`, `d` planes deep, from the GPU into the result.
    pub fn read(&mut self, gpu: &Gpu, z: u32, d: u32) -> Result<(), GpuError> {
        let plane = self.dims[0] as usize * self.dims[1] as usize;
        let (start, count) = (z as usize * plane, d as usize * plane);
        readback::read_buffer(
            gpu,
            &self.buffer,
            self.plane_bytes * d as u64,
            bytemuck::cast_slice_mut(&mut self.result[start..start + count]),
        )
    }

    pub fn into_result(self) -> Vec<f32> {
        self.result
    }
}
