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
    println!("  spacing     {}", lengths([sx, sy, sz], 4));
    println!("  extent      {}", lengths([ex, ey, ez], 1));
    println!("  range       {} .. {}", info.range[0], info.range[1]);
    println!("  space       {}", info.space.name());
    let [ox, oy, oz] = info.origin;
    if [sx, sy, sz].iter().all(|&s| s < 0.1) {
        let um = |v: f64| v * 1e3;
        println!(
            "  origin      ({:.3}, {:.3}, {:.3}) um",
            um(ox),
            um(oy),
            um(oz)
        );
    } else {
        println!("  origin      ({ox:.3}, {oy:.3}, {oz:.3}) mm");
    }
    let d = volume.directions();
    for (name, c) in [("i", d.x_axis), ("j", d.y_axis), ("k", d.z_axis)] {
        println!("  axis {name}      ({:+.4}, {:+.4}, {:+.4})", c.x, c.y, c.z);
    }
    if let Some(p) = &info.pyramid {
        println!(
            "  OME-Zarr    {} levels (version {})",
            p.levels.len(),
            p.ome_version
        );
        for (l, s) in p.levels.iter().enumerate() {
            let [x, y, z] = s.dims;
            let [cx, cy, cz] = s.chunk;
            let shard = match s.subchunk {
                Some([i, j, k]) => format!(" in shards of {cx}x{cy}x{cz}, chunks {i}x{j}x{k}"),
                None => format!(" in chunks of {cx}x{cy}x{cz}"),
            };
            let read = if l == p.level { "  <- read" } else { "" };
            let spacing = lengths(s.spacing, 4);
            println!("    level {l}  {x} x {y} x {z}  {spacing}{shard}{read}");
        }
    }
    for note in &info.notes {
        println!("  note: {note}");
    }
    Ok(())
}

/// Three lengths given in mm, written in micrometres when all are under 0.1 mm (microscopy).
fn lengths(mm: [f64; 3], decimals: usize) -> String {
    let [a, b, c] = mm;
    if mm.iter().all(|v| v.abs() < 0.1) {
        let [a, b, c] = [a * 1e3, b * 1e3, c * 1e3];
        format!("{a:.decimals$} x {b:.decimals$} x {c:.decimals$} um")
    } else {
        format!("{a:.decimals$} x {b:.decimals$} x {c:.decimals$} mm")
    }
}
