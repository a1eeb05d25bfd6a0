//! The raymarcher on whatever adapter this machine has (lavapipe in CI) against its CPU
//! reference and against analytic answers. No adapter is a failure that says what to install.

mod common;

use common::render::{
    compare, gpu, pixel, reference_frame, reference_image, render, renderer, settings, volume,
};
use gradvol::camera::{Camera, View};
use gradvol::gradient::Operator;
use gradvol::render::accumulate::Accumulator;
use gradvol::render::params::Geometry;
use gradvol::render::renderer::{Renderer, RendererOptions};
use gradvol::scene::{Blend, RenderSettings};
use gradvol::tf::{Shading, TransferFunction, presets};
use gradvol::volume::Volume;
use gradvol::volume::synthetic::{ct_phantom, marschner_lobb, sphere};

fn flat_tf(alpha: f64, unit_distance_mm: f64) -> TransferFunction {
    TransferFunction {
        scalar_opacity: vec![[0.0, alpha], [2.0, alpha]],
        color: vec![[0.0, 1.0, 1.0, 1.0]],
        gradient_opacity: vec![[0.0, 1.0]],
        shading: Shading {
            shade: false,
            ..Shading::default()
        },
        unit_distance_mm,
        effective_range: None,
        interpolation: None,
        tf2d: None,
    }
}

#[test]
fn gpu_images_match_the_cpu_reference() {
    let gpu = gpu();
    let phantom = ct_phantom([40, 36, 18], [1.0, 1.0, 2.5], 15.0);
    let mean_spacing = Geometry::of(&phantom).mean_spacing();
    let bone = presets::preset("gradvol-CT-Bone-Surface", mean_spacing).unwrap();
    let aaa = presets::preset("CT-AAA", mean_spacing).unwrap();
    let ball = sphere(24, 0.6);
    let ball_tf = TransferFunction {
        scalar_opacity: vec![[0.0, 0.0], [0.4, 0.0], [0.6, 0.5], [1.0, 0.8]],
        color: vec![[0.0, 1.0, 0.2, 0.1], [1.0, 0.3, 0.6, 1.0]],
        ..flat_tf(0.0, 1.0)
    };
    let ml = marschner_lobb(21);
    let ml_tf = TransferFunction::default_for_range(ml.range);
    let turned = Camera {
        azimuth_deg: 30.0,
        elevation_deg: 20.0,
        ..Camera::default()
    };
    let ortho = Camera {
        orthographic: true,
        view: View::Left,
        ..Camera::default()
    };
    let mut shaded = settings(64);
    shaded.shading = Some(true);
    let mut mip = settings(64);
    mip.blend = Blend::Maximum;
    let mut average = settings(64);
    average.blend = Blend::Average;
    let mut cropped = settings(64);
    cropped.crop = [[0.0, 0.3, 0.0], [0.8, 1.0, 1.0]];
    cropped.sample_distance_mm = Some(0.7);
    let mut sobel = settings(64);
    sobel.gradient = Operator::Sobel;
    let cases: Vec<(&str, &Volume, &TransferFunction, Camera, RenderSettings)> = vec![
        ("sphere, shaded", &ball, &ball_tf, turned, shaded.clone()),
        (
            "phantom, gradient opacity",
            &phantom,
            &bone,
            turned,
            settings(64),
        ),
        ("phantom, sobel, cropped", &phantom, &bone, ortho, cropped),
        ("phantom, CT-AAA", &phantom, &aaa, Camera::default(), sobel),
        ("phantom, MIP", &phantom, &aaa, ortho, mip),
        ("marschner-lobb, average", &ml, &ml_tf, turned, average),
        ("marschner-lobb, shaded", &ml, &ml_tf, ortho, shaded),
    ];
    for (name, volume, tf, camera, settings) in cases {
        let mut r = renderer(&gpu, volume, tf, &settings, RendererOptions::default());
        let got = r.render_image(&gpu, &camera, &settings).unwrap();
        let want = reference_image(&r, volume, &camera, &settings);
        let (worst, mean, over) = compare(&got, &want);
        // Trilinear filtering in the texture unit and the CPU's float arithmetic round
        // differently; a few isolated pixels near hard edges may differ more.
        assert!(
            mean < 0.5 && over < 0.01,
            "{name}: worst {worst}/255, mean {mean:.3}/255, {:.2}% of channels off by more than 4",
            100.0 * over
        );
        let lit = got.rgba.chunks(4).filter(|p| p[..3] != [0, 0, 0]).count();
        assert!(lit > 200, "{name}: only {lit} pixels show anything");
    }
}

