//! Frame rate, GPU memory and skipping of the raymarcher, now and at this renderer's base
//! commit, measured in the same run. Prints two tables; run with `cargo bench --bench render`
//! after scripts/fetch-sample-data.sh (and, for the base columns, scripts/build-base.sh, which
//! builds the commit before the bricked renderer into target/base/).
//!
//! Every figure comes from `gradvol render ... --frames 12` (a 12-step orbit at 30 degrees a
//! step, 512x512, each frame drawn and waited for; the median is reported), run once per
//! binary and round, the two binaries alternating, two rounds, the lower median kept: these
//! machines are shared and a single run can be slowed by half. Sample distance is the smallest
//! voxel spacing, rays are jittered, as in normal use.
//!
//! The second table renders a 100-Mvoxel CT: the chest CT resampled to 512x512x384 int16
//! (linear along z), written once to target/bench-data/. Host memory is the process's peak
//! resident size less the volume's own bytes; on a software adapter the GPU's memory is host
//! memory, so it includes the brick pool.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;

use common::{big_ct, data};

const ROUNDS: usize = 2;

/// The base binary, if scripts/build-base.sh built it (or GRADVOL_BASE names one).
fn base_binary() -> Option<PathBuf> {
    let path = std::env::var_os("GRADVOL_BASE").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/base/release/gradvol"),
        PathBuf::from,
    );
    path.exists().then_some(path)
}

/// The peak resident size of process `pid` so far, in MB (Linux's VmHWM).
fn peak_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0 / 1e6)
}

/// One orbit's summary line from `binary`, with the process's peak resident size added as
/// `host_peak_mb` (read until it exits).
fn orbit(binary: &Path, volume: &Path, preset: &str, shading: bool) -> serde_json::Value {
    let out = std::env::temp_dir().join("gradvol-bench-render.png");
    let mut child = Command::new(binary)
        .args(["render"])
        .arg(volume)
        .arg("-o")
        .arg(&out)
        .args(["--preset", preset, "--size", "512x512", "--frames", "12"])
        .args(["--shading", if shading { "on" } else { "off" }])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("gradvol runs");
    let mut peak = None;
    while child.try_wait().expect("wait").is_none() {
        peak = peak_mb(child.id()).or(peak);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(child.wait().unwrap().success(), "{binary:?} failed");
    let mut line = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut line)
        .unwrap();
    let mut summary: serde_json::Value = serde_json::from_str(line.trim()).expect("one JSON line");
    summary["host_peak_mb"] = serde_json::json!(peak);
    summary
}

/// The lowest median frame time of `ROUNDS` orbits, and the last summary.
fn best(
    binary: &Path,
    volume: &Path,
    preset: &str,
    shading: bool,
    kept: &mut Option<(f64, serde_json::Value)>,
) {
    let summary = orbit(binary, volume, preset, shading);
    let ms = summary["frame_ms"].as_f64().unwrap();
    if kept.as_ref().is_none_or(|(best, _)| ms < *best) {
        *kept = Some((ms, summary));
    }
}

fn main() {
    let now = PathBuf::from(env!("CARGO_BIN_EXE_gradvol"));
    let base = base_binary();
    if base.is_none() {
        eprintln!("no base binary: run scripts/build-base.sh for the base columns");
    }
    let binaries: Vec<&Path> = std::iter::once(now.as_path())
        .chain(base.as_deref())
        .collect();
    let rows = [
        ("ch2.nii.gz", "MR-Default", false),
        ("ch2.nii.gz", "gradvol-MR-Boundaries", false),
        ("ch2.nii.gz", "gradvol-MR-Boundaries", true),
        ("lung1_image.nrrd", "CT-Bone", true),
        ("lung1_image.nrrd", "gradvol-CT-Bone-Surface", false),
        ("lung1_image.nrrd", "gradvol-CT-Bone-Surface", true),
    ];
    println!(
        "| volume | preset | gradient opacity | shading | base ms/frame | now ms/frame | speed-up | \
         blocks empty | GPU bytes/voxel |"
    );
    println!("|---|---|---|---|---:|---:|---:|---:|---:|");
    let mut adapter = String::new();
    for (name, preset, shading) in rows {
        let Some(path) = data(name) else { continue };
        let mut kept: Vec<Option<(f64, serde_json::Value)>> = vec![None; binaries.len()];
        for _ in 0..ROUNDS {
            for (b, slot) in binaries.iter().zip(kept.iter_mut()) {
                best(b, &path, preset, shading, slot);
            }
        }
        let (now_ms, s) = kept[0].clone().unwrap();
        adapter = s["adapter"].as_str().unwrap_or("").to_string();
        let dims: Vec<f64> = s["volume_dims"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_f64().unwrap())
            .collect();
        let voxels: f64 = dims.iter().product();
        let base_ms = kept.get(1).and_then(|k| k.as_ref().map(|(ms, _)| *ms));
        let gradient = if preset.starts_with("gradvol-") {
            "on"
        } else {
            "off"
        };
        println!(
            "| {name} {}x{}x{} | {preset} | {gradient} | {} | {} | {now_ms:.0} | {} | {:.0}% | {:.2} |",
            dims[0],
            dims[1],
            dims[2],
            if shading { "on" } else { "off" },
            base_ms.map_or("n/a".into(), |ms| format!("{ms:.0}")),
            base_ms.map_or("n/a".into(), |ms| format!("{:.2}x", ms / now_ms)),
            100.0 * s["blocks_empty"].as_f64().unwrap() / s["blocks"].as_f64().unwrap(),
            s["gpu_bytes"].as_f64().unwrap() / voxels,
        );
    }
    println!();
    println!("adapter: {adapter}");
    println!();

    let Some(lung) = data("lung1_image.nrrd") else {
        return;
    };
    let big = big_ct(&lung);
    let volume_mb = 2.0 * 512.0 * 512.0 * 384.0 / 1e6;
    println!(
        "| 512x512x384 int16 CT ({volume_mb:.0} MB), gradvol-CT-Bone-Surface, shaded | ms/frame | \
         GPU bytes/voxel | host MB beyond the volume | blocks empty | TF edit: classify ms |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let mut kept: Vec<Option<(f64, serde_json::Value)>> = vec![None; binaries.len()];
    for _ in 0..ROUNDS {
        for (b, slot) in binaries.iter().zip(kept.iter_mut()) {
            best(b, &big, "gradvol-CT-Bone-Surface", true, slot);
        }
    }
    for (label, k) in ["now", "base"].iter().zip(&kept) {
        let Some((ms, s)) = k else { continue };
        let voxels = 512.0 * 512.0 * 384.0;
        let gpu = s["gpu_bytes"]
            .as_f64()
            .map_or("n/a".into(), |b| format!("{:.2}", b / voxels));
        let host = s["host_peak_mb"]
            .as_f64()
            .map_or("n/a".into(), |mb| format!("{:.0}", mb - volume_mb));
        let empty = match (s["blocks_empty"].as_f64(), s["blocks"].as_f64()) {
            (Some(e), Some(b)) => format!("{:.0}%", 100.0 * e / b),
            _ => "n/a".into(),
        };
        let classify = s["classify_ms"]
            .as_f64()
            .map_or("n/a".into(), |ms| format!("{ms:.1}"));
        println!("| {label} | {ms:.0} | {gpu} | {host} | {empty} | {classify} |");
    }
}
