//! `gradvol render`: one image of a volume, headless, through the same renderer as the viewer.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use gradvol::camera::Camera;
use gradvol::gpu::Gpu;
use gradvol::png_io::read_scene;
use gradvol::render::layout::BrickLayout;
use gradvol::render::lod::{self, LodSource};
use gradvol::render::page_table::pool_grid;
use gradvol::render::params::{Geometry, gradient_use};
use gradvol::render::renderer::{
    GradientReport, Renderer, RendererOptions, TILE_SIDE, fit_to_device, frames_of, pool_format,
};
use gradvol::render::streamed::StoreBricks;
use gradvol::scene::{Blend, Scene};
use gradvol::tf::TransferFunction;
use gradvol::volume::zarr::{Location, Pyramid};
use gradvol::volume::{ErrorKind, LoadError, Volume};
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
    let extra = json!({
        "volume_dims": volume.dims,
        "downsampled": fitted.is_some(),
        "setup_ms": setup_ms,
    });
    finish(&gpu, &mut renderer, scene, tf, output, frames, extra)
}

/// Writes the image of `renderer`, runs the orbit when asked, and prints the summary line
/// (the fields of `extra` first).
fn finish(
    gpu: &Gpu,
    renderer: &mut Renderer,
    scene: &mut Scene,
    tf: TransferFunction,
    output: &Path,
    frames: Option<u32>,
    extra: serde_json::Value,
) -> Result<()> {
    // The image's scene holds the resolved transfer function, so it reproduces the image even
    // if a preset changes.
    let report = renderer.report();
    let mut stored = scene.clone();
    stored.transfer_function = Some(tf);
    let text = serde_json::to_string(&stored)?;
    let start = Instant::now();
    renderer.write_png(gpu, &scene.camera, &scene.render, output, &text)?;
    let image_ms = start.elapsed().as_secs_f64() * 1e3;
    let measured = match frames {
        Some(n) => Some(orbit(gpu, renderer, scene, n)?),
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
    summary["peak_host_mb"] = json!(super::peak_host_mb());
    if let (Some(all), serde_json::Value::Object(first)) = (summary.as_object_mut(), extra) {
        for (k, v) in first {
            all.insert(k, v);
        }
    }
    println!("{summary}");
    Ok(())
}

/// Renders a store with levels of detail: every brick of the finest level drawn from the
/// level whose voxels are about a pixel where it stands, within the GPU budget.
fn run_lod(
    scene: &mut Scene,
    path: &Path,
    pyramid: Arc<Pyramid>,
    gpu: &Gpu,
    options: StoreOptions,
    output: &Path,
    frames: Option<u32>,
) -> Result<()> {
    let start = Instant::now();
    let format = pool_format(gpu, None)?;
    let dims = pyramid.level(0).dims;
    let levels = pyramid.level_count();
    let mut source = LodSource::new(
        pyramid.clone(),
        scene.render.gradient,
        format,
        options.cache,
        options.gpu_budget,
    )
    .map_err(anyhow::Error::msg)?;
    // A store that keeps its blocks' value ranges: the transfer function is known before any
    // brick is read (a default one spans level 0's range), and bricks it leaves transparent
    // are never read.
    let known = source.known_range();
    let mean_spacing = source.geometry().mean_spacing();
    let skipping = scene.render.skip_empty_space && scene.render.blend == Blend::Composite;
    let early_tf = match known {
        Some(range) if skipping => Some(
            scene
                .transfer_function(mean_spacing, range)
                .map_err(anyhow::Error::msg)?,
        ),
        _ => None,
    };
    let plan = source.plan_for(&scene.camera, scene.render.size, early_tf.as_ref());
    if plan.over_budget {
        eprintln!(
            "note: even the coarsest level's bricks ({}) exceed the GPU budget of {} MiB",
            plan.wanted.len(),
            options.gpu_budget >> 20
        );
    }
    let blend = scene.render.blend;
    let transfer = scene.clone();
    let decide = |stats: gradvol::render::streamed::LevelStats| {
        let range = known.or(stats.range).unwrap_or([0.0, 0.0]);
        let tf = transfer.transfer_function(mean_spacing, range)?;
        let with_gradient = blend == Blend::Composite && gradient_use(&tf).is_none();
        Ok((tf, with_gradient))
    };
    let (mut renderer, tf, lod) = source
        .build(gpu, &plan, &scene.render, decide, &|_, _| Ok(()))
        .map_err(|e| anyhow::anyhow!("{e}: {}", path.display()))?;
    let setup_ms = start.elapsed().as_secs_f64() * 1e3;
    let (missing, why) = source.missing();
    if let Some(why) = why {
        eprintln!("warning: {missing} bricks could not be read and are drawn empty (first: {why})");
    }
    let (retried, failed) = pyramid.retries();
    let extra = json!({
        "volume_dims": dims,
        "downsampled": false,
        "level": serde_json::Value::Null,
        "levels": levels,
        "lod": lod,
        "setup_ms": setup_ms,
        "bricks_missing": missing,
        "reads_retried": retried,
        "reads_failed": failed,
    });
    finish(gpu, &mut renderer, scene, tf, output, frames, extra)
}

/// How `render` reads an OME-Zarr store.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// The one level to draw; by default each brick's level is chosen (levels of detail).
    pub level: Option<usize>,
    /// Host memory for bricks read from the store, bytes.
    pub cache: usize,
    /// GPU memory the pool may take, bytes.
    pub gpu_budget: u64,
}