#[test]
fn opacity_correction_makes_a_slab_independent_of_the_sample_distance() {
    let gpu = gpu();
    // A uniform slab: 9 intervals of 1.5 mm along y, the viewing axis.
    let slab = volume([6, 10, 6], [1.0, 1.5, 1.0], |_| 1.0);
    let thickness = 9.0 * 1.5;
    let camera = Camera {
        orthographic: true,
        view: View::Anterior,
        ..Camera::default()
    };
    for (alpha, unit) in [(0.1, 1.0), (0.1, 2.0), (0.3, 0.5)] {
        let tf = flat_tf(alpha, unit);
        let want = 1.0 - (1.0 - alpha).powf(thickness / unit);
        for ds in [0.3, 0.7, 1.0, 2.9, 5.0] {
            let mut s = settings(32);
            s.transparent = true;
            s.sample_distance_mm = Some(ds);
            let image = render(&gpu, &slab, &tf, &camera, &s);
            let [r, g, b, a] = pixel(&image, 16, 16);
            assert!(
                (a as f64 / 255.0 - want).abs() <= 1.0 / 255.0,
                "alpha {alpha} per {unit} mm, ds {ds}: got {a}/255, want {want:.4}"
            );
            assert_eq!([r, g, b], [255, 255, 255], "un-premultiplied colour");
            assert_eq!(pixel(&image, 0, 0)[3], 0, "transparent outside the volume");
        }
    }
}

#[test]
fn gradient_opacity_removes_uniform_interiors_and_keeps_boundaries() {
    let gpu = gpu();
    let camera = Camera {
        orthographic: true,
        view: View::Anterior,
        ..Camera::default()
    };
    let ramp = TransferFunction {
        scalar_opacity: vec![[0.0, 0.0], [0.4, 0.0], [0.5, 0.3], [2.0, 0.3]],
        gradient_opacity: vec![[0.0, 0.0], [0.05, 0.0], [0.2, 1.0]],
        ..flat_tf(0.0, 1.0)
    };
    let no_ramp = TransferFunction {
        gradient_opacity: vec![[0.0, 1.0]],
        ..ramp.clone()
    };
    let mut s = settings(32);
    s.transparent = true;
    s.jitter = false;
    let centre_alpha = |v: &Volume, tf: &TransferFunction| {
        pixel(&render(&gpu, v, tf, &camera, &s), 16, 16)[3] as i32
    };
    // A volume of one value has no gradient: gradient opacity removes all of it.
    let uniform = volume([8, 24, 8], [1.0; 3], |_| 1.0);
    assert_eq!(centre_alpha(&uniform, &ramp), 0);
    assert!(centre_alpha(&uniform, &no_ramp) > 200);
    // Layers of value 1 across the whole x-z extent, 4 and 12 voxels deep along the view: with
    // the ramp only their two boundaries show, so depth no longer matters.
    let layer = |depth: usize| {
        volume([8, 24, 8], [1.0; 3], move |[_, y, _]| {
            if (4..4 + depth).contains(&y) {
                1.0
            } else {
                0.0
            }
        })
    };
    let (thin, thick) = (layer(4), layer(12));
    let (a_thin, a_thick) = (centre_alpha(&thin, &ramp), centre_alpha(&thick, &ramp));
    assert!(a_thin > 40, "the boundaries stay visible: {a_thin}");
    assert!((a_thin - a_thick).abs() <= 2, "{a_thin} vs {a_thick}");
    let (b_thin, b_thick) = (
        centre_alpha(&thin, &no_ramp),
        centre_alpha(&thick, &no_ramp),
    );
    assert!(
        b_thick > b_thin + 40,
        "without the ramp: {b_thin} vs {b_thick}"
    );
}

