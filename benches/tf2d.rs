//! What a 2-D transfer function costs: the table bake and block classification of one edit,
//! and the frame time, next to the 1-D curves on the same volume. Run with `cargo bench --bench
//! tf2d` after scripts/fetch-sample-data.sh.
//!
//! First table: a renderer of the chest CT (lung1, 512x512x48, |grad f| by central
//! differences) takes each function (the 2-D ones on flat 1-D curves) by `Renderer::set_transfer_function` (bake the table,
//! upload it, classify every block), ten times; the median edit and its classification are
//! printed. Second: `gradvol render --frames 12` (a 12-step orbit, 512x512, shaded, the median
//! frame) with each preset, two rounds alternating, the lower median kept.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

#[allow(dead_code, reason = "the big CT is the render bench's")]
mod common;

use common::data;
use gradvol::gpu::Gpu;
use gradvol::render::params::Geometry;
use gradvol::render::renderer::Renderer;
use gradvol::scene::RenderSettings;
use gradvol::tf::presets;
use gradvol::tf::tf2d::{Shape, Tf2d, Widget};
use gradvol::volume::LoadOptions;

const EDITS: usize = 10;
const ROUNDS: usize = 2;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// `n` widgets of every kind spread over the CT's values.
fn widgets(n: usize) -> Vec<Widget> {
    (0..n)
        .map(|i| {
            // The first on the bone boundary, the others spread over the values.
            let v = 300.0 - 1200.0 * i as f64 / n.max(1) as f64 + 2000.0 * (i % 2) as f64;
            Widget::new(match i % 3 {
                0 => Shape::Triangle {
                    apex: v,
                    top: 600.0,
                    width: 1200.0,
                    bottom: 30.0,
                },
                1 => Shape::Box {
                    value: [v, v + 200.0],
                    gradient: [50.0, 400.0],
                    falloff: [20.0, 10.0],
                },
                _ => Shape::Gaussian {
                    center: [v, 100.0],
                    sigma: [80.0, 40.0],
                },
            })
        })
        .collect()
}

fn render_ms(volume: &Path, preset: &str) -> (f64, f64) {
    let out = std::env::temp_dir().join("gradvol-bench-tf2d.png");
    let run = Command::new(env!("CARGO_BIN_EXE_gradvol"))
        .arg("render")
        .arg(volume)
        .arg("-o")
        .arg(&out)
        .args(["--preset", preset, "--size", "512x512", "--frames", "12"])
        .output()
        .expect("gradvol runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let s: serde_json::Value = serde_json::from_slice(&run.stdout).expect("one JSON line");
    let frame = s["frame_ms"].as_f64().expect("frame_ms");
    let empty = s["blocks_empty"].as_f64().unwrap() / s["blocks"].as_f64().unwrap();
    (frame, empty)
}

fn main() {
    let Some(lung) = data("lung1_image.nrrd") else {
        eprintln!("no lung1_image.nrrd: run scripts/fetch-sample-data.sh");
        return;
    };
    let volume = gradvol::volume::load(&lung, &LoadOptions::default()).expect("lung1 loads");
    let gpu = Gpu::new().expect("a GPU adapter");
    let spacing = Geometry::of(&volume).mean_spacing();
    let one_d = presets::preset("gradvol-CT-Bone-Surface", spacing).unwrap();
    // The 2-D functions on the flat curves of the 2-D presets: the widgets alone decide.
    let flat = presets::preset("gradvol-CT-2D-Bone-Boundary", spacing).unwrap();
    let mut renderer = Renderer::new(&gpu, &volume, &one_d).unwrap();
    renderer
        .prepare(&gpu, &volume, &RenderSettings::default())
        .unwrap();
    let variants = [
        ("1-D: gradvol-CT-Bone-Surface", None),
        ("2-D: 1 widget, 512x256", Some((1, [512, 256]))),
        ("2-D: 4 widgets, 512x256", Some((4, [512, 256]))),
        ("2-D: 16 widgets, 512x256", Some((16, [512, 256]))),
        ("2-D: 4 widgets, 2048x1024", Some((4, [2048, 1024]))),
    ];
    println!(
        "| transfer function (lung1, 512x512x48) | edit ms (bake, upload, classify) | classify ms | blocks empty |"
    );
    println!("|---|---:|---:|---:|");
    for (name, two_d) in variants {
        let mut tf = if two_d.is_some() {
            flat.clone()
        } else {
            one_d.clone()
        };
        if let Some((n, raster)) = two_d {
            tf.tf2d = Some(Tf2d {
                raster,
                widgets: widgets(n),
                ..Tf2d::default()
            });
        }
        let mut edits = Vec::new();
        let mut classify = Vec::new();
        for k in 0..EDITS {
            // A different function each time, so every edit bakes.
            tf.unit_distance_mm = 1.0 + k as f64 * 1e-3;
            let start = Instant::now();
            renderer.set_transfer_function(&gpu, &tf);
            edits.push(start.elapsed().as_secs_f64() * 1e3);
            classify.push(renderer.report().classify_ms);
        }
        let c = renderer.classification();
        println!(
            "| {name} | {:.1} | {:.2} | {:.0}% |",
            median(edits),
            median(classify),
            100.0 * c.blocks_empty as f64 / c.occupancy.len() as f64
        );
    }
    println!();
    println!("| preset (lung1, 512x512, 12-frame orbit, shaded) | ms/frame | blocks empty |");
    println!("|---|---:|---:|");
    let presets = [
        "gradvol-CT-Bone-Surface",
        "gradvol-CT-2D-Bone-Boundary",
        "gradvol-CT-2D-Skin-And-Bone",
    ];
    let mut best = vec![(f64::INFINITY, 0.0); presets.len()];
    for _ in 0..ROUNDS {
        for (p, kept) in presets.iter().zip(best.iter_mut()) {
            let (ms, empty) = render_ms(&lung, p);
            if ms < kept.0 {
                *kept = (ms, empty);
            }
        }
    }
    for (p, (ms, empty)) in presets.iter().zip(best) {
        println!("| {p} | {ms:.0} | {:.0}% |", 100.0 * empty);
    }
    println!();
    println!("adapter: {}", gpu.describe());
}
