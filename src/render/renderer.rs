//! The renderer: one volume packed into a brick pool on the GPU, with its transfer function,
//! drawn into offscreen targets. The CLI reads the image back to PNG, the golden tests compare
//! it, and the viewer shows the same texture: one code path for every pixel.
//!
//! What the GPU holds for a volume: the pool (value and |grad f| in 4 bytes a voxel, plus the
//! bricks' shared borders), the page table (4 bytes a brick), the block occupancy (1 byte a
//! block) and the transfer function's tables (4 MiB). A transfer-function edit rewrites the
//! tables and the occupancy; |grad f| for another operator repacks the pool.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::camera::Camera;
use crate::gpu::gradient_pass::GradientPass;
use crate::gpu::readback::read_rgba8;
use crate::gpu::volume_texture::VolumeTexture;
use crate::gpu::{Gpu, GpuError, guarded};
use crate::gradient::{Operator, cpu};
use crate::png_io::{PngError, write_png_rows};
use crate::render::accumulate::Accumulator;
use crate::render::bricks::{self, BlockRanges, BrickSupply, Source, finite_max, gradient_codes};
use crate::render::classify::{Classification, OccupancyTexture, classify};
use crate::render::layout::BrickLayout;
use crate::render::luts::LutTextures;
use crate::render::page_table::{PageTable, assign_slots, pool_grid};
use crate::render::params::{
    Geometry, LevelParams, PoolParams, RaymarchParams, Tile, correction_ratio, gradient_use,
    jitter_offset, raymarch_params,
};
use crate::render::pool::BrickPool;
use crate::render::quantise::{PoolFormat, Quantisation};
use crate::render::raymarch::{RaymarchPass, TARGET_FORMAT, Variant, VolumeViews};
use crate::render::table::ClassTable;
use crate::scene::{Blend, RenderSettings};
use crate::tf::TransferFunction;
use crate::volume::Volume;

/// Images larger than this per side are drawn in tiles of this size.
pub const TILE_SIDE: u32 = 2048;

/// Host memory one band of a large image may take while it is drawn.
const BAND_BYTES: usize = 256 << 20;

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

/// Why an image could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error(transparent)]
    Png(#[from] PngError),
    #[error("{0}")]
    Write(std::io::Error),
    /// The caller stopped the export (cancelled).
    #[error("{0}")]
    Stopped(String),
}

/// How a volume is packed.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RendererOptions {
    /// Cells per brick along every axis (a power of two); `None` picks per axis.
    pub brick: Option<usize>,
    /// The pool's format; `None` picks 16 bits when the device has it.
    pub format: Option<PoolFormat>,
    /// A tighter limit than the device's on the pool texture's side (tests fold the pool).
    pub max_pool_side: Option<u32>,
}

/// What the GPU holds for the volume, and what the last classification found empty.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PoolReport {
    /// Every texture and buffer of the volume: pool, page table, occupancy and tables.
    pub gpu_bytes: u64,
    pub pool_format: &'static str,
    /// Cells per brick along each axis.
    pub brick_size: [usize; 3],
    pub bricks: usize,
    pub bricks_empty: usize,
    /// Cells per block along each axis.
    pub block_size: [usize; 3],
    pub blocks: usize,
    pub blocks_empty: usize,
    /// The last classification's time.
    pub classify_ms: f64,
}

/// The volume as this GPU can hold it: itself, or a box-averaged copy (see
/// [`Volume::box_average`]) when even a folded pool of bricks cannot fit the device's largest
/// 3-D texture, with a sentence saying so for the user (also the copy's last note).
pub fn fit_to_device(gpu: &Gpu, volume: &Volume) -> Option<(Volume, String)> {
    let max = gpu.device.limits().max_texture_dimension_3d as usize;
    let fits = |dims: [usize; 3]| {
        let layout = BrickLayout::new(dims, volume.spacing, None);
        pool_grid(layout.bricks, layout.slot_side(), max).is_some()
    };
    if fits(volume.dims) {
        return None;
    }
    let factors = (2..)
        .map(|f| [f; 3])
        .find(|&f| fits([0, 1, 2].map(|a| volume.dims[a].div_ceil(f[a]))))?;
    let mut small = volume.box_average(factors);
    let [fx, fy, fz] = factors;
    let [nx, ny, nz] = volume.dims;
    let [mx, my, mz] = small.dims;
    let note = format!(
        "the volume ({nx}x{ny}x{nz}) does not fit this GPU's largest 3-D texture ({max} per \
         side) even in bricks: showing a {fx}x{fy}x{fz} box average ({mx}x{my}x{mz}, \
         {:.3}x{:.3}x{:.3} mm)",
        small.spacing[0], small.spacing[1], small.spacing[2]
    );
    small.notes.push(note.clone());
    Some((small, note))
}