#[test]
fn tiles_join_without_seams() {
    let gpu = gpu();
    let phantom = ct_phantom([32, 28, 14], [1.0, 1.0, 2.5], 15.0);
    let tf = presets::preset("gradvol-CT-Bone-Surface", 1.5).unwrap();
    let mut s = settings(64);
    s.size = [150, 100];
    let camera = Camera {
        azimuth_deg: 20.0,
        ..Camera::default()
    };
    let mut r = Renderer::new(&gpu, &phantom, &tf).unwrap();
    r.prepare(&gpu, &phantom, &s).unwrap();
    let whole = r.render_image(&gpu, &camera, &s).unwrap();
    let tiled = r.render_image_in_tiles(&gpu, &camera, &s, 48).unwrap();
    assert!(whole == tiled, "tiled image differs from the whole one");
}

#[test]
fn a_frame_drawn_in_bands_of_rows_is_the_frame_drawn_whole() {
    // The viewer draws slow frames band by band; each frame of an accumulation (its jitter
    // shifted) must come out the same as drawn at once.
    let gpu = gpu();
    let phantom = ct_phantom([32, 28, 14], [1.0, 1.0, 2.5], 15.0);
    let tf = presets::preset("gradvol-CT-Bone-Surface", 1.5).unwrap();
    let mut s = settings(64);
    s.size = [120, 90];
    let camera = Camera {
        azimuth_deg: -35.0,
        ..Camera::default()
    };
    let mut r = Renderer::new(&gpu, &phantom, &tf).unwrap();
    r.prepare(&gpu, &phantom, &s).unwrap();
    for frame in [0, 3] {
        let whole = r.render_frame(&gpu, &camera, &s, frame).unwrap();
        let mut rows = Vec::new();
        for first in (0..90).step_by(23) {
            let count = 23.min(90 - first);
            let band = r
                .render_frame_rows(&gpu, &camera, &s, frame, first, count)
                .unwrap();
            assert_eq!(band.len(), 4 * 120 * count as usize);
            rows.extend_from_slice(&band);
        }
        assert!(
            rows == whole.rgba,
            "frame {frame}: the bands differ from the whole"
        );
        let lit = whole.rgba.chunks(4).filter(|p| p[3] > 0).count();
        assert!(lit > 500, "the phantom shows ({lit} pixels)");
    }
}

