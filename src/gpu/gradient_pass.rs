//! The gradient compute pass: |grad f| from the volume texture, one slab of z at a time into a
//! storage buffer of bounded size, then either read back into one float32 volume or copied into
//! a 3-D texture that stays on the GPU for the raymarcher and the statistics pass.

use crate::gpu::gaussian_pass::GaussianPass;
use crate::gpu::slabs::{Destination, Output, SlabOutput};
use crate::gpu::volume_texture::VolumeTexture;
use crate::gpu::{Gpu, GpuError, compute, dispatch_compute};
use crate::gradient::Operator;

/// WGSL mirror: keep in sync with `Params` in shaders/gradient.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GradientParams {
    pub dims: [u32; 3],
    pub z_start: u32,
    pub inv_spacing: [f32; 3],
    pub slab_depth: u32,
    /// Floats per row of the output buffer (see [`SlabOutput::row_pitch`]).
    pub row_pitch: u32,
    pub _pad: [u32; 3],
}

/// The output slab buffer never exceeds this (and the device's binding limit).
const DEFAULT_SLAB_BYTES: u64 = 64 << 20;
const WORKGROUP_X: u32 = 64;

/// Pipelines for every operator: central and Sobel in one pass each, the Gaussian in three
/// separable passes ([`GaussianPass`]).
#[derive(Debug)]
pub struct GradientPass {
    layout: wgpu::BindGroupLayout,
    central: wgpu::ComputePipeline,
    sobel: wgpu::ComputePipeline,
    gaussian: GaussianPass,
}

impl GradientPass {
    pub fn new(gpu: &Gpu) -> GradientPass {
        let module = compute::shader(
            gpu,
            "GradientPass::shader",
            include_str!("../../shaders/gradient.wgsl"),
        );
        let storage = compute::buffer(wgpu::BufferBindingType::Storage { read_only: false });
        let (layout, [central, sobel]) = compute::pipelines(
            gpu,
            &module,
            "GradientPass",
            &[
                compute::entry(0, compute::VOLUME),
                compute::entry(1, storage),
                compute::entry(2, compute::buffer(wgpu::BufferBindingType::Uniform)),
            ],
            ["central_magnitude", "sobel_magnitude"],
        );
        GradientPass {
            central,
            sobel,
            layout,
            gaussian: GaussianPass::new(gpu),
        }
    }

    /// Whether this GPU computes `operator` correctly. wgpu's OpenGL backend writes only the
    /// first slice of a 3-D storage texture, which the Gaussian's passes rely on.
    pub fn supports(gpu: &Gpu, operator: Operator) -> bool {
        !matches!(operator, Operator::Gaussian { .. }) || gpu.info.backend != wgpu::Backend::Gl
    }

    /// |grad f| for every voxel, x fastest, read back to the host.
    pub fn compute(
        &self,
        gpu: &Gpu,
        volume: &VolumeTexture,
        spacing: [f64; 3],
        operator: Operator,
    ) -> Result<Vec<f32>, GpuError> {
        self.compute_in_slabs(
            gpu,
            volume,
            spacing,
            operator,
            DEFAULT_SLAB_BYTES,
            Destination::Host,
        )
        .map(Output::into_host)
    }

    /// |grad f| as an r32float texture that never leaves the GPU: each slab is copied from the
    /// output buffer into it, and nothing waits for the GPU.
    pub fn compute_texture(
        &self,
        gpu: &Gpu,
        volume: &VolumeTexture,
        spacing: [f64; 3],
        operator: Operator,
    ) -> Result<VolumeTexture, GpuError> {
        self.compute_in_slabs(
            gpu,
            volume,
            spacing,
            operator,
            DEFAULT_SLAB_BYTES,
            Destination::Texture,
        )
        .map(Output::into_texture)
    }

    /// As [`GradientPass::compute`] or [`GradientPass::compute_texture`], with output slabs of
    /// at most `slab_bytes` (tests use small slabs to exercise the slab seams).
    pub fn compute_in_slabs(
        &self,
        gpu: &Gpu,
        volume: &VolumeTexture,
        spacing: [f64; 3],
        operator: Operator,
        slab_bytes: u64,
        destination: Destination,
    ) -> Result<Output, GpuError> {
        let pipeline = match operator {
            Operator::Central => &self.central,
            Operator::Sobel => &self.sobel,
            Operator::Gaussian { sigma_mm } => {
                return self.gaussian.compute(
                    gpu,
                    volume,
                    spacing,
                    sigma_mm,
                    slab_bytes,
                    destination,
                );
            }
        };
        let [nx, ny, _] = volume.dims;
        let mut output = SlabOutput::new(
            gpu,
            volume.dims,
            slab_bytes,
            destination,
            "GradientPass::output",
        )?;
        let params_buffer = compute::uniform::<GradientParams>(gpu, "GradientPass::params");
        let bind_group = compute::bind_group(
            gpu,
            "GradientPass::bind_group",
            &self.layout,
            &[
                (0, wgpu::BindingResource::TextureView(&volume.view)),
                (1, output.buffer.as_entire_binding()),
                (2, params_buffer.as_entire_binding()),
            ],
        );
        for (z, d) in output.slabs() {
            let params = GradientParams {
                dims: volume.dims,
                z_start: z,
                inv_spacing: spacing.map(|s| (1.0 / s) as f32),
                slab_depth: d,
                row_pitch: output.row_pitch,
                _pad: [0; 3],
            };
            gpu.queue
                .write_buffer(&params_buffer, 0, bytemuck::bytes_of(&params));
            dispatch_compute(
                gpu,
                "GradientPass",
                pipeline,
                &bind_group,
                [nx.div_ceil(WORKGROUP_X), ny, d],
            );
            output.finish_slab(gpu, z, d)?;
        }
        Ok(output.into_output())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_wgsl_layout() {
        // vec3<u32> at 0, u32 at 12, vec3<f32> at 16, u32 at 28, u32 at 32: 48 bytes.
        assert_eq!(std::mem::size_of::<GradientParams>(), 48);
        assert_eq!(std::mem::offset_of!(GradientParams, z_start), 12);
        assert_eq!(std::mem::offset_of!(GradientParams, inv_spacing), 16);
        assert_eq!(std::mem::offset_of!(GradientParams, slab_depth), 28);
        assert_eq!(std::mem::offset_of!(GradientParams, row_pitch), 32);
    }
}
