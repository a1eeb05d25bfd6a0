//! `gradvol gradient` as a user runs it: the exported |grad f| reopens on the input's exact grid
//! with the reference operator's values, the summary line carries the statistics, and refused
//! requests leave nothing behind.

mod common;

use std::process::Command;

use common::*;
use gradvol::gradient::{Operator, cpu};
use gradvol::volume::{DType, Endian, Space, VoxelData};

fn gradvol(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gradvol"))
        .args(args)
        .output()
        .unwrap()
}

/// `gradvol gradient INPUT -o OUTPUT EXTRA...`
fn gradient_to(
    input: &std::path::Path,
    output: &std::path::Path,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "gradient",
        input.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    gradvol(&args)
}

fn oblique_nrrd(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("in.nrrd");
    let data = random_voxels(DType::Int16, 9 * 7 * 5, &mut Rng(41));
    write_attached(
        &path,
        "NRRD0004\ntype: short\ndimension: 3\nsizes: 9 7 5\nendian: big\nencoding: gzip\n\
         space: left-posterior-superior\n\
         space directions: (0.6,0.1,0) (-0.1,0.6,0) (0,0,-2.5)\nspace origin: (10,-20,30)\n",
        &gzip(&bytes_in(&data, Endian::Big)),
    );
    path
}

#[test]
fn exported_gradient_reopens_on_the_same_grid_in_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    let input = oblique_nrrd(dir.path());
    let source = load(&input);
    for (name, op_args, operator) in [
        ("g.nrrd", vec![], Operator::Central),
        ("g.nii.gz", vec!["--operator", "sobel"], Operator::Sobel),
        (
            "g.nii",
            vec!["--operator", "gaussian", "--sigma-mm", "1.2"],
            Operator::Gaussian { sigma_mm: 1.2 },
        ),
    ] {
        let out_path = dir.path().join(name);
        let out = gradient_to(&input, &out_path, &op_args);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(summary["operator"], operator.name());
        assert!(summary["compute_ms"].as_f64().unwrap() >= 0.0);

        let exported = load(&out_path);
        assert_eq!(exported.dims, source.dims, "{name}");
        assert_eq!(exported.data.dtype(), DType::Float);
        let want = source.world_from_voxel_in(Space::Lps);
        let got = exported.world_from_voxel_in(Space::Lps);
        assert_mat4_close(got, want, 1e-5);
        let expected = cpu::gradient_magnitude(&source, operator);
        assert_eq!(exported.data, VoxelData::Float(expected.clone()), "{name}");
        let max = expected.iter().fold(0f32, |m, g| m.max(*g)) as f64;
        assert!((summary["max"].as_f64().unwrap() - max).abs() < 1e-9 * max.max(1.0));
    }
}