#[test]
fn large_images_stream_into_the_png_band_by_band() {
    let gpu = gpu();
    let phantom = ct_phantom([32, 28, 14], [1.0, 1.0, 2.5], 15.0);
    let tf = presets::preset("gradvol-CT-Bone-Surface", 1.5).unwrap();
    let mut s = settings(64);
    s.size = [300, 170];
    let camera = Camera::default();
    let mut r = Renderer::new(&gpu, &phantom, &tf).unwrap();
    r.prepare(&gpu, &phantom, &s).unwrap();
    let whole = r.render_image(&gpu, &camera, &s).unwrap();
    // Bands of 48 rows in tiles of 48 pixels arrive top to bottom, each whole rows.
    let mut rows = Vec::new();
    let mut bands = 0;
    r.render_rows(&gpu, &camera, &s, 48, |band: &[u8]| {
        assert_eq!(band.len() % (4 * 300), 0);
        rows.extend_from_slice(band);
        bands += 1;
        Ok::<(), gradvol::gpu::GpuError>(())
    })
    .unwrap();
    assert_eq!(bands, 170usize.div_ceil(48));
    assert!(
        rows == whole.rgba,
        "streamed rows differ from the whole image"
    );
    // The PNG written while rendering holds the same pixels and the scene.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("streamed.png");
    r.write_png(&gpu, &camera, &s, &path, r#"{"note": "scene"}"#)
        .unwrap();
    let written = gradvol::png_io::read_png(&path).unwrap();
    assert!(written == whole, "the PNG differs from the image");
    assert_eq!(
        gradvol::png_io::read_scene(&path).unwrap(),
        r#"{"note": "scene"}"#
    );
    // A file that cannot be written fails cleanly and leaves nothing.
    let missing = dir.path().join("no such folder").join("x.png");
    assert!(r.write_png(&gpu, &camera, &s, &missing, "{}").is_err());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn geometry_follows_spacing_and_patient_directions() {
    let gpu = gpu();
    // A ball of radius 10 mm sampled with 5 mm slices must still look round.
    let spacing = [1.0, 1.0, 5.0];
    let ball = volume([32, 32, 8], spacing, |[x, y, z]| {
        let p = [x as f64 - 15.5, y as f64 - 15.5, (z as f64 - 3.5) * 5.0];
        let r = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
        (10.5 - r).clamp(0.0, 1.0) as f32
    });
    let tf = flat_tf(0.0, 1.0);
    let camera = Camera {
        orthographic: true,
        ..Camera::default()
    };
    let mut mip = settings(96);
    mip.blend = Blend::Maximum;
    let tf_mip = TransferFunction {
        // A step at 0.5, where trilinear interpolation puts the ball's surface on every axis.
        scalar_opacity: vec![[0.0, 0.0], [0.49, 0.0], [0.51, 1.0]],
        ..tf
    };
    let image = render(&gpu, &ball, &tf_mip, &camera, &mip);
    let lit = |x: u32, y: u32| pixel(&image, x, y)[0] > 128;
    let width = (0..96).filter(|&x| lit(x, 48)).count() as i32;
    let height = (0..96).filter(|&y| lit(48, y)).count() as i32;
    assert!(
        width > 20 && (width - height).abs() <= 2,
        "{width} x {height}"
    );

    // Seen from behind, a maximum intensity projection is the mirror image (sampled finely and
    // without jitter, so both see the same maxima).
    mip.jitter = false;
    mip.sample_distance_mm = Some(0.2);
    let phantom = ct_phantom([30, 26, 12], [1.0, 1.0, 2.0], 0.0);
    let aaa = presets::preset("CT-MIP", 1.3).unwrap();
    let front = render(&gpu, &phantom, &aaa, &camera, &mip);
    let back_camera = Camera {
        view: View::Posterior,
        ..camera
    };
    let back = render(&gpu, &phantom, &aaa, &back_camera, &mip);
    let mut mismatched = 0;
    for y in 0..96 {
        for x in 0..96 {
            let (a, b) = (pixel(&front, x, y), pixel(&back, 95 - x, y));
            if a.iter().zip(&b).any(|(p, q)| p.abs_diff(*q) > 8) {
                mismatched += 1;
            }
        }
    }
    assert!(
        mismatched < 96 * 96 / 100,
        "{mismatched} pixels differ from the mirror image"
    );
}

#[test]
fn empty_space_skipping_leaves_the_image_unchanged() {
    let gpu = gpu();
    let phantom = ct_phantom([70, 60, 30], [0.8, 0.8, 2.0], 20.0);
    let mean_spacing = Geometry::of(&phantom).mean_spacing();
    for preset in ["gradvol-CT-Bone-Surface", "CT-AAA", "CT-Lung"] {
        let tf = presets::preset(preset, mean_spacing).unwrap();
        let camera = Camera {
            azimuth_deg: 40.0,
            elevation_deg: -20.0,
            ..Camera::default()
        };
        let mut s = settings(96);
        let skipped = render(&gpu, &phantom, &tf, &camera, &s);
        s.skip_empty_space = false;
        let full = render(&gpu, &phantom, &tf, &camera, &s);
        let (worst, mean, _) = compare(&skipped, &full);
        assert!(
            worst <= 2 && mean < 0.01,
            "{preset}: worst {worst}, mean {mean}"
        );
    }
}

#[test]
fn resident_gpu_gradient_renders_as_the_host_gradient_does() {
    // The GPU path hands the compute pass's texture to the raymarcher with no host copy; the
    // CPU path uploads the CPU operator's values. Both must give the same picture, for every
    // operator (float32 vs float64 accumulation aside).
    let gpu = gpu();
    let phantom = ct_phantom([40, 36, 18], [0.9, 0.9, 2.0], 15.0);
    let tf = presets::preset("gradvol-CT-Bone-Surface", 1.5).unwrap();
    let camera = Camera {
        azimuth_deg: 30.0,
        elevation_deg: 15.0,
        ..Camera::default()
    };
    for operator in [
        Operator::Central,
        Operator::Sobel,
        Operator::Gaussian { sigma_mm: 1.5 },
    ] {
        let mut s = settings(96);
        s.gradient = operator;
        let image = |on_gpu: bool| {
            let mut r = Renderer::new(&gpu, &phantom, &tf).unwrap();
            r.prepare_on(&gpu, &phantom, &s, on_gpu).unwrap();
            let device = &r.last_gradient.as_ref().unwrap().device;
            assert_eq!(device.starts_with("gpu"), on_gpu, "{device}");
            r.render_image(&gpu, &camera, &s).unwrap()
        };
        let (resident, host) = (image(true), image(false));
        let (max, mean, _) = compare(&resident, &host);
        assert!(
            max <= 2 && mean < 0.05,
            "{operator}: max {max}, mean {mean}"
        );
        assert!(
            resident.rgba.chunks_exact(4).any(|p| p[3] > 100),
            "{operator}: the phantom's bone shows"
        );
    }
}

#[test]
fn accumulated_frames_converge_to_the_fine_sampled_image() {
    // A CT phantom through the bone-surface preset, sampled at four voxels a step: one jittered
    // frame is noisy; the average of 32 frames with shifted jitter must come closer to the image
    // at a sixteenth of that distance (measured on lavapipe: mean error 4.48 -> 2.81 in 1/255;
    // what remains is the coarse steps' bias, which averaging does not remove; a broken shift
    // would leave the error where it was). And the accumulation `render` does in tiles is the
    // running average of the frames the viewer draws one by one, pixel for pixel.
    let gpu = gpu();
    let phantom = ct_phantom([48, 48, 40], [1.0, 1.0, 1.0], 15.0);
    let tf = presets::preset("gradvol-CT-Bone-Surface", 1.0).unwrap();
    let camera = Camera {
        azimuth_deg: 30.0,
        elevation_deg: 15.0,
        ..Camera::default()
    };
    let mut fine = settings(96);
    fine.jitter = false;
    fine.sample_distance_mm = Some(0.25);
    let mut r = Renderer::new(&gpu, &phantom, &tf).unwrap();
    r.prepare(&gpu, &phantom, &fine).unwrap();
    let truth = r.render_image(&gpu, &camera, &fine).unwrap();

    let mut coarse = settings(96);
    coarse.sample_distance_mm = Some(4.0);
    let one = r.render_image(&gpu, &camera, &coarse).unwrap();
    coarse.accumulate = 32;
    let many = r.render_image(&gpu, &camera, &coarse).unwrap();
    let (_, one_error, _) = compare(&one, &truth);
    let (_, many_error, _) = compare(&many, &truth);
    eprintln!("mean error vs 0.25 mm: 1 frame {one_error:.2}, 32 frames {many_error:.2} (1/255)");
    assert!(
        many_error < 0.75 * one_error,
        "accumulation did not converge: {one_error:.2} -> {many_error:.2}"
    );
    // Frame 0 is the plain image; the viewer's frames average to render's tiles exactly.
    coarse.accumulate = 1;
    assert!(r.render_frame(&gpu, &camera, &coarse, 0).unwrap() == one);
    let mut sum = Accumulator::new(96, 96, false);
    for k in 0..32 {
        sum.add(&r.render_frame(&gpu, &camera, &coarse, k).unwrap().rgba);
    }
    assert!(
        sum.average() == many.rgba,
        "viewer and render accumulate differently"
    );
    // Every frame of the accumulation matches the CPU reference with its shift.
    let frame = r.render_frame(&gpu, &camera, &coarse, 5).unwrap();
    let mut params_settings = coarse.clone();
    params_settings.accumulate = 1;
    let expected = reference_frame(&r, &phantom, &camera, &params_settings, 5);
    let (worst, mean, over) = compare(&frame, &expected);
    assert!(
        mean < 0.5 && over < 0.01,
        "frame 5 vs the CPU reference: worst {worst}, mean {mean:.3}, over {over:.4}"
    );
}
