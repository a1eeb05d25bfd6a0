//! `gradvol render` and `gradvol presets` as a user runs them, on the real chest CT: the image,
//! its scene metadata reproducing it, transparency, the orbit benchmark's summary line, and
//! refused requests that leave nothing behind.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::sample_data_dir;
use gradvol::png_io::{read_png, read_scene};
use gradvol::scene::Scene;

fn gradvol(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gradvol"))
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .unwrap()
}

fn lung() -> String {
    sample_data_dir()
        .join("lung1_image.nrrd")
        .to_str()
        .unwrap()
        .to_string()
}

fn summary(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "gradvol failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one JSON line: {stdout}");
    serde_json::from_str(&stdout).unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_rendered_png_carries_its_scene_and_reproduces_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.png");
    let out = gradvol(&[
        "render",
        &lung(),
        "-o",
        path(&first),
        "--preset",
        "gradvol-CT-Bone-Surface",
        "--size",
        "96x64",
        "--azimuth",
        "-30",
        "--elevation",
        "10",
    ]);
    let s = summary(&out);
    assert_eq!(s["size"], serde_json::json!([96, 64]));
    assert!(s["frame_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(s["gradient"]["operator"], "central");
    let image = read_png(&first).unwrap();
    assert_eq!((image.width, image.height), (96, 64));
    let lit = image.rgba.chunks(4).filter(|p| p[..3] != [0, 0, 0]).count();
    assert!(lit > 500, "the ribs and spine show: {lit} pixels");

    let scene = Scene::from_json(&read_scene(&first).unwrap()).unwrap();
    assert_eq!(scene.camera.azimuth_deg, -30.0);
    assert_eq!(scene.preset.as_deref(), Some("gradvol-CT-Bone-Surface"));
    assert!(
        scene.transfer_function.is_some(),
        "the resolved TF is stored"
    );
    assert!(scene.volume.unwrap().is_absolute());

    // From the PNG alone, without naming the volume: the same pixels.
    let again = dir.path().join("again.png");
    summary(&gradvol(&[
        "render",
        "--scene",
        path(&first),
        "-o",
        path(&again),
    ]));
    assert!(
        read_png(&again).unwrap() == image,
        "re-rendered image differs"
    );
}

#[test]
fn transparent_images_have_a_real_alpha_channel() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.png");
    summary(&gradvol(&[
        "render",
        &lung(),
        "-o",
        path(&out),
        "--preset",
        "CT-Bone",
        "--size",
        "64x64",
        "--transparent",
        "--view",
        "superior",
        "--ortho",
    ]));
    let image = read_png(&out).unwrap();
    let alpha = |x: u32, y: u32| image.rgba[4 * (y * 64 + x) as usize + 3];
    assert_eq!(alpha(0, 0), 0);
    assert_eq!(alpha(63, 63), 0);
    let partial = image
        .rgba
        .chunks(4)
        .filter(|p| p[3] > 0 && p[3] < 250)
        .count();
    // Rays stop at 254/255: nothing behind could change an 8-bit pixel.
    let opaque = image.rgba.chunks(4).filter(|p| p[3] >= 250).count();
    assert!(
        opaque > 100 && partial > 10,
        "{opaque} opaque, {partial} partial"
    );
}

#[test]
fn frames_reports_the_median_frame_time_of_an_orbit() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.png");
    let s = summary(&gradvol(&[
        "render",
        &lung(),
        "-o",
        path(&out),
        "--size",
        "48x48",
        "--frames",
        "4",
        "--blend",
        "maximum",
        "--preset",
        "CT-MIP",
    ]));
    assert_eq!(s["frames"], 4);
    let (ms, fps) = (s["frame_ms"].as_f64().unwrap(), s["fps"].as_f64().unwrap());
    assert!((ms * fps - 1000.0).abs() < 1e-6);
    assert!(s["gradient"].is_null(), "MIP computes no gradient");
    assert!(out.is_file());
}

