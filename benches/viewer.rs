//! The viewer's responsiveness, measured in a real window (under Xvfb, started here when no
//! DISPLAY is set) through `gradvol view --script`: how long the window goes without a frame
//! while a 100-Mvoxel CT is read and analysed in the background, how many previews a second
//! come while a gradient-opacity point or the camera is dragged on the chest CT at a 512x512
//! viewport, and how long the still image takes to refine to 16 frames. Run with
//! `cargo bench --bench viewer` after scripts/fetch-sample-data.sh; each scenario runs
//! `ROUNDS` times and the table gives the range.

mod common;
#[path = "../tests/common/display.rs"]
mod display;

use std::path::Path;
use std::process::Command;

use common::{big_ct, data};
use display::Display;

const ROUNDS: usize = 2;

/// The window that gives a 512x512 viewport beside the side panel.
const WINDOW: &str = "942x562";

/// Runs the viewer with `args` and `script` and returns its summary line.
fn view(display: &Display, args: &[&str], script: serde_json::Value) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("script.json");
    std::fs::write(&path, script.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gradvol"))
        .arg("view")
        .args(args)
        .args([
            "--script",
            path.to_str().unwrap(),
            "--exit-after-frames",
            "1",
        ])
        .args(["--window", WINDOW, "--no-session"])
        .env("DISPLAY", &display.name)
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "gradvol view failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with('{'))
        .expect("a summary");
    serde_json::from_str(line).unwrap()
}

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// "a" or "a–b" for the figures of the rounds.
fn range(values: &[f64], digits: usize) -> String {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if (hi - lo).abs() < 0.5 * 10f64.powi(-(digits as i32)) {
        format!("{lo:.digits$}")
    } else {
        format!("{lo:.digits$}–{hi:.digits$}")
    }
}

fn main() {
    let Some(lung) = data("lung1_image.nrrd") else {
        return;
    };
    let big = big_ct(&lung);
    let display = Display::open();
    let lung_s = lung.to_str().unwrap();
    let rows = [
        ("open", open_big(&display, &big)),
        ("tf", drag(&display, lung_s, "drag_point")),
        ("camera", drag(&display, lung_s, "drag")),
    ];
    let adapter = rows[0].1.adapter.clone();
    println!("\nViewer responsiveness, {ROUNDS} rounds (range), window {WINDOW}, {adapter}\n");
    println!("| scenario | figure | value |");
    println!("|---|---|---:|");
    let open = &rows[0].1;
    println!(
        "| open a 512x512x384 CT (100 Mvoxel) while the demo is shown | job (read, \\|grad f\\|, statistics, upload) | {} s |",
        range(&open.job_s, 1)
    );
    println!(
        "| | window frames a second during the job | {} |",
        range(&open.ui_fps, 0)
    );
    println!(
        "| | longest gap between window frames | {} ms |",
        range(&open.max_gap_ms, 0)
    );
    for (what, (_, r)) in [
        (
            "drag a gradient-opacity point for 5 s, chest CT 512x512x48, 512x512 viewport",
            &rows[1],
        ),
        (
            "orbit the camera for 5 s, same volume and viewport",
            &rows[2],
        ),
    ] {
        println!(
            "| {what} | previews a second | {} |",
            range(&r.previews_per_s, 1)
        );
        println!(
            "| | longest gap between window frames | {} ms |",
            range(&r.max_gap_ms, 0)
        );
        println!(
            "| | then still: full image refined to 16 frames | {} s |",
            range(&r.refine_s, 1)
        );
    }
}

#[derive(Default)]
struct Figures {
    adapter: String,
    job_s: Vec<f64>,
    ui_fps: Vec<f64>,
    max_gap_ms: Vec<f64>,
    previews_per_s: Vec<f64>,
    refine_s: Vec<f64>,
}

fn open_big(display: &Display, big: &Path) -> Figures {
    let mut figures = Figures::default();
    for _ in 0..ROUNDS {
        let s = view(
            display,
            &[],
            serde_json::json!({"steps": ["wait_until_ready", {"open": big}, "wait_until_ready"]}),
        );
        eprintln!("{s}");
        let job = s["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| {
                j["title"]
                    .as_str()
                    .unwrap()
                    .ends_with("lung1_512x512x384.nrrd")
            })
            .expect("the open job")
            .clone();
        assert_eq!(job["outcome"], "done");
        let seconds = f(&job["ms"]) / 1e3;
        figures.adapter = s["adapter"].as_str().unwrap_or("").into();
        figures.job_s.push(seconds);
        figures.ui_fps.push(f(&job["ui_frames"]) / seconds);
        figures.max_gap_ms.push(f(&s["max_ui_frame_ms"]));
    }
    figures
}

/// Drags (a gradient-opacity point, or the camera across the viewport) for 5 s once the CT
/// is shown, then waits for the refinement.
fn drag(display: &Display, lung: &str, kind: &str) -> Figures {
    let step = if kind == "drag_point" {
        serde_json::json!({"drag_point": {"curve": "gradient", "index": 1, "by": [30, 25], "ms": 5000}})
    } else {
        serde_json::json!({"drag": {"from": [560, 200], "to": [820, 260], "ms": 5000}})
    };
    let mut figures = Figures::default();
    for _ in 0..ROUNDS {
        let s = view(
            display,
            &[lung],
            serde_json::json!({"steps": ["wait_until_ready", step, "wait_until_refined"]}),
        );
        eprintln!("{s}");
        let d = &s["drags"][0];
        figures.previews_per_s.push(f(&d["previews_per_second"]));
        figures.max_gap_ms.push(f(&d["max_ui_frame_ms"]));
        figures.refine_s.push(f(&s["refined_ms"]) / 1e3);
    }
    figures
}