/// |grad f| of `volume` by `operator` on the host: by the compute pass (from a float copy of the
/// volume that lives only while it runs; `pass` is built on first use) or on the CPU.
fn compute_gradient(
    gpu: &Gpu,
    pass: &mut Option<GradientPass>,
    volume: &Volume,
    operator: Operator,
    on_gpu: bool,
) -> Result<(Vec<f32>, GradientReport), GpuError> {
    let start = Instant::now();
    let (values, device) = if on_gpu {
        let pass = pass.get_or_insert_with(|| GradientPass::new(gpu));
        let scalar = VolumeTexture::upload(gpu, volume)?;
        let values = pass.compute(gpu, &scalar, volume.spacing, operator)?;
        (values, format!("gpu: {}", gpu.describe()))
    } else {
        let threads = rayon::current_num_threads();
        let values = cpu::gradient_magnitude(volume, operator);
        (values, format!("cpu ({threads} threads)"))
    };
    let report = GradientReport {
        operator,
        device,
        ms: start.elapsed().as_secs_f64() * 1e3,
    };
    Ok((values, report))
}

/// The pool format this device can filter: 16 bits when it has normalised 16-bit textures,
/// else float32 when it can filter that.
pub fn pool_format(gpu: &Gpu, wanted: Option<PoolFormat>) -> Result<PoolFormat, GpuError> {
    let features = gpu.device.features();
    let unorm16 = features.contains(wgpu::Features::TEXTURE_FORMAT_16BIT_NORM);
    let float32 = features.contains(wgpu::Features::FLOAT32_FILTERABLE);
    match wanted {
        Some(PoolFormat::Unorm16) | None if unorm16 => Ok(PoolFormat::Unorm16),
        Some(PoolFormat::Float32) | None if float32 => Ok(PoolFormat::Float32),
        _ => Err(GpuError::Device(format!(
            "{} can filter neither 16-bit normalised nor float32 textures, which the \
             raymarcher samples; use a Vulkan, Metal or DX12 adapter",
            gpu.describe()
        ))),
    }
}

/// Tables kept baked for other sample distances than the current one (4 MiB each).
const SPARE_TABLES: usize = 3;

/// Frames an image averages: `settings.accumulate` with jitter on, else one (without jitter
/// every frame would be the same).
pub fn frames_of(settings: &RenderSettings) -> u32 {
    if settings.jitter {
        settings.accumulate.max(1)
    } else {
        1
    }
}

/// A volume ready to draw, with its transfer function.
#[derive(Debug)]
pub struct Renderer {
    pass: RaymarchPass,
    geometry: Geometry,
    layout: BrickLayout,
    pool: BrickPool,
    page_table: PageTable,
    occupancy: OccupancyTexture,
    quantisation: Quantisation,
    blocks: BlockRanges,
    classification: Classification,
    classify_ms: f64,
    /// The operator of the |grad f| the pool holds, if any.
    gradient: Option<Operator>,
    /// Built on first use of the GPU gradient path.
    gradient_pass: Option<GradientPass>,
    luts: LutTextures,
    table: ClassTable,
    /// Tables baked for other sample distances, most recent first.
    spare_tables: Vec<ClassTable>,
    tf: TransferFunction,
    params: wgpu::Buffer,
    bindings: wgpu::BindGroup,
    target: Option<(u32, u32, wgpu::Texture, wgpu::TextureView)>,
    pub last_gradient: Option<GradientReport>,
    /// How samples reach the bricks of coarser pyramid levels the page table names.
    coarse_levels: Vec<(usize, LevelParams)>,
    /// The distance between samples when the settings name none (levels of detail: the finest
    /// drawn level's spacing); `None`: the smallest voxel spacing.
    default_sample_mm: Option<f64>,
}

/// A pool and page table about to be made: the finest level's bricks, the grid of slots, each
/// brick's entry, and how texels are stored and normalised.
#[derive(Debug, Clone)]
pub(crate) struct Pages {
    pub layout: BrickLayout,
    pub grid: [usize; 3],
    pub entries: Vec<u32>,
    pub format: PoolFormat,
    pub quantisation: Quantisation,
}

