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

/// `gradvol render` of the chest CT into `output` with `extra` options: its summary.
fn render_lung(output: &Path, extra: &[&str]) -> serde_json::Value {
    let lung = lung();
    let mut args = vec!["render", &lung, "-o", path(output)];
    args.extend_from_slice(extra);
    summary(&gradvol(&args))
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
        (vec!["--size", "70000x10"], "outside 1..65535"),
        (vec!["--size", "0x10"], "outside 1..65535"),
        (vec!["--sample-distance", "-1"], "sample distance"),
        (vec!["--crop", "0.5,0,0,0.2,1,1"], "crop"),
        (vec!["--size", "4000x100", "--frames", "3"], "--frames"),
        (vec!["--sigma-mm", "2"], "--sigma-mm"),
        (vec!["--accumulate", "0"], "accumulate must be 1..256"),
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
    // A switch that is neither on nor off: clap's usage error (exit 2).
    let maybe = gradvol(&["render", &lung, "-o", o, "--empty-space-skipping", "maybe"]);
    assert_eq!(maybe.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&maybe.stderr).contains("on"));
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
fn images_wider_than_16384_pixels_are_written() {
    // 17000 x 200: nine tiles across, written to the PNG as it is drawn; the CT sits in the
    // middle, framed by the image's height.
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("wide.png");
    let s = render_lung(&output, &["--preset", "CT-Bone", "--size", "17000x200"]);
    assert_eq!(s["size"], serde_json::json!([17000, 200]));
    let image = read_png(&output).unwrap();
    assert_eq!((image.width, image.height), (17000, 200));
    let lit = image.rgba.chunks(4).filter(|p| p[..3] != [0, 0, 0]).count();
    assert!(lit > 2000, "the CT crosses the strip: {lit} pixels");
}

#[test]
fn presets_lists_slicers_and_ours_and_shows_one_as_a_usable_tf() {
    let list = gradvol(&["presets"]);
    let text = String::from_utf8(list.stdout).unwrap();
    assert_eq!(text.lines().count(), 38, "31 of Slicer's, 7 of ours");
    assert!(text.contains("CT-AAA") && text.contains("gradvol-CT-Skin-Glass"));
    let shown = gradvol(&["presets", "--show", "uCT-Skull"]);
    let tf = String::from_utf8(shown.stdout).unwrap();
    gradvol::tf::TransferFunction::from_json(&tf).unwrap();
}

#[test]
fn a_volume_longer_than_the_texture_limit_renders_whole_in_a_folded_pool() {
    // 5000 voxels along x exceed every adapter's 3-D texture limit (lavapipe 4096, GL 2048):
    // the 40 bricks of 128 cells in a row are folded into a pool that fits, at full resolution. The values
    // rise along x, so a maximum projection seen from above is a ramp across the image, in
    // order only if every brick's page-table entry leads to its own slot.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("long.nrrd");
    let (nx, ny, nz) = (5000usize, 40usize, 4usize);
    let mut bytes = Vec::with_capacity(4 * nx * ny * nz);
    for i in 0..nx * ny * nz {
        bytes.extend_from_slice(&((i % nx) as f32 / nx as f32).to_le_bytes());
    }
    common::write_attached(
        &input,
        &format!(
            "NRRD0004\ntype: float\ndimension: 3\nsizes: {nx} {ny} {nz}\nendian: little\n\
             encoding: raw\nspacings: 0.1 1 1\n"
        ),
        &bytes,
    );
    let tf = dir.path().join("ramp.json");
    std::fs::write(
        &tf,
        r#"{"scalar_opacity": [[0, 1], [1, 1]], "color": [[0, 0, 0, 0], [1, 1, 1, 1]]}"#,
    )
    .unwrap();
    let output = dir.path().join("long.png");
    let out = gradvol(&[
        "render",
        path(&input),
        "-o",
        path(&output),
        "--size",
        "256x64",
        "--view",
        "superior",
        "--ortho",
        "--blend",
        "maximum",
        "--tf",
        path(&tf),
    ]);
    let s = summary(&out);
    assert_eq!(s["downsampled"], false, "{s}");
    assert_eq!(s["volume_dims"], serde_json::json!([5000, 40, 4]));
    assert_eq!(s["bricks"], 40);
    let image = read_png(&output).unwrap();
    let row = image.height / 2;
    let reds: Vec<u8> = (0..image.width)
        .map(|x| image.rgba[4 * (row * image.width + x) as usize])
        .filter(|&r| r > 0)
        .collect();
    assert!(reds.len() > 50, "the bar shows: {} pixels", reds.len());
    let (first, last) = (reds[0], reds[reds.len() - 1]);
    assert!(
        first.abs_diff(last) > 150,
        "the ramp spans the range: {first}..{last}"
    );
    let rising = first < last;
    assert!(
        reds.windows(2)
            .all(|w| (w[0] <= w[1]) == rising || w[0] == w[1]),
        "in order: {reds:?}"
    );
}

