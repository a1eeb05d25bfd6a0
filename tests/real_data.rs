//! The real CT and MRI volumes of ../shared/DATA.md (fetched by scripts/fetch-sample-data.sh):
//! dims, spacing, direction signs, origin, type and value range must match the ground truth
//! that SimpleITK, nibabel and pydicom give for the same files (tests/data/real_volumes_truth.json).

#![allow(
    clippy::needless_range_loop,
    reason = "matrix indices read best as indices"
)]

mod common;

use common::*;
use glam::DMat3;
use gradvol::volume::Space;
use serde_json::Value;

fn truth() -> serde_json::Map<String, Value> {
    let text = include_str!("data/real_volumes_truth.json");
    serde_json::from_str::<Value>(text)
        .unwrap()
        .as_object()
        .unwrap()
        .clone()
}

fn check(name: &str) {
    let all = truth();
    let t = &all[name];
    let dir = sample_data_dir();
    let v = load(&dir.join(name));
    let dims: Vec<usize> = numbers(&t["dims"]).iter().map(|&d| d as usize).collect();
    assert_eq!(v.dims.to_vec(), dims, "{name} dims");
    for (a, b) in v.spacing.iter().zip(numbers(&t["spacing"])) {
        assert!((a - b).abs() < 1e-6, "{name} spacing {:?}", v.spacing);
    }
    // The ground truth is in LPS, as ITK reports it.
    let m = v.world_from_voxel_in(Space::Lps);
    let origin = numbers(&t["origin_lps"]);
    for k in 0..3 {
        assert!(
            (m.w_axis[k] - origin[k]).abs() < 1e-3,
            "{name} origin {}",
            m.w_axis
        );
    }
    let rows: Vec<Vec<f64>> = t["direction_lps"]
        .as_array()
        .unwrap()
        .iter()
        .map(numbers)
        .collect();
    let dirs = DMat3::from_mat4(m) * DMat3::from_diagonal(1.0 / glam::DVec3::from(v.spacing));
    for r in 0..3 {
        for c in 0..3 {
            assert!(
                (dirs.col(c)[r] - rows[r][c]).abs() < 1e-6,
                "{name} direction [{r}][{c}]: {} vs {}",
                dirs.col(c)[r],
                rows[r][c]
            );
        }
    }
    assert_eq!(
        v.data.dtype().name(),
        t["dtype"].as_str().unwrap(),
        "{name} dtype"
    );
    assert_eq!(
        v.range,
        [t["min"].as_f64().unwrap(), t["max"].as_f64().unwrap()],
        "{name} range"
    );
    let n = v.voxel_count();
    let mean = (0..n).map(|i| v.data.get_f64(i)).sum::<f64>() / n as f64;
    let expected_mean = t["mean"].as_f64().unwrap();
    assert!(
        (mean - expected_mean).abs() < 1e-9 * expected_mean.abs().max(1.0),
        "{name} mean {mean}"
    );
}

#[test]
fn lung1_ct_gzip_nrrd() {
    check("lung1_image.nrrd");
}

#[test]
fn brain2_mri_nrrd_with_a_negative_y_direction() {
    check("brain2_image.nrrd");
}

#[test]
fn colin27_t1_nifti_gz_sform_only() {
    check("ch2.nii.gz");
}

#[test]
fn kmeans_t1_nifti_gz_with_permuted_axes() {
    check("KmeansTest_T1UCharRaw.nii.gz");
}

#[test]
fn big_endian_nifti_with_qfac_minus_one() {
    check("anatomical.nii");
}

#[test]
fn metaimage_with_detached_raw() {
    check("BrainProtonDensity3Slices.mha");
}

#[test]
fn oblique_mr_dicom_series_with_jittered_positions() {
    check("dicom-brain");
}

#[test]
fn nifti2_four_d_opens_its_first_volume() {
    check("example_nifti2.nii.gz");
}