#[test]
fn stats_file_holds_histograms_and_a_suggested_curve() {
    let dir = tempfile::tempdir().unwrap();
    let input = oblique_nrrd(dir.path());
    let stats_path = dir.path().join("stats.json");
    let out = gradvol(&[
        "gradient",
        input.to_str().unwrap(),
        "-o",
        dir.path().join("g.nrrd").to_str().unwrap(),
        "--stats",
        stats_path.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&stats_path).unwrap()).unwrap();
    let stats = &s["stats"];
    let p = &stats["percentiles"];
    let order = ["p50", "p90", "p95", "p99", "p99_9"].map(|k| p[k].as_f64().unwrap());
    assert!(order.windows(2).all(|w| w[0] <= w[1]), "{order:?}");
    let counts = |h: &serde_json::Value| -> u64 {
        h["counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .sum()
    };
    assert_eq!(counts(&stats["histogram"]), 9 * 7 * 5);
    assert_eq!(counts(&stats["joint_histogram"]), 9 * 7 * 5);
    let curve = stats["suggested_gradient_opacity"].as_array().unwrap();
    assert_eq!(curve.last().unwrap()[1].as_f64().unwrap(), 1.0);
    let boundary = &stats["boundary_emphasis"];
    assert!(boundary["sigma_mm"].as_f64().unwrap() > 0.0);
    let opacities = boundary["scalar_opacity"].as_array().unwrap();
    assert_eq!(opacities.len(), 64);
    assert!(
        opacities
            .iter()
            .all(|p| (0.0..=1.0).contains(&p[1].as_f64().unwrap()))
    );
}

#[test]
fn refused_requests_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = oblique_nrrd(dir.path());
    for (name, extra, expected) in [
        ("g.png", vec![], "choose a .nrrd, .nii or .nii.gz"),
        ("g.nrrd", vec!["--sigma-mm", "2"], "--sigma-mm only applies"),
        (
            "g.nrrd",
            vec!["--operator", "gaussian", "--sigma-mm", "0"],
            "positive number",
        ),
        (
            "g.nrrd",
            vec!["--operator", "gaussian", "--sigma-mm", "1e30"],
            "wider than the volume",
        ),
    ] {
        let out_path = dir.path().join(name);
        let out = gradient_to(&input, &out_path, &extra);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        assert!(!out_path.exists(), "{name} must not be written");
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn real_ct_gradient_keeps_the_ct_geometry() {
    let data = sample_data_dir();
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("lung1_gradient.nrrd");
    let out = gradvol(&[
        "gradient",
        data.join("lung1_image.nrrd").to_str().unwrap(),
        "-o",
        out_path.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let source = load(&data.join("lung1_image.nrrd"));
    let exported = load(&out_path);
    assert_eq!(exported.dims, source.dims);
    assert_eq!(exported.spacing, source.spacing);
    assert_eq!(exported.space, source.space);
    assert_mat4_close(exported.world_from_voxel, source.world_from_voxel, 0.0);
    // Air to soft tissue to bone: the steepest CT edges exceed 1000 HU per mm.
    assert!(exported.range[1] > 1000.0, "{:?}", exported.range);
}

#[test]
fn gpu_device_computes_the_gradient_and_its_statistics_on_the_gpu() {
    let dir = tempfile::tempdir().unwrap();
    let input = oblique_nrrd(dir.path());
    let run = |device: &str| {
        let (out_path, stats_path) = (
            dir.path().join(format!("{device}.nrrd")),
            dir.path().join(format!("{device}.json")),
        );
        let out = gradient_to(
            &input,
            &out_path,
            &["--device", device, "--stats", stats_path.to_str().unwrap()],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let stats: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&stats_path).unwrap()).unwrap();
        (summary, stats["stats"].clone(), load(&out_path))
    };
    let (gpu_summary, gpu_stats, gpu_volume) = run("gpu");
    let (cpu_summary, cpu_stats, cpu_volume) = run("cpu");
    assert_eq!(gpu_summary["stats_device"], "gpu", "{gpu_summary}");
    assert!(gpu_summary["device"].as_str().unwrap().starts_with("gpu: "));
    assert_eq!(cpu_summary["stats_device"], "cpu", "{cpu_summary}");
    let n = cpu_volume.voxel_count();
    let (g, c) = (
        gpu_volume.data.range_to_f32(0, n),
        cpu_volume.data.range_to_f32(0, n),
    );
    let scale = c.iter().fold(0f32, |m, x| m.max(*x));
    assert!(g.iter().zip(&c).all(|(a, b)| (a - b).abs() <= 1e-6 * scale));
    let p = |s: &serde_json::Value, k: &str| s["percentiles"][k].as_f64().unwrap();
    let fine_bin = cpu_stats["max"].as_f64().unwrap() / 65536.0;
    for k in ["p50", "p90", "p95", "p99", "p99_9"] {
        let (a, b) = (p(&gpu_stats, k), p(&cpu_stats, k));
        assert!((a - b).abs() <= 4.0 * fine_bin, "{k}: gpu {a} cpu {b}");
    }
    // The boundary emphasis is taken on the host from the values read back.
    let sigma = |s: &serde_json::Value| s["boundary_emphasis"]["sigma_mm"].as_f64().unwrap();
    assert!((sigma(&gpu_stats) - sigma(&cpu_stats)).abs() < 1e-3 * sigma(&cpu_stats));
}