#[test]
fn empty_space_skipping_is_reported_and_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let render = |skip: &str| {
        let output = dir.path().join(format!("skip-{skip}.png"));
        let s = render_lung(
            &output,
            &[
                "--preset",
                "gradvol-CT-Bone-Surface",
                "--size",
                "64x64",
                "--empty-space-skipping",
                skip,
            ],
        );
        (s, read_png(&output).unwrap())
    };
    let (on, image_on) = render("on");
    let (off, image_off) = render("off");
    assert_eq!(on["empty_space_skipping"], true);
    assert_eq!(off["empty_space_skipping"], false);
    // lung1: 512x512x48 in bricks of 128 x 128 x 47 cells (the 48 slices in one brick);
    // 16-bit value and |grad f| plus the borders and tables stay under 5 bytes a voxel.
    assert_eq!(on["brick_size"], serde_json::json!([128, 128, 47]));
    assert_eq!(on["bricks"], 4 * 4);
    let voxels = 512.0 * 512.0 * 48.0;
    let per_voxel = on["gpu_bytes"].as_f64().unwrap() / voxels;
    assert!(
        per_voxel > 4.0 && per_voxel < 5.0,
        "{per_voxel} bytes a voxel"
    );
    assert_eq!(on["pool_format"], "rg16unorm");
    // Air and lung (below the preset's bone window) leave most blocks empty.
    let (empty, blocks) = (
        on["blocks_empty"].as_f64().unwrap(),
        on["blocks"].as_f64().unwrap(),
    );
    assert!(empty / blocks > 0.5, "{empty} of {blocks} blocks empty");
    assert!(image_on == image_off, "skipping changes nothing");
}

#[test]
fn accumulate_averages_jittered_frames_as_the_library_does() {
    // `--accumulate 6` at a coarse sample distance: the summary says six frames, the PNG's
    // scene carries the count, and the pixels are the library's accumulated image of that
    // scene, exactly (the viewer's refinement averages the same frames).
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("acc.png");
    let s = render_lung(
        &out,
        &[
            "--preset",
            "gradvol-CT-Bone-Surface",
            "--size",
            "96x80",
            "--sample-distance",
            "3",
            "--accumulate",
            "6",
        ],
    );
    assert_eq!(s["accumulated"], 6, "{s}");
    let scene =
        gradvol::scene::Scene::from_json(&gradvol::png_io::read_scene(&out).unwrap()).unwrap();
    assert_eq!(scene.render.accumulate, 6);
    let volume = gradvol::volume::load(Path::new(&lung()), &Default::default()).unwrap();
    let gpu = gradvol::gpu::Gpu::new().unwrap();
    let tf = scene.transfer_function.clone().unwrap();
    let mut r = gradvol::render::renderer::Renderer::prepared(
        &gpu,
        &volume,
        &tf,
        &scene.render,
        Default::default(),
    )
    .unwrap();
    let expected = r.render_image(&gpu, &scene.camera, &scene.render).unwrap();
    let written = gradvol::png_io::read_png(&out).unwrap();
    assert!(
        written.rgba == expected.rgba,
        "render --accumulate differs from the library"
    );
    // Without jitter there is nothing to average: refused, as clap refuses conflicting flags.
    let refused = gradvol(&[
        "render",
        &lung(),
        "-o",
        path(&out),
        "--no-jitter",
        "--accumulate",
        "4",
    ]);
    assert_eq!(refused.status.code(), Some(2));
}
