//! `gradvol info`: what a volume is and where it sits.

use std::path::Path;

use anyhow::{Context, Result};
use gradvol::volume::Volume;

pub fn run(path: &Path, volume: &Volume, json: bool) -> Result<()> {
    let info = volume.info(path);
    if json {
        println!(
            "{}",
            serde_json::to_string(&info).context("cannot encode the summary")?
        );
        return Ok(());
    }
    let [x, y, z] = info.dims;
    let [sx, sy, sz] = info.spacing;
    let [ex, ey, ez] = info.extent_mm;
    println!("{}  ({})", path.display(), volume.format.name());
    println!(
        "  dims        {x} x {y} x {z} voxels ({:.1} Mvoxel of {}, {:.1} MB)",
        info.voxels as f64 / 1e6,
        info.dtype,
        info.bytes as f64 / 1e6
    );
    println!("  spacing     {sx:.4} x {sy:.4} x {sz:.4} mm");
    println!("  extent      {ex:.1} x {ey:.1} x {ez:.1} mm");
    println!("  range       {} .. {}", info.range[0], info.range[1]);
    println!("  space       {}", info.space.name());
    let [ox, oy, oz] = info.origin;
    println!("  origin      ({ox:.3}, {oy:.3}, {oz:.3}) mm");
    let d = volume.directions();
    for (name, c) in [("i", d.x_axis), ("j", d.y_axis), ("k", d.z_axis)] {
        println!("  axis {name}      ({:+.4}, {:+.4}, {:+.4})", c.x, c.y, c.z);
    }
    for note in &info.notes {
        println!("  note: {note}");
    }
    Ok(())
}
