//! `gradvol gradient`: the gradient magnitude as a volume of its own, with its statistics.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use gradvol::gpu::gradient_pass::GradientPass;
use gradvol::gpu::stats_pass::StatsPass;
use gradvol::gpu::volume_texture::VolumeTexture;
use gradvol::gpu::{Gpu, GpuError};
use gradvol::gradient::boundary::boundary_emphasis;
use gradvol::gradient::stats::GradientStats;
use gradvol::gradient::{Operator, cpu};
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

/// |grad f| and its statistics, with where and how fast they were computed.
struct Computed {
    gradient: Vec<f32>,
    stats: GradientStats,
    device: String,
    /// Milliseconds for |grad f| (for the GPU: upload, passes and readback; opening the device
    /// is not counted).
    compute_ms: f64,
    /// Milliseconds for the statistics, and where they were counted.
    stats_ms: f64,
    stats_device: &'static str,
}

fn on_cpu(volume: &Volume, operator: Operator, why: &str) -> Computed {
    let threads = rayon::current_num_threads();
    let start = Instant::now();
    let gradient = cpu::gradient_magnitude(volume, operator);
    let compute_ms = ms_since(start);
    let start = Instant::now();
    let stats = GradientStats::compute(volume, &gradient);
    Computed {
        gradient,
        stats,
        device: format!("cpu ({threads} threads){why}"),
        compute_ms,
        stats_ms: ms_since(start),
        stats_device: "cpu",
    }
}

/// On the GPU: |grad f| into a resident texture, its statistics counted there from the texture,
/// then the texture read back for the file. The boundary emphasis (second derivatives) is taken
/// on the host from the values read back.
fn on_gpu(gpu: &Gpu, volume: &Volume, operator: Operator) -> Result<Computed, GpuError> {
    let pass = GradientPass::new(gpu);
    let stats_pass = StatsPass::new(gpu);
    let start = Instant::now();
    let scalar = VolumeTexture::upload(gpu, volume)?;
    let resident = pass.compute_texture(gpu, &scalar, volume.spacing, operator)?;
    let gradient = resident.read(gpu)?;
    let compute_ms = ms_since(start);
    let start = Instant::now();
    let mut stats = stats_pass.compute(gpu, &scalar, &resident, volume.range)?;
    stats.boundary_emphasis = boundary_emphasis(volume, &gradient);
    Ok(Computed {
        gradient,
        stats,
        device: format!("gpu: {}", gpu.describe()),
        compute_ms,
        stats_ms: ms_since(start),
        stats_device: "gpu",
    })
}

fn compute(volume: &Volume, operator: Operator, device: Device) -> Result<Computed> {
    if device == Device::Cpu {
        return Ok(on_cpu(volume, operator, ""));
    }
    let gpu = match Gpu::new() {
        Ok(gpu) => gpu,
        Err(e) if device == Device::Auto => {
            return Ok(on_cpu(volume, operator, &format!("; no GPU: {e}")));
        }
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
        let why = format!("; {} lacks 3-D storage textures", gpu.describe());
        return Ok(on_cpu(volume, operator, &why));
    }
    if device == Device::Auto && gpu.is_software() {
        let why = format!("; the adapter {} is a software rasteriser", gpu.describe());
        return Ok(on_cpu(volume, operator, &why));
    }
    let dims = volume.dims.map(|d| d as u32);
    if !StatsPass::fits(dims) {
        let why = "; the volume has more voxels than 32-bit GPU counters hold";
        if device == Device::Gpu {
            bail!("{}", &why[2..]);
        }
        return Ok(on_cpu(volume, operator, why));
    }
    match on_gpu(&gpu, volume, operator) {
        Ok(done) => Ok(done),
        Err(e) if device == Device::Auto => Ok(on_cpu(volume, operator, &format!("; {e}"))),
        Err(e) => Err(e.into()),
    }
}

fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}

/// Computes |grad f| and its statistics, writes |grad f| to `output` on the input's grid, and
/// prints a one-line JSON summary; `stats_path` receives the full statistics.
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
    let Computed {
        gradient,
        stats,
        device,
        compute_ms,
        stats_ms,
        stats_device,
    } = compute(volume, operator, device)?;
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
        "stats_device": stats_device,
        "stats_ms": stats_ms,
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
