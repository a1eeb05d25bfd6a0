//! The renderer: one volume on the GPU with its transfer function, drawn into offscreen
//! targets. The CLI reads the image back to PNG, the golden tests compare it, and the viewer
//! shows the same texture: one code path for every pixel.

use std::time::Instant;

use crate::camera::Camera;
use crate::gpu::readback::read_rgba8;
use crate::gpu::{Gpu, GpuError, guarded};
use crate::gradient::{Operator, cpu};
use crate::render::bricks::BrickGrid;
use crate::render::gradient_pass::GradientPass;
use crate::render::params::{Geometry, RaymarchParams, Tile, gradient_use, raymarch_params};
use crate::render::raymarch::{LutTextures, RaymarchPass, TARGET_FORMAT};
use crate::render::volume_texture::VolumeTexture;
use crate::scene::{Blend, RenderSettings};
use crate::tf::{Luts, TransferFunction};
use crate::volume::Volume;

/// Images larger than this per side are drawn in tiles of this size.
pub const TILE_SIDE: u32 = 2048;

/// A rendered image: RGBA8 rows, top row first.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

/// How |grad f| for gradient opacity was obtained.
#[derive(Debug, Clone, PartialEq)]
pub struct GradientReport {
    pub operator: Operator,
    pub device: String,
    pub ms: f64,
}

/// The volume as this GPU can hold it: itself, or a box-averaged copy (see
/// [`Volume::downsampled_to_fit`]) when a side exceeds the device's largest 3-D texture, with a
/// sentence saying so for the user (also the copy's last note).
pub fn fit_to_device(gpu: &Gpu, volume: &Volume) -> Option<(Volume, String)> {
    let max = gpu.device.limits().max_texture_dimension_3d;
    let (mut small, [fx, fy, fz]) = volume.downsampled_to_fit(max as usize)?;
    let [nx, ny, nz] = volume.dims;
    let [mx, my, mz] = small.dims;
    let note = format!(
        "the volume ({nx}x{ny}x{nz}) exceeds this GPU's largest 3-D texture ({max} per side): \
         showing a {fx}x{fy}x{fz} box average ({mx}x{my}x{mz}, {:.3}x{:.3}x{:.3} mm)",
        small.spacing[0], small.spacing[1], small.spacing[2]
    );
    small.notes.pop();
    small.notes.push(note.clone());
    Some((small, note))
}

/// A volume ready to draw, with its transfer function.
#[derive(Debug)]
pub struct Renderer {
    pass: RaymarchPass,
    geometry: Geometry,
    scalar: VolumeTexture,
    gradient: Option<(Operator, VolumeTexture)>,
    /// Built on first use of the GPU gradient path.
    gradient_pass: Option<GradientPass>,
    luts: LutTextures,
    baked: Luts,
    bricks: BrickGrid,
    occupancy: wgpu::Texture,
    occupancy_view: wgpu::TextureView,
    tf: TransferFunction,
    params: wgpu::Buffer,
    bindings: wgpu::BindGroup,
    target: Option<(u32, u32, wgpu::Texture, wgpu::TextureView)>,
    pub last_gradient: Option<GradientReport>,
}

impl Renderer {
    /// Uploads `volume`. Fails when the adapter cannot filter float textures or the volume does
    /// not fit the device.
    pub fn new(gpu: &Gpu, volume: &Volume, tf: &TransferFunction) -> Result<Renderer, GpuError> {
        if !gpu
            .device
            .features()
            .contains(wgpu::Features::FLOAT32_FILTERABLE)
        {
            return Err(GpuError::Device(format!(
                "{} cannot filter float32 textures, which the raymarcher samples; \
                 use a Vulkan, Metal or DX12 adapter",
                gpu.describe()
            )));
        }
        let pass = RaymarchPass::new(gpu);
        let scalar = VolumeTexture::upload(gpu, volume)?;
        // Bound in place of |grad f| until gradient opacity needs it (the bind group keeps it).
        let no_gradient =
            VolumeTexture::from_values(gpu, [1, 1, 1], &[0.0], "Renderer::no_gradient")?;
        let luts = LutTextures::new(gpu);
        let baked = tf.bake();
        luts.write(gpu, &baked);
        let params = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("Renderer::params"),
            size: std::mem::size_of::<RaymarchParams>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let bricks = BrickGrid::new(volume);
        let [bx, by, bz] = bricks.dims.map(|d| d as u32);
        let occupancy = guarded(gpu, "the brick occupancy grid", || {
            gpu.device.create_texture(&wgpu::TextureDescriptor {
                label: Some("Renderer::occupancy"),
                size: wgpu::Extent3d {
                    width: bx,
                    height: by,
                    depth_or_array_layers: bz,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D3,
                format: wgpu::TextureFormat::R8Uint,
                usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                view_formats: &[],
            })
        })?;
        let occupancy_view = occupancy.create_view(&Default::default());
        let bindings = pass.bind(
            gpu,
            &params,
            &scalar.view,
            &no_gradient.view,
            &luts,
            &occupancy_view,
        );
        let renderer = Renderer {
            pass,
            geometry: Geometry::of(volume),
            scalar,
            gradient: None,
            gradient_pass: None,
            luts,
            baked,
            tf: tf.clone(),
            params,
            bindings,
            target: None,
            last_gradient: None,
            bricks,
            occupancy,
            occupancy_view,
        };
        renderer.classify_bricks(gpu);
        Ok(renderer)
    }

    /// Marks the bricks the current transfer function leaves fully transparent.
    fn classify_bricks(&self, gpu: &Gpu) {
        let factor = gradient_use(&self.tf).unwrap_or(1.0);
        let occupied = self.bricks.occupancy(&self.baked.scalar, factor);
        let [bx, by, _] = self.bricks.dims;
        gpu.queue.write_texture(
            self.occupancy.as_image_copy(),
            &occupied,
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(bx as u32),
                rows_per_image: Some(by as u32),
            },
            self.occupancy.size(),
        );
    }

    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    pub fn transfer_function(&self) -> &TransferFunction {
        &self.tf
    }

