//! Levels of detail from an OME-Zarr pyramid: the plan gives no brick a coarser level than one
//! that looks smaller, keeps within the slots it is given, and coarsens rather than fails; a
//! render whose plan keeps every brick at full resolution matches the whole volume's; a render
//! under a small GPU budget mixes levels, keeps the pool within the budget and leaves no pixel
//! transparent where the full-resolution render is opaque.

mod common;

use std::path::Path;

use common::sample_data_dir;
use gradvol::camera::Camera;
use gradvol::render::layout::BrickLayout;
use gradvol::render::lod::{level_maps, plan};
use gradvol::render::params::Geometry;
use gradvol::volume::synthetic::ct_phantom;

fn gradvol(args: &[&str]) -> std::process::Output {
    common::run_gradvol(env!("CARGO_BIN_EXE_gradvol"), args)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

use common::summary;

#[test]
fn the_plan_refines_what_looks_larger_and_keeps_within_its_slots() {
    // 600 voxels a side: three levels (600, 300, 150).
    let volume = ct_phantom([600, 600, 40], [0.5, 0.5, 0.5], 0.0);
    let (_dir, pyramid) = common::store_of(&volume, 32, 1);
    let s0 = pyramid.level(0).clone();
    let finest = BrickLayout::new(s0.dims, s0.spacing, Some(32));
    let maps = level_maps(&pyramid, &finest);
    assert_eq!(maps.iter().map(|m| m.level).collect::<Vec<_>>(), [0, 1, 2]);
    // Level 1's voxel i sits at level 0's 2i + 0.5.
    assert_eq!(maps[1].scale, [0.5; 3]);
    assert_eq!(maps[1].offset, [-0.25; 3]);
    let (world, _) = pyramid.world_from_voxel(0);
    let geometry = Geometry {
        dims: s0.dims,
        spacing: s0.spacing,
        world_from_voxel: world,
    };
    // Close and tilted: near bricks look several times larger than far ones.
    let camera = Camera {
        zoom: 2.5,
        elevation_deg: 60.0,
        ..Default::default()
    };
    let all = finest.brick_count();
    let free = plan(&maps, &geometry, &camera, [800, 800], usize::MAX, 1.0);
    assert!(!free.over_budget);
    for slots in [all / 2, all / 8, 40, 1] {
        let p = plan(&maps, &geometry, &camera, [800, 800], slots, 1.0);
        assert!(
            p.wanted.len() <= slots || p.over_budget,
            "{} bricks for {slots} slots",
            p.wanted.len()
        );
        if p.over_budget {
            assert!(
                p.choice.iter().all(|&c| c == maps.len() - 1),
                "coarsest first"
            );
        }
        // Never finer than without a budget; and the budget only coarsens.
        for (c, f) in p.choice.iter().zip(&free.choice) {
            assert!(c >= f);
        }
        // Every wanted brick serves some finest brick, and every finest brick is served.
        let b = finest.bricks;
        for (i, &c) in p.choice.iter().enumerate() {
            let b0 = [i % b[0], (i / b[0]) % b[1], i / (b[0] * b[1])];
            let key = (c, maps[c].brick_for(&finest, b0));
            assert!(p.wanted.contains(&key));
        }
    }
    // Zoomed out to a small image, everything comes from a coarser level.
    let far = plan(
        &maps,
        &geometry,
        &Camera::default(),
        [64, 64],
        usize::MAX,
        1.0,
    );
    assert!(far.choice.iter().all(|&c| c > 0));

    // Zoomed in on the middle: bricks wholly outside the image come from the coarsest level,
    // bricks in it from finer ones; culling changes nothing for the bricks in view.
    let close = Camera {
        zoom: 4.0,
        ..Default::default()
    };
    let p = plan(&maps, &geometry, &close, [400, 400], usize::MAX, 1.0);
    let (centre, radius) = geometry.bounding_sphere();
    let placed = close.place(centre, radius, 1.0);
    let b = finest.bricks;
    let (mut inside, mut outside) = (0, 0);
    for (i, &c) in p.choice.iter().enumerate() {
        let b0 = [i % b[0], (i / b[0]) % b[1], i / (b[0] * b[1])];
        let mid = glam::DVec3::from([0, 1, 2].map(|a| (b0[a] as f64 + 0.5) * 32.0));
        let clip =
            placed.clip_from_world * geometry.world_from_voxel.transform_point3(mid).extend(1.0);
        let ndc = [clip.x / clip.w, clip.y / clip.w];
        if ndc.iter().any(|v| v.abs() > 1.5) {
            // Half a brick is at most 0.1 of the image here: the whole brick is off screen.
            assert_eq!(c, maps.len() - 1, "brick {b0:?} at {ndc:?} is not in view");
            outside += 1;
        } else if ndc.iter().all(|v| v.abs() < 0.8) {
            assert!(c < maps.len() - 1, "brick {b0:?} at {ndc:?} is in view");
            inside += 1;
        }
    }
    assert!(inside > 0 && outside > 0, "{inside} in view, {outside} not");
}

/// Decoded pixels of two PNGs: (largest channel difference, mean difference).
fn difference(a: &Path, b: &Path) -> (u8, f64) {
    let (x, y) = (
        gradvol::png_io::read_png(a).unwrap(),
        gradvol::png_io::read_png(b).unwrap(),
    );
    let d: Vec<u8> = x
        .rgba
        .iter()
        .zip(&y.rgba)
        .map(|(p, q)| p.abs_diff(*q))
        .collect();
    let max = d.iter().copied().max().unwrap_or(0);
    (
        max,
        d.iter().map(|&v| v as f64).sum::<f64>() / d.len() as f64,
    )
}

#[test]
fn a_pyramid_renders_at_full_resolution_where_pixels_need_it_and_mixes_levels_under_a_budget() {
    let lung = sample_data_dir().join("lung1_image.nrrd");
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("lung.ome.zarr");
    assert!(
        gradvol(&["convert", s(&lung), "-o", s(&store)])
            .status
            .success()
    );
    let render = |input: &Path, png: &Path, extra: &[&str]| {
        let args = ["render", s(input), "-o", s(png), "--size", "512x512"];
        summary(&gradvol(&[&args[..], extra].concat()))
    };
    let bone = ["--preset", "gradvol-CT-Bone-Surface"];
    let whole = dir.path().join("whole.png");
    render(&lung, &whole, &bone);
    // At 512x512 a level-0 voxel (0.57 mm in-plane) is under a pixel, level 1's is over: every
    // brick is drawn from level 0, and the image is the whole volume's but for the sampler's
    // rounding of texture coordinates in a pool of another shape (one level in a few pixels).
    let fine = dir.path().join("fine.png");
    let sum = render(&store, &fine, &bone);
    assert_eq!(sum["lod"]["bricks_per_level"], serde_json::json!([[0, 16]]));
    let (max, mean) = difference(&whole, &fine);
    assert!(max <= 2 && mean < 0.01, "max {max}, mean {mean}");

    // 40 MiB holds 11 of the 16 level-0 bricks' slots: the smallest-looking bricks come from
    // level 1. Without gradient opacity, a coarse brick draws what the fine one drew, more
    // coarsely: no pixel the full render covers is left transparent.
    let plain = ["--transparent"];
    let whole_t = dir.path().join("whole-t.png");
    render(&lung, &whole_t, &plain);
    let mixed = dir.path().join("mixed.png");
    let sum = render(
        &store,
        &mixed,
        &[&plain[..], &["--gpu-budget", "40"]].concat(),
    );
    let levels = sum["lod"]["bricks_per_level"].as_array().unwrap().clone();
    assert_eq!(levels.len(), 2, "{levels:?}");
    assert!(sum["lod"]["slots"].as_u64().unwrap() * 131 * 131 * 50 * 4 <= 40 << 20);
    let (a, b) = (
        gradvol::png_io::read_png(&whole_t).unwrap(),
        gradvol::png_io::read_png(&mixed).unwrap(),
    );
    let holes = a
        .rgba
        .chunks(4)
        .zip(b.rgba.chunks(4))
        .filter(|(p, q)| p[3] == 255 && q[3] == 0)
        .count();
    assert_eq!(holes, 0, "pixels the full render covers are drawn");
    let (_, mean) = difference(&whole_t, &mixed);
    assert!(
        mean < 8.0,
        "the mixed image stays close: mean difference {mean}"
    );
}

/// Mean of the red, green and blue of every pixel.
fn brightness(png: &Path) -> f64 {
    let image = gradvol::png_io::read_png(png).unwrap();
    let sum: f64 = image
        .rgba
        .chunks(4)
        .map(|p| (p[0] as f64 + p[1] as f64 + p[2] as f64) / 3.0)
        .sum();
    sum / (image.width * image.height) as f64
}

#[test]
fn a_bone_surface_drawn_from_a_coarse_level_keeps_its_gradient_opacity() {
    let lung = sample_data_dir().join("lung1_image.nrrd");
    let dir = tempfile::tempdir().unwrap();
    let with = dir.path().join("with.ome.zarr");
    let without = dir.path().join("without.ome.zarr");
    for (store, gradient) in [(&with, "central"), (&without, "none")] {
        let out = gradvol(&["convert", s(&lung), "-o", s(store), "--gradient", gradient]);
        assert!(out.status.success());
    }
    let render = |store: &Path, level: &str| {
        let png = dir
            .path()
            .join(format!("{}-{level}.png", store.display().to_string().len()));
        let args = ["render", s(store), "-o", s(&png), "--size", "256x256"];
        let extra = ["--level", level, "--preset", "gradvol-CT-Bone-Surface"];
        summary(&gradvol(&[&args[..], &extra[..]].concat()));
        brightness(&png)
    };
    let fine = render(&with, "0");
    let kept = render(&with, "1");
    let faded = render(&without, "1");
    // Measured 2026-12-02: 18.4 at level 0; level 1 gives 15.9 with |grad f| max-pooled from
    // level 0 and 13.7 with its own (its values are averages too, so some loss remains).
    assert!(
        kept >= 0.8 * fine,
        "level 1 keeps the surface: {kept} against {fine}"
    );
    assert!(
        kept > faded + 0.05 * fine,
        "max-pooled {kept}, own |grad f| {faded}"
    );
}

/// Peak signal-to-noise ratio of two PNGs' colour channels, in dB.
fn psnr(a: &Path, b: &Path) -> f64 {
    let (x, y) = (
        gradvol::png_io::read_png(a).unwrap(),
        gradvol::png_io::read_png(b).unwrap(),
    );
    let (mut sum, mut n) = (0.0, 0usize);
    for (i, (p, q)) in x.rgba.iter().zip(&y.rgba).enumerate() {
        if i % 4 != 3 {
            sum += (*p as f64 - *q as f64).powi(2);
            n += 1;
        }
    }
    10.0 * (255.0f64.powi(2) / (sum / n as f64)).log10()
}

#[test]
fn the_brain_mri_under_an_eighth_of_its_gpu_memory_stays_close_to_the_full_render() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("ch2.ome.zarr");
    let ch2 = sample_data_dir().join("ch2.nii.gz");
    let out = gradvol(&["convert", s(&ch2), "-o", s(&store), "--levels", "3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let render = |png: &Path, budget: Option<&str>| {
        let mut args = vec![
            "render",
            s(&store),
            "--preset",
            "gradvol-MR-Boundaries",
            "--size",
            "256x256",
            "-o",
            s(png),
        ];
        if let Some(b) = budget {
            args.extend(["--gpu-budget", b]);
        }
        summary(&gradvol(&args))
    };
    let full_png = dir.path().join("full.png");
    let full = render(&full_png, None);
    assert_eq!(full["lod"]["bricks_per_level"][0][0], 0, "{full}");
    let slots = full["lod"]["slots"].as_u64().unwrap();
    let [bx, by, bz] = [0, 1, 2].map(|a| full["brick_size"][a].as_u64().unwrap() + 3);
    let texel_bytes = match full["pool_format"].as_str().unwrap() {
        "rg16unorm" => 4,
        "rg32float" => 8,
        other => panic!("pool format {other}"),
    };
    let slot_bytes = bx * by * bz * texel_bytes;
    // An eighth of the full-resolution pool, in whole MiB.
    let budget_mib = (slots * slot_bytes / 8) >> 20;
    assert!(budget_mib >= 1);
    let small_png = dir.path().join("eighth.png");
    let small = render(&small_png, Some(&budget_mib.to_string()));
    let lod = &small["lod"];
    assert_eq!(lod["over_budget"], false, "{small}");
    assert!(
        lod["slots"].as_u64().unwrap() * slot_bytes <= budget_mib << 20,
        "{small}"
    );
    assert!(
        lod["bricks_per_level"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l[0].as_u64().unwrap() > 0),
        "every brick from a coarser level: {small}"
    );
    // Measured 2026-12-02 on lavapipe: 31.7 dB here (4 MiB: 12 bricks of level 1, 51 of level 2
    // in 8 slots against 63 of level 0); 31.6 dB at 512x512.
    let db = psnr(&full_png, &small_png);
    eprintln!("ch2 at {budget_mib} MiB against the full budget: PSNR {db:.1} dB");
    assert!(db > 28.0, "PSNR {db:.1} dB");
}

#[test]
fn a_pool_filled_brick_by_brick_draws_each_brick_from_the_first_stage_until_its_own_is_in() {
    use gradvol::gpu::Gpu;
    use gradvol::gradient::Operator;
    use gradvol::render::lod::{Key, LodSource, Plan, Publish};
    use gradvol::render::renderer::{Renderer, pool_format};
    use gradvol::scene::RenderSettings;
    use gradvol::tf::presets;
    use gradvol::volume::zarr::{Codec, ConvertOptions, Location, Pyramid, convert};
    use std::collections::HashSet;
    use std::sync::{Arc, Mutex};

    // Three levels (0.5, 1 and 2 mm) keeping |grad f| by central differences and the blocks'
    // ranges: the normalisation is known before a brick is read.
    let volume = ct_phantom([600, 600, 40], [0.5, 0.5, 0.5], 0.0);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("ct.ome.zarr");
    let options = ConvertOptions {
        chunk: 32,
        shard: 1,
        codec: Codec::Zstd,
        gradient: Some(Operator::Central),
        min_levels: 1,
    };
    convert(&volume, &store, options, &|_, _| {}).unwrap();
    let pyramid = Arc::new(Pyramid::open(&Location::Folder(store)).unwrap());
    assert_eq!(pyramid.level_count(), 3);
    let gpu = Gpu::new().unwrap_or_else(|e| panic!("{e}"));
    let format = pool_format(&gpu, None).unwrap();
    let mut source =
        LodSource::new(pyramid, Operator::Central, format, 512 << 20, 1 << 30).unwrap();
    let camera = Camera {
        zoom: 2.5,
        elevation_deg: 60.0,
        ..Default::default()
    };
    let size = [160, 160];
    let tf = presets::preset("gradvol-CT-Bone-Surface", 0.5).unwrap();
    let settings = RenderSettings {
        size,
        // One sample distance for every renderer below (by default it follows the finest
        // level drawn).
        sample_distance_mm: Some(0.5),
        jitter: false,
        ..RenderSettings::default()
    };
    let last = source.plan_at(&camera, size, Some(&tf), 1.0);
    let first = source
        .seed_for(&camera, size, Some(&tf), &last, 4.0)
        .expect("a coarser first stage");
    assert!(first.choice.iter().zip(&last.choice).all(|(f, l)| f >= l));
    assert!(first.choice != last.choice);
    let stats = source.stats(&[&first, &last]).unwrap();
    let image = |r: &Mutex<Renderer>| {
        r.lock()
            .unwrap()
            .render_image(&gpu, &camera, &settings)
            .unwrap()
            .rgba
    };

    // The first stage, then the last's bricks published a batch at a time; stopped after a
    // few batches.
    let (renderer, mut filling) = source
        .start(&gpu, &[&first, &last], &settings, &tf, &stats, true)
        .unwrap();
    let renderer = Mutex::new(renderer);
    let quiet = |_: usize, _: usize| Ok(());
    source
        .fill(&gpu, &mut filling, 0, &renderer, &quiet, &Publish::AtTheEnd)
        .unwrap();
    let first_image = image(&renderer);
    let (first_read, total) = filling.progress(1);
    assert!(
        first_read > 0 && total > first_read + 8,
        "{first_read} of {total}"
    );
    let stop = first_read + (total - first_read) / 2;
    let publications = std::sync::atomic::AtomicUsize::new(0);
    let halfway = |done: usize, _: usize| {
        if done >= stop {
            Err("stopped".to_string())
        } else {
            Ok(())
        }
    };
    let counted = || {
        publications.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    };
    let every_batch = Publish::When {
        due: &|| true,
        done: &counted,
    };
    let stopped = source.fill(&gpu, &mut filling, 1, &renderer, &halfway, &every_batch);
    assert!(stopped.is_err());
    assert!(publications.into_inner() >= 2, "published batch by batch");
    let half_image = image(&renderer);
    let read: HashSet<Key> = filling.read().iter().copied().collect();

    // What it draws: each finest brick from its last-stage brick where that is in (or left
    // out as transparent), else from its first-stage brick; as a renderer of that mixed plan
    // built whole draws it.
    let finest = source.maps()[0].layout;
    let b = finest.bricks;
    let key = |m: usize, i: usize| {
        let b0 = [i % b[0], (i / b[0]) % b[1], i / (b[0] * b[1])];
        (m, source.maps()[m].brick_for(&finest, b0))
    };
    let last_empty: HashSet<Key> = last.empty.iter().copied().collect();
    let choice: Vec<usize> = (0..finest.brick_count())
        .map(|i| {
            let k = key(last.choice[i], i);
            match read.contains(&k) || last_empty.contains(&k) {
                true => last.choice[i],
                false => first.choice[i],
            }
        })
        .collect();
    let mut wanted: Vec<Key> = (0..choice.len()).map(|i| key(choice[i], i)).collect();
    wanted.sort();
    wanted.dedup();
    let empty_anywhere: HashSet<Key> = first.empty.iter().chain(&last.empty).copied().collect();
    let mixed = Plan {
        empty: wanted
            .iter()
            .copied()
            .filter(|k| empty_anywhere.contains(k))
            .collect(),
        choice,
        wanted,
        over_budget: false,
    };
    assert!(mixed.choice != first.choice && mixed.choice != last.choice);
    let mut whole = |plan: &Plan| {
        let (r, mut f) = source
            .start(&gpu, &[plan], &settings, &tf, &stats, true)
            .unwrap();
        let r = Mutex::new(r);
        source
            .fill(&gpu, &mut f, 0, &r, &quiet, &Publish::AtTheEnd)
            .unwrap();
        image(&r)
    };
    let worst = |a: &[u8], b: &[u8]| a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap();
    assert!(worst(&half_image, &whole(&mixed)) <= 1);
    assert!(worst(&first_image, &whole(&first)) <= 1);
    assert!(
        worst(&half_image, &first_image) > 8,
        "the published bricks show"
    );

    // Filled to the end, it draws what a renderer of the last plan alone draws (`render`).
    source
        .fill(&gpu, &mut filling, 1, &renderer, &quiet, &Publish::AtTheEnd)
        .unwrap();
    let full_image = image(&renderer);
    let (mut alone, _, _) = source
        .build(&gpu, &last, &settings, |_| Ok((tf.clone(), true)), &quiet)
        .unwrap();
    let alone = alone.render_image(&gpu, &camera, &settings).unwrap().rgba;
    assert!(worst(&full_image, &alone) <= 1);
    assert!(worst(&full_image, &half_image) > 8, "the rest shows");
}
