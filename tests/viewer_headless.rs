//! The viewer's parts that need no window. Picking, the hover readout: the CPU ray of a pixel
//! finds the sample the image shows, on a ball whose surface position is known. Screenshot
//! export: size, transparency, and the scene in and beside the PNG.

use glam::Vec2;
use gradvol::camera::{Camera, View};
use gradvol::gradient::{Operator, cpu};
use gradvol::render::layout::BrickLayout;
use gradvol::render::params::{Geometry, PoolParams, Tile, raymarch_params};
use gradvol::render::quantise::Quantisation;
use gradvol::render::table::ClassTable;
use gradvol::scene::{Blend, RenderSettings};
use gradvol::tf::TransferFunction;
use gradvol::viewer::pick::pick;
use gradvol::volume::synthetic::sphere;

/// A 64^3 ball of radius 16 voxels (1 mm spacing), opaque from value 0.5 up.
fn setup(
    blend: Blend,
) -> (
    gradvol::volume::Volume,
    Vec<f32>,
    TransferFunction,
    RenderSettings,
) {
    let volume = sphere(64, 0.5);
    let gradient = cpu::gradient_magnitude(&volume, Operator::Central);
    let mut tf = TransferFunction::default_for_range([0.0, 1.0]);
    tf.scalar_opacity = vec![[0.0, 0.0], [0.499, 0.0], [0.5, 1.0], [1.0, 1.0]];
    let settings = RenderSettings {
        size: [101, 101],
        blend,
        jitter: false,
        ..RenderSettings::default()
    };
    (volume, gradient, tf, settings)
}

fn params(
    volume: &gradvol::volume::Volume,
    camera: &Camera,
    tf: &TransferFunction,
    settings: &RenderSettings,
) -> gradvol::render::params::RaymarchParams {
    let tile = Tile {
        image_size: settings.size,
        offset: [0, 0],
    };
    // Picking reads the ray and the sample distance; the pool's figures do not matter here.
    let quantisation = Quantisation::new(volume.range, 1.0);
    let pool = PoolParams {
        layout: BrickLayout::new(volume.dims, volume.spacing, None),
        quantisation,
        pool_texels: [33; 3],
    };
    raymarch_params(
        &Geometry::of(volume),
        &pool,
        camera,
        settings,
        tf,
        &ClassTable::bake(tf, &quantisation, 1.0),
        tile,
    )
}

#[test]
fn the_centre_pixel_picks_the_front_of_the_ball() {
    let (volume, gradient, tf, settings) = setup(Blend::Composite);
    let camera = Camera {
        view: View::Anterior,
        orthographic: true,
        ..Camera::default()
    };
    let params = params(&volume, &camera, &tf, &settings);
    let hit = pick(
        &params,
        &volume,
        &gradient,
        &tf,
        Blend::Composite,
        Vec2::new(50.5, 50.5),
    )
    .expect("the centre ray hits the ball");
    // Voxel centres are at (i + 0.5) / 32 - 1 in -1..1 units: the centre is 31.5 and the
    // surface 16 voxels in front of it, towards the anterior camera (-y in LPS).
    assert!((hit.voxel.x - 31.5).abs() < 0.75, "{hit:?}");
    assert!((hit.voxel.z - 31.5).abs() < 0.75, "{hit:?}");
    assert!((hit.voxel.y - 15.5).abs() < 1.5, "{hit:?}");
    assert!(hit.value >= 0.45, "{hit:?}");
    // The smoothed edge rises by 1 over about one voxel: |grad f| near 0.5 per mm there.
    assert!(hit.gradient > 0.2 && hit.gradient < 1.0, "{hit:?}");

    // A corner ray misses the ball and stays transparent.
    assert_eq!(
        pick(
            &params,
            &volume,
            &gradient,
            &tf,
            Blend::Composite,
            Vec2::new(2.0, 2.0)
        ),
        None
    );
}

#[test]
fn maximum_intensity_picks_the_brightest_sample() {
    let (volume, gradient, tf, settings) = setup(Blend::Maximum);
    let params = params(&volume, &Camera::default(), &tf, &settings);
    let hit = pick(
        &params,
        &volume,
        &gradient,
        &tf,
        Blend::Maximum,
        Vec2::new(50.5, 50.5),
    )
    .unwrap();
    assert!((hit.value - 1.0).abs() < 1e-6, "{hit:?}");
    // Of the many samples at the maximum, the nearest to the (anterior) camera.
    assert!((hit.voxel.y - 17.0).abs() < 2.0, "{hit:?}");
}

/// The viewer's screenshot export: any size, transparent, through the renderer, with the scene
/// in the PNG and beside it.
#[test]
fn screenshots_export_at_any_size_with_their_scene() {
    use gradvol::gpu::Gpu;
    use gradvol::png_io::{read_png, read_scene};
    use gradvol::render::renderer::Renderer;
    use gradvol::scene::Scene;
    use gradvol::viewer::export_screenshot;

    let (volume, _, tf, _) = setup(Blend::Composite);
    let gpu = Gpu::new().unwrap();
    let mut renderer = Renderer::new(&gpu, &volume, &tf).unwrap();
    let mut scene = Scene {
        transfer_function: Some(tf),
        ..Scene::default()
    };
    scene.render.size = [320, 96];
    scene.render.transparent = true;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shot.png");
    export_screenshot(&gpu, &mut renderer, &scene, &path).unwrap();
    let image = read_png(&path).unwrap();
    assert_eq!((image.width, image.height), (320, 96));
    let alphas: Vec<u8> = image.rgba.chunks_exact(4).map(|p| p[3]).collect();
    assert_eq!(alphas[0], 0, "a corner outside the ball is transparent");
    assert_eq!(alphas[48 * 320 + 160], 255, "the ball's centre is opaque");
    let beside = std::fs::read_to_string(path.with_extension("json")).unwrap();
    assert_eq!(Scene::from_json(&beside).unwrap(), scene);
    assert_eq!(
        Scene::from_json(&read_scene(&path).unwrap()).unwrap(),
        scene
    );
    // Not a PNG name: refused, nothing written.
    let bad = dir.path().join("other.jpg");
    assert!(export_screenshot(&gpu, &mut renderer, &scene, &bad).is_err());
    assert!(!bad.exists() && !bad.with_extension("json").exists());
}
