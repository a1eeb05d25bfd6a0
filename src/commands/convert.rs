//! `gradvol convert`: any volume gradvol reads into an OME-Zarr 0.5 pyramid.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use gradvol::volume::Opened;
use gradvol::volume::zarr::{self, ConvertOptions};

/// Writes `input` at `out`: a volume whose voxels are not read yet is read a slab at a time
/// while it is written, so it never needs to fit in memory.
pub fn run(input: Opened, from: &Path, out: &Path, options: ConvertOptions) -> Result<()> {
    let bar = super::Bar::new("writing {bar:30} {percent}% {eta} left");
    let report = |done: u64, total: u64| bar.report(done, total);
    let start = Instant::now();
    let result = match &input {
        Opened::Source(source) => zarr::convert_source(source, out, options, &report),
        Opened::Read(volume) => zarr::convert(volume, out, options, &report),
        // A store's level 0 by default: read a row of chunks at a time, any size will do.
        Opened::Store { pyramid, level } => {
            zarr::convert_store(from, pyramid, level.unwrap_or(0), out, options, &report)
        }
    };
    bar.clear();
    result?;
    let pyramid = zarr::Pyramid::open(&zarr::Location::Folder(out.to_path_buf()))?;
    let peak =
        super::peak_host_mb().map_or(String::new(), |mb| format!(", peak memory {mb:.0} MB"));
    println!(
        "wrote {} ({} levels, {:?}, {} in {:.1} s{peak})",
        out.display(),
        pyramid.level_count(),
        options.codec,
        size_text(folder_bytes(out)),
        start.elapsed().as_secs_f64()
    );
    for l in 0..pyramid.level_count() {
        let s = pyramid.level(l);
        println!(
            "  level {l}  {} x {} x {}  {:.4} x {:.4} x {:.4} mm",
            s.dims[0], s.dims[1], s.dims[2], s.spacing[0], s.spacing[1], s.spacing[2]
        );
    }
    Ok(())
}

/// Bytes in the files under `dir`.
fn folder_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => folder_bytes(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

fn size_text(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MB", bytes as f64 / 1e6)
    } else {
        format!("{:.1} kB", bytes as f64 / 1e3)
    }
}
