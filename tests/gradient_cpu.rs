//! The CPU gradient operators against outside references: VTK's 60 magnitudes
//! (../shared/data/seed_gradient_vector.json, copied to tests/data/) and numpy/scipy's central,
//! Sobel and Gaussian-derivative magnitudes on an odd-sized, anisotropic volume
//! (tests/data/gradient_reference.json).

mod common;

use common::{grid_volume as volume, numbers};
use gradvol::gradient::{Operator, cpu};
use gradvol::volume::VoxelData;
use serde_json::Value;

fn triple<T: Copy + Default>(v: &[T]) -> [T; 3] {
    [v[0], v[1], v[2]]
}

/// Every value within `rel` of the reference, relative to the reference's largest magnitude
/// (float32 output of float64 references: single-precision rounding of values near 1000).
fn assert_close(name: &str, got: &[f32], want: &[f64], rel: f64) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    let scale = want.iter().fold(0f64, |m, w| m.max(w.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let err = (*g as f64 - w).abs();
        assert!(
            err <= rel * scale,
            "{name}[{i}]: {g} vs {w} (error {err:.3e})"
        );
    }
}

#[test]
fn central_reproduces_vtk_image_gradient_on_the_seed_vector() {
    let seed: Value = serde_json::from_str(include_str!("data/seed_gradient_vector.json")).unwrap();
    let dims = triple(
        &numbers(&seed["dims_xyz"])
            .iter()
            .map(|&d| d as usize)
            .collect::<Vec<_>>(),
    );
    let spacing = triple(&numbers(&seed["spacing_xyz"]));
    let input: Vec<f32> = numbers(&seed["input_flat"])
        .iter()
        .map(|&x| x as f32)
        .collect();
    let expected: Vec<f64> = seed["expected_gradient_xyz"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| numbers(g).iter().map(|c| c * c).sum::<f64>().sqrt())
        .collect();
    assert_eq!(expected.len(), 60);
    assert!((expected[0] - 1321.79801785).abs() < 1e-6);
    let got = cpu::gradient_magnitude(
        &volume(dims, spacing, VoxelData::Float(input)),
        Operator::Central,
    );
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        let rel = (*g as f64 - e).abs() / e.max(1e-12);
        assert!(rel < 1e-5, "voxel {i}: {g} vs VTK {e}");
    }
}

fn reference() -> (Value, [usize; 3], [f64; 3], Vec<f64>) {
    let r: Value = serde_json::from_str(include_str!("data/gradient_reference.json")).unwrap();
    let dims = triple(
        &numbers(&r["dims_xyz"])
            .iter()
            .map(|&d| d as usize)
            .collect::<Vec<_>>(),
    );
    let spacing = triple(&numbers(&r["spacing_xyz"]));
    let input = numbers(&r["input"]);
    (r, dims, spacing, input)
}

#[test]
fn operators_match_numpy_and_scipy_on_an_anisotropic_odd_volume() {
    let (r, dims, spacing, input) = reference();
    let v = volume(dims, spacing, VoxelData::Double(input.clone()));
    let cases = [
        ("central", Operator::Central, numbers(&r["central"])),
        ("sobel", Operator::Sobel, numbers(&r["sobel"])),
        (
            "gaussian",
            Operator::Gaussian {
                sigma_mm: r["gaussian"]["sigma_mm"].as_f64().unwrap(),
            },
            numbers(&r["gaussian"]["magnitude"]),
        ),
    ];
    for (name, op, want) in cases {
        assert_close(name, &cpu::gradient_magnitude(&v, op), &want, 1e-6);
    }
    // scipy.ndimage.gaussian_gradient_magnitude itself: sigma 2 voxels, spacing 1. The kernel
    // reaches further than every axis is long, so 'reflect' must repeat.
    let iso = volume(dims, [1.0; 3], VoxelData::Double(input));
    let sigma = r["gaussian_iso"]["sigma_mm"].as_f64().unwrap();
    assert_close(
        "gaussian_iso",
        &cpu::gradient_magnitude(&iso, Operator::Gaussian { sigma_mm: sigma }),
        &numbers(&r["gaussian_iso"]["magnitude"]),
        1e-6,
    );
}

#[test]
fn uint8_input_never_wraps() {
    let (r, _, _, _) = reference();
    let case = &r["uint8_case"];
    let dims = triple(
        &numbers(&case["dims_xyz"])
            .iter()
            .map(|&d| d as usize)
            .collect::<Vec<_>>(),
    );
    let spacing = triple(&numbers(&case["spacing_xyz"]));
    let input: Vec<u8> = numbers(&case["input"]).iter().map(|&x| x as u8).collect();
    let got = cpu::gradient_magnitude(
        &volume(dims, spacing, VoxelData::Uint8(input)),
        Operator::Central,
    );
    assert_close("uint8", &got, &numbers(&case["central_magnitude"]), 1e-6);
}

#[test]
fn spacing_scales_the_gradient() {
    // The same data at spacing 0.1 has gradients ten times those at spacing 1.
    let (_, dims, _, input) = reference();
    let at = |s: f64| {
        cpu::gradient_magnitude(
            &volume(dims, [s; 3], VoxelData::Double(input.clone())),
            Operator::Central,
        )
    };
    for (a, b) in at(0.1).iter().zip(at(1.0)) {
        assert!(
            (a - 10.0 * b).abs() <= 1e-5 * a.abs().max(1.0),
            "{a} vs 10 x {b}"
        );
    }
}
