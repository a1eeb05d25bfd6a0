//! Frame rate of the raymarcher: a fixed 12-step orbit of real volumes at 512x512, with and
//! without gradient opacity and shading. Prints a table; run with `cargo bench --bench render`
//! after scripts/fetch-sample-data.sh.
//!
//! Each row: three warm-up frames (pipeline and first-use costs), then 12 frames at 30 degree
//! azimuth steps, each submitted and waited for; the median is reported. Sample distance is
//! the smallest voxel spacing; rays are jittered, as in normal use.

use std::path::Path;
use std::time::Instant;

use gradvol::camera::Camera;
use gradvol::gpu::Gpu;
use gradvol::render::params::Geometry;
use gradvol::render::renderer::Renderer;
use gradvol::scene::RenderSettings;
use gradvol::tf::presets;
use gradvol::volume::{self, LoadOptions, Volume};

const FRAMES: usize = 12;

fn load(name: &str) -> Option<Volume> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(name);
    if !path.exists() {
        eprintln!("skipping {name}: run scripts/fetch-sample-data.sh");
        return None;
    }
    Some(volume::load(&path, &LoadOptions::default()).expect("the sample volume loads"))
}

/// Median milliseconds per frame of the orbit.
fn orbit_ms(gpu: &Gpu, renderer: &mut Renderer, settings: &RenderSettings) -> f64 {
    let mut camera = Camera::default();
    for _ in 0..3 {
        renderer.draw_and_wait(gpu, &camera, settings).unwrap();
    }
    let mut times: Vec<f64> = (0..FRAMES)
        .map(|i| {
            camera.azimuth_deg = 360.0 * i as f64 / FRAMES as f64;
            let start = Instant::now();
            renderer.draw_and_wait(gpu, &camera, settings).unwrap();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[FRAMES / 2]
}

fn main() {
    let gpu = Gpu::new().unwrap_or_else(|e| panic!("{e}"));
    println!("adapter: {}", gpu.describe());
    println!();
    println!("| volume | preset | gradient opacity | shading | ms/frame | fps |");
    println!("|---|---|---|---|---|---|");
    let rows = [
        ("ch2.nii.gz", "MR-Default", false),
        ("ch2.nii.gz", "MR-Default", true),
        ("ch2.nii.gz", "gradvol-MR-Boundaries", false),
        ("ch2.nii.gz", "gradvol-MR-Boundaries", true),
        ("lung1_image.nrrd", "CT-Bone", true),
        ("lung1_image.nrrd", "gradvol-CT-Bone-Surface", false),
        ("lung1_image.nrrd", "gradvol-CT-Bone-Surface", true),
    ];
    let mut loaded: Option<(&str, Volume)> = None;
    // The first orbit of a process runs markedly slower on lavapipe (its threads and caches
    // warming up), whatever the row; it is drawn once more and only the second time is reported.
    let rows = std::iter::once((rows[0], false)).chain(rows.map(|r| (r, true)));
    for ((name, preset, shading), report) in rows {
        if loaded.as_ref().is_none_or(|(n, _)| *n != name) {
            loaded = load(name).map(|v| (name, v));
        }
        let Some((_, volume)) = &loaded else { continue };
        let geometry = Geometry::of(volume);
        let tf = presets::preset(preset, geometry.mean_spacing()).unwrap();
        let settings = RenderSettings {
            size: [512, 512],
            shading: Some(shading),
            ..RenderSettings::default()
        };
        let mut renderer = Renderer::new(&gpu, volume, &tf).unwrap();
        renderer.prepare(&gpu, volume, &settings).unwrap();
        let ms = orbit_ms(&gpu, &mut renderer, &settings);
        if !report {
            continue;
        }
        let [nx, ny, nz] = volume.dims;
        println!(
            "| {name} {nx}x{ny}x{nz} | {preset} | {} | {} | {ms:.0} | {:.2} |",
            if tf.gradient_is_flat() { "off" } else { "on" },
            if shading { "on" } else { "off" },
            1e3 / ms
        );
    }
}