/// Renders an OME-Zarr store: with `--level`, that level read brick by brick into the pool (the
/// level is never held whole on the host): a statistics pass for the normalisation, then the
/// packing; without, levels of detail.
pub fn run_store(
    scene: &mut Scene,
    path: &Path,
    location: &Location,
    options: StoreOptions,
    output: &Path,
    frames: Option<u32>,
) -> Result<()> {
    let at = |e: ErrorKind| anyhow::Error::from(LoadError::new(path, e));
    let pyramid = Arc::new(Pyramid::open(location).map_err(at)?);
    let gpu = Gpu::new()?;
    let format = pool_format(&gpu, None)?;
    let max_side = gpu.device.limits().max_texture_dimension_3d as usize;
    let fits = |level: usize| {
        let s = pyramid.level(level);
        let layout = BrickLayout::new(s.dims, s.spacing, None);
        let bytes =
            layout.brick_count() as u64 * layout.slot_voxels() as u64 * format.bytes_per_texel();
        bytes <= options.gpu_budget
            && pool_grid(layout.bricks, layout.slot_side(), max_side).is_some()
    };
    let count = pyramid.level_count();
    let Some(level) = options.level else {
        return run_lod(scene, path, pyramid, &gpu, options, output, frames);
    };
    if level >= count {
        return Err(at(ErrorKind::invalid(format!(
            "--level {level} asked for, but the image has levels 0 to {}",
            count - 1
        ))));
    }
    if !fits(level) {
        eprintln!(
            "note: level {level}'s bricks exceed the GPU budget of {} MiB",
            options.gpu_budget >> 20
        );
    }
    let s = pyramid.level(level).clone();
    let geometry = lod::level_geometry(&pyramid, level);
    let start = Instant::now();
    let layout = BrickLayout::new(s.dims, s.spacing, None);
    let operator = scene.render.gradient;
    let mut bricks = StoreBricks::new(
        pyramid.clone(),
        level,
        layout,
        Some(operator),
        format,
        options.cache,
    )
    .map_err(anyhow::Error::msg)?;
    // What the store keeps spares a pass that reads every brick before the packing does.
    let stats = match bricks.known_stats() {
        Some(known) => known,
        None => bricks
            .measure()
            .map_err(|e| anyhow::anyhow!("{e}: {}", path.display()))?,
    };
    let stats_ms = start.elapsed().as_secs_f64() * 1e3;
    let range = stats.range.unwrap_or([0.0, 0.0]);
    let tf = scene
        .transfer_function(geometry.mean_spacing(), range)
        .map_err(|e| anyhow::anyhow!(e))?;
    let with_gradient = scene.render.blend == Blend::Composite && gradient_use(&tf).is_none();
    bricks.normalise(&stats, with_gradient);
    let report = with_gradient.then(|| GradientReport {
        operator,
        device: format!("cpu, per brick ({} threads)", rayon::current_num_threads()),
        ms: stats_ms,
    });
    let start = Instant::now();
    let mut renderer = Renderer::streamed(&gpu, geometry, &bricks, &tf, &scene.render, report)
        .map_err(|e| anyhow::anyhow!("{e}: {}", path.display()))?;
    let pack_ms = start.elapsed().as_secs_f64() * 1e3;
    let (missing, why) = bricks.missing();
    if let Some(why) = &why {
        eprintln!(
            "warning: {missing} of {} bricks could not be read and are drawn empty (first: {why})",
            bricks.layout().brick_count()
        );
    }
    let (retried, failed) = pyramid.retries();
    let extra = json!({
        "volume_dims": s.dims,
        "downsampled": false,
        "level": level,
        "levels": count,
        "stats_ms": stats_ms,
        "pack_ms": pack_ms,
        "setup_ms": stats_ms + pack_ms,
        "cache": bricks.cache_report(),
        "bricks_missing": missing,
        "reads_retried": retried,
        "reads_failed": failed,
    });
    finish(&gpu, &mut renderer, scene, tf, output, frames, extra)
}

/// The volume path to open: the command line's, else the scene's.
pub fn volume_path(cli: Option<&PathBuf>, scene: &Scene) -> Result<PathBuf> {
    match (cli, &scene.volume) {
        (Some(p), _) => Ok(p.clone()),
        (None, Some(p)) => Ok(p.clone()),
        (None, None) => bail!("no volume given: name one, or pass a --scene that has one"),
    }
}
