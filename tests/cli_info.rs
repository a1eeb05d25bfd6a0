//! `gradvol info` as a user runs it: the JSON contract, raw input, and every kind of bad input
//! answered by one line on stderr and exit status 1 — never a panic, an abort or a huge
//! allocation. Each bad-input run has its address space capped at 2 GiB, so allocating what a
//! header merely claims would abort the process and fail the test.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use gradvol::volume::{DType, Endian};

fn gradvol(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gradvol"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs gradvol with its virtual memory capped at 2 GiB.
fn gradvol_capped(args: &[&str]) -> Output {
    Command::new("bash")
        .arg("-c")
        .arg("ulimit -v 2097152; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_gradvol"))
        .args(args)
        .output()
        .unwrap()
}

/// Asserts a clean failure: status 1, one line on stderr naming the problem and the file.
fn assert_fails(path: &Path, extra: &[&str], expected: &str) {
    let mut args = vec!["info", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = gradvol_capped(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}: {stderr}", path.display());
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(
        lines[0].contains(expected),
        "expected '{expected}' in: {stderr}"
    );
    let name = path.file_name().unwrap().to_str().unwrap();
    assert!(lines[0].contains(name), "the path is named: {stderr}");
}

const HEAD: &str = "NRRD0004\ntype: short\ndimension: 3\nendian: little\n";

#[test]
fn json_carries_the_documented_fields() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.nrrd");
    let data = random_voxels(DType::Int16, 60, &mut Rng(1));
    write_attached(
        &path,
        &format!(
            "{HEAD}sizes: 5 4 3\nencoding: gzip\nspace: LPS\n\
             space directions: (0.5,0,0) (0,-0.5,0) (0,0,2)\nspace origin: (1,2,3)\n"
        ),
        &gzip(&bytes_in(&data, Endian::Little)),
    );
    let out = gradvol(&["info", path.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["dims"], serde_json::json!([5, 4, 3]));
    assert_eq!(j["spacing"], serde_json::json!([0.5, 0.5, 2.0]));
    assert_eq!(
        j["world_from_voxel"],
        serde_json::json!([
            [0.5, 0.0, 0.0, 1.0],
            [0.0, -0.5, 0.0, 2.0],
            [0.0, 0.0, 2.0, 3.0],
            [0.0, 0.0, 0.0, 1.0]
        ])
    );
    assert_eq!(j["space"], "LPS");
    assert_eq!(j["dtype"], "int16");
    let range = data.range().unwrap();
    assert_eq!(j["range"], serde_json::json!(range));
    // Text output says the same in words.
    let out = gradvol(&["info", path.to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("5 x 4 x 3 voxels") && text.contains("int16"),
        "{text}"
    );
}

#[test]
fn raw_volumes_take_their_layout_from_flags() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.dat");
    let data = random_voxels(DType::Float, 24, &mut Rng(2));
    std::fs::write(&path, bytes_in(&data, Endian::Big)).unwrap();
    let p = path.to_str().unwrap();
    let args = [
        "info",
        p,
        "--json",
        "--raw-dims",
        "2,3,4",
        "--raw-type",
        "f32",
        "--raw-spacing",
        "1,1,2.5",
        "--raw-endian",
        "big",
    ];
    let out = gradvol(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["dims"], serde_json::json!([2, 3, 4]));
    assert_eq!(j["spacing"], serde_json::json!([1.0, 1.0, 2.5]));
    assert_eq!(j["range"], serde_json::json!(data.range().unwrap()));
    // Too little data for the layout.
    assert_fails(
        &path,
        &["--raw-dims", "20,30,40", "--raw-type", "f32"],
        "truncated",
    );
    // A type that does not exist is refused by the argument parser.
    let out = gradvol(&["info", p, "--raw-dims", "2,3,4", "--raw-type", "f17"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn empty_missing_and_random_files() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.nrrd");
    std::fs::write(&empty, b"").unwrap();
    assert_fails(&empty, &[], "the file is empty");
    assert_fails(&dir.path().join("missing.nii"), &[], "cannot read the file");
    let mut rng = Rng(99);
    let noise: Vec<u8> = (0..4096).map(|_| rng.next_u64() as u8).collect();
    for (name, expected) in [
        ("noise.nrrd", "not a NRRD file"),
        ("noise.nii", "not a NIfTI file"),
        ("noise.nii.gz", "not a NIfTI file"),
        ("noise.mha", "not a MetaImage file"),
        ("noise.dcm", "not a readable DICOM file"),
        ("noise.xyz", "unrecognised file format"),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, &noise).unwrap();
        assert_fails(&path, &[], expected);
    }
}

#[test]
fn nrrd_headers_that_lie() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "huge.nrrd",
            "sizes: 100000 100000 100000\nencoding: raw\n",
            "exceed the limit",
        ),
        (
            "claims.nrrd",
            "sizes: 512 512 512\nencoding: raw\n",
            "truncated",
        ),
        (
            "gzclaims.nrrd",
            "sizes: 2048 2048 1024\nencoding: gzip\n",
            "compressed bytes can hold at most",
        ),
        (
            "negative.nrrd",
            "sizes: 5 -4 3\nencoding: raw\n",
            "not a positive integer",
        ),
        (
            "zero.nrrd",
            "sizes: 5 0 3\nencoding: raw\n",
            "not a positive integer",
        ),
        (
            "count.nrrd",
            "sizes: 5 4\nencoding: raw\n",
            "'dimension' is 3",
        ),
        ("bz.nrrd", "sizes: 5 4 3\nencoding: bzip2\n", "bzip2"),
    ];
    for (name, rest, expected) in cases {
        let path = dir.path().join(name);
        write_attached(&path, &format!("{HEAD}{rest}"), &[0u8; 64]);
        assert_fails(&path, &[], expected);
    }
    let path = dir.path().join("type.nrrd");
    write_attached(
        &path,
        "NRRD0004\ntype: quaternion\ndimension: 3\nsizes: 2 2 2\nencoding: raw\n",
        &[0; 8],
    );
    assert_fails(&path, &[], "unknown type 'quaternion'");
    // A gzip stream cut short.
    let path = dir.path().join("cut.nrrd");
    let full = gzip(&[7u8; 120]);
    write_attached(
        &path,
        &format!("{HEAD}sizes: 5 4 3\nencoding: gzip\n"),
        &full[..full.len() / 2],
    );
    assert_fails(&path, &[], "");
    // A detached header whose data file is missing.
    let path = dir.path().join("orphan.nhdr");
    std::fs::write(
        &path,
        format!("{HEAD}sizes: 5 4 3\nencoding: raw\ndata file: gone.raw\n"),
    )
    .unwrap();
    assert_fails(&path, &[], "gone.raw");
}

