//! `gradvol render`: one image of a volume, headless, through the same renderer as the viewer.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use gradvol::camera::Camera;
use gradvol::gpu::Gpu;
use gradvol::png_io::read_scene;
use gradvol::render::params::Geometry;
use gradvol::render::renderer::{Renderer, RendererOptions, TILE_SIDE, fit_to_device, frames_of};
use gradvol::scene::Scene;
use gradvol::tf::TransferFunction;
use gradvol::volume::Volume;
use serde_json::json;

/// Reads a scene from a JSON file or from the metadata of a PNG gradvol wrote.
pub fn load_scene(path: &Path) -> Result<Scene> {
    let is_png = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    let text = if is_png {
        read_scene(path)?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?
    };
    Scene::from_json(&text).map_err(|e| anyhow::anyhow!("{e} in scene {}", path.display()))
}

/// Reads and checks a transfer-function JSON file.
pub fn load_tf(path: &Path) -> Result<TransferFunction> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.len() > 16 << 20 {
        bail!("{} is too large for a transfer function", path.display());
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    TransferFunction::from_json(&text)
        .map_err(|e| anyhow::anyhow!("invalid transfer function: {e} in {}", path.display()))
}

/// What `--frames` measured.
struct Orbit {
    frames: u32,
    median_ms: f64,
}

/// Renders `frames` steps of an orbit about the view's up axis and returns the median time.
fn orbit(gpu: &Gpu, renderer: &mut Renderer, scene: &Scene, frames: u32) -> Result<Orbit> {
    let mut camera: Camera = scene.camera;
    let mut times = Vec::with_capacity(frames as usize);
    for i in 0..frames {
        camera.azimuth_deg = scene.camera.azimuth_deg + 360.0 * i as f64 / frames as f64;
        let start = Instant::now();
        renderer.draw_and_wait(gpu, &camera, &scene.render)?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok(Orbit {
        frames,
        median_ms: times[times.len() / 2],
    })
}

/// Loads nothing until the scene is known to be valid, renders, writes `output` with the scene
/// in its metadata, and prints a one-line JSON summary.
pub fn run(scene: &mut Scene, volume: &Volume, output: &Path, frames: Option<u32>) -> Result<()> {
    let geometry = Geometry::of(volume);
    let tf = scene
        .transfer_function(geometry.mean_spacing(), volume.range)
        .map_err(|e| anyhow::anyhow!(e))?;
    if let Some(n) = frames {
        let [w, h] = scene.render.size;
        if n == 0 || w > TILE_SIDE || h > TILE_SIDE {
            bail!("--frames needs at least one frame and an image of at most {TILE_SIDE} per side");
        }
    }
    let gpu = Gpu::new()?;
    let fitted = fit_to_device(&gpu, volume);
    if let Some((_, note)) = &fitted {
        eprintln!("note: {note}");
    }
    let volume = fitted.as_ref().map_or(volume, |(small, _)| small);
    let start = Instant::now();
    let mut renderer =
        Renderer::prepared(&gpu, volume, &tf, &scene.render, RendererOptions::default())?;
    let setup_ms = start.elapsed().as_secs_f64() * 1e3;
    // The image's scene holds the resolved transfer function, so it reproduces the image even
    // if a preset changes.
    let report = renderer.report();
    let mut stored = scene.clone();
    stored.transfer_function = Some(tf);
    let text = serde_json::to_string(&stored)?;
    let start = Instant::now();
    renderer.write_png(&gpu, &scene.camera, &scene.render, output, &text)?;
    let image_ms = start.elapsed().as_secs_f64() * 1e3;
    let measured = match frames {
        Some(n) => Some(orbit(&gpu, &mut renderer, scene, n)?),
        None => None,
    };
    *scene = stored;
    let gradient = renderer
        .last_gradient
        .as_ref()
        .map(|g| json!({"operator": g.operator.name(), "device": g.device, "ms": g.ms}));
    let mut summary = json!({
        "output": output.display().to_string(),
        "size": scene.render.size,
        "adapter": gpu.describe(),
        "blend": scene.render.blend,
        "preset": scene.preset,
        "gradient": gradient,
        "volume_dims": volume.dims,
        "downsampled": fitted.is_some(),
        "setup_ms": setup_ms,
        "image_ms": image_ms,
        "frame_ms": image_ms,
        "gpu_bytes": report.gpu_bytes,
        "pool_format": report.pool_format,
        "brick_size": report.brick_size,
        "bricks": report.bricks,
        "bricks_empty": report.bricks_empty,
        "block_size": report.block_size,
        "blocks": report.blocks,
        "blocks_empty": report.blocks_empty,
        "classify_ms": report.classify_ms,
        "empty_space_skipping": scene.render.skip_empty_space,
        "accumulated": frames_of(&scene.render),
    });
    if let Some(o) = measured {
        summary["frames"] = json!(o.frames);
        summary["frame_ms"] = json!(o.median_ms);
        summary["fps"] = json!(1e3 / o.median_ms);
    }
    println!("{summary}");
    Ok(())
}

/// The volume path to open: the command line's, else the scene's.
pub fn volume_path(cli: Option<&PathBuf>, scene: &Scene) -> Result<PathBuf> {
    match (cli, &scene.volume) {
        (Some(p), _) => Ok(p.clone()),
        (None, Some(p)) => Ok(p.clone()),
        (None, None) => bail!("no volume given: name one, or pass a --scene that has one"),
    }
}
