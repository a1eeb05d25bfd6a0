//! The compact bricked volume on the GPU: empty-space skipping changes no pixel, bricks of any
//! size and a folded pool join without seams, awkward volumes (odd sizes, one voxel thick,
//! constant, NaN) render as the unbricked CPU reference says, a transfer-function edit
//! re-classifies at once, and 16-bit storage looks like float32 storage on the real CT and MRI.

mod common;

use common::render::{compare, gpu, lit, reference_image, renderer, settings, volume};
use common::sample_data_dir;
use gradvol::camera::Camera;
use gradvol::gpu::Gpu;
use gradvol::render::params::Geometry;
use gradvol::render::quantise::PoolFormat;
use gradvol::render::renderer::{Image, Renderer, RendererOptions};
use gradvol::scene::RenderSettings;
use gradvol::tf::{Shading, TransferFunction, presets};
use gradvol::volume::synthetic::{ct_phantom, marschner_lobb};
use gradvol::volume::{LoadOptions, Volume};

fn turned() -> Camera {
    Camera {
        azimuth_deg: 35.0,
        elevation_deg: -20.0,
        ..Camera::default()
    }
}

fn image(
    gpu: &Gpu,
    volume: &Volume,
    tf: &TransferFunction,
    settings: &RenderSettings,
    options: RendererOptions,
) -> (Image, Renderer) {
    let mut r = renderer(gpu, volume, tf, settings, options);
    let image = r.render_image(gpu, &turned(), settings).unwrap();
    (image, r)
}

/// The GPU image matches the CPU reference of the same renderer: the tolerance of the
/// renderer's reference tests (mean under 0.5/255, under 1% of channels off by more than 4).
fn assert_matches_reference(
    name: &str,
    gpu: &Gpu,
    volume: &Volume,
    tf: &TransferFunction,
    settings: &RenderSettings,
    options: RendererOptions,
) -> Image {
    let (got, r) = image(gpu, volume, tf, settings, options);
    let want = reference_image(&r, volume, &turned(), settings);
    let (worst, mean, over) = compare(&got, &want);
    assert!(
        mean < 0.5 && over < 0.01,
        "{name}: worst {worst}/255, mean {mean:.3}/255, {:.2}% of channels off by more than 4",
        100.0 * over
    );
    got
}

fn bone_tf(volume: &Volume) -> TransferFunction {
    presets::preset(
        "gradvol-CT-Bone-Surface",
        Geometry::of(volume).mean_spacing(),
    )
    .unwrap()
}

#[test]
fn bricks_of_every_size_and_a_folded_pool_join_without_seams() {
    let gpu = gpu();
    // Features (bone, vessels, lungs) cross the bricks' borders at every size below.
    let phantom = ct_phantom([70, 61, 29], [0.8, 0.8, 2.0], 15.0);
    let tf = bone_tf(&phantom);
    let s = settings(96);
    let mut images = Vec::new();
    for (name, options) in [
        ("bricks of 4", Some(4), None),
        ("bricks of 8", Some(8), None),
        ("bricks of 16", Some(16), None),
        ("bricks chosen per axis", None, None),
        (
            "bricks of 8, pool folded to 88 texels a side",
            Some(8),
            Some(88),
        ),
    ]
    .map(|(name, brick, max_pool_side)| {
        (
            name,
            RendererOptions {
                brick,
                max_pool_side,
                ..RendererOptions::default()
            },
        )
    }) {
        images.push(assert_matches_reference(
            name, &gpu, &phantom, &tf, &s, options,
        ));
    }
    // The folded pool really is folded: 9 bricks along x, 8 slots of 11 texels per axis.
    let folded = renderer(
        &gpu,
        &phantom,
        &tf,
        &s,
        RendererOptions {
            brick: Some(8),
            max_pool_side: Some(88),
            ..RendererOptions::default()
        },
    );
    assert_eq!(folded.layout().bricks[0], 9);
    assert!(
        folded.pool_grid().iter().all(|&g| g <= 8),
        "{:?}",
        folded.pool_grid()
    );
    for other in &images[1..] {
        let (worst, mean, _) = compare(&images[0], other);
        assert!(
            worst <= 4 && mean < 0.05,
            "brick sizes disagree: {worst}, {mean}"
        );
    }
    assert!(lit(&images[0]) > 1000, "the phantom shows");
}

