//! The Gaussian gradient on the GPU: three separable compute passes through float storage
//! textures (shaders/gaussian.wgsl), the last one writing |grad f| slab by slab.

use crate::gpu::slabs::{Destination, Output, SlabOutput};
use crate::gpu::volume_texture::VolumeTexture;
use crate::gpu::{Gpu, GpuError, compute, dispatch_compute, guarded};
use crate::gradient::cpu::gaussian_kernels;

/// WGSL mirror: keep in sync with `Params` in shaders/gaussian.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GaussianParams {
    pub dims: [u32; 3],
    pub radius: u32,
    pub inv_spacing: [f32; 3],
    pub z_start: u32,
    pub slab_depth: u32,
    pub row_pitch: u32,
    /// First volume plane held in the intermediates.
    pub window_start: u32,
    pub _pad: u32,
}

const WORKGROUP_X: u32 = 64;
/// Bytes per voxel of the two intermediates (rg32float and rgba32float).
const INTERMEDIATE_TEXEL_BYTES: u64 = 8 + 16;
/// The intermediates' window of planes is at most this large (unless one output plane and the
/// z kernel's reach need more).
pub const WINDOW_BYTES: u64 = 256 << 20;

/// Pipelines of the three passes, built once.
#[derive(Debug)]
pub struct GaussianPass {
    passes: [(wgpu::BindGroupLayout, wgpu::ComputePipeline); 3],
}

/// The input and output bindings of one pass.
enum Io {
    TextureToTexture(wgpu::TextureFormat),
    TextureToBuffer,
}

impl GaussianPass {
    pub fn new(gpu: &Gpu) -> GaussianPass {
        let module = compute::shader(
            gpu,
            "GaussianPass::shader",
            include_str!("../../shaders/gaussian.wgsl"),
        );
        let read_only = compute::buffer(wgpu::BufferBindingType::Storage { read_only: true });
        let make = |name: &str, input: u32, io: Io| {
            let output = match io {
                Io::TextureToTexture(format) => wgpu::BindingType::StorageTexture {
                    access: wgpu::StorageTextureAccess::WriteOnly,
                    format,
                    view_dimension: wgpu::TextureViewDimension::D3,
                },
                Io::TextureToBuffer => {
                    compute::buffer(wgpu::BufferBindingType::Storage { read_only: false })
                }
            };
            let entries = [
                compute::entry(0, compute::buffer(wgpu::BufferBindingType::Uniform)),
                compute::entry(1, read_only),
                compute::entry(2, read_only),
                compute::entry(input, compute::VOLUME),
                compute::entry(input + 1, output),
            ];
            let (layout, [pipeline]) = compute::pipelines(gpu, &module, name, &entries, [name]);
            (layout, pipeline)
        };
        GaussianPass {
            passes: [
                make(
                    "gaussian_x",
                    3,
                    Io::TextureToTexture(wgpu::TextureFormat::Rg32Float),
                ),
                make(
                    "gaussian_y",
                    5,
                    Io::TextureToTexture(wgpu::TextureFormat::Rgba32Float),
                ),
                make("gaussian_z", 7, Io::TextureToBuffer),
            ],
        }
    }