impl Renderer {
    /// Packs `volume` into a pool of the default brick size. Fails when the adapter cannot
    /// filter the pool's format or the volume does not fit the device.
    pub fn new(gpu: &Gpu, volume: &Volume, tf: &TransferFunction) -> Result<Renderer, GpuError> {
        Self::with_options(gpu, volume, tf, RendererOptions::default())
    }

    /// [`Renderer::new`] with the packing chosen.
    pub fn with_options(
        gpu: &Gpu,
        volume: &Volume,
        tf: &TransferFunction,
        options: RendererOptions,
    ) -> Result<Renderer, GpuError> {
        let format = pool_format(gpu, options.format)?;
        let source = Source::new(volume, None, format);
        let geometry = Geometry::of(volume);
        let ratio = correction_ratio(&geometry, &RenderSettings::default(), tf);
        Self::build(gpu, geometry, &source, tf, options, ratio)
    }

    /// A renderer ready to draw with `settings`: |grad f| computed first when the transfer
    /// function needs it (kept as 16-bit codes for a 16-bit pool), then the pool packed and the
    /// table baked once, for the sample distance of `settings` (what `gradvol render` uses;
    /// [`Renderer::new`] followed by [`Renderer::prepare`] gives the same pixels).
    pub fn prepared(
        gpu: &Gpu,
        volume: &Volume,
        tf: &TransferFunction,
        settings: &RenderSettings,
        options: RendererOptions,
    ) -> Result<Renderer, GpuError> {
        let format = pool_format(gpu, options.format)?;
        let geometry = Geometry::of(volume);
        let ratio = correction_ratio(&geometry, settings, tf);
        if settings.blend != Blend::Composite || gradient_use(tf).is_some() {
            let source = Source::new(volume, None, format);
            return Self::build(gpu, geometry, &source, tf, options, ratio);
        }
        let on_gpu = !gpu.is_software() && GradientPass::supports(gpu, settings.gradient);
        let mut pass = None;
        let (values, report) = compute_gradient(gpu, &mut pass, volume, settings.gradient, on_gpu)?;
        let mut renderer = if format == PoolFormat::Unorm16 {
            let q = Quantisation::new(volume.range, finite_max(&values));
            let codes = gradient_codes(&values, &q);
            drop(values);
            Self::build(
                gpu,
                geometry,
                &Source::coded(volume, &codes, q),
                tf,
                options,
                ratio,
            )?
        } else {
            let source = Source::new(volume, Some(&values), format);
            Self::build(gpu, geometry, &source, tf, options, ratio)?
        };
        renderer.gradient_pass = pass;
        renderer.gradient = Some(report.operator);
        renderer.last_gradient = Some(report);
        Ok(renderer)
    }

    /// A renderer whose pool holds `gradient`, |grad f| the caller computed (the viewer keeps it
    /// on the host for statistics and picking): packed once.
    pub fn with_gradient(
        gpu: &Gpu,
        volume: &Volume,
        tf: &TransferFunction,
        gradient: &[f32],
        report: GradientReport,
    ) -> Result<Renderer, GpuError> {
        let format = pool_format(gpu, None)?;
        let source = Source::new(volume, Some(gradient), format);
        let geometry = Geometry::of(volume);
        let ratio = correction_ratio(&geometry, &RenderSettings::default(), tf);
        let options = RendererOptions::default();
        let mut renderer = Self::build(gpu, geometry, &source, tf, options, ratio)?;
        renderer.gradient = Some(report.operator);
        renderer.last_gradient = Some(report);
        Ok(renderer)
    }

    /// A renderer whose pool is filled brick by brick from `source` (one level of a store, see
    /// [`crate::render::streamed`]), for a volume of `geometry`, ready to draw with `settings`.
    /// `gradient` says which |grad f| the source's slots hold, if any.
    pub fn streamed(
        gpu: &Gpu,
        geometry: Geometry,
        source: &(impl BrickSupply + ?Sized),
        tf: &TransferFunction,
        settings: &RenderSettings,
        gradient: Option<GradientReport>,
    ) -> Result<Renderer, GpuError> {
        let ratio = correction_ratio(&geometry, settings, tf);
        let options = RendererOptions {
            format: Some(source.format()),
            ..Default::default()
        };
        let mut renderer = Self::build(gpu, geometry, source, tf, options, ratio)?;
        renderer.gradient = gradient.as_ref().map(|g| g.operator);
        renderer.last_gradient = gradient;
        Ok(renderer)
    }

