//! Two-dimensional transfer functions: the table is the widgets evaluated at its texel centres
//! on every axis warp, in any widget order; on a blurred sphere with an analytic profile a hard
//! box selects exactly the voxels its rule selects, in the boundary shell or the interior as
//! drawn, and the joint histogram's ridge is the analytic arch; the GPU draws the table as the
//! CPU reference does; a full-height box with the curves multiplied in draws the 1-D image;
//! skipping never drops a visible voxel; bad files are refused by the CLI, naming the widget.

mod common;

use std::path::Path;

use common::Rng;
use common::render::{compare, gpu, lit, reference_image, renderer, settings, volume};
use gradvol::camera::Camera;
use gradvol::gradient::stats::GradientStats;
use gradvol::gradient::{Operator, cpu};
use gradvol::render::params::Geometry;
use gradvol::render::quantise::Quantisation;
use gradvol::render::renderer::RendererOptions;
use gradvol::render::table::ClassTable;
use gradvol::tf::tf2d::{Curves, Shape, Tf2d, Warp, Widget, WidgetColor};
use gradvol::tf::{TransferFunction, presets};
use gradvol::volume::Volume;
use gradvol::volume::synthetic::ct_phantom;
use half::f16;

/// erf by Abramowitz and Stegun 7.1.26 (absolute error under 1.5e-7).
fn erf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let y = 1.0 - poly * (-x * x).exp();
    if x < 0.0 { -y } else { y }
}

/// The blurred sphere: `inside` within radius `r0` (voxels of 1 mm), `outside` beyond, the step
/// blurred by a Gaussian of `sigma` mm: f(r) = outside + (inside - outside) erfc((r - r0) /
/// (sigma sqrt 2)) / 2.
struct Sphere {
    n: usize,
    r0: f64,
    sigma: f64,
    outside: f64,
    inside: f64,
}

impl Sphere {
    fn standard() -> Sphere {
        Sphere {
            n: 64,
            r0: 20.0,
            sigma: 2.0,
            outside: 0.0,
            inside: 1000.0,
        }
    }

    fn radius(&self, [x, y, z]: [usize; 3]) -> f64 {
        let c = (self.n as f64 - 1.0) / 2.0;
        ((x as f64 - c).powi(2) + (y as f64 - c).powi(2) + (z as f64 - c).powi(2)).sqrt()
    }

    fn value_at(&self, r: f64) -> f64 {
        let x = (r - self.r0) / (self.sigma * std::f64::consts::SQRT_2);
        self.outside + (self.inside - self.outside) * 0.5 * (1.0 - erf(x))
    }

    /// |grad f| at distance x from the boundary's centre.
    fn gradient_at(&self, x: f64) -> f64 {
        let peak =
            (self.inside - self.outside) / (self.sigma * (2.0 * std::f64::consts::PI).sqrt());
        peak * (-x * x / (2.0 * self.sigma * self.sigma)).exp()
    }

    fn peak(&self) -> f64 {
        self.gradient_at(0.0)
    }

    fn volume(&self) -> Volume {
        volume([self.n; 3], [1.0; 3], |p| {
            self.value_at(self.radius(p)) as f32
        })
    }
}

fn with_widgets(widgets: Vec<Widget>, warp: Warp, raster: [usize; 2]) -> TransferFunction {
    let mut tf = TransferFunction::from_json(
        r#"{"scalar_opacity": [[-1e6, 1], [1e6, 1]], "color": [[-1e6, 1, 1, 1], [1e6, 1, 1, 1]]}"#,
    )
    .unwrap();
    tf.tf2d = Some(Tf2d {
        gradient: Operator::Central,
        gradient_axis: warp,
        raster,
        base: false,
        widgets,
    });
    tf
}

fn hard_box(value: [f64; 2], gradient: [f64; 2]) -> Widget {
    Widget::new(Shape::Box {
        value,
        gradient,
        falloff: [0.0; 2],
    })
}

