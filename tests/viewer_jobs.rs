//! The whole viewer driven headlessly with egui_kittest: the real `Viewer`, its background jobs
//! (real threads) and its frame thread (on this machine's adapter), with real key events.
//! Cancelling, a bad file while a good one is shown, undo across a reload, a new gradient in the
//! background, and a screenshot cancelled half-way leaving no file.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::sample_data_dir;
use egui::{Key, Modifiers, Vec2};
use egui_kittest::Harness;
use gradvol::gpu::Gpu;
use gradvol::gradient::Operator;
use gradvol::viewer::Viewer;
use gradvol::viewer::app::ViewOptions;
use gradvol::viewer::document::Source;
use gradvol::viewer::panels::Action;

fn gpu() -> Arc<Gpu> {
    Arc::new(Gpu::new().unwrap_or_else(|e| {
        panic!("no GPU adapter ({e}): install mesa-vulkan-drivers for lavapipe")
    }))
}

/// The viewer on the demo (no session), stepped until the demo is on show.
fn viewer() -> Harness<'static, Viewer> {
    let viewer = Viewer::new(gpu(), ViewOptions::default(), Arc::new(Mutex::new(Ok(())))).unwrap();
    let mut harness = Harness::builder()
        .with_size(Vec2::new(1000.0, 700.0))
        .build_ui_state(|ui, v: &mut Viewer| v.frame(ui), viewer);
    settle(&mut harness);
    assert!(
        harness.state().doc.shown.is_some(),
        "{}",
        harness.state().status
    );
    harness
}

/// Steps the window until no job runs and a full frame of the volume is on screen.
fn settle(h: &mut Harness<'_, Viewer>) {
    let start = Instant::now();
    loop {
        h.step();
        let v = h.state();
        let idle = v.volume_job.is_none() && v.export_job.is_none();
        if idle && v.doc.shown.is_some() && v.viewport.full_frames > 0 {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "the viewer did not settle: {}",
            v.status
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn open(h: &mut Harness<'_, Viewer>, path: &Path) {
    let source = Source::File {
        path: path.to_path_buf(),
        raw: None,
        level: None,
    };
    h.state_mut().apply(Action::Open(source));
}

#[test]
fn escape_cancels_an_open_and_the_volume_on_show_stays() {
    let mut h = viewer();
    let generation = h.state().doc.volume_generation;
    open(&mut h, &sample_data_dir().join("lung1_image.nrrd"));
    h.step();
    assert!(h.state().volume_job.is_some());
    h.key_press(Key::Escape);
    h.step();
    let v = h.state();
    assert!(v.volume_job.is_none(), "Escape did not cancel");
    assert!(
        v.status.starts_with("cancelled: opening lung1_image.nrrd"),
        "{}",
        v.status
    );
    // Long after the job would have finished, the demo is still the document.
    for _ in 0..100 {
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    let v = h.state();
    assert_eq!(v.doc.volume_generation, generation);
    assert_eq!(v.doc.shown.as_ref().unwrap().name(), "demo phantom");
}

#[test]
fn a_bad_file_leaves_the_good_one_on_show_with_the_reason() {
    let mut h = viewer();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.nrrd");
    std::fs::write(&bad, b"NRRD0004\ntype: short\ndimension: 3\nsizes: 4 4\n\n").unwrap();
    let tf = h.state().doc.tf();
    open(&mut h, &bad);
    settle(&mut h);
    let v = h.state();
    assert_eq!(v.doc.shown.as_ref().unwrap().name(), "demo phantom");
    assert_eq!(v.doc.tf(), tf);
    assert!(
        v.status.contains("opening broken.nrrd failed") && v.status.contains("sizes"),
        "{}",
        v.status
    );
}

#[test]
fn undo_reaches_across_a_reload_and_a_new_gradient() {
    let mut h = viewer();
    let path = sample_data_dir().join("BrainProtonDensity3Slices.mha");
    open(&mut h, &path);
    settle(&mut h);
    let original = h.state().doc.tf();
    h.state_mut().apply(Action::Preset("MR-Default".into()));
    let edited = h.state().doc.tf();
    assert_ne!(edited, original);

    let generation = h.state().doc.volume_generation;
    h.state_mut().apply(Action::Reload);
    settle(&mut h);
    assert_eq!(h.state().doc.volume_generation, generation + 1);
    assert_eq!(
        h.state().doc.tf(),
        edited,
        "a reload keeps the transfer function"
    );

    h.state_mut().apply(Action::Operator(Operator::Sobel));
    settle(&mut h);
    let v = h.state();
    assert_eq!(
        v.doc.shown.as_ref().unwrap().analysis.report.operator,
        Operator::Sobel
    );
    assert_eq!(v.doc.scene.render.gradient, Operator::Sobel);
    assert_eq!(
        v.doc.tf(),
        edited,
        "a new gradient keeps the transfer function"
    );

    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.step();
    assert_eq!(h.state().doc.tf(), original, "undo after the reload");
}

#[test]
fn a_screenshot_runs_in_the_background_and_a_cancelled_one_leaves_no_file() {
    let mut h = viewer();
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.png");
    h.state_mut().apply(Action::Screenshot {
        path: small.clone(),
        size: [64, 48],
        transparent: false,
    });
    settle(&mut h);
    assert!(
        small.exists() && small.with_extension("json").exists(),
        "{}",
        h.state().status
    );

    let large = dir.path().join("large.png");
    h.state_mut().apply(Action::Screenshot {
        path: large.clone(),
        size: [6000, 6000],
        transparent: false,
    });
    h.step();
    let progress = h.state().export_job.as_ref().unwrap().progress.clone();
    h.state_mut().apply(Action::Cancel);
    h.step();
    assert!(h.state().export_job.is_none());
    // Wait for the thread to reach its next checkpoint and drop its handle.
    let start = Instant::now();
    while Arc::strong_count(&progress) > 1 {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "the export did not stop"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!large.exists(), "a cancelled screenshot was written");
    assert_eq!(left.len(), 2, "files left behind: {left:?}");
}

#[test]
fn an_ome_zarr_level_opens_in_the_viewer() {
    let mut h = viewer();
    let volume = gradvol::volume::synthetic::ct_phantom([300, 40, 30], [1.0; 3], 0.0);
    let (dir, pyramid) = common::store_of(&volume, 32, 1);
    assert_eq!(pyramid.level_count(), 2);
    let store = dir.path().join("v.ome.zarr");
    let source = Source::File {
        path: store,
        raw: None,
        level: Some(1),
    };
    h.state_mut().apply(Action::Open(source));
    settle(&mut h);
    let v = h.state();
    let shown = &v.doc.shown.as_ref().unwrap().volume;
    assert_eq!(shown.dims, [150, 20, 15], "{}", v.status);
    assert_eq!(shown.pyramid.as_ref().unwrap().level, 1);
}