    /// Every GPU object of a renderer for a volume of `geometry`, the pool filled from `source`
    /// (whose format and normalisation it takes) and the table baked for `ratio`.
    pub(crate) fn build(
        gpu: &Gpu,
        geometry: Geometry,
        source: &(impl BrickSupply + ?Sized),
        tf: &TransferFunction,
        options: RendererOptions,
        ratio: f64,
    ) -> Result<Renderer, GpuError> {
        let layout = BrickLayout::new(geometry.dims, geometry.spacing, options.brick);
        let device_max = gpu.device.limits().max_texture_dimension_3d;
        let max_side = options.max_pool_side.unwrap_or(device_max).min(device_max);
        let grid =
            pool_grid(layout.bricks, layout.slot_side(), max_side as usize).ok_or_else(|| {
                let [nx, ny, nz] = geometry.dims;
                GpuError::VolumeTooLarge(nx, ny, nz, max_side)
            })?;
        let pages = Pages {
            layout,
            grid,
            entries: assign_slots(&layout, grid),
            format: source.format(),
            quantisation: source.quantisation(),
        };
        Self::build_with(gpu, geometry, pages, tf, ratio, |pool, entries| {
            bricks::pack(&layout, source, |batch| {
                pool.upload(gpu, &layout, entries, &batch)
            })
            .map_err(GpuError::Bricks)
        })
    }

    /// Every GPU object of a renderer for a volume of `geometry` whose pool and page table are
    /// `pages`, the pool filled by `fill` (which returns the blocks' ranges) and the table
    /// baked for `ratio`.
    pub(crate) fn build_with(
        gpu: &Gpu,
        geometry: Geometry,
        pages: Pages,
        tf: &TransferFunction,
        ratio: f64,
        fill: impl FnOnce(&BrickPool, &[u32]) -> Result<BlockRanges, GpuError>,
    ) -> Result<Renderer, GpuError> {
        let Pages {
            layout,
            grid,
            entries,
            format,
            quantisation,
        } = pages;
        let page_table = PageTable::new(gpu, &layout, entries)?;
        let pool = BrickPool::new(gpu, &layout, grid, format)?;
        let occupancy = OccupancyTexture::new(gpu, &layout)?;
        let luts = LutTextures::new(gpu)?;
        let params = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("Renderer::params"),
            size: std::mem::size_of::<RaymarchParams>() as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let pass = RaymarchPass::new(gpu);
        let bindings = pass.bind(
            gpu,
            &params,
            VolumeViews {
                pool: &pool.view,
                page_table: &page_table.view,
                occupancy: &occupancy.view,
            },
            &luts,
        );
        let blocks = fill(&pool, &page_table.entries)?;
        let mut renderer = Renderer {
            pass,
            geometry,
            layout,
            pool,
            page_table,
            occupancy,
            quantisation,
            blocks,
            classification: Classification::default(),
            classify_ms: 0.0,
            gradient: None,
            gradient_pass: None,
            luts,
            table: ClassTable::bake(tf, &quantisation, ratio),
            spare_tables: Vec::new(),
            tf: tf.clone(),
            params,
            bindings,
            target: None,
            last_gradient: None,
            coarse_levels: Vec::new(),
            default_sample_mm: None,
        };
        renderer.upload_and_classify(gpu);
        Ok(renderer)
    }

    /// Fills the pool with `volume` and `gradient` (zero when `None`), then re-bakes the table
    /// for the new normalisation and re-classifies the blocks.
    fn pack(&mut self, gpu: &Gpu, volume: &Volume, gradient: Option<&[f32]>) {
        let source = Source::new(volume, gradient, self.pool.format);
        let (pool, layout, entries) = (&self.pool, &self.layout, &self.page_table.entries);
        self.blocks = bricks::pack(layout, &source, |batch| {
            pool.upload(gpu, layout, entries, &batch)
        })
        .expect("a volume in memory yields every brick");
        self.quantisation = source.quantisation;
        self.rebake(gpu);
    }

    /// Bakes the table for the current transfer function and normalisation (keeping its
    /// correction ratio), uploads it and re-classifies the blocks.
    fn rebake(&mut self, gpu: &Gpu) {
        self.spare_tables.clear();
        self.table = ClassTable::bake(&self.tf, &self.quantisation, self.table.ratio);
        self.upload_and_classify(gpu);
    }

    /// Uploads the table, re-classifies the blocks for it and uploads the occupancy.
    fn upload_and_classify(&mut self, gpu: &Gpu) {
        self.upload_table(gpu);
        self.classify_blocks(gpu);
    }