fn random_widget(rng: &mut Rng, values: [f64; 2], g_max: f64) -> Widget {
    let [lo, hi] = values;
    let v = |rng: &mut Rng| lo + (hi - lo) * rng.unit();
    let shape = match rng.next_u64() % 3 {
        0 => {
            let (a, b) = (v(rng), v(rng));
            let (g0, g1) = (g_max * rng.unit(), g_max * rng.unit());
            Shape::Box {
                value: [a.min(b), a.max(b)],
                gradient: [g0.min(g1), g0.max(g1)],
                falloff: [(hi - lo) * 0.05 * rng.unit(), 0.0],
            }
        }
        1 => Shape::Triangle {
            apex: v(rng),
            top: g_max * (0.1 + rng.unit()),
            width: (hi - lo) * (0.05 + 0.5 * rng.unit()),
            bottom: g_max * 0.05 * rng.unit(),
        },
        _ => Shape::Gaussian {
            center: [v(rng), g_max * rng.unit()],
            sigma: [
                (hi - lo) * 0.05 * (0.1 + rng.unit()),
                g_max * 0.1 * (0.1 + rng.unit()),
            ],
        },
    };
    let mut w = Widget::new(shape);
    w.opacity = 0.2 + 0.8 * rng.unit();
    if rng.next_u64().is_multiple_of(2) {
        w.color = WidgetColor::Rgb([rng.unit(), rng.unit(), rng.unit()]);
        w.curves = Curves::Ignore;
    }
    w
}

#[test]
fn the_table_is_the_widgets_at_its_texel_centres_and_lookups_land_on_them() {
    let mut rng = Rng(0x2d7f_1e0b_77aa_3c11);
    let q = Quantisation::new([-100.0, 300.0], 50.0);
    for warp in Warp::ALL {
        for ratio in [1.0, 0.4] {
            let widgets = (0..4).map(|_| random_widget(&mut rng, [-100.0, 300.0], 50.0));
            let mut tf = with_widgets(widgets.collect(), warp, [300, 120]);
            tf.scalar_opacity = vec![[-100.0, 0.2], [300.0, 1.0]];
            let table = ClassTable::bake(&tf, &q, ratio);
            assert_eq!([table.columns, table.rows], [300, 120]);
            let [scale, offset] = table.value_mapping(&q);
            let rows = table.gradient_mapping(&q);
            let mut visible = 0;
            for j in (0..120).step_by(7) {
                for i in (0..300).step_by(5) {
                    // The centres, computed here from the axis definitions.
                    let v = -100.0 + 400.0 * i as f64 / 299.0;
                    let g = 50.0 * warp.inverse(j as f64 / 119.0);
                    let [r, gr, b, a] = tf.rgba_at(v, g);
                    let corrected = 1.0 - (1.0 - a).powf(ratio);
                    let want = [r, gr, b, corrected].map(|x| f16::from_f64(x).to_f32());
                    let got = table.entries[j * 300 + i].map(f16::to_f32);
                    assert_eq!(got, want, "{warp:?} texel ({i}, {j})");
                    visible += usize::from(corrected > 0.0);
                    // The renderer's positions for this value and |grad f| fall on the texel.
                    let column = ((v + 100.0) / 400.0) as f32 * scale + offset;
                    let row = table.row_of((g / 50.0) as f32, rows);
                    assert!(
                        (column - i as f32).abs() < 2e-3 && (row - j as f32).abs() < 2e-3,
                        "{warp:?} ({i}, {j}) is looked up at ({column}, {row})"
                    );
                    let looked_up = table.lookup(i as f32, j as f32);
                    assert_eq!(looked_up, got);
                }
            }
            assert!(visible > 20, "{warp:?}: the widgets cover some texels");
        }
    }
}

