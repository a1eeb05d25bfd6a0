//! Writes a sparse OME-Zarr pyramid of balls: `cargo run --release --example sparse_store --
//! OUT.ome.zarr [SIDE] [RADIUS]` (SIDE x SIDE x SIDE/2 voxels of 1 mm, default 16384: 4 TiB of
//! uint16). The benchmarks and tests make the same kind of store.

use gradvol::volume::zarr::sparse::{five_balls, write_sparse};

fn main() {
    let mut args = std::env::args().skip(1);
    let out = args
        .next()
        .expect("usage: sparse_store OUT.ome.zarr [SIDE] [RADIUS]");
    let side: u64 = args
        .next()
        .map_or(16384, |s| s.parse().expect("SIDE is a number"));
    let radius: f64 = args
        .next()
        .map_or(256.0, |s| s.parse().expect("RADIUS is a number"));
    let s = side as f64;
    let balls = five_balls(s, radius);
    let start = std::time::Instant::now();
    let report = write_sparse(
        std::path::Path::new(&out),
        [side, side, side / 2],
        1.0,
        &balls,
        64,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    println!(
        "{out}: {} levels, {} chunks written in {:.1} s",
        report.levels,
        report.chunks,
        start.elapsed().as_secs_f64()
    );
}
