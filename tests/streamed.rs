//! Bricks streamed from an OME-Zarr store: every slot (value and |grad f| with its halo) equals
//! the slot packed from the whole volume and its whole-volume gradient, for the three operators,
//! with a host cache too small to hold the level; `gradvol render` of a converted CT draws the
//! same pixels as of the NRRD while evicting; the GPU budget picks a coarser level.

mod common;

use std::path::Path;

use common::sample_data_dir;
use gradvol::gradient::{Operator, cpu};
use gradvol::render::bricks::{BrickSupply, Source};
use gradvol::render::layout::BrickLayout;
use gradvol::render::quantise::PoolFormat;
use gradvol::render::streamed::StoreBricks;
use gradvol::volume::synthetic::ct_phantom;

fn gradvol(args: &[&str]) -> std::process::Output {
    common::run_gradvol(env!("CARGO_BIN_EXE_gradvol"), args)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn every_streamed_slot_equals_the_slot_of_the_whole_volume() {
    // Awkward sizes: bricks of 16 cells leave partial bricks on every axis.
    let volume = ct_phantom([70, 45, 35], [0.8, 0.9, 2.0], 20.0);
    let (_dir, pyramid) = common::store_of(&volume, 16, 2);
    let layout = BrickLayout::new(volume.dims, volume.spacing, Some(16));
    assert_eq!(layout.bricks, [5, 3, 3]);
    let operators = [
        Operator::Central,
        Operator::Sobel,
        Operator::Gaussian { sigma_mm: 1.5 },
    ];
    for operator in operators {
        let whole = cpu::gradient_magnitude(&volume, operator);
        for format in [PoolFormat::Float32, PoolFormat::Unorm16] {
            // Room for about three regions: the level is read and evicted as it goes.
            let cache = 3 * 22 * 22 * 22 * 6;
            let mut bricks =
                StoreBricks::new(pyramid.clone(), 0, layout, Some(operator), format, cache)
                    .unwrap();
            let stats = bricks.measure().unwrap();
            assert_eq!(stats.range, Some(volume.range), "{operator:?}");
            let whole_max = gradvol::render::bricks::finite_max(&whole);
            assert_eq!(stats.gradient_max, whole_max, "{operator:?}");
            bricks.normalise(&stats, true);
            let reference = Source::new(&volume, Some(&whole), format);
            assert_eq!(bricks.quantisation(), reference.quantisation);
            let [bx, by, bz] = layout.bricks;
            for z in 0..bz {
                for y in 0..by {
                    for x in 0..bx {
                        let b = [x, y, z];
                        let got = bricks.slot(&layout, b).unwrap();
                        let want = reference.slot(&layout, b).unwrap();
                        assert!(
                            got == want,
                            "{operator:?} {format:?}: brick {b:?} differs from the whole volume's"
                        );
                    }
                }
            }
            let report = bricks.cache_report();
            assert!(report.evictions > 0, "the cache was too small to keep all");
            assert!(report.peak_bytes <= cache, "{report:?}");
        }
    }
}

#[test]
fn without_gradient_opacity_the_slots_carry_no_gradient() {
    let volume = ct_phantom([20, 20, 20], [1.0; 3], 0.0);
    let (_dir, pyramid) = common::store_of(&volume, 64, 4);
    let layout = BrickLayout::new(volume.dims, volume.spacing, None);
    let format = PoolFormat::Unorm16;
    let mut bricks = StoreBricks::new(
        pyramid.clone(),
        0,
        layout,
        Some(Operator::Central),
        format,
        1 << 20,
    )
    .unwrap();
    let stats = bricks.measure().unwrap();
    bricks.normalise(&stats, false);
    let reference = Source::new(&volume, None, format);
    assert_eq!(bricks.quantisation(), reference.quantisation);
    assert!(
        bricks.slot(&layout, [0, 0, 0]).unwrap() == reference.slot(&layout, [0, 0, 0]).unwrap()
    );
}

use common::summary;

#[test]
fn a_converted_ct_renders_as_its_nrrd_with_every_operator_while_evicting() {
    let lung = sample_data_dir().join("lung1_image.nrrd");
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("lung.ome.zarr");
    let out = gradvol(&["convert", s(&lung), "-o", s(&store), "--chunk", "32"]);
    assert!(out.status.success());
    let common = [
        "--size",
        "128x128",
        "--preset",
        "gradvol-CT-Bone-Surface",
        "--elevation",
        "20",
    ];
    for op in ["central", "sobel", "gaussian"] {
        let a = dir.path().join(format!("nrrd-{op}.png"));
        let b = dir.path().join(format!("zarr-{op}.png"));
        let mut args = vec!["render", s(&lung), "-o", s(&a), "--operator", op];
        args.extend_from_slice(&common);
        summary(&gradvol(&args));
        // 8 MiB of host cache: a few bricks of 128 x 128 x 47 and their halos.
        let mut args = vec!["render", s(&store), "-o", s(&b), "--operator", op];
        args.extend_from_slice(&common);
        args.extend_from_slice(&["--level", "0", "--cache", "8"]);
        let streamed = summary(&gradvol(&args));
        assert_eq!(streamed["level"], 0);
        assert_eq!(streamed["gradient"]["operator"], op);
        assert!(streamed["cache"]["evictions"].as_u64().unwrap() > 0);
        assert!(streamed["cache"]["peak_bytes"].as_u64().unwrap() <= 8 << 20);
        let (x, y) = (
            gradvol::png_io::read_png(&a).unwrap(),
            gradvol::png_io::read_png(&b).unwrap(),
        );
        let lit = x.rgba.chunks(4).filter(|p| p[..3] != [0, 0, 0]).count();
        assert!(lit > 1000, "{op}: the bone shows ({lit} pixels)");
        assert!(x.rgba == y.rgba, "{op}: the streamed image differs");
    }
}

/// The chest CT converted with the default layout, in a temporary folder.
fn converted_lung() -> (tempfile::TempDir, std::path::PathBuf) {
    let lung = sample_data_dir().join("lung1_image.nrrd");
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("lung.ome.zarr");
    let out = gradvol(&["convert", s(&lung), "-o", s(&store)]);
    assert!(out.status.success());
    (dir, store)
}

#[test]
fn a_small_gpu_budget_draws_coarser_bricks_and_says_when_even_the_coarsest_do_not_fit() {
    let (dir, store) = converted_lung();
    let png = dir.path().join("a.png");
    let budget = |mib: &str| {
        let args = ["render", s(&store), "-o", s(&png), "--size", "512x512"];
        gradvol(&[&args[..], &["--gpu-budget", mib]].concat())
    };
    // A slot of level 0's bricks (128 x 128 x 47 cells) takes 131 x 131 x 50 x 4 bytes: 20 MiB
    // hold 6 of the 16 the plan wants at 512x512; the rest come from level 1.
    let sum = summary(&budget("20"));
    let slots = sum["lod"]["slots"].as_u64().unwrap();
    assert!(slots * 131 * 131 * 50 * 4 <= 20 << 20, "{sum}");
    let levels = sum["lod"]["bricks_per_level"].as_array().unwrap();
    assert!(levels.iter().any(|l| l[0] == 1), "{levels:?}");
    assert_eq!(sum["lod"]["over_budget"], false);
    let out = budget("1");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success());
    assert!(
        err.contains("even the coarsest level's bricks (4) exceed the GPU budget of 1 MiB"),
        "{err}"
    );
}

