//! The GPU statistics pass against its CPU oracle (`GradientStats::compute`), on the same
//! |grad f| values so that only the counting differs: random odd-sized volumes, non-finite values,
//! a constant volume and the real lung CT. Then the whole GPU path (resident gradient, then its
//! statistics) against the whole CPU path.
//!
//! Bins are assigned in float32 on the GPU and float64 on the CPU, so a value within rounding of
//! a bin edge may land one bin over: histograms may differ by a few counts (bounded below),
//! percentiles by a fine bin (max / 65536). Ranges and counts must agree exactly.

mod common;

use common::*;
use gradvol::gpu::Gpu;
use gradvol::gpu::gradient_pass::GradientPass;
use gradvol::gpu::stats_pass::StatsPass;
use gradvol::gpu::volume_texture::VolumeTexture;
use gradvol::gradient::stats::{FINE_BINS, GradientStats};
use gradvol::gradient::{Operator, cpu};
use gradvol::volume::{DType, Volume, VoxelData};

fn gpu() -> Gpu {
    Gpu::new().unwrap_or_else(|e| panic!("{e}"))
}

/// GPU statistics of `gradient` (uploaded as it is) beside the CPU's of the same values.
fn both(
    gpu: &Gpu,
    pass: &StatsPass,
    v: &Volume,
    gradient: &[f32],
) -> (GradientStats, GradientStats) {
    let scalar = VolumeTexture::upload(gpu, v).unwrap();
    let g = VolumeTexture::from_values(gpu, v.dims, gradient, "test gradient").unwrap();
    let on_gpu = pass.compute(gpu, &scalar, &g, v.range).unwrap();
    (on_gpu, GradientStats::compute(v, gradient))
}

/// Sum of |a - b| over the bins, after checking that both count the same voxels.
fn l1(a: &[u64], b: &[u64], what: &str) -> u64 {
    assert_eq!(a.len(), b.len(), "{what}: bins");
    assert_eq!(
        a.iter().sum::<u64>(),
        b.iter().sum::<u64>(),
        "{what}: totals"
    );
    a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).sum()
}

/// Everything the two devices must agree on; `exact_range` when both saw the same values.
fn assert_agree(got: &GradientStats, want: &GradientStats, exact_range: bool, name: &str) {
    let relative = |a: f64, b: f64| (a - b).abs() / b.abs().max(f64::MIN_POSITIVE);
    if exact_range {
        assert_eq!(got.min, want.min, "{name}: min");
        assert_eq!(got.max, want.max, "{name}: max");
        assert!(
            relative(got.mean, want.mean) < 1e-6,
            "{name}: mean {} vs {}",
            got.mean,
            want.mean
        );
    } else {
        assert!(
            relative(got.max, want.max) < 1e-5,
            "{name}: max {} vs {}",
            got.max,
            want.max
        );
        assert!(
            relative(got.mean, want.mean) < 1e-5,
            "{name}: mean {} vs {}",
            got.mean,
            want.mean
        );
    }
    assert_eq!(got.non_finite, want.non_finite, "{name}: non-finite");
    let fine_bin = want.max / FINE_BINS as f64;
    let slack = if exact_range { 2.0 } else { 4.0 };
    let p = |s: &GradientStats| {
        let p = s.percentiles;
        [p.p50, p.p90, p.p95, p.p99, p.p99_9]
    };
    for (g, w) in p(got).into_iter().zip(p(want)) {
        assert!(
            (g - w).abs() <= slack * fine_bin + 1e-5 * w,
            "{name}: percentile {g} vs {w} (fine bin {fine_bin})"
        );
    }
    assert_eq!(
        got.histogram.edges.len(),
        want.histogram.edges.len(),
        "{name}"
    );
    let total = want.histogram.counts.iter().sum::<u64>();
    // A voxel moved one bin counts twice in the L1 distance.
    let bound = 4 + total / 2000;
    let d = l1(
        &got.histogram.counts,
        &want.histogram.counts,
        "log histogram",
    );
    assert!(
        d <= bound,
        "{name}: log histogram L1 {d} > {bound} of {total}"
    );
    let (gj, wj) = (&got.joint_histogram, &want.joint_histogram);
    assert_eq!(gj.value_range, wj.value_range, "{name}");
    assert!(
        relative(gj.gradient_range[1], wj.gradient_range[1]) < 1e-3,
        "{name}: joint |grad f| axis {:?} vs {:?}",
        gj.gradient_range,
        wj.gradient_range
    );
    let d = l1(&gj.counts, &wj.counts, "joint histogram");
    let joint_bound = if exact_range { bound } else { 4 + total / 200 };
    assert!(
        d <= joint_bound,
        "{name}: joint histogram L1 {d} > {joint_bound} of {total}"
    );
}

