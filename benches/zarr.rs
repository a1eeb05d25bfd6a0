//! OME-Zarr at scale: how fast stores are written, read and decoded (against a plain read of
//! the same chunk files), and how long `gradvol render` takes to its first complete image of a
//! store read brick by brick, with its peak host and GPU memory. Stores: the chest CT and the
//! 100-Mvoxel CT converted by `gradvol convert`, a raw uint16 file converted a slab at a time
//! (1 GiB; `GRADVOL_BENCH_RAW=X,Y,Z` sets its size, to show a file larger than the host's
//! memory converting), and a sparse 16384 x 16384 x 8192 uint16 store
//! (4 TiB logical; five balls of radius 256 voxels, only the chunks they touch written, every
//! level present) drawn with levels of detail, by `render` and in the viewer (a real window
//! under Xvfb: the stand-in, the refined view, an orbit and the view refined again). Run with
//! `cargo bench --bench zarr` after scripts/fetch-sample-data.sh.

mod common;
#[path = "../tests/common/display.rs"]
mod display;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::{big_ct, data};
use gradvol::volume::LoadOptions;
use gradvol::volume::zarr::sparse::{five_balls, write_sparse};
use gradvol::volume::zarr::{Location, Pyramid};

fn gradvol(args: &[&str]) -> (serde_json::Value, f64) {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_gradvol"))
        .args(args)
        .output()
        .unwrap();
    let wall = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "gradvol {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = stdout
        .lines()
        .find(|l| l.starts_with('{'))
        .map_or(serde_json::Value::Null, |l| {
            serde_json::from_str(l).unwrap()
        });
    (json, wall)
}

/// Bytes and time of reading every file under `dir` (the chunks, as a plain copy would).
fn plain_read(dir: &Path) -> (u64, f64) {
    fn walk(dir: &Path, total: &mut u64) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, total);
            } else {
                *total += std::fs::read(&p).unwrap().len() as u64;
            }
        }
    }
    let start = Instant::now();
    let mut total = 0;
    walk(dir, &mut total);
    (total, start.elapsed().as_secs_f64())
}

struct Row {
    store: String,
    figures: Vec<(String, String)>,
}

/// Converts `source`, then measures the reads and a streamed render of level 0.
fn converted(name: &str, source: &Path, work: &Path) -> Row {
    let store = work.join(format!("{name}.ome.zarr"));
    let _ = std::fs::remove_dir_all(&store);
    let s = store.to_str().unwrap();
    let (_, convert_s) = gradvol(&["convert", source.to_str().unwrap(), "-o", s]);
    let pyramid = Pyramid::open(&Location::Folder(store.clone())).unwrap();
    let level = pyramid.level(0).clone();
    let voxels: u64 = level.dims.iter().map(|&d| d as u64).product();
    let bytes = voxels * pyramid.dtype().size() as u64;
    // Cold-ish reads are not possible without root; both reads below find the page cache warm.
    let (_, _) = plain_read(&store);
    let (stored, plain_s) = plain_read(&store.join("0"));
    let start = Instant::now();
    pyramid.read_level(0, &LoadOptions::default()).unwrap();
    let decode_s = start.elapsed().as_secs_f64();
    let png = work.join(format!("{name}.png"));
    let (sum, wall) = gradvol(&[
        "render",
        s,
        "-o",
        png.to_str().unwrap(),
        "--size",
        "512x512",
        "--level",
        "0",
        "--preset",
        "gradvol-CT-Bone-Surface",
        "--cache",
        "256",
    ]);
    let bricks = sum["bricks"].as_f64().unwrap();
    let setup = sum["setup_ms"].as_f64().unwrap() / 1e3;
    let stats = sum["stats_ms"].as_f64().unwrap();
    let [x, y, z] = level.dims;
    Row {
        store: format!("{name} ({x}x{y}x{z}, {:.0} MB)", bytes as f64 / 1e6),
        figures: vec![
            ("convert".into(), format!("{convert_s:.1} s")),
            (
                "plain read of level 0's chunk files".into(),
                format!("{:.0} MB/s", stored as f64 / 1e6 / plain_s),
            ),
            (
                "read and decode level 0 (zarrs)".into(),
                format!("{:.0} MB/s of voxels", bytes as f64 / 1e6 / decode_s),
            ),
            (
                "render level 0, 512x512, 256 MiB cache: first image".into(),
                format!("{wall:.1} s"),
            ),
            (
                "bricks read, their gradient computed and packed a second (statistics from the \
                 store's ranges: one pass)"
                    .into(),
                format!("{:.1} (statistics {stats:.0} ms)", bricks / setup),
            ),
            (
                "peak host / GPU memory".into(),
                format!(
                    "{:.0} MB / {:.0} MB",
                    sum["peak_host_mb"].as_f64().unwrap(),
                    sum["gpu_bytes"].as_f64().unwrap() / 1e6
                ),
            ),
        ],
    }
}