#[test]
fn over_an_unreliable_server_reads_are_retried_and_what_never_comes_is_drawn_empty() {
    use common::http::{Faults, Server};
    let (dir, store) = converted_lung();
    let render = |input: &str, png: &Path| {
        let args = [
            "render",
            input,
            "-o",
            s(png),
            "--size",
            "96x96",
            "--level",
            "0",
        ];
        gradvol(&[&args[..], &["--preset", "gradvol-CT-Bone-Surface"]].concat())
    };
    let local = dir.path().join("local.png");
    summary(&render(s(&store), &local));

    // Every chunk's first two requests fail: all retried, the same picture.
    let flaky = Server::start(
        dir.path(),
        Faults {
            fail_first: 2,
            ..Default::default()
        },
    );
    let remote = dir.path().join("remote.png");
    let sum = summary(&render(&format!("{}/lung.ome.zarr", flaky.url), &remote));
    assert!(sum["reads_retried"].as_u64().unwrap() > 0, "{sum}");
    assert_eq!(sum["reads_failed"], 0);
    assert_eq!(sum["bricks_missing"], 0);
    let (a, b) = (
        gradvol::png_io::read_png(&local).unwrap(),
        gradvol::png_io::read_png(&remote).unwrap(),
    );
    assert!(a.rgba == b.rgba, "retried reads give the same image");

    // One shard never comes: its bricks are drawn empty, with a warning; the rest is drawn.
    let broken = Server::start(
        dir.path(),
        Faults {
            fail_matching: Some("/0/c/0/0/0"),
            ..Default::default()
        },
    );
    let partial = dir.path().join("partial.png");
    let out = render(&format!("{}/lung.ome.zarr", broken.url), &partial);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    let sum = summary(&out);
    assert!(sum["bricks_missing"].as_u64().unwrap() > 0, "{sum}");
    assert!(sum["reads_failed"].as_u64().unwrap() > 0);
    assert!(
        err.contains("warning:") && err.contains("drawn empty"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
    let c = gradvol::png_io::read_png(&partial).unwrap();
    let lit = |i: &gradvol::render::renderer::Image| {
        i.rgba.chunks(4).filter(|p| p[..3] != [0, 0, 0]).count()
    };
    assert!(lit(&c) > 0 && lit(&c) < lit(&a), "part of the CT is drawn");
}

/// Balls spread through a volume of `side` x `side` x `side / 2` voxels of 1 mm.
fn scattered_balls(side: f64, radius: f64) -> Vec<gradvol::volume::zarr::sparse::Ball> {
    let at = [0.25, 0.5, 0.75];
    let mut balls = Vec::new();
    for (i, &fx) in at.iter().enumerate() {
        for (j, &fy) in at.iter().enumerate() {
            if (i + j) % 2 == 0 {
                balls.push(gradvol::volume::zarr::sparse::Ball {
                    centre: [fx * side, fy * side, (0.3 + 0.1 * j as f64) * side / 2.0],
                    radius,
                    value: 1000 + 300 * (i as u16),
                });
            }
        }
    }
    balls
}

#[test]
fn a_four_terabyte_sparse_store_renders_within_the_budgets() {
    use gradvol::volume::zarr::sparse::write_sparse;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("giant.ome.zarr");
    // 16384 x 16384 x 8192 uint16: 4 TiB logical, every level present, a few hundred chunks.
    let side = 16384.0;
    let report = write_sparse(
        &store,
        [16384, 16384, 8192],
        1.0,
        &scattered_balls(side, 64.0),
        64,
    )
    .unwrap();
    assert_eq!(report.levels, 7);
    let info: serde_json::Value =
        serde_json::from_slice(&gradvol(&["info", s(&store), "--json"]).stdout).unwrap();
    assert_eq!(
        info["pyramid"]["levels"][0]["dims"],
        serde_json::json!([16384, 16384, 8192])
    );
    assert_eq!(
        info["pyramid"]["level"], 4,
        "info reads the finest level within 512 Mi voxels"
    );
    let png = dir.path().join("giant.png");
    let out = gradvol(&[
        "render",
        s(&store),
        "-o",
        s(&png),
        "--size",
        "256x256",
        "--gpu-budget",
        "64",
        "--cache",
        "256",
    ]);
    let sum = summary(&out);
    // About 7 slots of 131^3 texels: the coarsest levels, chosen brick by brick.
    let slots = sum["lod"]["slots"].as_u64().unwrap();
    assert!(slots * 131 * 131 * 131 * 4 <= 64 << 20, "{sum}");
    let levels = sum["lod"]["bricks_per_level"].as_array().unwrap();
    assert!(
        levels.iter().all(|l| l[0].as_u64().unwrap() >= 5),
        "{levels:?}"
    );
    assert!(sum["peak_host_mb"].as_f64().unwrap() < 4096.0, "{sum}");
    let image = gradvol::png_io::read_png(&png).unwrap();
    let lit = image.rgba.chunks(4).filter(|p| p[..3] != [0, 0, 0]).count();
    assert!(lit > 0, "the balls show");
}

#[test]
fn bricks_the_stored_ranges_show_transparent_are_never_fetched() {
    use common::http::{Faults, Server};
    let (dir, _store) = converted_lung();
    let server = Server::start(dir.path(), Faults::default());
    let url = format!("{}/lung.ome.zarr", server.url);
    // Levels of detail over HTTP, counting the server's requests. At 512x512 every brick
    // comes from level 0; with the bone preset the bricks holding only air and soft tissue
    // (two here) are transparent.
    let render = |png: &Path, skipping: &str| {
        let before = server.requests.load(std::sync::atomic::Ordering::SeqCst);
        let sum = summary(&gradvol(&[
            "render",
            &url,
            "-o",
            s(png),
            "--size",
            "512x512",
            "--preset",
            "gradvol-CT-Bone-Surface",
            "--empty-space-skipping",
            skipping,
        ]));
        let after = server.requests.load(std::sync::atomic::Ordering::SeqCst);
        (sum, after - before)
    };
    let (on_png, off_png) = (dir.path().join("on.png"), dir.path().join("off.png"));
    let (on, on_requests) = render(&on_png, "on");
    let (off, off_requests) = render(&off_png, "off");
    let skipped = on["lod"]["bricks_skipped"].as_u64().unwrap();
    assert!(skipped > 0, "{on}");
    assert_eq!(off["lod"]["bricks_skipped"], 0, "{off}");
    assert_eq!(
        on["lod"]["slots"].as_u64().unwrap() + skipped,
        off["lod"]["slots"].as_u64().unwrap()
    );
    assert!(
        on_requests < off_requests,
        "{on_requests} requests with skipping, {off_requests} without"
    );
    // The bricks skipped were transparent: the same image.
    let (a, b) = (
        gradvol::png_io::read_png(&on_png).unwrap(),
        gradvol::png_io::read_png(&off_png).unwrap(),
    );
    let worst = a
        .rgba
        .iter()
        .zip(&b.rgba)
        .map(|(x, y)| x.abs_diff(*y))
        .max();
    assert!(worst <= Some(1), "images differ by {worst:?}");
    eprintln!(
        "skipped {skipped} bricks; {on_requests} requests against {off_requests} without skipping"
    );
}

#[test]
fn what_the_store_keeps_gives_the_statistics_reading_every_brick_would() {
    use gradvol::volume::zarr::{Codec, ConvertOptions, Location, Pyramid, convert};
    let volume = ct_phantom([70, 45, 35], [0.8, 0.9, 2.0], 20.0);
    let operators = [
        Operator::Central,
        Operator::Sobel,
        Operator::Gaussian { sigma_mm: 1.5 },
    ];
    for (k, operator) in operators.into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("v.ome.zarr");
        let options = ConvertOptions {
            chunk: 16,
            shard: 2,
            codec: Codec::Zstd,
            gradient: Some(operator),
            min_levels: 2,
        };
        convert(&volume, &store, options, &|_, _| {}).unwrap();
        let pyramid = std::sync::Arc::new(Pyramid::open(&Location::Folder(store)).unwrap());
        let other = operators[(k + 1) % 3];
        for level in 0..2 {
            let l = pyramid.level(level).clone();
            let layout = BrickLayout::new(l.dims, l.spacing, Some(16));
            let bricks_of = |op: Option<Operator>| {
                StoreBricks::new(
                    pyramid.clone(),
                    level,
                    layout,
                    op,
                    PoolFormat::Float32,
                    1 << 26,
                )
                .unwrap()
            };
            let bricks = bricks_of(Some(operator));
            let known = bricks.known_stats().expect("convert keeps the ranges");
            assert_eq!(
                known,
                bricks.measure().unwrap(),
                "{operator:?} level {level}"
            );
            assert!(known.gradient_max > 0.0);
            // Another operator's |grad f| is not kept: it must be measured.
            assert_eq!(bricks_of(Some(other)).known_stats(), None);
            let plain = bricks_of(None).known_stats().unwrap();
            assert_eq!((plain.range, plain.gradient_max), (known.range, 0.0));
        }
    }
}