    /// Uploads the table; one of another size than the last gets a texture of its own and the
    /// bind group is made again. Should that texture not fit on the device, the function is
    /// drawn by its 1-D curves instead, with a warning.
    fn upload_table(&mut self, gpu: &Gpu) {
        let written = self.luts.write(gpu, &self.table).or_else(|e| {
            eprintln!("warning: the 2-D transfer function's table: {e}; drawing its 1-D curves");
            let mut curves = self.tf.clone();
            curves.tf2d = None;
            self.table = ClassTable::bake(&curves, &self.quantisation, self.table.ratio);
            self.luts.write(gpu, &self.table)
        });
        if written.unwrap_or(false) {
            self.bindings = self.pass.bind(
                gpu,
                &self.params,
                VolumeViews {
                    pool: &self.pool.view,
                    page_table: &self.page_table.view,
                    occupancy: &self.occupancy.view,
                },
                &self.luts,
            );
        }
    }

    /// The pool's texture, shared: a job fills slots through it without holding the renderer
    /// (the page table names them once [`Renderer::update_pages`] says so).
    pub(crate) fn pool(&self) -> BrickPool {
        self.pool.clone()
    }

    /// Points finest bricks (`entries`: brick index and page-table entry) at other slots and
    /// gives their blocks new ranges (`blocks`: block index and range), then uploads the page
    /// table and re-classifies the blocks.
    pub(crate) fn update_pages(
        &mut self,
        gpu: &Gpu,
        entries: &[(usize, u32)],
        blocks: &[(usize, [f32; 4])],
    ) {
        for &(i, e) in entries {
            self.page_table.entries[i] = e;
        }
        for &(b, r) in blocks {
            self.blocks.ranges[b] = r;
        }
        self.page_table.write(gpu);
        self.classify_blocks(gpu);
    }

    /// Re-classifies the blocks for the table and uploads the occupancy.
    fn classify_blocks(&mut self, gpu: &Gpu) {
        let start = Instant::now();
        self.classification = classify(&self.layout, &self.blocks, &self.table, &self.quantisation);
        self.occupancy
            .write(gpu, &self.layout, &self.classification.occupancy);
        self.classify_ms = start.elapsed().as_secs_f64() * 1e3;
    }

    /// Makes the table's alphas corrected for `ratio` (sample distance over unit distance).
    /// The last few tables stay baked, so that the viewer's previews (longer steps) and full
    /// frames switch between them with one upload, not a bake.
    fn ensure_ratio(&mut self, gpu: &Gpu, ratio: f64) {
        if self.table.ratio == ratio {
            return;
        }
        let table = match self.spare_tables.iter().position(|t| t.ratio == ratio) {
            Some(i) => self.spare_tables.remove(i),
            None => ClassTable::bake(&self.tf, &self.quantisation, ratio),
        };
        let old = std::mem::replace(&mut self.table, table);
        self.spare_tables.insert(0, old);
        self.spare_tables.truncate(SPARE_TABLES);
        self.upload_table(gpu);
    }

    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    pub fn layout(&self) -> &BrickLayout {
        &self.layout
    }

    /// The pool's grid of slots.
    pub fn pool_grid(&self) -> [usize; 3] {
        self.pool.grid
    }

    pub fn quantisation(&self) -> Quantisation {
        self.quantisation
    }

    /// The operator of the |grad f| the pool holds, if it holds one.
    pub fn gradient_operator(&self) -> Option<Operator> {
        self.gradient
    }

    pub fn pool_format(&self) -> PoolFormat {
        self.pool.format
    }

    pub fn transfer_function(&self) -> &TransferFunction {
        &self.tf
    }

    /// The classification table as last baked (what the shader reads).
    pub fn table(&self) -> &ClassTable {
        &self.table
    }

    /// The current classification.
    pub fn classification(&self) -> &Classification {
        &self.classification
    }

    /// Memory and skipping figures for reports and the status line.
    pub fn report(&self) -> PoolReport {
        PoolReport {
            gpu_bytes: self.pool.bytes()
                + self.page_table.bytes()
                + self.occupancy.bytes()
                + self.luts.bytes(),
            pool_format: self.pool.format.name(),
            brick_size: self.layout.brick,
            bricks: self.layout.brick_count(),
            bricks_empty: self.classification.bricks_empty,
            block_size: self.layout.block,
            blocks: self.layout.block_count(),
            blocks_empty: self.classification.blocks_empty,
            classify_ms: self.classify_ms,
        }
    }

    /// Replaces the transfer function: two small table uploads and the block classification
    /// (one byte per block), nothing else.
    pub fn set_transfer_function(&mut self, gpu: &Gpu, tf: &TransferFunction) {
        self.tf = tf.clone();
        self.rebake(gpu);
    }