    /// |grad f| with a Gaussian of `sigma_mm` on every axis, x fastest; output slabs of at most
    /// `slab_bytes`.
    ///
    /// The x and y passes run per output slab over the planes the z pass reaches (the slab and
    /// the z kernel's radius either side), so the intermediates hold a window of at most
    /// [`WINDOW_BYTES`] (or one slab plus the kernel's reach), never the whole volume: device
    /// memory stays the volume, the output and a bounded constant.
    pub fn compute(
        &self,
        gpu: &Gpu,
        volume: &VolumeTexture,
        spacing: [f64; 3],
        sigma_mm: f64,
        slab_bytes: u64,
        destination: Destination,
    ) -> Result<Output, GpuError> {
        let device = &gpu.device;
        let [nx, ny, nz] = volume.dims;
        let reach = (gaussian_kernels(sigma_mm / spacing[2]).0.len() / 2) as u32;
        // Planes per output slab so that slab + 2 x reach intermediate planes fit the window.
        let plane_bytes = INTERMEDIATE_TEXEL_BYTES * nx as u64 * ny as u64;
        let window_planes = (WINDOW_BYTES / plane_bytes) as u32;
        let slab_planes = window_planes.saturating_sub(2 * reach).max(1);
        let padded_plane = 4 * nx.next_multiple_of(64) as u64 * ny as u64;
        let mut output = SlabOutput::new(
            gpu,
            volume.dims,
            slab_bytes.min(slab_planes as u64 * padded_plane),
            destination,
            "GaussianPass::output",
        )?;
        let row_pitch = output.row_pitch;
        // The planes of `along_y` the z pass reads for the slab [z, z + d): with 'reflect'
        // borders, a reach below 0 or past nz folds back inside [max(0, z - r), min(nz, z + d + r))
        // while the reach is shorter than the volume; otherwise it may touch any plane.
        let window = move |z: u32, d: u32| {
            if reach >= nz {
                (0, nz)
            } else {
                (z.saturating_sub(reach), (z + d + reach).min(nz))
            }
        };
        let depth = output
            .slabs()
            .map(|(z, d)| {
                let (lo, hi) = window(z, d);
                hi - lo
            })
            .max()
            .unwrap_or(1);
        let size = wgpu::Extent3d {
            width: nx,
            height: ny,
            depth_or_array_layers: depth,
        };
        let intermediate = |label, format| {
            device.create_texture(&wgpu::TextureDescriptor {
                label: Some(label),
                size,
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D3,
                format,
                usage: wgpu::TextureUsages::STORAGE_BINDING | wgpu::TextureUsages::TEXTURE_BINDING,
                view_formats: &[],
            })
        };
        let (along_x, along_y) = guarded(gpu, "the Gaussian's intermediate volumes", || {
            (
                intermediate("GaussianPass::along_x", wgpu::TextureFormat::Rg32Float),
                intermediate("GaussianPass::along_y", wgpu::TextureFormat::Rgba32Float),
            )
        })?;
        let (x_view, y_view) = (
            along_x.create_view(&Default::default()),
            along_y.create_view(&Default::default()),
        );
        let inv_spacing = spacing.map(|s| (1.0 / s) as f32);
        // Per axis: its kernels, its params buffer, its bind group.
        let bind = |axis: usize, input: &wgpu::TextureView, out: wgpu::BindingResource| {
            let (smooth, deriv) = gaussian_kernels(sigma_mm / spacing[axis]);
            let to_f32 = |w: &[f64]| w.iter().map(|&x| x as f32).collect::<Vec<f32>>();
            let storage = |label, data: &[f32]| {
                let b = device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(label),
                    size: 4 * data.len() as u64,
                    usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                gpu.queue.write_buffer(&b, 0, bytemuck::cast_slice(data));
                b
            };
            let smooth_buf = storage("GaussianPass::smooth", &to_f32(&smooth));
            let deriv_buf = storage("GaussianPass::deriv", &to_f32(&deriv));
            let params = compute::uniform::<GaussianParams>(gpu, "GaussianPass::params");
            let radius = (smooth.len() / 2) as u32;
            let input_binding = [3, 5, 7][axis];
            let group = compute::bind_group(
                gpu,
                "GaussianPass::bind_group",
                &self.passes[axis].0,
                &[
                    (0, params.as_entire_binding()),
                    (1, smooth_buf.as_entire_binding()),
                    (2, deriv_buf.as_entire_binding()),
                    (input_binding, wgpu::BindingResource::TextureView(input)),
                    (input_binding + 1, out),
                ],
            );
            (group, params, radius)
        };
        let write_params = |buffer: &wgpu::Buffer, radius, z_start, slab_depth, window_start| {
            let p = GaussianParams {
                dims: volume.dims,
                radius,
                inv_spacing,
                z_start,
                slab_depth,
                row_pitch,
                window_start,
                _pad: 0,
            };
            gpu.queue.write_buffer(buffer, 0, bytemuck::bytes_of(&p));
        };
        let dispatch = |axis: usize, group: &wgpu::BindGroup, depth: u32| {
            dispatch_compute(
                gpu,
                "GaussianPass",
                &self.passes[axis].1,
                group,
                [nx.div_ceil(WORKGROUP_X), ny, depth],
            );
        };

        let (gx, px, rx) = bind(0, &volume.view, wgpu::BindingResource::TextureView(&x_view));
        let (gy, py, ry) = bind(1, &x_view, wgpu::BindingResource::TextureView(&y_view));
        let (gz, pz, rz) = bind(2, &y_view, output.buffer.as_entire_binding());
        let mut smoothed = None;
        for (z, d) in output.slabs() {
            let (lo, hi) = window(z, d);
            // One window serves every slab when it is the whole volume.
            if smoothed != Some((lo, hi)) {
                write_params(&px, rx, lo, hi - lo, lo);
                dispatch(0, &gx, hi - lo);
                write_params(&py, ry, lo, hi - lo, lo);
                dispatch(1, &gy, hi - lo);
                smoothed = Some((lo, hi));
            }
            write_params(&pz, rz, z, d, lo);
            dispatch(2, &gz, d);
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
        assert_eq!(std::mem::size_of::<GaussianParams>(), 48);
        assert_eq!(std::mem::offset_of!(GaussianParams, radius), 12);
        assert_eq!(std::mem::offset_of!(GaussianParams, inv_spacing), 16);
        assert_eq!(std::mem::offset_of!(GaussianParams, z_start), 28);
        assert_eq!(std::mem::offset_of!(GaussianParams, slab_depth), 32);
        assert_eq!(std::mem::offset_of!(GaussianParams, row_pitch), 36);
        assert_eq!(std::mem::offset_of!(GaussianParams, window_start), 40);
    }
}
