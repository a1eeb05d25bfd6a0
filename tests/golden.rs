//! Golden images: synthetic volumes rendered on the software adapter and compared with small
//! references in tests/golden/.
//!
//! Tolerance: the mean absolute difference over all channels must stay under 1/255, and fewer
//! than 0.5% of pixels may differ by more than 16/255 in any channel (jittered edges and
//! filtering round differently across drivers). On failure the render and a difference image
//! are written to target/golden/. `UPDATE_GOLDEN=1` rewrites the references; a missing
//! reference fails when `CI` is set and is written otherwise.

use std::path::{Path, PathBuf};

use gradvol::camera::{Camera, View};
use gradvol::gpu::Gpu;
use gradvol::png_io::{read_png, write_png};
use gradvol::render::params::Geometry;
use gradvol::render::renderer::{Image, Renderer};
use gradvol::scene::RenderSettings;
use gradvol::tf::{Shading, TransferFunction, presets};
use gradvol::volume::Volume;
use gradvol::volume::synthetic::{ct_phantom, marschner_lobb, sphere};

const MEAN_LIMIT: f64 = 1.0;
const PIXEL_LIMIT: u8 = 16;
const PIXEL_FRACTION: f64 = 0.005;

/// How two images differ: mean absolute channel difference (in 1/255) and the fraction of
/// pixels with a channel off by more than [`PIXEL_LIMIT`].
#[derive(Debug)]
struct Difference {
    mean: f64,
    fraction: f64,
}

impl Difference {
    fn of(a: &Image, b: &Image) -> Option<Difference> {
        if (a.width, a.height) != (b.width, b.height) {
            return None;
        }
        let mut sum = 0u64;
        let mut bad = 0usize;
        for (p, q) in a.rgba.chunks(4).zip(b.rgba.chunks(4)) {
            let d: Vec<u8> = p.iter().zip(q).map(|(x, y)| x.abs_diff(*y)).collect();
            sum += d.iter().map(|&v| v as u64).sum::<u64>();
            bad += usize::from(d.iter().any(|&v| v > PIXEL_LIMIT));
        }
        Some(Difference {
            mean: sum as f64 / a.rgba.len() as f64,
            fraction: bad as f64 / (a.rgba.len() / 4) as f64,
        })
    }

    fn acceptable(&self) -> bool {
        self.mean < MEAN_LIMIT && self.fraction < PIXEL_FRACTION
    }
}