/// Writes a raw uint16 volume of `dims` plane by plane (a ball and a shell, as a phantom
/// scanned without noise), never holding more than a plane.
fn write_raw(path: &Path, dims: [usize; 3]) {
    use std::io::Write;
    let [nx, ny, nz] = dims;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut plane = vec![0u16; nx * ny];
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let d = |i: usize, n: usize| (i as f64 + 0.5) / n as f64 - 0.5;
                let r = (d(x, nx).powi(2) + d(y, ny).powi(2) + d(z, nz).powi(2)).sqrt();
                plane[x + nx * y] = match r {
                    r if r < 0.3 => 1200,
                    r if (0.35..0.38).contains(&r) => 3000,
                    _ => 100,
                };
            }
        }
        file.write_all(bytemuck::cast_slice(&plane)).unwrap();
    }
    file.flush().unwrap();
}

/// `gradvol convert` on a raw file of `GRADVOL_BENCH_RAW` voxels (x,y,z; default
/// 1024,1024,512, 1 GiB): read a slab of planes at a time, so its peak memory follows a plane's
/// size, not the file's.
fn raw_convert(work: &Path) -> Row {
    let dims: [usize; 3] = std::env::var("GRADVOL_BENCH_RAW")
        .ok()
        .map(|s| {
            let v: Vec<usize> = s.split(',').map(|p| p.trim().parse().unwrap()).collect();
            [v[0], v[1], v[2]]
        })
        .unwrap_or([1024, 1024, 512]);
    let raw = work.join(format!("raw-{}x{}x{}.raw", dims[0], dims[1], dims[2]));
    let bytes = dims.iter().product::<usize>() as u64 * 2;
    if std::fs::metadata(&raw).map(|m| m.len()).ok() != Some(bytes) {
        write_raw(&raw, dims);
    }
    let store = work.join("raw.ome.zarr");
    let _ = std::fs::remove_dir_all(&store);
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_gradvol"))
        .args([
            "convert",
            raw.to_str().unwrap(),
            "-o",
            store.to_str().unwrap(),
        ])
        .arg("--raw-dims")
        .arg(format!("{},{},{}", dims[0], dims[1], dims[2]))
        .args(["--raw-type", "u16", "--raw-spacing", "0.25,0.25,0.25"])
        .output()
        .unwrap();
    let wall = start.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let peak = stdout
        .split("peak memory ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .unwrap_or("?")
        .to_owned();
    let _ = std::fs::remove_dir_all(&store);
    let [x, y, z] = dims;
    Row {
        store: format!("raw uint16 {x}x{y}x{z} ({:.1} GB)", bytes as f64 / 1e9),
        figures: vec![
            (
                "convert (|grad f| included), a slab of 64 planes at a time".into(),
                format!(
                    "{wall:.1} s, {:.0} MB/s of input",
                    bytes as f64 / 1e6 / wall
                ),
            ),
            ("peak host memory".into(), format!("{peak} MB")),
        ],
    }
}

fn sparse(work: &Path) -> Row {
    let store = work.join("sparse.ome.zarr");
    let side = 16384.0;
    let balls = five_balls(side, 256.0);
    let start = Instant::now();
    let write_s;
    let chunks;
    if store.exists() {
        write_s = f64::NAN;
        chunks = f64::NAN;
    } else {
        let r = write_sparse(&store, [16384, 16384, 8192], 1.0, &balls, 64).unwrap();
        write_s = start.elapsed().as_secs_f64();
        chunks = r.chunks as f64;
    }
    let png = work.join("sparse.png");
    let (sum, wall) = gradvol(&[
        "render",
        store.to_str().unwrap(),
        "-o",
        png.to_str().unwrap(),
        "--size",
        "1024x1024",
    ]);
    let levels: Vec<String> = sum["lod"]["bricks_per_level"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| format!("{} at level {}", l[1], l[0]))
        .collect();
    let mut figures = vec![
        (
            "write (chunks touched by five balls, all levels)".into(),
            format!("{write_s:.1} s, {chunks} chunks"),
        ),
        (
            "render 1024x1024, levels of detail, default budgets: first complete image".into(),
            format!(
                "{wall:.1} s ({} slots; finest bricks: {})",
                sum["lod"]["slots"],
                levels.join(", ")
            ),
        ),
        (
            "peak host / GPU memory".into(),
            format!(
                "{:.0} MB / {:.0} MB (budgets 1024 / 1024 MiB)",
                sum["peak_host_mb"].as_f64().unwrap(),
                sum["gpu_bytes"].as_f64().unwrap() / 1e6
            ),
        ),
    ];
    figures.extend(viewer(&store));
    Row {
        store: "sparse 16384x16384x8192 uint16 (4 TiB logical)".into(),
        figures,
    }
}

/// `gradvol view` on `store` in a 1280x800 window: how long the stand-in takes to open, the
/// first view to be refined, the previews while the camera orbits for 3 s, and the view to be
/// refined again once it rests.
fn viewer(store: &Path) -> Vec<(String, String)> {
    let display = display::Display::open();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("orbit.json");
    let steps = serde_json::json!({"steps": [
        "wait_until_ready",
        {"drag": {"from": [700, 300], "to": [950, 360], "ms": 3000}},
        "wait_until_ready",
    ]});
    std::fs::write(&script, steps.to_string()).unwrap();
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_gradvol"))
        .arg("view")
        .arg(store)
        .args([
            "--script",
            script.to_str().unwrap(),
            "--exit-after-frames",
            "1",
        ])
        .args(["--window", "1280x800", "--no-session"])
        .env("DISPLAY", &display.name)
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    let wall = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "gradvol view failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with('{'))
        .expect("a summary");
    let sum: serde_json::Value = serde_json::from_str(line).unwrap();
    let jobs = sum["jobs"].as_array().cloned().unwrap_or_default();
    let ms = |prefix: &str, outcome: &str| -> Vec<f64> {
        jobs.iter()
            .filter(|j| {
                j["title"].as_str().unwrap_or("").starts_with(prefix) && j["outcome"] == outcome
            })
            .map(|j| j["ms"].as_f64().unwrap_or(f64::NAN))
            .collect()
    };
    let opened = ms("opening", "done");
    let cancelled = ms("refining", "cancelled").len();
    let drag = &sum["drags"][0];
    let lod = &sum["streaming"]["lod"];
    // The stages shown, per view: each view's run ends with its last stage (1 pixel).
    let stages = sum["streaming"]["stages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut views: Vec<Vec<(f64, f64, u64)>> = vec![Vec::new()];
    for s in &stages {
        let stage = (
            s["pixels"].as_f64().unwrap_or(f64::NAN),
            s["since_rest_ms"].as_f64().unwrap_or(f64::NAN) / 1e3,
            s["slots"].as_u64().unwrap_or(0),
        );
        views.last_mut().unwrap().push(stage);
        if stage.0 <= 1.0 {
            views.push(Vec::new());
        }
    }
    let describe = |view: Option<&Vec<(f64, f64, u64)>>| -> String {
        let Some(view) = view.filter(|v| !v.is_empty()) else {
            return "none".into();
        };
        view.iter()
            .map(|(px, s, slots)| format!("{px} px: {s:.1} s ({slots} slots)"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    vec![
        (
            "viewer 1280x800 (viewport in the summary): stand-in (level 6) read and shown".into(),
            format!("{:.1} s", opened.first().copied().unwrap_or(f64::NAN) / 1e3),
        ),
        (
            "viewer: the first view refined (voxels up to N pixels), each stage complete at \
             (from the camera's rest)"
                .into(),
            describe(views.first()),
        ),
        (
            "viewer: orbiting 3 s on the refined view".into(),
            format!(
                "{:.1} previews/s, longest window frame {:.0} ms",
                drag["previews_per_second"].as_f64().unwrap_or(f64::NAN),
                drag["max_ui_frame_ms"].as_f64().unwrap_or(f64::NAN)
            ),
        ),
        (
            "viewer: redraws as the last stage's bricks arrived (whole run)".into(),
            format!("{}", sum["streaming"]["updates_drawn"]),
        ),
        (
            "viewer: the view refined again after the orbit".into(),
            format!(
                "{} ({} slots at the end; {} refinements cancelled by moving); whole run \
                 {wall:.0} s",
                describe(views.get(1)),
                lod["slots"],
                cancelled
            ),
        ),
    ]
}

fn main() {
    let Some(lung) = data("lung1_image.nrrd") else {
        return;
    };
    let work: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data/zarr");
    std::fs::create_dir_all(&work).unwrap();
    let big = big_ct(&lung);
    let rows = [
        converted("lung1", &lung, &work),
        converted("ct-100M", &big, &work),
        raw_convert(&work),
        sparse(&work),
    ];
    println!("| store | measure | value |");
    println!("|---|---|---:|");
    for row in rows {
        for (i, (what, value)) in row.figures.iter().enumerate() {
            let store = if i == 0 { row.store.as_str() } else { "" };
            println!("| {store} | {what} | {value} |");
        }
    }
}