#[test]
fn widgets_in_any_order_give_the_same_table() {
    let mut rng = Rng(0x9a3b_55c0_0d1e_f00d);
    let q = Quantisation::new([0.0, 1000.0], 300.0);
    let widgets: Vec<Widget> = (0..6)
        .map(|_| random_widget(&mut rng, [0.0, 1000.0], 300.0))
        .collect();
    let forward = with_widgets(widgets.clone(), Warp::Sqrt, [256, 128]);
    let mut reversed_widgets = widgets.clone();
    reversed_widgets.reverse();
    reversed_widgets.swap(1, 4);
    let reversed = with_widgets(reversed_widgets, Warp::Sqrt, [256, 128]);
    let a = ClassTable::bake(&forward, &q, 0.7);
    let b = ClassTable::bake(&reversed, &q, 0.7);
    assert!(a.entries.iter().any(|e| e[3].to_f32() > 0.0));
    assert!(a == b, "the order of the widgets changed the table");
}

/// Whether the table selects a voxel of value `v` and |grad f| `g`: its nearest texel, at the
/// positions the renderer computes, has positive alpha.
fn selected_by_table(table: &ClassTable, q: &Quantisation, v: f64, g: f64) -> bool {
    let [scale, offset] = table.value_mapping(q);
    let [lo, hi] = q.value_range;
    let column = (((v - lo) / (hi - lo)) as f32 * scale + offset).round();
    let row = table
        .row_of((g / q.gradient_max) as f32, table.gradient_mapping(q))
        .round();
    let (c, r) = (
        (column.max(0.0) as usize).min(table.columns - 1),
        (row.max(0.0) as usize).min(table.rows - 1),
    );
    table.entries[r * table.columns + c][3].to_f32() > 0.0
}