    /// Replaces the transfer function: two small table uploads and the brick classification
    /// (one byte per 8^3 voxels), nothing else.
    pub fn set_transfer_function(&mut self, gpu: &Gpu, tf: &TransferFunction) {
        self.baked = tf.bake();
        self.luts.write(gpu, &self.baked);
        self.tf = tf.clone();
        self.classify_bricks(gpu);
    }

    /// Makes sure |grad f| by `operator` is on the GPU when the transfer function needs it.
    /// It is computed once per volume and operator: on the CPU when the adapter is a software
    /// rasteriser (the CPU path is faster there), else by the compute pass.
    pub fn prepare(
        &mut self,
        gpu: &Gpu,
        volume: &Volume,
        settings: &RenderSettings,
    ) -> Result<(), GpuError> {
        let on_gpu = !gpu.is_software() && GradientPass::supports(gpu, settings.gradient);
        self.prepare_on(gpu, volume, settings, on_gpu)
    }

    /// [`Renderer::prepare`] on the device chosen: `on_gpu` computes |grad f| by the compute
    /// pass straight into the texture the raymarcher samples, with no host copy and no wait;
    /// otherwise on the CPU and uploaded.
    pub fn prepare_on(
        &mut self,
        gpu: &Gpu,
        volume: &Volume,
        settings: &RenderSettings,
        on_gpu: bool,
    ) -> Result<(), GpuError> {
        if !self.needs_gradient(settings) {
            return Ok(());
        }
        let operator = settings.gradient;
        let start = Instant::now();
        if on_gpu {
            let pass = self
                .gradient_pass
                .get_or_insert_with(|| GradientPass::new(gpu));
            let texture = pass.compute_texture(gpu, &self.scalar, volume.spacing, operator)?;
            let report = GradientReport {
                operator,
                device: format!("gpu: {}", gpu.describe()),
                ms: start.elapsed().as_secs_f64() * 1e3,
            };
            self.bind_gradient(gpu, texture, report);
            return Ok(());
        }
        let threads = rayon::current_num_threads();
        let values = cpu::gradient_magnitude(volume, operator);
        let report = GradientReport {
            operator,
            device: format!("cpu ({threads} threads)"),
            ms: start.elapsed().as_secs_f64() * 1e3,
        };
        self.set_gradient(gpu, volume.dims, &values, report)
    }

    /// The |grad f| texture the raymarcher samples, once prepared.
    pub fn gradient_texture(&self) -> Option<&VolumeTexture> {
        self.gradient.as_ref().map(|(_, texture)| texture)
    }

    /// The scalar volume's texture.
    pub fn scalar_texture(&self) -> &VolumeTexture {
        &self.scalar
    }

    /// Whether the transfer function and `settings` need |grad f|, and it is not on the GPU yet.
    pub fn needs_gradient(&self, settings: &RenderSettings) -> bool {
        let needed = settings.blend == Blend::Composite && gradient_use(&self.tf).is_none();
        needed && self.gradient.as_ref().map(|(op, _)| *op) != Some(settings.gradient)
    }

    /// Uploads |grad f| the caller computed (the viewer keeps it on the host for statistics and
    /// picking), as [`Renderer::prepare`] would have.
    pub fn set_gradient(
        &mut self,
        gpu: &Gpu,
        dims: [usize; 3],
        values: &[f32],
        report: GradientReport,
    ) -> Result<(), GpuError> {
        let texture = VolumeTexture::from_values(gpu, dims, values, "Renderer::gradient")?;
        self.bind_gradient(gpu, texture, report);
        Ok(())
    }

    fn bind_gradient(&mut self, gpu: &Gpu, texture: VolumeTexture, report: GradientReport) {
        self.bindings = self.pass.bind(
            gpu,
            &self.params,
            &self.scalar.view,
            &texture.view,
            &self.luts,
            &self.occupancy_view,
        );
        self.gradient = Some((report.operator, texture));
        self.last_gradient = Some(report);
    }