#[test]
fn awkward_volumes_render_as_the_reference_says() {
    let gpu = gpu();
    let s = settings(64);
    let options = RendererOptions {
        brick: Some(8),
        ..RendererOptions::default()
    };
    let ramp_tf = |range: [f64; 2]| {
        let mut tf = TransferFunction::default_for_range(range);
        tf.scalar_opacity = vec![[range[0], 0.0], [range[1], 0.6]];
        tf.shading = Shading::default();
        tf
    };
    // Sizes that are no multiple of the brick; the Marschner-Lobb field is smooth but busy.
    let odd = marschner_lobb(37);
    assert_matches_reference("37^3", &gpu, &odd, &ramp_tf(odd.range), &s, options);
    // One voxel thick along z.
    let sheet = volume([40, 30, 1], [1.0; 3], |[x, y, _]| ((x + y) % 9) as f32);
    let sheet_image = assert_matches_reference(
        "one voxel thick",
        &gpu,
        &sheet,
        &ramp_tf([0.0, 8.0]),
        &s,
        options,
    );
    assert!(lit(&sheet_image) > 100, "the sheet shows");
    // A constant volume: every sample has the one value and no gradient.
    let constant = volume([20, 20, 20], [1.0; 3], |_| 7.0);
    let flat = TransferFunction {
        scalar_opacity: vec![[0.0, 0.2], [10.0, 0.2]],
        ..ramp_tf([0.0, 10.0])
    };
    let constant_image = assert_matches_reference("constant", &gpu, &constant, &flat, &s, options);
    assert!(lit(&constant_image) > 500);
    // NaN voxels are "no data": stored as the lowest value, which this TF leaves transparent,
    // so the NaN slab is a hole and nothing else changes.
    let nan = |[x, y, z]: [usize; 3]| {
        if (8..12).contains(&z) {
            f32::NAN
        } else {
            1.0 + ((x * y) % 5) as f32
        }
    };
    let holed = volume([20, 20, 20], [1.0; 3], nan);
    assert_eq!(holed.range, [1.0, 5.0]);
    let tf = TransferFunction {
        scalar_opacity: vec![[1.0, 0.0], [1.5, 0.0], [2.0, 0.5], [5.0, 0.5]],
        ..ramp_tf([1.0, 5.0])
    };
    let holed_image = assert_matches_reference("NaN voxels", &gpu, &holed, &tf, &s, options);
    let filled = volume([20, 20, 20], [1.0; 3], |p| {
        let v = nan(p);
        if v.is_nan() { 1.0 } else { v }
    });
    let (filled_image, _) = image(&gpu, &filled, &tf, &s, options);
    let (worst, mean, _) = compare(&holed_image, &filled_image);
    assert!(
        worst <= 2 && mean < 0.01,
        "NaN as the lowest value: {worst}, {mean}"
    );
}

#[test]
fn skipping_changes_nothing_for_ramps_steps_and_narrow_windows() {
    let gpu = gpu();
    let phantom = ct_phantom([60, 52, 26], [0.9, 0.9, 2.2], 20.0);
    let ramp = bone_tf(&phantom);
    let step = TransferFunction {
        scalar_opacity: vec![[-1024.0, 0.0], [299.9, 0.0], [300.0, 0.8], [3071.0, 0.8]],
        gradient_opacity: vec![[0.0, 1.0]],
        ..ramp.clone()
    };
    let window = TransferFunction {
        scalar_opacity: vec![[-1024.0, 0.0], [140.0, 0.0], [150.0, 0.7], [160.0, 0.0]],
        gradient_opacity: vec![[0.0, 0.0], [20.0, 1.0]],
        ..ramp.clone()
    };
    for (name, tf) in [("ramp", &ramp), ("step", &step), ("window", &window)] {
        let mut s = settings(80);
        let (skipped, r) = image(&gpu, &phantom, tf, &s, RendererOptions::default());
        let empty = r.classification().blocks_empty;
        assert!(empty > 0, "{name}: some blocks are empty");
        s.skip_empty_space = false;
        let (full, _) = image(&gpu, &phantom, tf, &s, RendererOptions::default());
        assert!(skipped == full, "{name}: skipping changed the image");
    }
}

#[test]
fn skipping_changes_nothing_on_the_real_ct_and_mri() {
    let gpu = gpu();
    for (file, preset) in [
        ("lung1_image.nrrd", "gradvol-CT-Bone-Surface"),
        ("ch2.nii.gz", "gradvol-MR-Boundaries"),
    ] {
        let path = sample_data_dir().join(file);
        let volume = gradvol::volume::load(&path, &LoadOptions::default())
            .unwrap_or_else(|e| panic!("{e}: run scripts/fetch-sample-data.sh"));
        let tf = presets::preset(preset, Geometry::of(&volume).mean_spacing()).unwrap();
        let mut s = settings(96);
        let (skipped, r) = image(&gpu, &volume, &tf, &s, RendererOptions::default());
        assert!(
            r.classification().blocks_empty > 0,
            "{file}: blocks skipped"
        );
        s.skip_empty_space = false;
        let (full, _) = image(&gpu, &volume, &tf, &s, RendererOptions::default());
        assert!(skipped == full, "{file}: skipping changed the image");
        assert!(lit(&full) > 1000, "{file}: the volume shows");
    }
}