    /// Makes sure the pool holds |grad f| by `operator` when the transfer function needs it.
    /// It is computed once per volume and operator: on the CPU when the adapter is a software
    /// rasteriser (the CPU path is faster there), else by the compute pass; then packed with
    /// the values.
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
    /// pass (from a float copy of the volume that lives only while it runs), otherwise on the
    /// CPU.
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
        let (values, report) = compute_gradient(
            gpu,
            &mut self.gradient_pass,
            volume,
            settings.gradient,
            on_gpu,
        )?;
        self.set_gradient(gpu, volume, &values, report);
        Ok(())
    }

    /// Whether the transfer function and `settings` need |grad f|, and the pool lacks it.
    pub fn needs_gradient(&self, settings: &RenderSettings) -> bool {
        let needed = settings.blend == Blend::Composite && gradient_use(&self.tf).is_none();
        needed && self.gradient != Some(settings.gradient)
    }

    /// Packs |grad f| the caller computed (the viewer keeps it on the host for statistics and
    /// picking) into the pool with the values, as [`Renderer::prepare`] would have.
    pub fn set_gradient(
        &mut self,
        gpu: &Gpu,
        volume: &Volume,
        values: &[f32],
        report: GradientReport,
    ) {
        self.pack(gpu, volume, Some(values));
        self.gradient = Some(report.operator);
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

    /// What the raymarcher needs to know of the pool.
    pub fn pool_params(&self) -> PoolParams {
        PoolParams {
            layout: self.layout,
            quantisation: self.quantisation,
            pool_texels: self.pool.texels(),
        }
    }

    /// The uniforms for drawing `tile` of an image.
    pub fn params(&self, camera: &Camera, settings: &RenderSettings, tile: Tile) -> RaymarchParams {
        let settings = &*self.settled(settings);
        debug_assert!(
            self.gradient.is_some()
                || settings.blend != Blend::Composite
                || gradient_use(&self.tf).is_some(),
            "prepare() computes |grad f| before a frame that needs it"
        );
        let mut params = raymarch_params(
            &self.geometry,
            &self.pool_params(),
            camera,
            settings,
            &self.tf,
            &self.table,
            tile,
        );
        for &(level, p) in &self.coarse_levels {
            params.levels[level] = p;
        }
        params
    }

    /// Records which |grad f| the pool holds (a renderer built from bricks made elsewhere).
    pub(crate) fn set_gradient_report(&mut self, report: Option<GradientReport>) {
        self.gradient = report.as_ref().map(|g| g.operator);
        self.last_gradient = report;
    }

    /// Sets the distance between samples for settings that name none.
    pub(crate) fn set_default_sample_distance(&mut self, mm: f64) {
        self.default_sample_mm = Some(mm);
    }

    /// `settings` with the sample distance filled in when it names none and this renderer
    /// has a default of its own.
    fn settled<'s>(&self, settings: &'s RenderSettings) -> std::borrow::Cow<'s, RenderSettings> {
        match (settings.sample_distance_mm, self.default_sample_mm) {
            (None, Some(mm)) => std::borrow::Cow::Owned(RenderSettings {
                sample_distance_mm: Some(mm),
                ..settings.clone()
            }),
            _ => std::borrow::Cow::Borrowed(settings),
        }
    }

    /// The distance between samples in mm that `settings` give on this renderer.
    pub fn sample_distance(&self, settings: &RenderSettings) -> f64 {
        crate::render::params::sample_distance(&self.geometry, &self.settled(settings))
    }

    /// Says how samples reach the bricks of coarser levels the page table names.
    pub(crate) fn set_coarse_levels(&mut self, levels: Vec<(usize, LevelParams)>) {
        self.coarse_levels = levels;
    }

    /// Draws one tile into the target and submits it, without reading it back.
    fn draw_tile(
        &mut self,
        gpu: &Gpu,
        params: &RaymarchParams,
        ratio: f64,
        size: [u32; 2],
    ) -> Result<(), GpuError> {
        self.target(gpu, size[0], size[1])?;
        self.ensure_ratio(gpu, ratio);
        gpu.queue
            .write_buffer(&self.params, 0, bytemuck::bytes_of(params));
        let (.., view) = self.target.as_ref().expect("made above");
        let mut encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("Renderer::frame"),
            });
        self.pass
            .draw(gpu, &mut encoder, view, &self.bindings, Variant::of(params));
        gpu.queue.submit([encoder.finish()]);
        Ok(())
    }

    /// Draws a whole frame of at most [`TILE_SIDE`] per side into the target and returns the
    /// target's view, without waiting for the GPU.
    pub fn draw(
        &mut self,
        gpu: &Gpu,
        camera: &Camera,
        settings: &RenderSettings,
    ) -> Result<&wgpu::TextureView, GpuError> {
        self.draw_frame(gpu, camera, settings, 0)
    }

    /// [`Renderer::draw`] for frame `frame` of an accumulation: every ray's jitter shifted by
    /// [`jitter_offset`]`(frame)` (frame 0 is the plain image).
    pub fn draw_frame(
        &mut self,
        gpu: &Gpu,
        camera: &Camera,
        settings: &RenderSettings,
        frame: u32,
    ) -> Result<&wgpu::TextureView, GpuError> {
        let [w, h] = settings.size;
        let tile = Tile {
            image_size: [w, h],
            offset: [0, 0],
        };
        let mut params = self.params(camera, settings, tile);
        params.jitter_offset = jitter_offset(frame);
        let ratio = correction_ratio(&self.geometry, &self.settled(settings), &self.tf);
        self.draw_tile(gpu, &params, ratio, [w.min(TILE_SIDE), h.min(TILE_SIDE)])?;
        let (.., view) = self.target.as_ref().expect("drawn");
        Ok(view)
    }

    /// Draws frame `frame` of an accumulation (see [`Renderer::draw_frame`]), of at most
    /// [`TILE_SIDE`] per side, and reads it back: one step of the viewer's refinement.
    pub fn render_frame(
        &mut self,
        gpu: &Gpu,
        camera: &Camera,
        settings: &RenderSettings,
        frame: u32,
    ) -> Result<Image, GpuError> {
        self.draw_frame(gpu, camera, settings, frame)?;
        let (width, height, texture, _) = self.target.as_ref().expect("drawn");
        let (width, height) = (*width, *height);
        let rgba = read_rgba8(gpu, texture, width, height)?;
        Ok(Image {
            width,
            height,
            rgba,
        })
    }

    /// Rows `first..first + count` of frame `frame` of an accumulation of `settings.size` (at
    /// most [`TILE_SIDE`] per side), read back: the pixels [`Renderer::render_frame`] draws
    /// there. The viewer draws a slow frame band by band so that a new request need not wait
    /// for the whole of it.
    pub fn render_frame_rows(
        &mut self,
        gpu: &Gpu,
        camera: &Camera,
        settings: &RenderSettings,
        frame: u32,
        first: u32,
        count: u32,
    ) -> Result<Vec<u8>, GpuError> {
        let [w, h] = settings.size;
        let tile = Tile {
            image_size: [w, h],
            offset: [0, first],
        };
        let mut params = self.params(camera, settings, tile);
        params.jitter_offset = jitter_offset(frame);
        let ratio = correction_ratio(&self.geometry, &self.settled(settings), &self.tf);
        self.draw_tile(
            gpu,
            &params,
            ratio,
            [w.min(TILE_SIDE), count.min(TILE_SIDE)],
        )?;
        let (width, height, texture, _) = self.target.as_ref().expect("drawn");
        read_rgba8(gpu, texture, *width, *height)
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
        self.render_rows(gpu, camera, settings, side, |rows| {
            rgba.extend_from_slice(rows);
            Ok::<(), GpuError>(())
        })?;
        Ok(Image {
            width,
            height,
            rgba,
        })
    }

    /// Renders the image `settings.size` asks for in bands of rows, top to bottom, each drawn in
    /// tiles of at most `side` pixels per side, and hands each band's RGBA rows to `rows` as it
    /// is read back: an image of any size takes one band of host memory (at most 256 MiB).
    pub fn render_rows<E: From<GpuError>>(
        &mut self,
        gpu: &Gpu,
        camera: &Camera,
        settings: &RenderSettings,
        side: u32,
        rows: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        self.render_rows_watched(gpu, camera, settings, side, rows, |_| Ok(()))
    }

    /// [`Renderer::render_rows`], calling `watch` with the fraction of the work done after
    /// every frame of every tile: an `Err` from it stops the rendering there.
    pub fn render_rows_watched<E: From<GpuError>>(
        &mut self,
        gpu: &Gpu,
        camera: &Camera,
        settings: &RenderSettings,
        side: u32,
        mut rows: impl FnMut(&[u8]) -> Result<(), E>,
        mut watch: impl FnMut(f64) -> Result<(), E>,
    ) -> Result<(), E> {
        let [width, height] = settings.size;
        let band = (BAND_BYTES / (4 * width as usize)).clamp(1, side as usize) as u32;
        let frames = frames_of(settings) as u64;
        let total = height.div_ceil(band) as u64 * width.div_ceil(side) as u64 * frames;
        let mut done = 0u64;
        let mut pixels = Vec::new();
        for y0 in (0..height).step_by(band as usize) {
            let th = band.min(height - y0);
            let row_bytes = 4 * width as usize;
            pixels.clear();
            pixels
                .try_reserve_exact(row_bytes * th as usize)
                .map_err(|_| GpuError::Allocation(format!("a {width}x{th} band of pixels")))?;
            pixels.resize(row_bytes * th as usize, 0u8);
            for x0 in (0..width).step_by(side as usize) {
                let tw = side.min(width - x0);
                let tile = Tile {
                    image_size: [width, height],
                    offset: [x0, y0],
                };
                let mut after_frame = || {
                    done += 1;
                    watch(done as f64 / total as f64)
                };
                let tile_pixels =
                    self.render_tile(gpu, camera, settings, tile, [tw, th], &mut after_frame)?;
                for row in 0..th as usize {
                    let dst = row * row_bytes + 4 * x0 as usize;
                    let src = 4 * row * tw as usize;
                    pixels[dst..dst + 4 * tw as usize]
                        .copy_from_slice(&tile_pixels[src..src + 4 * tw as usize]);
                }
            }
            rows(&pixels)?;
        }
        Ok(())
    }

    /// Draws one tile and reads it back: with jitter on and `settings.accumulate` above one,
    /// the average of that many frames (see [`Accumulator`]). `after_frame` runs after each.
    fn render_tile<E: From<GpuError>>(
        &mut self,
        gpu: &Gpu,
        camera: &Camera,
        settings: &RenderSettings,
        tile: Tile,
        size: [u32; 2],
        after_frame: &mut dyn FnMut() -> Result<(), E>,
    ) -> Result<Vec<u8>, E> {
        let frames = frames_of(settings);
        let mut params = self.params(camera, settings, tile);
        let ratio = correction_ratio(&self.geometry, &self.settled(settings), &self.tf);
        let mut sum =
            (frames > 1).then(|| Accumulator::new(size[0], size[1], settings.transparent));
        for frame in 0..frames {
            params.jitter_offset = jitter_offset(frame);
            self.draw_tile(gpu, &params, ratio, size)?;
            let (.., texture, _) = self.target.as_ref().expect("drawn");
            let pixels = read_rgba8(gpu, texture, size[0], size[1])?;
            after_frame()?;
            match &mut sum {
                Some(sum) => sum.add(&pixels),
                None => return Ok(pixels),
            }
        }
        Ok(sum.expect("more than one frame").average())
    }

    /// Renders the image `settings.size` asks for and streams it into a PNG at `path` with
    /// `scene_json` in its metadata, band by band as [`Renderer::render_rows`] draws it: an
    /// image of any size up to 65535 pixels a side takes one band of host memory. Written
    /// atomically: a failure leaves no file.
    pub fn write_png(
        &mut self,
        gpu: &Gpu,
        camera: &Camera,
        settings: &RenderSettings,
        path: &Path,
        scene_json: &str,
    ) -> Result<(), ExportError> {
        self.write_png_watched(gpu, camera, settings, path, scene_json, |_| Ok(()))
    }

    /// [`Renderer::write_png`], calling `watch` with the fraction of the work done after each
    /// frame of each tile: an `Err` from it stops the export, and no file is left.
    pub fn write_png_watched(
        &mut self,
        gpu: &Gpu,
        camera: &Camera,
        settings: &RenderSettings,
        path: &Path,
        scene_json: &str,
        mut watch: impl FnMut(f64) -> Result<(), String>,
    ) -> Result<(), ExportError> {
        let side = TILE_SIDE.min(gpu.device.limits().max_texture_dimension_2d);
        let mut failure = None;
        let written = write_png_rows(path, settings.size, scene_json, |out| {
            let drawn = self.render_rows_watched(
                gpu,
                camera,
                settings,
                side,
                |rows| out.write_all(rows).map_err(ExportError::Write),
                |f| watch(f).map_err(ExportError::Stopped),
            );
            drawn.map_err(|e| {
                let message = e.to_string();
                failure = Some(e);
                std::io::Error::other(message)
            })
        });
        match failure {
            Some(e) => Err(e),
            None => Ok(written?),
        }
    }
}