#[test]
fn a_hard_box_on_the_blurred_sphere_selects_exactly_what_its_rule_selects() {
    let sphere = Sphere::standard();
    let volume = sphere.volume();
    let gradient = cpu::gradient_magnitude(&volume, Operator::Central);
    let values: Vec<f64> = (0..volume.data.len())
        .map(|i| volume.data.get_f64(i))
        .collect();
    let g_max = gradient.iter().fold(0.0f32, |m, &g| m.max(g)) as f64;
    let q = Quantisation::new(volume.range, g_max);
    let [lo, hi] = q.value_range;
    let (columns, rows) = (512usize, 256usize);
    let peak = sphere.peak();
    // Central differences of the sampled profile fall a little short of the analytic peak.
    let measured_peak = g_max;
    assert!(
        (measured_peak - peak).abs() < 0.06 * peak,
        "|grad f| peak {measured_peak} vs analytic {peak}"
    );
    for warp in Warp::ALL {
        // The boundary's value interval (10%..90% of the step) and |grad f| above half the
        // peak; each edge put half way between two texel centres, where the nearest texel
        // changes, so the table's selection can be exact.
        let value_edge = |x: f64| {
            let p = (x - lo) / (hi - lo) * (columns - 1) as f64;
            lo + (hi - lo) * (p.round() + 0.5) / (columns - 1) as f64
        };
        let gradient_edge = |g: f64| {
            let p = warp.forward(g / g_max) * (rows - 1) as f64;
            g_max * warp.inverse((p.round() + 0.5) / (rows - 1) as f64)
        };
        let shell = [
            [value_edge(100.0), value_edge(900.0)],
            [gradient_edge(0.5 * measured_peak), 1e9],
        ];
        let interior = [
            [value_edge(980.0), 1e9],
            [0.0, gradient_edge(0.02 * measured_peak)],
        ];
        for (name, [value, grad]) in [("shell", shell), ("interior", interior)] {
            let tf = with_widgets(vec![hard_box(value, grad)], warp, [columns, rows]);
            let table = ClassTable::bake(&tf, &q, 1.0);
            let mut by_rule = Vec::new();
            let mut by_table = Vec::new();
            for (i, (&v, &g)) in values.iter().zip(&gradient).enumerate() {
                let g = g as f64;
                if (value[0]..=value[1]).contains(&v) && (grad[0]..=grad[1]).contains(&g) {
                    by_rule.push(i);
                }
                if selected_by_table(&table, &q, v, g) {
                    by_table.push(i);
                }
            }
            assert!(
                by_rule.len() > 500,
                "{name} {warp:?}: {} voxels",
                by_rule.len()
            );
            assert_eq!(by_rule, by_table, "{name} on the {warp:?} axis");
            let n = sphere.n;
            for &i in &by_rule {
                let r = sphere.radius([i % n, (i / n) % n, i / (n * n)]);
                let x = r - sphere.r0;
                if name == "shell" {
                    // |grad f| >= peak / 2 holds within 1.18 sigma of the centre.
                    assert!(x.abs() < 1.5 * sphere.sigma, "{name}: voxel at r = {r}");
                } else {
                    assert!(x < -2.0 * sphere.sigma, "{name}: voxel at r = {r}");
                }
            }
        }
    }
    // Without snapping the edges, the selections on the three axes differ only by voxels
    // within half a texel of an edge on one of them.
    let raw = [[100.0, 900.0], [0.5 * measured_peak, 1e9]];
    let selections: Vec<Vec<bool>> = Warp::ALL
        .iter()
        .map(|&warp| {
            let tf = with_widgets(vec![hard_box(raw[0], raw[1])], warp, [columns, rows]);
            let table = ClassTable::bake(&tf, &q, 1.0);
            values
                .iter()
                .zip(&gradient)
                .map(|(&v, &g)| selected_by_table(&table, &q, v, g as f64))
                .collect()
        })
        .collect();
    let texel_v = (hi - lo) / (columns - 1) as f64;
    for (i, (&v, &g)) in values.iter().zip(&gradient).enumerate() {
        let g = g as f64;
        let rule = (raw[0][0]..=raw[0][1]).contains(&v) && g >= raw[1][0];
        for (k, warp) in Warp::ALL.iter().enumerate() {
            if selections[k][i] != rule {
                let p = warp.forward(g / g_max) * (rows - 1) as f64;
                let p_edge = warp.forward(raw[1][0] / g_max) * (rows - 1) as f64;
                let near_value = raw[0].iter().any(|e| (v - e).abs() <= 0.5 * texel_v);
                assert!(
                    near_value || (p - p_edge).abs() <= 0.5 + 1e-3,
                    "{warp:?}: voxel {i} (v {v}, g {g}) is off the rule but not near an edge"
                );
            }
        }
    }
}

#[test]
fn the_joint_histograms_ridge_follows_the_analytic_arch() {
    let sphere = Sphere::standard();
    let volume = sphere.volume();
    let gradient = cpu::gradient_magnitude(&volume, Operator::Central);
    let stats = GradientStats::compute(&volume, &gradient);
    let j = &stats.joint_histogram;
    let n = j.bins;
    let [v0, v1] = j.value_range;
    let g1 = j.gradient_range[1];
    let mut checked = 0;
    for column in 0..n {
        let v = v0 + (v1 - v0) * (column as f64 + 0.5) / n as f64;
        if !(150.0..=850.0).contains(&v) {
            continue;
        }
        // x where the profile has value v (it falls with x), by bisection.
        let (mut a, mut b) = (-10.0 * sphere.sigma, 10.0 * sphere.sigma);
        for _ in 0..100 {
            let m = 0.5 * (a + b);
            if sphere.value_at(sphere.r0 + m) > v {
                a = m;
            } else {
                b = m;
            }
        }
        let want = sphere.gradient_at(0.5 * (a + b));
        let counts: Vec<u64> = (0..n).map(|row| j.counts[row * n + column]).collect();
        let mode = (0..n).max_by_key(|&row| counts[row]).unwrap();
        if counts[mode] < 5 {
            continue;
        }
        let got = g1 * (mode as f64 + 0.5) / n as f64;
        let bin = g1 / n as f64;
        assert!(
            (got - want).abs() <= 0.08 * want + 2.0 * bin,
            "value {v:.0}: ridge at |grad f| {got:.1}, the arch at {want:.1}"
        );
        checked += 1;
    }
    assert!(checked > 20, "{checked} columns on the arch");
}

