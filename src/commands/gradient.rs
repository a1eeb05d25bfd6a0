//! `gradvol gradient`: the gradient magnitude as a volume of its own, with its statistics.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use gradvol::gpu::Gpu;
use gradvol::gradient::stats::GradientStats;
use gradvol::gradient::{Operator, cpu};
use gradvol::render::gradient_pass::GradientPass;
use gradvol::render::volume_texture::VolumeTexture;
use gradvol::volume::{Volume, write_float_volume};
use serde_json::json;

/// Where |grad f| is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Device {
    /// The GPU when it is real hardware and runs the operator; else the CPU, which beats a
    /// software rasteriser.
    Auto,
    Gpu,
    Cpu,
}

/// |grad f|, a description of where it was computed, and the milliseconds the computation took
/// (for the GPU: upload, passes and readback; opening the device is not counted).
fn compute(volume: &Volume, operator: Operator, device: Device) -> Result<(Vec<f32>, String, f64)> {
    let cpu_path = |why: &str| {
        let threads = rayon::current_num_threads();
        let start = Instant::now();
        let g = cpu::gradient_magnitude(volume, operator);
        (g, format!("cpu ({threads} threads){why}"), ms_since(start))
    };
    if device == Device::Cpu {
        return Ok(cpu_path(""));
    }
    let gpu = match Gpu::new() {
        Ok(gpu) => gpu,
        Err(e) if device == Device::Auto => return Ok(cpu_path(&format!("; no GPU: {e}"))),
        Err(e) => return Err(e.into()),
    };
    if !GradientPass::supports(&gpu, operator) {
        if device == Device::Gpu {
            bail!(
                "the {} operator needs 3-D storage textures, which {} lacks; use --device cpu",
                operator.name(),
                gpu.describe()
            );
        }
        return Ok(cpu_path(&format!(
            "; {} lacks 3-D storage textures",
            gpu.describe()
        )));
    }
    if device == Device::Auto && gpu.is_software() {
        let why = format!("; the adapter {} is a software rasteriser", gpu.describe());
        return Ok(cpu_path(&why));
    }
    let pass = GradientPass::new(&gpu);
    let start = Instant::now();
    let texture = match VolumeTexture::upload(&gpu, volume) {
        Ok(t) => t,
        Err(e) if device == Device::Auto => return Ok(cpu_path(&format!("; {e}"))),
        Err(e) => return Err(e.into()),
    };
    let gradient = match pass.compute(&gpu, &texture, volume.spacing, operator) {
        Ok(g) => g,
        Err(e) if device == Device::Auto => return Ok(cpu_path(&format!("; {e}"))),
        Err(e) => return Err(e.into()),
    };
    Ok((
        gradient,
        format!("gpu: {}", gpu.describe()),
        ms_since(start),
    ))
}

fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}

/// Computes |grad f| (upload and readback included in `compute_ms`), writes it to `output` on the input's grid, and prints a one-line JSON
/// summary; `stats_path` receives the full statistics.
pub fn run(
    volume: &Volume,
    output: &Path,
    operator: Operator,
    device: Device,
    stats_path: Option<&PathBuf>,
) -> Result<()> {
    if let Operator::Gaussian { sigma_mm } = operator
        && let Err(why) = cpu::check_gaussian(volume.dims, volume.spacing, sigma_mm)
    {
        bail!("--sigma-mm: {why}");
    }
    let (gradient, device, compute_ms) = compute(volume, operator, device)?;
    let stats = GradientStats::compute(volume, &gradient);
    let description = format!("gradvol gradient magnitude ({operator}), data units per mm");
    write_float_volume(output, &gradient, volume, &description)?;
    if let Some(path) = stats_path {
        let text = serde_json::to_string_pretty(&json!({
            "operator": operator,
            "units": "data units per mm",
            "stats": stats,
        }))?;
        gradvol::atomic::write_atomically(path, |w| w.write_all(text.as_bytes()))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let summary = json!({
        "output": output.display().to_string(),
        "operator": operator.name(),
        "sigma_mm": match operator { Operator::Gaussian { sigma_mm } => Some(sigma_mm), _ => None },
        "device": device,
        "dims": volume.dims,
        "spacing": volume.spacing,
        "compute_ms": compute_ms,
        "mvoxel_per_s": volume.voxel_count() as f64 / 1e3 / compute_ms,
        "min": stats.min,
        "max": stats.max,
        "mean": stats.mean,
        "percentiles": stats.percentiles,
        "suggested_gradient_opacity": stats.suggested_gradient_opacity,
        "boundary_sigma_mm": stats.boundary_emphasis.as_ref().map(|b| b.sigma_mm),
    });
    println!("{summary}");
    Ok(())
}
