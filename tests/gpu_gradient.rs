//! The WGSL gradient pass against the CPU reference, on whatever adapter this machine has
//! (lavapipe in CI). No adapter is a failure that says what to install, never a skip.

mod common;

use common::*;
use gradvol::gpu::Gpu;
use gradvol::gpu::gradient_pass::GradientPass;
use gradvol::gpu::slabs::{Destination, Output};
use gradvol::gpu::volume_texture::VolumeTexture;
use gradvol::gradient::{Operator, cpu};
use gradvol::volume::{DType, VoxelData};

fn gpu() -> Gpu {
    Gpu::new().unwrap_or_else(|e| panic!("{e}"))
}

/// Largest difference relative to the largest reference magnitude.
fn worst_error(got: &[f32], want: &[f32]) -> f64 {
    let scale = want.iter().fold(0f32, |m, w| m.max(w.abs())) as f64;
    got.iter()
        .zip(want)
        .map(|(g, w)| (*g as f64 - *w as f64).abs() / scale)
        .fold(0.0, f64::max)
}

#[test]
fn gpu_matches_the_cpu_reference_on_odd_anisotropic_volumes() {
    let gpu = gpu();
    let pass = GradientPass::new(&gpu);
    let mut rng = Rng(2026);
    for (dims, spacing, dtype) in [
        ([31, 23, 17], [0.7, 1.3, 2.1], DType::Int16),
        ([19, 33, 9], [0.25, 0.25, 5.0], DType::Float),
        ([8, 5, 40], [1.0, 2.0, 0.5], DType::Uint8),
    ] {
        let n = dims.iter().product();
        let v = grid_volume(dims, spacing, random_voxels(dtype, n, &mut rng));
        let texture = VolumeTexture::upload(&gpu, &v).unwrap();
        // The Gaussian accumulates in float32 on the GPU and float64 on the CPU, hence its looser
        // bound; sigma 2.5 mm reaches past the shortest axes, so 'reflect' repeats.
        for (operator, tolerance) in [
            (Operator::Central, 1e-6),
            (Operator::Sobel, 1e-6),
            (Operator::Gaussian { sigma_mm: 1.0 }, 1e-5),
            (Operator::Gaussian { sigma_mm: 2.5 }, 1e-5),
        ] {
            let got = pass.compute(&gpu, &texture, spacing, operator).unwrap();
            let want = cpu::gradient_magnitude(&v, operator);
            let err = worst_error(&got, &want);
            assert!(
                err < tolerance,
                "{operator} on {dims:?} {dtype}: error {err:.2e} ({})",
                gpu.describe()
            );
        }
    }
}

#[test]
fn slab_seams_change_nothing() {
    let gpu = gpu();
    let pass = GradientPass::new(&gpu);
    let dims = [21, 13, 29];
    let v = grid_volume(
        dims,
        [0.9, 1.1, 1.7],
        random_voxels(DType::Float, 21 * 13 * 29, &mut Rng(5)),
    );
    let texture = VolumeTexture::upload(&gpu, &v).unwrap();
    for operator in [
        Operator::Central,
        Operator::Sobel,
        Operator::Gaussian { sigma_mm: 1.5 },
    ] {
        let whole = pass.compute(&gpu, &texture, v.spacing, operator).unwrap();
        // Three planes per slab (rows padded to 64 floats): ten slabs, the last one short. The
        // Gaussian's x and y passes then run per window of slab + kernel reach.
        let plane = 4 * 64 * 13;
        for destination in [Destination::Host, Destination::Texture] {
            let sliced = match pass
                .compute_in_slabs(&gpu, &texture, v.spacing, operator, 3 * plane, destination)
                .unwrap()
            {
                Output::Host(values) => values,
                Output::Texture(resident) => resident.read(&gpu).unwrap(),
            };
            assert_eq!(sliced.len(), whole.len());
            assert!(
                whole
                    .iter()
                    .zip(&sliced)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{operator} into {destination:?}"
            );
        }
    }
}

#[test]
fn resident_texture_equals_the_host_result_and_the_cpu_reference() {
    let gpu = gpu();
    let pass = GradientPass::new(&gpu);
    let v = grid_volume(
        [37, 11, 14],
        [0.6, 1.4, 2.2],
        random_voxels(DType::Int16, 37 * 11 * 14, &mut Rng(77)),
    );
    let texture = VolumeTexture::upload(&gpu, &v).unwrap();
    for (operator, tolerance) in [
        (Operator::Central, 1e-6),
        (Operator::Sobel, 1e-6),
        (Operator::Gaussian { sigma_mm: 2.0 }, 1e-5),
    ] {
        let resident = pass
            .compute_texture(&gpu, &texture, v.spacing, operator)
            .unwrap();
        assert_eq!(resident.dims, [37, 11, 14]);
        let read = resident.read(&gpu).unwrap();
        let host = pass.compute(&gpu, &texture, v.spacing, operator).unwrap();
        assert!(
            read.iter()
                .zip(&host)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{operator}: the texture differs from the host result"
        );
        let err = worst_error(&read, &cpu::gradient_magnitude(&v, operator));
        assert!(err < tolerance, "{operator}: error {err:.2e}");
    }
}

#[test]
fn gpu_central_reproduces_vtk_on_the_seed_vector() {
    let seed: serde_json::Value =
        serde_json::from_str(include_str!("data/seed_gradient_vector.json")).unwrap();
    let input: Vec<f32> = seed["input_flat"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    let expected: Vec<f64> = seed["expected_gradient_xyz"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            g.as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_f64().unwrap().powi(2))
                .sum::<f64>()
                .sqrt()
        })
        .collect();
    let v = grid_volume([3, 4, 5], [0.1; 3], VoxelData::Float(input));
    let gpu = gpu();
    let texture = VolumeTexture::upload(&gpu, &v).unwrap();
    let got = GradientPass::new(&gpu)
        .compute(&gpu, &texture, v.spacing, Operator::Central)
        .unwrap();
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert!(
            (*g as f64 - e).abs() / e < 1e-5,
            "voxel {i}: {g} vs VTK {e}"
        );
    }
}

#[test]
fn gpu_allocation_failures_are_errors_not_panics() {
    let gpu = gpu();
    let too_big = gpu.device.limits().max_buffer_size.saturating_add(256);
    let result = gradvol::gpu::guarded(&gpu, "a test buffer", || {
        gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("too big"),
            size: too_big,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        })
    });
    let err = result.expect_err("a buffer over the device's limit must fail");
    assert!(err.to_string().contains("a test buffer"), "{err}");
}