fn turned() -> Camera {
    Camera {
        azimuth_deg: 35.0,
        elevation_deg: -20.0,
        ..Camera::default()
    }
}

#[test]
fn the_gpu_draws_the_widget_table_as_the_cpu_reference_does_on_every_axis() {
    let gpu = gpu();
    let phantom = ct_phantom([60, 52, 26], [0.9, 0.9, 2.2], 20.0);
    let s = settings(80);
    for warp in Warp::ALL {
        let mut bone = Widget::new(Shape::Triangle {
            apex: 300.0,
            top: 600.0,
            width: 1200.0,
            bottom: 20.0,
        });
        bone.color = WidgetColor::Rgb([0.95, 0.85, 0.7]);
        let mut skin = hard_box([-600.0, -200.0], [60.0, 1e9]);
        skin.opacity = 0.2;
        let tissue = Widget::new(Shape::Gaussian {
            center: [40.0, 5.0],
            sigma: [30.0, 10.0],
        });
        let tf = with_widgets(vec![bone, skin, tissue], warp, [512, 256]);
        let mut r = renderer(&gpu, &phantom, &tf, &s, RendererOptions::default());
        let got = r.render_image(&gpu, &turned(), &s).unwrap();
        let want = reference_image(&r, &phantom, &turned(), &s);
        let (worst, mean, over) = compare(&got, &want);
        assert!(
            mean < 0.5 && over < 0.01,
            "{warp:?}: worst {worst}/255, mean {mean:.3}/255, {:.2}% of channels off by more than 4",
            100.0 * over
        );
        assert!(lit(&got) > 500, "{warp:?}: the widgets draw something");
    }
}

#[test]
fn a_full_height_box_with_the_curves_multiplied_in_draws_the_1d_image() {
    let gpu = gpu();
    let phantom = ct_phantom([60, 52, 26], [0.9, 0.9, 2.2], 20.0);
    let one_d = presets::preset(
        "gradvol-CT-Bone-Surface",
        Geometry::of(&phantom).mean_spacing(),
    )
    .unwrap();
    let mut two_d = one_d.clone();
    two_d.tf2d = Some(Tf2d {
        raster: [2048, 256],
        widgets: vec![hard_box([-1e6, 1e6], [0.0, 1e9])],
        ..Tf2d::default()
    });
    let s = settings(96);
    let image = |tf: &TransferFunction| {
        let mut r = renderer(&gpu, &phantom, tf, &s, RendererOptions::default());
        r.render_image(&gpu, &turned(), &s).unwrap()
    };
    let (a, b) = (image(&one_d), image(&two_d));
    let (worst, mean, over) = compare(&a, &b);
    assert!(lit(&a) > 1000);
    // The two tables place their |grad f| rows differently (the 1-D one up to the curve's
    // last point, the 2-D one up to the data's largest |grad f|): interpolation differs a
    // little, nothing more.
    assert!(
        mean < 0.5 && over < 0.01,
        "worst {worst}/255, mean {mean:.3}/255, {:.2}% of channels off by more than 4",
        100.0 * over
    );
}