#[test]
fn gpu_statistics_match_the_cpu_on_random_volumes() {
    let gpu = gpu();
    let pass = StatsPass::new(&gpu);
    let mut rng = Rng(31);
    for (dims, spacing, dtype) in [
        ([67, 23, 19], [0.7, 1.3, 2.1], DType::Int16),
        ([5, 130, 7], [0.3, 0.3, 3.0], DType::Float),
        ([129, 2, 3], [1.0, 1.0, 1.0], DType::Uint8),
    ] {
        let v = grid_volume(
            dims,
            spacing,
            random_voxels(dtype, dims.iter().product(), &mut rng),
        );
        let g = cpu::gradient_magnitude(&v, Operator::Sobel);
        let (got, want) = both(&gpu, &pass, &v, &g);
        assert_agree(&got, &want, true, &format!("{dims:?} {dtype}"));
        assert!(
            got.boundary_emphasis.is_none(),
            "the pass leaves the boundary to the host"
        );
    }
}

#[test]
fn gpu_statistics_leave_out_non_finite_values_and_handle_a_constant_volume() {
    let gpu = gpu();
    let pass = StatsPass::new(&gpu);
    let dims = [17, 9, 6];
    let n: usize = dims.iter().product();
    let mut values: Vec<f32> = (0..n).map(|i| ((i * 37) % 101) as f32).collect();
    values[5] = f32::NAN;
    values[200] = f32::INFINITY;
    let v = grid_volume(dims, [1.0, 0.5, 2.0], VoxelData::Float(values));
    let g = cpu::gradient_magnitude(&v, Operator::Central);
    let (got, want) = both(&gpu, &pass, &v, &g);
    assert!(
        want.non_finite > 0,
        "the NaN and the infinity spread to their neighbours"
    );
    assert_agree(&got, &want, true, "non-finite");

    let flat = grid_volume(dims, [1.0; 3], VoxelData::Float(vec![7.0; n]));
    let g = cpu::gradient_magnitude(&flat, Operator::Central);
    let (got, want) = both(&gpu, &pass, &flat, &g);
    assert_eq!((got.min, got.max, got.mean), (0.0, 0.0, 0.0));
    assert_eq!(got.histogram.counts, vec![n as u64]);
    assert_agree(&got, &want, true, "constant");
}

#[test]
fn gpu_statistics_of_the_real_lung_ct() {
    let v = load(&sample_data_dir().join("lung1_image.nrrd"));
    let gpu = gpu();
    let pass = StatsPass::new(&gpu);
    let g = cpu::gradient_magnitude(&v, Operator::Central);
    let (got, want) = both(&gpu, &pass, &v, &g);
    assert_agree(&got, &want, true, "lung1");
    // A CT has air, tissue and bone: a wide spread of gradients, not a degenerate case.
    assert!(
        want.percentiles.p99 > 10.0 * want.percentiles.p50.max(1.0),
        "{:?}",
        want.percentiles
    );
}

#[test]
fn the_whole_gpu_path_matches_the_whole_cpu_path() {
    let gpu = gpu();
    let gradient_pass = GradientPass::new(&gpu);
    let pass = StatsPass::new(&gpu);
    let dims = [45, 38, 21];
    let v = grid_volume(
        dims,
        [0.8, 0.8, 1.5],
        random_voxels(DType::Int16, dims.iter().product(), &mut Rng(8)),
    );
    let scalar = VolumeTexture::upload(&gpu, &v).unwrap();
    for operator in [Operator::Central, Operator::Gaussian { sigma_mm: 1.2 }] {
        let resident = gradient_pass
            .compute_texture(&gpu, &scalar, v.spacing, operator)
            .unwrap();
        let got = pass.compute(&gpu, &scalar, &resident, v.range).unwrap();
        let want = GradientStats::compute(&v, &cpu::gradient_magnitude(&v, operator));
        assert_agree(&got, &want, false, &operator.to_string());
    }
}