#[test]
fn bad_requests_fail_with_one_line_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bad.png");
    let tf = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let non_monotone = tf(
        "a.json",
        r#"{"scalar_opacity": [[100, 0], [50, 1]], "color": [[0, 1, 1, 1]]}"#,
    );
    let nan = tf(
        "b.json",
        r#"{"scalar_opacity": [[0, NaN]], "color": [[0, 1, 1, 1]]}"#,
    );
    let alpha = tf(
        "c.json",
        r#"{"scalar_opacity": [[0, 1.5]], "color": [[0, 1, 1, 1]]}"#,
    );
    let lung = lung();
    let o = path(&out);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--preset", "CT-Nothing"],
            "unknown preset 'CT-Nothing'",
        ),
        (vec!["--tf", &non_monotone], "increasing order"),
        (vec!["--tf", &nan], "invalid transfer function"),
        (vec!["--tf", &alpha], "alpha 1.5 outside 0..1"),
        (vec!["--size", "100000x10"], "outside 1..16384"),
        (vec!["--size", "0x10"], "outside 1..16384"),
        (vec!["--sample-distance", "-1"], "sample distance"),
        (vec!["--crop", "0.5,0,0,0.2,1,1"], "crop"),
        (vec!["--size", "4000x100", "--frames", "3"], "--frames"),
        (vec!["--sigma-mm", "2"], "--sigma-mm"),
    ];
    for (extra, message) in cases {
        let mut args = vec!["render", &lung, "-o", o];
        args.extend(extra.iter().copied());
        let result = gradvol(&args);
        let stderr = String::from_utf8_lossy(&result.stderr);
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.contains("XDG_RUNTIME"))
            .collect();
        assert_eq!(result.status.code(), Some(1), "{extra:?}");
        assert!(
            lines.len() == 1 && lines[0].contains(message),
            "{extra:?}: expected one line with '{message}', got {stderr}"
        );
        assert!(!out.exists(), "{extra:?} wrote an image");
    }
    // Not a PNG name, and no volume at all.
    let jpg = dir.path().join("x.jpg");
    assert_eq!(
        gradvol(&["render", &lung, "-o", path(&jpg)]).status.code(),
        Some(1)
    );
    let none = gradvol(&["render", "-o", o]);
    assert!(String::from_utf8_lossy(&none.stderr).contains("no volume given"));
    assert!(!out.exists() && !jpg.exists());
}

#[test]
fn presets_lists_slicers_and_ours_and_shows_one_as_a_usable_tf() {
    let list = gradvol(&["presets"]);
    let text = String::from_utf8(list.stdout).unwrap();
    assert_eq!(text.lines().count(), 35);
    assert!(text.contains("CT-AAA") && text.contains("gradvol-CT-Skin-Glass"));
    let shown = gradvol(&["presets", "--show", "uCT-Skull"]);
    let tf = String::from_utf8(shown.stdout).unwrap();
    gradvol::tf::TransferFunction::from_json(&tf).unwrap();
}

#[test]
fn a_volume_over_the_texture_limit_renders_box_averaged_with_a_note() {
    // 5000 voxels along x exceeds every adapter's 3-D texture limit (lavapipe 4096, GL 2048).
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("long.nrrd");
    let (nx, ny, nz) = (5000usize, 6usize, 6usize);
    let mut bytes = Vec::with_capacity(4 * nx * ny * nz);
    for i in 0..nx * ny * nz {
        let (y, z) = ((i / nx) % ny, i / (nx * ny));
        let inside = (1..5).contains(&y) && (1..5).contains(&z);
        bytes.extend_from_slice(&(if inside { 1.0f32 } else { 0.0 }).to_le_bytes());
    }
    common::write_attached(
        &input,
        &format!(
            "NRRD0004\ntype: float\ndimension: 3\nsizes: {nx} {ny} {nz}\nendian: little\n\
             encoding: raw\nspacings: 0.1 1 1\n"
        ),
        &bytes,
    );
    let output = dir.path().join("long.png");
    let out = gradvol(&[
        "render",
        path(&input),
        "-o",
        path(&output),
        "--size",
        "64x32",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let s = summary(&out);
    assert!(
        stderr.contains("exceeds this GPU's largest 3-D texture") && stderr.contains("box average"),
        "{stderr}"
    );
    assert_eq!(s["downsampled"], true, "{s}");
    let dims: Vec<u64> = s["volume_dims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap())
        .collect();
    assert!(
        dims[0] < 5000 && dims[0] >= 1250 && dims[1..] == [6, 6],
        "{dims:?}"
    );
    let image = read_png(&output).unwrap();
    assert_eq!((image.width, image.height), (64, 32));
}