#[test]
fn skipping_never_drops_a_visible_voxel_for_random_widgets() {
    let gpu = gpu();
    let phantom = ct_phantom([60, 52, 26], [0.9, 0.9, 2.2], 20.0);
    let gradient = cpu::gradient_magnitude(&phantom, Operator::Central);
    let values: Vec<f64> = (0..phantom.data.len())
        .map(|i| phantom.data.get_f64(i))
        .collect();
    let mut rng = Rng(0x51f1_e2d3_c4b5_a697);
    let s = settings(64);
    let mut r = renderer(
        &gpu,
        &phantom,
        &with_widgets(
            vec![hard_box([0.0, 1.0], [0.0, 1.0])],
            Warp::Sqrt,
            [256, 128],
        ),
        &s,
        RendererOptions::default(),
    );
    let [nx, ny, nz] = phantom.dims;
    let (mut empty_seen, mut full_seen) = (0, 0);
    for round in 0..12 {
        let widgets = (0..1 + round % 3)
            .map(|_| random_widget(&mut rng, phantom.range, 400.0))
            .collect();
        let warp = Warp::ALL[round % 3];
        let tf = with_widgets(widgets, warp, [256, 128]);
        r.set_transfer_function(&gpu, &tf);
        let layout = *r.layout();
        let q = r.quantisation();
        let table = r.table().clone();
        let occupancy = &r.classification().occupancy;
        let [scale, offset] = table.value_mapping(&q);
        let rows = table.gradient_mapping(&q);
        let [lo, hi] = q.value_range;
        for z in 0..nz {
            for y in 0..ny {
                for x in 0..nx {
                    let b = [x, y, z];
                    let block = [0, 1, 2].map(|a| b[a] / layout.block[a]);
                    if occupancy[layout.block_index(block)] != 0 {
                        continue;
                    }
                    let i = x + nx * (y + ny * z);
                    let v = ((values[i] - lo) / (hi - lo)) as f32;
                    let g = (gradient[i] as f64 / q.gradient_max) as f32;
                    let alpha = table.lookup(v * scale + offset, table.row_of(g, rows))[3];
                    assert_eq!(
                        alpha, 0.0,
                        "round {round}: voxel ({x}, {y}, {z}) in an empty block has alpha {alpha}"
                    );
                }
            }
        }
        let c = r.classification();
        empty_seen += usize::from(c.blocks_empty > 0);
        full_seen += usize::from(c.blocks_empty < occupancy.len());
    }
    assert!(empty_seen > 3 && full_seen > 3, "{empty_seen} {full_seen}");
}