#[test]
fn nifti_headers_that_lie() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, spec: &NiftiSpec, payload: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, spec.file(payload)).unwrap();
        path
    };
    let mut huge = NiftiSpec::new([32767, 32767, 32767], DType::Float);
    huge.dim[4] = 32767;
    assert_fails(&write("huge.nii", &huge, &[0; 64]), &[], "exceed the limit");
    let claims = NiftiSpec::new([512, 512, 512], DType::Int16);
    assert_fails(&write("claims.nii", &claims, &[0; 64]), &[], "truncated");
    let path = dir.path().join("claims.nii.gz");
    std::fs::write(&path, gzip(&claims.file(&[0; 64]))).unwrap();
    assert_fails(&path, &[], "truncated");
    let mut negative = NiftiSpec::new([5, 4, 3], DType::Int16);
    negative.dim[2] = -4;
    assert_fails(
        &write("negative.nii", &negative, &[0; 120]),
        &[],
        "dim[2] = -4",
    );
    let mut unknown = NiftiSpec::new([5, 4, 3], DType::Int16);
    unknown.datatype = 999;
    assert_fails(
        &write("type.nii", &unknown, &[0; 120]),
        &[],
        "unknown datatype code 999",
    );
    let mut rgb = NiftiSpec::new([5, 4, 3], DType::Uint8);
    rgb.datatype = 128;
    assert_fails(&write("rgb.nii", &rgb, &[0; 180]), &[], "RGB");
    let good = NiftiSpec::new([5, 4, 3], DType::Int16);
    let cut = dir.path().join("cut.nii");
    std::fs::write(&cut, &good.file(&[0; 120])[..200]).unwrap();
    assert_fails(&cut, &[], "truncated");
}

#[test]
fn metaimage_headers_that_lie() {
    let dir = tempfile::tempdir().unwrap();
    let head = |dims: &str, ty: &str| {
        format!(
            "ObjectType = Image\nNDims = 3\nDimSize = {dims}\nElementType = {ty}\nElementDataFile = LOCAL\n"
        )
    };
    for (name, header, expected) in [
        (
            "huge.mha",
            head("100000 100000 100000", "MET_SHORT"),
            "exceed the limit",
        ),
        ("claims.mha", head("512 512 512", "MET_SHORT"), "truncated"),
        (
            "zero.mha",
            head("5 0 3", "MET_SHORT"),
            "DimSize needs 3 positive integers",
        ),
        (
            "negative.mha",
            head("5 -4 3", "MET_SHORT"),
            "DimSize needs 3 positive integers",
        ),
        (
            "type.mha",
            head("5 4 3", "MET_QUATERNION"),
            "unknown ElementType 'MET_QUATERNION'",
        ),
    ] {
        let path = dir.path().join(name);
        let mut bytes = header.into_bytes();
        bytes.extend_from_slice(&[0; 64]);
        std::fs::write(&path, bytes).unwrap();
        assert_fails(&path, &[], expected);
    }
    let path = dir.path().join("nodata.mhd");
    std::fs::write(
        &path,
        head("5 4 3", "MET_SHORT").replace("LOCAL", "missing.raw"),
    )
    .unwrap();
    assert_fails(&path, &[], "missing.raw");
}

#[test]
fn dicom_folder_with_a_foreign_file_fails_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let pixels = [0i16; 4];
    for k in 0..2 {
        write_dicom(
            &dir.path().join(format!("s{k}.dcm")),
            &DicomSlice {
                rows: 2,
                cols: 2,
                pixels: &pixels,
                frames: 1,
                positions: vec![[0.0, 0.0, k as f64]],
                per_frame_positions: false,
                orientation: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
                pixel_spacing: [1.0, 1.0],
                rescale: (1.0, 0.0),
                series_uid: "1.2",
                instance: k + 1,
            },
        );
    }
    let out = gradvol(&["info", dir.path().to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(dir.path().join("README"), "these are two slices").unwrap();
    let out = gradvol_capped(&["info", dir.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("not a readable DICOM file") && stderr.trim_end().ends_with("README"),
        "{stderr}"
    );
}