    fn target(&mut self, gpu: &Gpu, width: u32, height: u32) -> Result<(), GpuError> {
        if matches!(&self.target, Some((w, h, ..)) if *w == width && *h == height) {
            return Ok(());
        }
        let texture = guarded(gpu, "the image target", || {
            gpu.device.create_texture(&wgpu::TextureDescriptor {
                label: Some("Renderer::target"),
                size: wgpu::Extent3d {
                    width,
                    height,
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: TARGET_FORMAT,
                usage: wgpu::TextureUsages::RENDER_ATTACHMENT
                    | wgpu::TextureUsages::COPY_SRC
                    | wgpu::TextureUsages::TEXTURE_BINDING,
                view_formats: &[],
            })
        })?;
        let view = texture.create_view(&Default::default());
        self.target = Some((width, height, texture, view));
        Ok(())
    }

    /// The uniforms for drawing `tile` of an image.
    pub fn params(&self, camera: &Camera, settings: &RenderSettings, tile: Tile) -> RaymarchParams {
        debug_assert!(
            self.gradient.is_some()
                || settings.blend != Blend::Composite
                || gradient_use(&self.tf).is_some(),
            "prepare() computes |grad f| before a frame that needs it"
        );
        raymarch_params(
            &self.geometry,
            camera,
            settings,
            &self.tf,
            &self.baked,
            tile,
        )
    }

    /// Draws one tile into the target and submits it, without reading it back.
    fn draw_tile(
        &mut self,
        gpu: &Gpu,
        params: &RaymarchParams,
        size: [u32; 2],
    ) -> Result<(), GpuError> {
        self.target(gpu, size[0], size[1])?;
        gpu.queue
            .write_buffer(&self.params, 0, bytemuck::bytes_of(params));
        let (.., view) = self.target.as_ref().expect("made above");
        let mut encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("Renderer::frame"),
            });
        self.pass.draw(&mut encoder, view, &self.bindings);
        gpu.queue.submit([encoder.finish()]);
        Ok(())
    }

    /// Draws a whole frame of at most [`TILE_SIDE`] per side into the target and returns the
    /// target's view, without waiting for the GPU: the texture the viewer shows.
    pub fn draw(
        &mut self,
        gpu: &Gpu,
        camera: &Camera,
        settings: &RenderSettings,
    ) -> Result<&wgpu::TextureView, GpuError> {
        let [w, h] = settings.size;
        let tile = Tile {
            image_size: [w, h],
            offset: [0, 0],
        };
        let params = self.params(camera, settings, tile);
        self.draw_tile(gpu, &params, [w.min(TILE_SIDE), h.min(TILE_SIDE)])?;
        let (.., view) = self.target.as_ref().expect("drawn");
        Ok(view)
    }

    /// [`Renderer::draw`], then waits for the GPU: what the frame-time benchmark measures.
    pub fn draw_and_wait(
        &mut self,
        gpu: &Gpu,
        camera: &Camera,
        settings: &RenderSettings,
    ) -> Result<(), GpuError> {
        self.draw(gpu, camera, settings)?;
        gpu.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        Ok(())
    }

    /// Renders the image `settings.size` asks for, in tiles when it is larger than
    /// [`TILE_SIDE`], and reads it back.
    pub fn render_image(
        &mut self,
        gpu: &Gpu,
        camera: &Camera,
        settings: &RenderSettings,
    ) -> Result<Image, GpuError> {
        let side = TILE_SIDE.min(gpu.device.limits().max_texture_dimension_2d);
        self.render_image_in_tiles(gpu, camera, settings, side)
    }

    /// [`Renderer::render_image`] with tiles of at most `side` pixels per side.
    pub fn render_image_in_tiles(
        &mut self,
        gpu: &Gpu,
        camera: &Camera,
        settings: &RenderSettings,
        side: u32,
    ) -> Result<Image, GpuError> {
        let [width, height] = settings.size;
        let bytes = 4 * width as usize * height as usize;
        let mut rgba = Vec::new();
        rgba.try_reserve_exact(bytes)
            .map_err(|_| GpuError::Allocation(format!("a {width}x{height} image")))?;
        rgba.resize(bytes, 0u8);
        for y0 in (0..height).step_by(side as usize) {
            for x0 in (0..width).step_by(side as usize) {
                let (tw, th) = (side.min(width - x0), side.min(height - y0));
                let tile = Tile {
                    image_size: [width, height],
                    offset: [x0, y0],
                };
                let params = self.params(camera, settings, tile);
                self.draw_tile(gpu, &params, [tw, th])?;
                let (.., texture, _) = self.target.as_ref().expect("drawn");
                let pixels = read_rgba8(gpu, texture, tw, th)?;
                for row in 0..th as usize {
                    let dst = 4 * ((y0 as usize + row) * width as usize + x0 as usize);
                    let src = 4 * row * tw as usize;
                    rgba[dst..dst + 4 * tw as usize]
                        .copy_from_slice(&pixels[src..src + 4 * tw as usize]);
                }
            }
        }
        Ok(Image {
            width,
            height,
            rgba,
        })
    }
}