fn gradvol(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_gradvol"))
        .args(args)
        .output()
        .unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn render_takes_widgets_from_a_file_and_refuses_bad_ones_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let lung = common::sample_data_dir().join("lung1_image.nrrd");
    let shown = gradvol(&["presets", "--show", "gradvol-CT-2D-Bone-Boundary"]);
    assert!(shown.status.success());
    let tf_path = dir.path().join("bone.json");
    std::fs::write(&tf_path, &shown.stdout).unwrap();
    let out = dir.path().join("bone.png");
    let ok = gradvol(&[
        "render",
        path(&lung),
        "--tf",
        path(&tf_path),
        "--size",
        "96x96",
        "-o",
        path(&out),
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let image = gradvol::png_io::read_png(&out).unwrap();
    assert!(lit(&image) > 500, "the bone shows: {} pixels", lit(&image));
    let good: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    let bad_cases = [
        (
            r#"{"name": "bone", "shape": {"kind": "blob"}}"#,
            "widget 0 (\"bone\")",
        ),
        (
            r#"{"shape": {"kind": "box", "value": [500, 100], "gradient": [0, 1]}}"#,
            "min 500 > max 100",
        ),
        (
            r#"{"shape": {"kind": "gaussian", "center": [0, 1], "sigma": [0, 1]}}"#,
            "sigma",
        ),
    ];
    for (widget, says) in bad_cases {
        let mut tf = good.clone();
        tf["tf2d"]["widgets"] = serde_json::from_str(&format!("[{widget}]")).unwrap();
        run_bad(dir.path(), &lung, &tf.to_string(), says);
    }
    let nan = good.to_string().replace("\"apex\":300", "\"apex\":NaN");
    assert_ne!(nan, good.to_string());
    run_bad(dir.path(), &lung, &nan, "line");
    for raster in ["[0,256]", "[1000000,256]"] {
        let mut tf = good.clone();
        tf["tf2d"]["raster"] = serde_json::from_str(raster).unwrap();
        run_bad(dir.path(), &lung, &tf.to_string(), "raster");
    }
}

fn run_bad(dir: &Path, lung: &Path, text: &str, says: &str) {
    let tf_path = dir.join("bad.json");
    std::fs::write(&tf_path, text).unwrap();
    let out = dir.join("bad.png");
    let run = gradvol(&[
        "render",
        path(lung),
        "--tf",
        path(&tf_path),
        "-o",
        path(&out),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{text}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(says), "{says:?} in {stderr}");
    assert!(!out.exists(), "nothing written");
}

#[test]
fn the_boundary_suggestion_puts_a_triangle_on_the_spheres_arch() {
    let sphere = Sphere::standard();
    let volume = sphere.volume();
    let gradient = cpu::gradient_magnitude(&volume, Operator::Central);
    let emphasis = gradvol::gradient::boundary::boundary_emphasis(&volume, &gradient).unwrap();
    let triangles =
        gradvol::tf::tf2d::boundary_triangles(&emphasis.table, &emphasis.scalar_opacity, 3);
    assert_eq!(triangles.len(), 1, "one boundary: {triangles:?}");
    let Shape::Triangle { apex, top, .. } = triangles[0].shape else {
        panic!("a triangle");
    };
    let bin = emphasis.table[1][0] - emphasis.table[0][0];
    assert!(
        (apex - 500.0).abs() <= 2.0 * bin,
        "apex {apex}, the boundary's centre is 500"
    );
    assert!(top > sphere.peak(), "it reaches above the arch: {top}");
    // It keeps the boundary's centre and none of the two materials.
    let tf = with_widgets(triangles, Warp::Sqrt, [512, 256]);
    assert!(tf.rgba_at(500.0, 0.9 * sphere.peak())[3] > 0.5);
    assert_eq!(tf.rgba_at(0.0, 1.0)[3], 0.0);
    assert_eq!(tf.rgba_at(1000.0, 1.0)[3], 0.0);
}

#[test]
fn the_joint_histogram_binned_on_a_warped_axis_gives_each_chart_row_its_own_bin() {
    use gradvol::gradient::stats::joint_histogram_on;
    let sphere = Sphere::standard();
    let volume = sphere.volume();
    let gradient = cpu::gradient_magnitude(&volume, Operator::Central);
    let stats = GradientStats::compute(&volume, &gradient);
    let top = stats.joint_histogram.gradient_range[1];
    let n = stats.joint_histogram.bins;
    let linear = joint_histogram_on(&volume, &gradient, top, |g| g / top);
    assert_eq!(linear.counts, stats.joint_histogram.counts);
    let [lo, hi] = volume.range;
    let low_rows = |counts: &[u64], warp: Warp| {
        (0..n)
            .filter(|&r| warp.inverse((r as f64 + 1.0) / n as f64) * top <= top / 16.0)
            .filter(|&r| counts[r * n..(r + 1) * n].iter().any(|&c| c > 0))
            .count()
    };
    for warp in [Warp::Sqrt, Warp::Log] {
        let h = joint_histogram_on(&volume, &gradient, top, |g| warp.forward(g / top));
        let mut want = vec![0u64; n * n];
        for (i, &g) in gradient.iter().enumerate() {
            let v = volume.data.get_f64(i);
            let bin = |x: f64| ((x * n as f64) as isize).clamp(0, n as isize - 1) as usize;
            want[bin(warp.forward(g as f64 / top)) * n + bin((v - lo) / (hi - lo))] += 1;
        }
        assert_eq!(h.counts, want, "{warp:?}");
        // The small |grad f| of most voxels gets many rows on this axis, few on the linear one.
        let (warped, plain) = (
            low_rows(&h.counts, warp),
            low_rows(&linear.counts, Warp::Linear),
        );
        assert!(
            warped >= 3 * plain,
            "{warp:?}: {warped} rows below top/16 against {plain}"
        );
    }
}