#[test]
fn the_gradient_curve_alone_can_empty_blocks() {
    let gpu = gpu();
    // Two uniform slabs of different values: every voxel has scalar opacity, but |grad f| is 0
    // everywhere except at the boundary between them.
    let slabs = volume(
        [40, 40, 40],
        [1.0; 3],
        |[x, _, _]| if x < 20 { 1.0 } else { 2.0 },
    );
    let opaque = TransferFunction {
        scalar_opacity: vec![[0.0, 0.3], [3.0, 0.3]],
        color: vec![[0.0, 1.0, 0.8, 0.6]],
        gradient_opacity: vec![[0.0, 1.0]],
        shading: Shading::default(),
        unit_distance_mm: 1.0,
        effective_range: None,
        interpolation: None,
        tf2d: None,
    };
    let edges_only = TransferFunction {
        gradient_opacity: vec![[0.0, 0.0], [0.1, 0.0], [0.3, 1.0]],
        ..opaque.clone()
    };
    let mut s = settings(64);
    let (_, r) = image(&gpu, &slabs, &opaque, &s, RendererOptions::default());
    assert_eq!(
        r.classification().blocks_empty,
        0,
        "scalar opacity everywhere"
    );
    let (skipped, r) = image(&gpu, &slabs, &edges_only, &s, RendererOptions::default());
    let report = r.report();
    assert!(
        report.blocks_empty * 10 >= report.blocks * 8,
        "the gradient ramp empties the uniform blocks: {} of {}",
        report.blocks_empty,
        report.blocks
    );
    assert!(lit(&skipped) > 300, "the boundary shows");
    s.skip_empty_space = false;
    let (full, _) = image(&gpu, &slabs, &edges_only, &s, RendererOptions::default());
    assert!(skipped == full, "skipping changed the image");
}

#[test]
fn a_transfer_function_edit_shows_an_empty_block_on_the_next_frame() {
    let gpu = gpu();
    let phantom = ct_phantom([48, 44, 22], [1.0, 1.0, 2.0], 10.0);
    let bone = bone_tf(&phantom);
    // Soft tissue only: blocks of pure bone or air are empty.
    let soft = TransferFunction {
        scalar_opacity: vec![[-1024.0, 0.0], [-50.0, 0.0], [0.0, 0.3], [80.0, 0.0]],
        gradient_opacity: vec![[0.0, 1.0]],
        ..bone.clone()
    };
    let s = settings(64);
    let mut r = renderer(&gpu, &phantom, &bone, &s, RendererOptions::default());
    let before = r.classification().clone();
    r.render_image(&gpu, &turned(), &s).unwrap();
    r.set_transfer_function(&gpu, &soft);
    let after = r.classification().clone();
    assert!(
        before
            .occupancy
            .iter()
            .zip(&after.occupancy)
            .any(|(b, a)| *b == 0 && *a == 1),
        "a block empty for bone shows soft tissue"
    );
    let edited = r.render_image(&gpu, &turned(), &s).unwrap();
    let (fresh, _) = image(&gpu, &phantom, &soft, &s, RendererOptions::default());
    assert!(edited == fresh, "the edit reaches the next frame whole");
}

/// The real CT and MRI with their gradient-opacity presets at 128x128, 16-bit pool against a
/// float32 pool of the same normalised values: what quantisation alone changes.
#[test]
fn sixteen_bits_look_like_float32_on_the_real_ct_and_mri() {
    let gpu = gpu();
    let cases = [
        ("lung1_image.nrrd", "gradvol-CT-Bone-Surface"),
        ("ch2.nii.gz", "gradvol-MR-Boundaries"),
    ];
    for (file, preset) in cases {
        let path = sample_data_dir().join(file);
        let volume = gradvol::volume::load(&path, &LoadOptions::default())
            .unwrap_or_else(|e| panic!("{e}: run scripts/fetch-sample-data.sh"));
        let tf = presets::preset(preset, Geometry::of(&volume).mean_spacing()).unwrap();
        let s = RenderSettings {
            size: [128, 128],
            ..RenderSettings::default()
        };
        let render = |format| {
            let options = RendererOptions {
                format: Some(format),
                ..RendererOptions::default()
            };
            image(&gpu, &volume, &tf, &s, options).0
        };
        let (compact, float) = (render(PoolFormat::Unorm16), render(PoolFormat::Float32));
        let (worst, mean, over) = compare(&compact, &float);
        eprintln!(
            "{file}: 16-bit vs float32 pool: worst {worst}/255, mean {mean:.4}/255, \
             {:.4}% of channels over 4/255",
            100.0 * over
        );
        // Stated tolerance: no channel off by more than 2/255, mean under 0.01/255 (a level
        // of 16 bits is 0.06 HU on the CT, 0.004 on the MRI; measured: 1/255 and 0.0006).
        assert!(
            worst <= 2 && mean < 0.01,
            "{file}: worst {worst}/255, mean {mean:.3}/255, {:.3}% over 4/255",
            100.0 * over
        );
        assert!(lit(&compact) > 2000, "{file}: the volume shows");
    }
}