fn diff_image(a: &Image, b: &Image) -> Image {
    let rgba = a
        .rgba
        .chunks(4)
        .zip(b.rgba.chunks(4))
        .flat_map(|(p, q)| {
            let d = p.iter().zip(q).map(|(x, y)| x.abs_diff(*y)).max().unwrap();
            [d.saturating_mul(8), 0, 0, 255]
        })
        .collect();
    Image {
        width: a.width,
        height: a.height,
        rgba,
    }
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Compares `actual` with tests/golden/`name`.png as the module's doc says.
fn check_golden(name: &str, actual: &Image) {
    let reference = golden_dir().join(format!("{name}.png"));
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    if update || !reference.exists() {
        assert!(
            update || std::env::var_os("CI").is_none(),
            "the golden reference {} is missing; run with UPDATE_GOLDEN=1 to create it",
            reference.display()
        );
        std::fs::create_dir_all(golden_dir()).unwrap();
        write_png(&reference, actual, "{}").unwrap();
        eprintln!("wrote {}", reference.display());
        return;
    }
    let expected = read_png(&reference).unwrap();
    let difference = Difference::of(actual, &expected);
    if let Some(d) = &difference
        && d.acceptable()
    {
        return;
    }
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/golden");
    std::fs::create_dir_all(&out).unwrap();
    write_png(&out.join(format!("{name}.actual.png")), actual, "{}").unwrap();
    if difference.is_some() {
        write_png(
            &out.join(format!("{name}.diff.png")),
            &diff_image(actual, &expected),
            "{}",
        )
        .unwrap();
    }
    panic!(
        "{name} differs from its golden image: {difference:?} (limits: mean < {MEAN_LIMIT}/255, \
         < {:.1}% of pixels off by more than {PIXEL_LIMIT}/255); see {}",
        100.0 * PIXEL_FRACTION,
        out.display()
    );
}

fn gpu() -> Gpu {
    Gpu::new().unwrap_or_else(|e| panic!("{e}"))
}

fn render(gpu: &Gpu, volume: &Volume, tf: &TransferFunction, camera: &Camera) -> Image {
    let settings = RenderSettings {
        size: [128, 128],
        background: [0.1, 0.1, 0.15],
        ..RenderSettings::default()
    };
    let mut r = Renderer::new(gpu, volume, tf).unwrap();
    r.prepare(gpu, volume, &settings).unwrap();
    r.render_image(gpu, camera, &settings).unwrap()
}

fn sphere_scene() -> (Volume, TransferFunction, Camera) {
    let tf = TransferFunction {
        scalar_opacity: vec![[0.0, 0.0], [0.3, 0.0], [0.6, 0.6], [1.0, 0.9]],
        color: vec![[0.0, 0.9, 0.4, 0.2], [1.0, 0.9, 0.8, 0.6]],
        gradient_opacity: vec![[0.0, 1.0]],
        shading: Shading::default(),
        unit_distance_mm: 1.0,
        effective_range: None,
        interpolation: None,
        tf2d: None,
    };
    let camera = Camera {
        azimuth_deg: 25.0,
        elevation_deg: 15.0,
        ..Camera::default()
    };
    (sphere(48, 0.7), tf, camera)
}

#[test]
fn golden_sphere() {
    let (volume, tf, camera) = sphere_scene();
    check_golden("sphere", &render(&gpu(), &volume, &tf, &camera));
}

#[test]
fn golden_marschner_lobb() {
    let volume = marschner_lobb(41);
    let mut tf = TransferFunction::default_for_range([0.0, 1.0]);
    tf.scalar_opacity = vec![[0.0, 0.0], [0.45, 0.0], [0.5, 0.8], [1.0, 0.8]];
    let camera = Camera {
        elevation_deg: 30.0,
        azimuth_deg: 10.0,
        ..Camera::default()
    };
    check_golden("marschner_lobb", &render(&gpu(), &volume, &tf, &camera));
}

#[test]
fn golden_ct_phantom_with_gradient_opacity() {
    let volume = ct_phantom([64, 56, 32], [1.0, 1.0, 2.0], 20.0);
    let tf = presets::preset(
        "gradvol-CT-Bone-Surface",
        Geometry::of(&volume).mean_spacing(),
    )
    .unwrap();
    let camera = Camera {
        view: View::Left,
        azimuth_deg: -35.0,
        elevation_deg: 10.0,
        ..Camera::default()
    };
    check_golden("ct_phantom_bone", &render(&gpu(), &volume, &tf, &camera));
}

#[test]
fn the_comparison_fails_on_a_different_image() {
    let (volume, tf, camera) = sphere_scene();
    let gpu = gpu();
    let a = render(&gpu, &volume, &tf, &camera);
    let turned = Camera {
        azimuth_deg: camera.azimuth_deg + 40.0,
        ..camera
    };
    let mut brighter = tf.clone();
    brighter.color = vec![[0.0, 1.0, 1.0, 1.0]];
    let b = render(&gpu, &volume, &brighter, &turned);
    assert!(!Difference::of(&a, &b).unwrap().acceptable());
    assert!(Difference::of(&a, &a).unwrap().acceptable());
    let smaller = Image {
        width: 1,
        height: 1,
        rgba: vec![0; 4],
    };
    assert!(Difference::of(&a, &smaller).is_none());
}
