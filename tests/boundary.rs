//! Kindlmann-Durkin boundary emphasis on an analytic boundary: a sphere whose edge is a step
//! blurred by a Gaussian of known width must give that width back, and put its opacity peak at
//! the value halfway across the boundary.

mod common;

use common::grid_volume;
use gradvol::gradient::boundary::boundary_emphasis;
use gradvol::gradient::{Operator, cpu};
use gradvol::volume::VoxelData;

/// Standard normal CDF (Abramowitz-Stegun 7.1.26 erf, error below 1.5e-7).
fn phi(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.3275911 * z);
    let poly = t
        * (0.254829592
            + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    let erf = 1.0 - poly * (-z * z).exp();
    0.5 * (1.0 + if x >= 0.0 { erf } else { -erf })
}

#[test]
fn a_blurred_sphere_gives_back_its_blur_and_boundary_value() {
    let n = 64;
    let spacing = 0.5;
    let (radius, sigma) = (10.0, 1.2); // mm
    let (inside, outside) = (1000.0, 0.0);
    let c = (n as f64 - 1.0) / 2.0;
    let data: Vec<f32> = (0..n * n * n)
        .map(|i| {
            let (x, y, z) = ((i % n) as f64, ((i / n) % n) as f64, (i / (n * n)) as f64);
            let r = ((x - c).powi(2) + (y - c).powi(2) + (z - c).powi(2)).sqrt() * spacing;
            (outside + (inside - outside) * phi((radius - r) / sigma)) as f32
        })
        .collect();
    let v = grid_volume([n, n, n], [spacing; 3], VoxelData::Float(data));
    let g = cpu::gradient_magnitude(&v, Operator::Central);
    let b = boundary_emphasis(&v, &g).expect("a sphere has a boundary");
    let peak = b
        .scalar_opacity
        .iter()
        .fold([0.0, -1.0], |m, p| if p[1] > m[1] { *p } else { m });
    eprintln!(
        "estimated sigma {:.3} mm (true {sigma}), opacity peak at value {:.1}",
        b.sigma_mm, peak[0]
    );
    // Finite differences and curvature bias the estimate a little: within 15%.
    assert!(
        (b.sigma_mm - sigma).abs() < 0.15 * sigma,
        "sigma {} vs {sigma}",
        b.sigma_mm
    );
    let middle = (inside + outside) / 2.0;
    assert!(
        (peak[0] - middle).abs() < 0.1 * (inside - outside),
        "peak at {:?}",
        peak
    );
    // Deep inside and far outside the boundary, nothing is emphasised.
    let first = b.scalar_opacity.first().unwrap();
    let last = b.scalar_opacity.last().unwrap();
    assert!(first[1] < 0.05 && last[1] < 0.05, "{first:?} {last:?}");
}

#[test]
fn a_uniform_volume_has_no_boundary() {
    let v = grid_volume([8, 8, 8], [1.0; 3], VoxelData::Float(vec![5.0; 512]));
    let g = cpu::gradient_magnitude(&v, Operator::Central);
    assert!(boundary_emphasis(&v, &g).is_none());
}
