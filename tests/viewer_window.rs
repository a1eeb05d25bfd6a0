//! The viewer in a real window: `gradvol view --screenshot ... --exit-after-frames N` under an
//! X server (Xvfb, started here when no DISPLAY is set), with the demo volume and a real CT.
//!
//! The screenshot must hold the panel (the charts' curve colour, text) and, in the viewport,
//! the very image `Renderer` draws headlessly for the scene the screenshot carries: the window
//! shows the renderer's pixels, sRGB and all.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::display::Display;
use common::sample_data_dir;
use gradvol::gpu::Gpu;
use gradvol::png_io::{read_png, read_scene};
use gradvol::render::renderer::{Image, Renderer};
use gradvol::scene::Scene;
use gradvol::viewer::demo_volume;
use gradvol::volume::Volume;

/// Runs the viewer in a window until it exits (or a generous limit) and returns its summary.
fn view(args: &[&str], screenshot: &Path, session: &Path) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["--exit-after-frames", "3"]);
    view_with(&all, screenshot, session)
}

/// [`view`] with every argument but the screenshot, window size and session given.
fn view_with(args: &[&str], screenshot: &Path, session: &Path) -> serde_json::Value {
    let display = Display::open();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gradvol"))
        .arg("view")
        .args(args)
        .args(["--screenshot", screenshot.to_str().unwrap()])
        .args(["--window", "900x640"])
        .args(["--session", session.to_str().unwrap()])
        .env("DISPLAY", &display.name)
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("NODEVICE_SELECT")
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            panic!("the viewer did not exit within 300 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "gradvol view failed: {stderr}");
    // A normal start says nothing that looks like a failure.
    assert!(
        !stderr.to_lowercase().contains("error"),
        "the viewer printed: {stderr}"
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let line = stdout
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no summary line in {stdout:?} (stderr: {stderr})"));
    serde_json::from_str(line).unwrap()
}

fn crop(image: &Image, [x, y, w, h]: [u32; 4]) -> Image {
    let mut rgba = Vec::with_capacity((4 * w * h) as usize);
    for row in y..y + h {
        let start = 4 * (row * image.width + x) as usize;
        rgba.extend_from_slice(&image.rgba[start..start + 4 * w as usize]);
    }
    Image {
        width: w,
        height: h,
        rgba,
    }
}

/// Mean absolute channel difference over RGB, in 1/255.
fn mean_difference(a: &Image, b: &Image) -> f64 {
    assert_eq!((a.width, a.height), (b.width, b.height));
    let (mut sum, mut n) = (0u64, 0u64);
    for (p, q) in a.rgba.chunks_exact(4).zip(b.rgba.chunks_exact(4)) {
        for k in 0..3 {
            sum += p[k].abs_diff(q[k]) as u64;
            n += 1;
        }
    }
    sum as f64 / n as f64
}

/// Checks the screenshot: window size, the panel drawn, and the viewport equal to a headless
/// render of the same scene.
fn check_screenshot(summary: &serde_json::Value, screenshot: &Path, volume: &Volume) {
    let shot = read_png(screenshot).unwrap();
    assert_eq!((shot.width, shot.height), (900, 640), "{summary}");
    let viewport: [u32; 4] = serde_json::from_value(summary["viewport"].clone()).unwrap();
    let [vx, vy, vw, vh] = viewport;
    assert!(vx > 250 && vw > 200 && vh > 200, "viewport {viewport:?}");
    assert!(vx + vw <= shot.width && vy + vh <= shot.height);

    // The panel: the curves' blue and plenty of text-bright pixels left of the viewport.
    let panel = crop(&shot, [0, 0, vx, shot.height]);
    let pixels: Vec<&[u8]> = panel.rgba.chunks_exact(4).collect();
    let curve = pixels
        .iter()
        .filter(|p| p[0].abs_diff(90) < 12 && p[1].abs_diff(170) < 12 && p[2].abs_diff(255) < 12)
        .count();
    let bright = pixels.iter().filter(|p| p[0] > 180 && p[1] > 180).count();
    assert!(
        curve > 100,
        "the editor's curves are missing ({curve} pixels)"
    );
    assert!(
        bright > 500,
        "the panel has no text ({bright} bright pixels)"
    );

    // The viewport: the renderer's own image of the screenshot's scene.
    let shown = crop(&shot, viewport);
    let lit = shown
        .rgba
        .chunks_exact(4)
        .filter(|p| p[0] > 40 || p[1] > 40 || p[2] > 40)
        .count();
    assert!(
        lit > (vw * vh / 50) as usize,
        "the viewport shows no volume ({lit} lit pixels)"
    );
    let mut scene = Scene::from_json(&read_scene(screenshot).unwrap()).unwrap();
    scene.render.size = [vw, vh];
    // The viewport showed the running average of this many refinement frames.
    let samples = summary["refinement"]["samples"].as_u64().unwrap();
    assert!(samples >= 1, "{summary}");
    scene.render.accumulate = samples as u32;
    let gpu = Gpu::new().unwrap();
    let tf = scene.transfer_function.clone().unwrap();
    let mut renderer = Renderer::new(&gpu, volume, &tf).unwrap();
    renderer.prepare(&gpu, volume, &scene.render).unwrap();
    let expected = renderer
        .render_image(&gpu, &scene.camera, &scene.render)
        .unwrap();
    let diff = mean_difference(&shown, &expected);
    eprintln!("viewport {vw}x{vh}: window vs renderer differ by {diff:.3}/255 on average");
    assert!(
        diff < 0.5,
        "the window's viewport differs from the renderer's image by {diff:.2}/255 on average"
    );
}

#[test]
fn the_demo_opens_in_a_window_and_shows_the_renderers_image() {
    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("demo.png");
    let session = dir.path().join("session.json");
    let summary = view(&[], &shot, &session);
    assert_eq!(summary["frames"], 3, "{summary}");
    check_screenshot(&summary, &shot, &demo_volume());
    // The session was saved on exit and names no file (the demo).
    let saved = Scene::from_json(&std::fs::read_to_string(&session).unwrap()).unwrap();
    assert_eq!(saved.volume, None);
    assert!(saved.transfer_function.is_some());
}

#[test]
fn a_real_ct_opens_in_a_window_and_its_session_is_restored() {
    let dir = tempfile::tempdir().unwrap();
    let lung = sample_data_dir().join("lung1_image.nrrd");
    let session = dir.path().join("session.json");
    let shot = dir.path().join("lung.png");
    let summary = view(&[lung.to_str().unwrap()], &shot, &session);
    let volume = gradvol::volume::load(&lung, &Default::default()).unwrap();
    check_screenshot(&summary, &shot, &volume);

    // Edit the saved session (as a user's tuning would), start with no volume named: the
    // window comes back on the same CT with that transfer function and camera.
    let mut saved = Scene::from_json(&std::fs::read_to_string(&session).unwrap()).unwrap();
    assert_eq!(saved.volume.as_deref(), Some(lung.as_path()));
    saved.camera.azimuth_deg = 40.0;
    saved.transfer_function.as_mut().unwrap().gradient_opacity = vec![[0.0, 0.0], [50.0, 1.0]];
    std::fs::write(&session, serde_json::to_string(&saved).unwrap()).unwrap();
    let again = dir.path().join("again.png");
    view(&[], &again, &session);
    let restored = Scene::from_json(&read_scene(&again).unwrap()).unwrap();
    assert_eq!(restored.volume, saved.volume);
    assert_eq!(restored.camera, saved.camera);
    assert_eq!(restored.transfer_function, saved.transfer_function);
}

#[test]
fn bad_view_requests_fail_before_any_window_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.nrrd");
    let jpg = dir.path().join("shot.jpg");
    let png = dir.path().join("shot.png");
    // Exit 1 for what gradvol refuses, 2 for what clap refuses (a malformed number).
    for (code, args) in [
        (1, vec!["view", missing.to_str().unwrap(), "--no-session"]),
        (
            1,
            vec![
                "view",
                "--screenshot",
                jpg.to_str().unwrap(),
                "--exit-after-frames",
                "1",
            ],
        ),
        (
            1,
            vec![
                "view",
                "--screenshot",
                png.to_str().unwrap(),
                "--exit-after-frames",
                "0",
            ],
        ),
        (1, vec!["view", "--script", missing.to_str().unwrap()]),
        (1, vec!["view", "--budget-ms", "0"]),
        (2, vec!["view", "--exit-after-frames", "many"]),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_gradvol"))
            .args(&args)
            // No display at all: these must fail on the arguments, not on the window.
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(
            !stderr.trim().is_empty() && !stderr.contains("panicked"),
            "{args:?}: {stderr}"
        );
        assert!(!png.exists() && !jpg.exists());
    }
}

#[test]
fn the_window_answers_while_a_ct_loads_and_a_dragged_point_draws_previews() {
    // The demo first; then, by script, a real CT opened in the background, a gradient-opacity
    // point dragged, and the still image refined. The window must keep drawing while the CT is
    // read and analysed, draw previews during the drag, and end on the renderer's image.
    let dir = tempfile::tempdir().unwrap();
    let lung = sample_data_dir().join("lung1_image.nrrd");
    let script = dir.path().join("script.json");
    let steps = serde_json::json!({"steps": [
        "wait_until_ready",
        {"open": lung},
        "wait_until_ready",
        {"drag_point": {"curve": "gradient", "index": 1, "by": [25, 20], "ms": 4000}},
        "wait_until_ready",
    ]});
    std::fs::write(&script, steps.to_string()).unwrap();
    let shot = dir.path().join("scripted.png");
    let session = dir.path().join("session.json");
    let summary = view_with(
        &[
            "--script",
            script.to_str().unwrap(),
            "--exit-after-frames",
            "2",
        ],
        &shot,
        &session,
    );
    eprintln!("{summary}");
    let jobs = summary["jobs"].as_array().unwrap();
    let open = jobs
        .iter()
        .find(|j| j["title"] == "opening lung1_image.nrrd")
        .unwrap_or_else(|| panic!("no job opened the CT: {summary}"));
    assert_eq!(open["outcome"], "done", "{summary}");
    // Not frozen: the window drew frames all through the job (figures in the README come from
    // the benchmark, not from here).
    let seconds = open["ms"].as_f64().unwrap() / 1e3;
    let frames = open["ui_frames"].as_f64().unwrap();
    eprintln!(
        "opening lung1: {seconds:.1} s, {frames} window frames, longest gap {} ms",
        summary["max_ui_frame_ms"]
    );
    assert!(
        frames >= 5.0 * seconds,
        "the window drew only {frames} frames in {seconds:.1} s of loading"
    );
    let drag = &summary["drags"][0];
    assert!(drag["previews"].as_u64().unwrap() >= 1, "{summary}");
    // The drag changed the gradient-opacity curve, and the window ends on the renderer's
    // image of the resulting scene.
    let scene = Scene::from_json(&read_scene(&shot).unwrap()).unwrap();
    let gradient = &scene.transfer_function.as_ref().unwrap().gradient_opacity;
    let volume = gradvol::volume::load(&lung, &Default::default()).unwrap();
    let default = gradvol::tf::presets::preset("gradvol-CT-Bone-Surface", 1.0).unwrap();
    assert_ne!(
        gradient, &default.gradient_opacity,
        "the drag moved nothing"
    );
    check_screenshot(&summary, &shot, &volume);
}
