//! Helpers for the renderer's tests: the GPU, a volume from a function, images drawn by the
//! renderer and by the CPU reference from the same renderer's uniforms and tables, and image
//! differences.

use glam::DMat3;
use gradvol::camera::Camera;
use gradvol::gpu::Gpu;
use gradvol::gradient::cpu;
use gradvol::render::bricks::Source;
use gradvol::render::params::{Tile, correction_ratio, jitter_offset};
use gradvol::render::reference::{self, Field};
use gradvol::render::renderer::{Image, Renderer, RendererOptions};
use gradvol::render::table::ClassTable;
use gradvol::scene::RenderSettings;
use gradvol::tf::TransferFunction;
use gradvol::volume::{Decoded, Format, Space, Volume, VoxelData};

/// The adapter this machine has; none is a failure that says what to install.
pub fn gpu() -> Gpu {
    Gpu::new().unwrap_or_else(|e| panic!("{e}"))
}

/// A float volume of `dims` whose voxel `[x, y, z]` is `f([x, y, z])`, LPS-aligned at 0.
pub fn volume(dims: [usize; 3], spacing: [f64; 3], f: impl Fn([usize; 3]) -> f32) -> Volume {
    let mut values = Vec::new();
    for z in 0..dims[2] {
        for y in 0..dims[1] {
            for x in 0..dims[0] {
                values.push(f([x, y, z]));
            }
        }
    }
    Volume::from_geometry(
        dims,
        spacing,
        DMat3::IDENTITY,
        glam::DVec3::ZERO,
        Space::Lps,
        Decoded::scan(VoxelData::Float(values)),
        Format::Raw,
    )
    .unwrap()
}

pub fn settings(size: u32) -> RenderSettings {
    RenderSettings {
        size: [size, size],
        ..RenderSettings::default()
    }
}

/// A renderer of `volume` packed with `options`, prepared for `settings`.
pub fn renderer(
    gpu: &Gpu,
    volume: &Volume,
    tf: &TransferFunction,
    settings: &RenderSettings,
    options: RendererOptions,
) -> Renderer {
    let mut r = Renderer::with_options(gpu, volume, tf, options).unwrap();
    r.prepare(gpu, volume, settings).unwrap();
    r
}

/// One image by the default renderer.
pub fn render(
    gpu: &Gpu,
    volume: &Volume,
    tf: &TransferFunction,
    camera: &Camera,
    settings: &RenderSettings,
) -> Image {
    let mut r = renderer(gpu, volume, tf, settings, RendererOptions::default());
    r.render_image(gpu, camera, settings).unwrap()
}

/// The frame `renderer` draws, drawn by the CPU reference: the same uniforms and tables, the
/// volume unbricked and every sample visited.
pub fn reference_image(
    renderer: &Renderer,
    volume: &Volume,
    camera: &Camera,
    settings: &RenderSettings,
) -> Image {
    reference_frame(renderer, volume, camera, settings, 0)
}

/// [`reference_image`] for frame `frame` of an accumulation (its rays' jitter shifted).
pub fn reference_frame(
    renderer: &Renderer,
    volume: &Volume,
    camera: &Camera,
    settings: &RenderSettings,
    frame: u32,
) -> Image {
    let [w, h] = settings.size;
    let mut params = renderer.params(
        camera,
        settings,
        Tile {
            image_size: [w, h],
            offset: [0, 0],
        },
    );
    params.jitter_offset = jitter_offset(frame);
    let gradient = renderer
        .gradient_operator()
        .map(|op| cpu::gradient_magnitude(volume, op));
    let source = Source::new(volume, gradient.as_deref(), renderer.pool_format());
    assert_eq!(source.quantisation, renderer.quantisation());
    let texels = source.texels();
    let tf = renderer.transfer_function();
    let ratio = correction_ratio(renderer.geometry(), settings, tf);
    let table = ClassTable::bake(tf, &renderer.quantisation(), ratio);
    let field = Field {
        dims: volume.dims,
        texels: &texels,
    };
    reference::render(&params, field, &table, w, h)
}

/// Worst and mean absolute difference over all channels, and the fraction of channels that
/// differ by more than 4/255.
pub fn compare(a: &Image, b: &Image) -> (u8, f64, f64) {
    assert_eq!((a.width, a.height), (b.width, b.height));
    let diffs: Vec<u8> = a
        .rgba
        .iter()
        .zip(&b.rgba)
        .map(|(x, y)| x.abs_diff(*y))
        .collect();
    let worst = *diffs.iter().max().unwrap();
    let mean = diffs.iter().map(|&d| d as f64).sum::<f64>() / diffs.len() as f64;
    let over = diffs.iter().filter(|&&d| d > 4).count() as f64 / diffs.len() as f64;
    (worst, mean, over)
}

pub fn pixel(image: &Image, x: u32, y: u32) -> [u8; 4] {
    let i = 4 * (y * image.width + x) as usize;
    image.rgba[i..i + 4].try_into().unwrap()
}

/// Pixels showing anything other than black.
pub fn lit(image: &Image) -> usize {
    image.rgba.chunks(4).filter(|p| p[..3] != [0, 0, 0]).count()
}
