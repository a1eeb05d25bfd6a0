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

/// Steps the window until `done` holds, or fails after `limit` saying `what`.
fn step_until(
    h: &mut Harness<'_, Viewer>,
    limit: Duration,
    what: &str,
    done: impl Fn(&Viewer) -> bool,
) {
    let start = Instant::now();
    while !done(h.state()) {
        assert!(
            start.elapsed() < limit,
            "{what} did not happen: {}",
            h.state().status
        );
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_store_too_large_to_read_whole_is_refined_at_levels_of_detail_when_the_camera_rests() {
    use gradvol::volume::zarr::sparse::{five_balls, write_sparse};
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("big.ome.zarr");
    // 1024 x 1024 x 512 uint16 (512 Mi voxels: over the viewer's whole-read limit) in three
    // levels; the stand-in is level 2 (256 x 256 x 128).
    let report = write_sparse(
        &store,
        [1024, 1024, 512],
        1.0,
        &five_balls(1024.0, 80.0),
        64,
    )
    .unwrap();
    assert_eq!(report.levels, 3);
    let mut h = viewer();
    open(&mut h, &store);
    settle(&mut h);
    {
        let shown = h.state().doc.shown.as_ref().unwrap();
        assert_eq!(shown.volume.dims, [256, 256, 128], "{}", h.state().status);
        assert_eq!(shown.streaming.as_ref().unwrap().stand_in, 2);
    }

    // Only the two brightest balls (1600 and 1800) show: the bricks the store's ranges show
    // holding only the others and the background are left out of a refinement.
    let mut tf = h.state().doc.tf();
    tf.scalar_opacity = vec![[0.0, 0.0], [1500.0, 0.0], [1600.0, 0.8], [1800.0, 0.8]];
    h.state_mut().doc.set_tf(tf, true);

    // At rest, the view is refined: bricks from a level finer than the stand-in, every
    // finest brick drawn from some level.
    let limit = Duration::from_secs(300);
    step_until(&mut h, limit, "the first refinement", |v| v.view_settled());
    let (view, lod, skipped) = {
        let streaming = h.state().doc.shown.as_ref().unwrap().streaming.as_ref();
        let refined = streaming.unwrap().refined.clone().expect("refined");
        (refined.view, refined.report, refined.skipped)
    };
    assert!(!skipped.is_empty(), "{lod:?}");
    assert_eq!(skipped.len(), lod.bricks_skipped, "{lod:?}");
    // In stages: first from coarser levels (voxels up to 4 pixels on screen), fewer bricks,
    // shown as soon as read; the last as `render` draws it.
    let stages = h.state().refinement.stages.clone();
    assert!(stages.len() >= 2, "{stages:?}");
    let (first, last) = (stages[0], stages[stages.len() - 1]);
    assert_eq!(first.0, 4.0, "{stages:?}");
    assert_eq!(last.0, 1.0, "{stages:?}");
    assert!(
        first.1 < last.1,
        "the first stage has fewer bricks: {stages:?}"
    );
    assert!(first.2 < last.2, "{stages:?}");
    assert_eq!(h.state().refinement.shown as usize, stages.len());
    let finest_level = lod.bricks_per_level.iter().map(|&(l, _)| l).min().unwrap();
    assert!(finest_level < 2, "{lod:?}");
    let drawn: usize = lod.bricks_per_level.iter().map(|&(_, n)| n).sum();
    assert_eq!(
        drawn,
        8 * 8 * 4,
        "every brick of level 0 (128 voxels a side) is drawn"
    );

    // The window's image of the refined view is what `gradvol render` draws of the store for
    // the same scene and size: the same plan, bricks and renderer.
    let a = same_as_render(&mut h, dir.path(), &store, view.size, &lod, [2.0, 0.0]);
    let lit = a.rgba.chunks(4).filter(|p| p[..3] != [0, 0, 0]).count();
    assert!(lit > 500, "the two brightest balls show ({lit} pixels)");

    // Moving on puts the stand-in back on show at once (the refined renderer is for one
    // view) and starts no refinement before the camera rests; a refinement in flight is
    // dropped the moment the view changes again, and the next rest refines anew.
    let on_show = |v: &gradvol::viewer::Viewer| {
        let shown = v.doc.shown.as_ref().unwrap();
        (
            Arc::ptr_eq(&shown.renderer, &shown.own),
            shown.streaming.as_ref().unwrap().refined.is_some(),
        )
    };
    assert_eq!(on_show(h.state()), (false, true), "the refined renderer");
    h.state_mut().doc.scene.camera.azimuth_deg += 40.0;
    h.step();
    assert_eq!(on_show(h.state()), (true, false), "the stand-in");
    assert!(
        h.state().refinement.job.is_none(),
        "no refinement before a rest"
    );
    step_until(&mut h, limit, "a refinement to start", |v| {
        v.refinement.job.is_some()
    });
    h.state_mut().doc.scene.camera.azimuth_deg += 40.0;
    h.step();
    assert!(
        h.state().refinement.job.is_none(),
        "the stale refinement was dropped"
    );
    step_until(&mut h, limit, "the second refinement", |v| v.view_settled());
    let streaming = h
        .state()
        .doc
        .shown
        .as_ref()
        .unwrap()
        .streaming
        .as_ref()
        .unwrap();
    let refined = streaming.refined.as_ref().unwrap();
    assert_eq!(refined.view.camera, h.state().doc.scene.camera);
    assert_eq!(refined.pixels, 1.0);
    let shown = h.state().refinement.shown;
    assert!(shown as usize > stages.len(), "refined again");

    // A transfer function that sees the fill value would see through the bricks left out:
    // the stand-in goes back on show, and the view is refined again with none left out.
    let mut tf = h.state().doc.tf();
    tf.scalar_opacity = vec![[-1.0, 0.02], [70000.0, 0.02]];
    h.state_mut().doc.set_tf(tf, true);
    h.step();
    assert_eq!(
        on_show(h.state()),
        (true, false),
        "the stand-in after the edit"
    );
    step_until(&mut h, limit, "the refinement for the new TF", |v| {
        v.view_settled()
    });
    let streaming = h.state().doc.shown.as_ref().unwrap().streaming.as_ref();
    let refined = streaming.unwrap().refined.as_ref().unwrap();
    assert!(refined.skipped.is_empty(), "{:?}", refined.report);
    assert!(h.state().refinement.shown > shown, "refined for the new TF");
}

/// Takes the window's screenshot of the refined view and checks it against `gradvol render` of
/// the store with the screenshot's scene at `size`: the same bricks per level as `lod`, every
/// channel within `worst`/255 and at most the fraction `over` of them off by more than 2.
/// Returns the screenshot.
fn same_as_render(
    h: &mut Harness<'_, Viewer>,
    dir: &Path,
    store: &Path,
    size: [u32; 2],
    lod: &gradvol::render::lod::LodReport,
    [worst_allowed, over]: [f64; 2],
) -> gradvol::render::renderer::Image {
    let limit = Duration::from_secs(300);
    let shot = dir.join("viewer.png");
    h.state_mut().apply(Action::Screenshot {
        path: shot.clone(),
        size,
        transparent: false,
    });
    step_until(h, limit, "the screenshot", |v| v.export_job.is_none());
    let cli = dir.join("cli.png");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let size = format!("{}x{}", size[0], size[1]);
    let out = common::run_gradvol(
        env!("CARGO_BIN_EXE_gradvol"),
        &[
            "render",
            &s(store),
            "--scene",
            &s(&shot),
            "--size",
            &size,
            "-o",
            &s(&cli),
        ],
    );
    let sum = common::summary(&out);
    assert_eq!(
        sum["lod"]["bricks_per_level"],
        serde_json::to_value(&lod.bricks_per_level).unwrap(),
        "{sum}"
    );
    let a = gradvol::png_io::read_png(&shot).unwrap();
    let b = gradvol::png_io::read_png(&cli).unwrap();
    assert_eq!((a.width, a.height), (b.width, b.height));
    let diff: Vec<u8> = a
        .rgba
        .iter()
        .zip(&b.rgba)
        .map(|(x, y)| x.abs_diff(*y))
        .collect();
    let worst = *diff.iter().max().unwrap();
    let beyond = diff.iter().filter(|&&d| d > 2).count() as f64 / diff.len() as f64;
    assert!(
        worst as f64 <= worst_allowed && beyond <= over,
        "the viewer's refined image differs from render's by up to {worst}/255, {:.3}% of \
         channels by more than 2",
        100.0 * beyond
    );
    a
}

#[test]
fn a_converted_store_is_refined_brick_by_brick_into_the_first_stages_renderer() {
    use gradvol::volume::synthetic::ct_phantom;
    use gradvol::volume::zarr::{Codec, ConvertOptions, convert};
    // 640 x 640 x 330 (135 Mi voxels: streamed) converted with its |grad f| and block ranges:
    // the normalisation is known before a brick is read, so both stages share one renderer.
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("ct.ome.zarr");
    {
        let volume = ct_phantom([640, 640, 330], [0.5, 0.5, 0.5], 0.0);
        let options = ConvertOptions {
            chunk: 64,
            shard: 1,
            codec: Codec::Zstd,
            gradient: Some(Operator::Central),
            min_levels: 1,
        };
        convert(&volume, &store, options, &|_, _| {}).unwrap();
    }
    let mut h = viewer();
    open(&mut h, &store);
    settle(&mut h);
    assert!(h.state().doc.shown.as_ref().unwrap().streaming.is_some());
    // Small on screen: the last stage draws level 1, the first level 2.
    h.state_mut().doc.scene.camera.zoom = 0.45;
    let limit = Duration::from_secs(300);
    step_until(&mut h, limit, "the first stage", |v| {
        !v.refinement.stages.is_empty()
    });
    let first = h.state().refinement.stages[0];
    assert_eq!(first.0, 4.0, "{first:?}");
    let renderer = h.state().doc.shown.as_ref().unwrap().renderer.clone();
    step_until(&mut h, limit, "the last stage", |v| v.view_settled());
    let stages = h.state().refinement.stages.clone();
    assert_eq!(stages.len(), 2, "{stages:?}");
    assert_eq!(stages[1].0, 1.0);
    assert!(stages[0].1 < stages[1].1, "{stages:?}");
    // The last stage's bricks went into the renderer the first stage put on show.
    let shown = h.state().doc.shown.as_ref().unwrap();
    assert!(Arc::ptr_eq(&shown.renderer, &renderer));
    let refined = shown.streaming.as_ref().unwrap().refined.clone().unwrap();
    // Its pool holds the first stage's bricks too, so its slots sit elsewhere than those of
    // `render`'s pool: texture coordinates round differently, and the sampler's weights (8
    // bits of sub-texel precision on lavapipe) with them.
    let size = refined.view.size;
    same_as_render(
        &mut h,
        dir.path(),
        &store,
        size,
        &refined.report,
        [6.0, 1e-4],
    );
}

#[test]
fn widgets_drawn_against_another_operator_bring_their_gradient_along() {
    use gradvol::tf::tf2d::{Shape, Tf2d, Widget};
    let mut h = viewer();
    let shown = h.state().doc.shown.as_ref().unwrap();
    assert_eq!(shown.analysis.report.operator, Operator::Central);
    let [lo, hi] = shown.volume.range;
    let mut tf = h.state().doc.tf();
    tf.tf2d = Some(Tf2d {
        gradient: Operator::Sobel,
        widgets: vec![Widget::new(Shape::Box {
            value: [lo, hi],
            gradient: [0.0, 1e9],
            falloff: [0.0, 0.0],
        })],
        ..Tf2d::default()
    });
    h.state_mut().apply(Action::Tf {
        tf: tf.clone(),
        record: true,
    });
    let job = h
        .state()
        .volume_job
        .as_ref()
        .expect("|grad f| by Sobel started");
    assert_eq!(job.title, "|grad f| by sobel");
    let started = job.started;
    // An edit while it runs (a widget moved) does not start it again.
    let mut moved = tf.clone();
    moved.tf2d.as_mut().unwrap().widgets[0]
        .shape
        .translate(1.0, 0.0);
    h.state_mut().apply(Action::Tf {
        tf: moved.clone(),
        record: false,
    });
    assert_eq!(h.state().volume_job.as_ref().unwrap().started, started);
    settle(&mut h);
    let v = h.state();
    assert_eq!(
        v.doc.shown.as_ref().unwrap().analysis.report.operator,
        Operator::Sobel
    );
    assert_eq!(v.doc.tf(), moved, "the edit made during the job is kept");
    // Choosing an operator re-labels the widgets with it.
    h.state_mut().apply(Action::Operator(Operator::Central));
    settle(&mut h);
    let v = h.state();
    assert_eq!(
        v.doc.tf().tf2d.unwrap().gradient,
        Operator::Central,
        "the widgets read |grad f| by the operator chosen"
    );
    assert_eq!(
        v.doc.shown.as_ref().unwrap().analysis.report.operator,
        Operator::Central
    );
}
