//! Every format and variant the loader promises, on small synthetic files written by the tests:
//! the voxels must come back bit for bit, and the geometry as the file states it.

mod common;

use common::*;
use glam::{DMat4, DVec3, DVec4};
use gradvol::volume::{self, DType, Endian, Format, LoadOptions, RawSpec, Space, VoxelData};

const DIMS: [usize; 3] = [5, 4, 3];
const N: usize = 60;

fn nrrd_type(t: DType) -> &'static str {
    match t {
        DType::Int8 => "signed char",
        DType::Uint8 => "uchar",
        DType::Int16 => "short",
        DType::Uint16 => "unsigned short",
        DType::Int32 => "int",
        DType::Uint32 => "uint",
        DType::Float => "float",
        DType::Double => "double",
    }
}

fn endian_name(e: Endian) -> &'static str {
    match e {
        Endian::Little => "little",
        Endian::Big => "big",
    }
}

#[test]
fn nrrd_every_type_both_endians_raw_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(7);
    for dtype in DType::ALL {
        for endian in [Endian::Little, Endian::Big] {
            for gz in [false, true] {
                let data = random_voxels(dtype, N, &mut rng);
                let raw = bytes_in(&data, endian);
                let payload = if gz { gzip(&raw) } else { raw };
                let path = dir.path().join(format!("{dtype}-{endian:?}-{gz}.nrrd"));
                let header = format!(
                    "NRRD0004\n# a comment\ntype: {}\ndimension: 3\nsizes: 5 4 3\nendian: {}\n\
                     encoding: {}\nspacings: 0.5 1 2\n",
                    nrrd_type(dtype),
                    endian_name(endian),
                    if gz { "gzip" } else { "raw" }
                );
                write_attached(&path, &header, &payload);
                let v = load(&path);
                assert_eq!(v.data, data, "{}", path.display());
                assert_eq!(v.dims, DIMS);
                assert_eq!(v.spacing, [0.5, 1.0, 2.0]);
                assert_eq!(v.format, Format::Nrrd);
            }
        }
    }
}

#[test]
fn nrrd_space_directions_with_a_flip_place_voxels_in_lps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flip.nrrd");
    let data = random_voxels(DType::Int16, N, &mut Rng(3));
    let header = "NRRD0005\ntype: int16\ndimension: 3\nsizes: 5 4 3\nendian: little\n\
                  encoding: raw\nspace: left-posterior-superior\n\
                  space directions: (0.7,0,0) (0,-0.7,0) (0,0,2.5)\n\
                  space origin: (-10,20.5,-30)\nkinds: domain domain domain\n";
    write_attached(&path, header, &bytes_in(&data, Endian::Little));
    let v = load(&path);
    assert_eq!(v.space, Space::Lps);
    assert_eq!(v.spacing, [0.7, 0.7, 2.5]);
    let expected = DMat4::from_cols(
        DVec4::new(0.7, 0.0, 0.0, 0.0),
        DVec4::new(0.0, -0.7, 0.0, 0.0),
        DVec4::new(0.0, 0.0, 2.5, 0.0),
        DVec4::new(-10.0, 20.5, -30.0, 1.0),
    );
    assert_mat4_close(v.world_from_voxel, expected, 1e-12);
    // Voxel (1, 2, 1) sits 0.7 mm left of the origin, 1.4 mm anterior and 2.5 mm superior.
    let p = v
        .world_from_voxel
        .transform_point3(DVec3::new(1.0, 2.0, 1.0));
    assert!(p.abs_diff_eq(DVec3::new(-9.3, 19.1, -27.5), 1e-12), "{p}");
    assert_eq!(v.data, data);
}

#[test]
fn nrrd_named_spaces_keep_or_convert_their_frame() {
    let dir = tempfile::tempdir().unwrap();
    let data = random_voxels(DType::Uint8, N, &mut Rng(5));
    for (space, expect_space, expect_x) in [
        ("right-anterior-superior", Space::Ras, 1.0),
        ("RAS", Space::Ras, 1.0),
        ("left-anterior-superior", Space::Ras, -1.0),
        ("scanner-xyz", Space::Lps, 1.0),
    ] {
        let path = dir.path().join(format!("{space}.nrrd"));
        let header = format!(
            "NRRD0004\ntype: uint8\ndimension: 3\nsizes: 5 4 3\nencoding: raw\nspace: {space}\n\
             space directions: (1,0,0) (0,1,0) (0,0,1)\nspace origin: (5,0,0)\n"
        );
        write_attached(&path, &header, &bytes_in(&data, Endian::Little));
        let v = load(&path);
        assert_eq!(v.space, expect_space, "{space}");
        assert_eq!(v.world_from_voxel.x_axis.x, expect_x, "{space}");
        assert_eq!(v.origin().x, 5.0 * expect_x, "{space}");
    }
}

#[test]
fn nhdr_detached_raw_gzip_and_ascii_data_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = random_voxels(DType::Float, N, &mut Rng(11));
    let raw = bytes_in(&data, Endian::Big);
    std::fs::write(dir.path().join("v.raw"), &raw).unwrap();
    std::fs::write(dir.path().join("v.raw.gz"), gzip(&raw)).unwrap();
    let VoxelData::Float(values) = &data else {
        unreachable!()
    };
    let text: Vec<String> = values.iter().map(|x| format!("{x:?}")).collect();
    std::fs::write(dir.path().join("v.txt"), text.join("\n")).unwrap();
    for (name, encoding) in [("v.raw", "raw"), ("v.raw.gz", "gzip"), ("v.txt", "ascii")] {
        let nhdr = dir.path().join(format!("{name}.nhdr"));
        std::fs::write(
            &nhdr,
            format!(
                "NRRD0004\ntype: float\ndimension: 3\nsizes: 5 4 3\nendian: big\n\
                 encoding: {encoding}\ndata file: {name}\n"
            ),
        )
        .unwrap();
        let v = load(&nhdr);
        assert_eq!(v.data, data, "{encoding}");
    }
}

#[test]
fn nrrd_skips_and_4d_files_open_their_first_volume() {
    let dir = tempfile::tempdir().unwrap();
    let data = random_voxels(DType::Uint16, 2 * N, &mut Rng(13));
    let VoxelData::Uint16(all) = &data else {
        unreachable!()
    };
    let bytes = bytes_in(&data, Endian::Little);

    // A trailing list axis: the first volume is the first N voxels.
    let path = dir.path().join("list.nrrd");
    let header = "NRRD0004\ntype: ushort\ndimension: 4\nsizes: 5 4 3 2\nendian: little\n\
                  encoding: raw\nkinds: domain domain domain list\n";
    write_attached(&path, header, &bytes);
    let v = load(&path);
    assert_eq!(v.data, VoxelData::Uint16(all[..N].to_vec()));
    assert!(
        v.notes.iter().any(|n| n.contains("2 volumes")),
        "{:?}",
        v.notes
    );

    // A leading vector axis: interleaved components, the first is kept.
    let path = dir.path().join("vector.nrrd");
    let header = "NRRD0004\ntype: ushort\ndimension: 4\nsizes: 2 5 4 3\nendian: little\n\
                  encoding: raw\nspace: RAS\nspace directions: none (1,0,0) (0,1,0) (0,0,1)\n";
    write_attached(&path, header, &bytes);
    let v = load(&path);
    assert_eq!(
        v.data,
        VoxelData::Uint16(all.iter().step_by(2).copied().collect())
    );

    // byte skip -1: the voxels are the file's last bytes, whatever comes before them.
    let path = dir.path().join("skip.nhdr");
    let mut padded = b"some preamble\nline two\n".to_vec();
    padded.extend_from_slice(&bytes[..2 * N]);
    std::fs::write(dir.path().join("skip.bin"), &padded).unwrap();
    std::fs::write(
        &path,
        "NRRD0004\ntype: ushort\ndimension: 3\nsizes: 5 4 3\nendian: little\nencoding: raw\n\
         data file: skip.bin\nbyte skip: -1\n",
    )
    .unwrap();
    assert_eq!(load(&path).data, VoxelData::Uint16(all[..N].to_vec()));

    // line skip 2 then the voxels.
    std::fs::write(
        &path,
        "NRRD0004\ntype: ushort\ndimension: 3\nsizes: 5 4 3\nendian: little\nencoding: raw\n\
         data file: skip.bin\nline skip: 2\n",
    )
    .unwrap();
    assert_eq!(load(&path).data, VoxelData::Uint16(all[..N].to_vec()));
}

fn bzip2(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn nrrd_bzip2_and_byte_skip_minus_one_on_compressed_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = random_voxels(DType::Int16, N, &mut Rng(21));
    let bytes = bytes_in(&data, Endian::Big);
    let header = |encoding: &str, extra: &str| {
        format!(
            "NRRD0004\ntype: short\ndimension: 3\nsizes: 5 4 3\nendian: big\n\
             encoding: {encoding}\n{extra}"
        )
    };
    // bzip2, attached; and as two concatenated streams (as pbzip2 writes), detached.
    let path = dir.path().join("v.nrrd");
    write_attached(&path, &header("bzip2", ""), &bzip2(&bytes));
    assert_eq!(load(&path).data, data);
    let mut two = bzip2(&bytes[..50]);
    two.extend(bzip2(&bytes[50..]));
    std::fs::write(dir.path().join("v.raw.bz2"), &two).unwrap();
    let path = dir.path().join("v.nhdr");
    std::fs::write(&path, header("bz2", "data file: v.raw.bz2\n")).unwrap();
    assert_eq!(load(&path).data, data);

    // byte skip -1 with gzip and bzip2: the voxels are the decompressed stream's last bytes,
    // as pynrrd reads them.
    let mut stream = b"a preamble of 25 bytes..\n".to_vec();
    stream.extend(&bytes);
    for (encoding, compressed) in [("gzip", gzip(&stream)), ("bzip2", bzip2(&stream))] {
        std::fs::write(dir.path().join("s.bin"), &compressed).unwrap();
        std::fs::write(&path, header(encoding, "data file: s.bin\nbyte skip: -1\n")).unwrap();
        assert_eq!(load(&path).data, data, "{encoding}");
    }

    // A compressed stream holding more than the header describes is refused, not cut.
    std::fs::write(dir.path().join("s.bin"), gzip(&stream)).unwrap();
    std::fs::write(&path, header("gzip", "data file: s.bin\n")).unwrap();
    let err = volume::load(&path, &LoadOptions::default()).unwrap_err();
    assert!(err.to_string().contains("25 bytes left over"), "{err}");
    // So is a detached raw file larger than the voxels.
    std::fs::write(dir.path().join("s.bin"), &stream).unwrap();
    std::fs::write(&path, header("raw", "data file: s.bin\n")).unwrap();
    let err = volume::load(&path, &LoadOptions::default()).unwrap_err();
    assert!(err.to_string().contains("holds 25 bytes more"), "{err}");
}

fn nifti_payload(data: &VoxelData, endian: Endian) -> Vec<u8> {
    bytes_in(data, endian)
}

#[test]
fn nifti_every_type_both_endians_nii_and_gz() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(17);
    for dtype in DType::ALL {
        for endian in [Endian::Little, Endian::Big] {
            let data = random_voxels(dtype, N, &mut rng);
            let mut spec = NiftiSpec::new(DIMS, dtype);
            spec.endian = endian;
            spec.pixdim = [1.0, 0.8, 0.9, 3.0, 1.0, 1.0, 1.0, 1.0];
            let file = spec.file(&nifti_payload(&data, endian));
            let nii = dir.path().join(format!("{dtype}-{endian:?}.nii"));
            std::fs::write(&nii, &file).unwrap();
            let gz = dir.path().join(format!("{dtype}-{endian:?}.nii.gz"));
            std::fs::write(&gz, gzip(&file)).unwrap();
            for path in [nii, gz] {
                let v = load(&path);
                assert_eq!(v.data, data, "{}", path.display());
                assert_eq!(v.space, Space::Ras);
                assert!((v.spacing[2] - 3.0).abs() < 1e-6);
            }
        }
    }
}

#[test]
fn nifti_sform_wins_over_qform_and_qform_follows_the_standard() {
    let dir = tempfile::tempdir().unwrap();
    let data = random_voxels(DType::Int16, N, &mut Rng(19));
    let mut spec = NiftiSpec::new(DIMS, DType::Int16);
    // qform: 180 degrees about y (b,c,d = 0,1,0), qfac -1, spacing 2,3,4, offset (1,2,3).
    spec.qform_code = 1;
    spec.pixdim = [-1.0, 2.0, 3.0, 4.0, 1.0, 1.0, 1.0, 1.0];
    spec.quatern = [0.0, 1.0, 0.0, 1.0, 2.0, 3.0];
    let path = dir.path().join("q.nii");
    std::fs::write(&path, spec.file(&nifti_payload(&data, Endian::Little))).unwrap();
    let v = load(&path);
    // R(y, 180) = diag(-1, 1, -1); qfac flips k again: columns (-2,0,0) (0,3,0) (0,0,4).
    let expected = DMat4::from_cols(
        DVec4::new(-2.0, 0.0, 0.0, 0.0),
        DVec4::new(0.0, 3.0, 0.0, 0.0),
        DVec4::new(0.0, 0.0, 4.0, 0.0),
        DVec4::new(1.0, 2.0, 3.0, 1.0),
    );
    assert_mat4_close(v.world_from_voxel, expected, 1e-6);

    // With an sform as well, the sform is used (a permutation: i->z, j->x, k->y).
    spec.sform_code = 2;
    spec.srow = [
        [0.0, 1.5, 0.0, -5.0],
        [0.0, 0.0, 2.5, 6.0],
        [0.5, 0.0, 0.0, 7.0],
    ];
    std::fs::write(&path, spec.file(&nifti_payload(&data, Endian::Little))).unwrap();
    let v = load(&path);
    let expected = DMat4::from_cols(
        DVec4::new(0.0, 0.0, 0.5, 0.0),
        DVec4::new(1.5, 0.0, 0.0, 0.0),
        DVec4::new(0.0, 2.5, 0.0, 0.0),
        DVec4::new(-5.0, 6.0, 7.0, 1.0),
    );
    assert_mat4_close(v.world_from_voxel, expected, 1e-6);
    assert_eq!(v.spacing, [0.5, 1.5, 2.5]);
    // In LPS the same grid has x and y negated.
    let lps = v.world_from_voxel_in(Space::Lps);
    assert_eq!(lps.w_axis.truncate(), DVec3::new(5.0, -6.0, 7.0));
}

#[test]
fn nifti_scaling_units_and_4d() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.nii.gz");
    let data = VoxelData::Int16((0..2 * N as i16).collect());
    let mut spec = NiftiSpec::new(DIMS, DType::Int16);
    spec.dim[0] = 4;
    spec.dim[4] = 2;
    spec.scl_slope = 0.5;
    spec.scl_inter = -10.0;
    spec.xyzt_units = 3; // micrometres
    spec.pixdim = [1.0, 500.0, 500.0, 1000.0, 1.0, 1.0, 1.0, 1.0];
    std::fs::write(&path, gzip(&spec.file(&bytes_in(&data, Endian::Little)))).unwrap();
    let v = load(&path);
    let expected: Vec<f32> = (0..N).map(|i| i as f32 * 0.5 - 10.0).collect();
    assert_eq!(v.data, VoxelData::Float(expected));
    assert_eq!(v.range, [-10.0, 19.5]);
    assert_eq!(v.spacing, [0.5, 0.5, 1.0]);
    assert!(
        v.notes.iter().any(|n| n.contains("2 volumes")),
        "{:?}",
        v.notes
    );
}

#[test]
fn nifti_header_and_image_pair() {
    let dir = tempfile::tempdir().unwrap();
    let data = random_voxels(DType::Float, N, &mut Rng(23));
    let mut spec = NiftiSpec::new(DIMS, DType::Float);
    spec.magic = *b"ni1\0";
    spec.vox_offset = 0.0;
    std::fs::write(dir.path().join("p.hdr"), &spec.bytes()[..348]).unwrap();
    std::fs::write(dir.path().join("p.img"), bytes_in(&data, Endian::Little)).unwrap();
    assert_eq!(load(&dir.path().join("p.hdr")).data, data);
}

#[test]
fn metaimage_local_detached_compressed_and_msb() {
    let dir = tempfile::tempdir().unwrap();
    let data = random_voxels(DType::Int16, N, &mut Rng(29));
    let le = bytes_in(&data, Endian::Little);
    let be = bytes_in(&data, Endian::Big);
    // Axis i along y, j along -x, k along z, as ITK writes one direction per row of three.
    let geometry = "TransformMatrix = 0 1 0 -1 0 0 0 0 1\nOffset = 1 2 3\n\
                    ElementSpacing = 0.5 0.25 2\n";
    let head = |extra: &str, file: &str| {
        format!(
            "ObjectType = Image\nNDims = 3\nBinaryData = True\n{extra}{geometry}\
             DimSize = 5 4 3\nElementType = MET_SHORT\nElementDataFile = {file}\n"
        )
    };
    // (file name, header, detached data file, bytes after the header)
    type Case<'a> = (&'a str, String, Option<(&'a str, Vec<u8>)>, Vec<u8>);
    let cases: Vec<Case> = vec![
        ("local.mha", head("", "LOCAL"), None, le.clone()),
        (
            "msb.mha",
            head("BinaryDataByteOrderMSB = True\n", "LOCAL"),
            None,
            be.clone(),
        ),
        (
            "detached.mhd",
            head("", "detached.raw"),
            Some(("detached.raw", le.clone())),
            vec![],
        ),
        (
            "zipped.mhd",
            head("CompressedData = True\n", "zipped.zraw"),
            Some(("zipped.zraw", zlib(&le))),
            vec![],
        ),
    ];
    for (name, header, side, inline) in cases {
        let path = dir.path().join(name);
        let mut bytes = header.into_bytes();
        bytes.extend_from_slice(&inline);
        std::fs::write(&path, bytes).unwrap();
        if let Some((side_name, side_bytes)) = side {
            std::fs::write(dir.path().join(side_name), side_bytes).unwrap();
        }
        let v = load(&path);
        assert_eq!(v.data, data, "{name}");
        assert_eq!(v.space, Space::Lps);
        assert_eq!(v.spacing, [0.5, 0.25, 2.0]);
        let expected = DMat4::from_cols(
            DVec4::new(0.0, 0.5, 0.0, 0.0),
            DVec4::new(-0.25, 0.0, 0.0, 0.0),
            DVec4::new(0.0, 0.0, 2.0, 0.0),
            DVec4::new(1.0, 2.0, 3.0, 1.0),
        );
        assert_mat4_close(v.world_from_voxel, expected, 1e-12);
    }
}

#[test]
fn raw_with_layout_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = random_voxels(DType::Uint16, N, &mut Rng(31));
    let mut bytes = vec![0xAB; 16];
    bytes.extend(bytes_in(&data, Endian::Big));
    let path = dir.path().join("v.bin");
    std::fs::write(&path, bytes).unwrap();
    let spec = RawSpec {
        dims: DIMS,
        dtype: DType::Uint16,
        spacing: [1.0, 2.0, 3.0],
        endian: Endian::Big,
        offset: 16,
    };
    let v = volume::load(
        &path,
        &LoadOptions {
            raw: Some(&spec),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(v.data, data);
    assert_eq!(v.spacing, [1.0, 2.0, 3.0]);
    assert_eq!(v.format, Format::Raw);
}

/// Five tilted slices written in shuffled order, CT-like rescale.
fn write_series(dir: &std::path::Path, uid: &str, order: &[usize]) -> Vec<Vec<i16>> {
    let (rows, cols) = (3u16, 4u16);
    let row_dir = [1.0, 0.0, 0.0];
    let (c, s) = (10f64.to_radians().cos(), 10f64.to_radians().sin());
    let col_dir = [0.0, c, s];
    let normal = [0.0, -s, c];
    let mut slices = Vec::new();
    for (file_index, &k) in order.iter().enumerate() {
        let pixels: Vec<i16> = (0..rows as i16 * cols as i16)
            .map(|p| p * 10 + k as i16)
            .collect();
        let gap = 2.5;
        let pos = [
            -50.0,
            10.0 + normal[1] * gap * k as f64,
            20.0 + normal[2] * gap * k as f64,
        ];
        write_dicom(
            &dir.join(format!("IM{file_index:03}")),
            &DicomSlice {
                rows,
                cols,
                pixels: &pixels,
                frames: 1,
                positions: vec![pos],
                per_frame_positions: false,
                orientation: [
                    row_dir[0], row_dir[1], row_dir[2], col_dir[0], col_dir[1], col_dir[2],
                ],
                pixel_spacing: [0.6, 0.7],
                rescale: (1.0, -1024.0),
                series_uid: uid,
                instance: k as u32 + 1,
            },
        );
        slices.push(pixels);
    }
    slices
}

#[test]
fn dicom_series_sorted_by_position_with_rescale_and_tilt() {
    let dir = tempfile::tempdir().unwrap();
    write_series(dir.path(), "1.2.3.4", &[3, 0, 4, 1, 2]);
    let v = load(dir.path());
    assert_eq!(v.format, Format::Dicom);
    assert_eq!(v.dims, [4, 3, 5]);
    // PixelSpacing is (row spacing, column spacing): x is the column spacing.
    assert!((v.spacing[0] - 0.7).abs() < 1e-12 && (v.spacing[1] - 0.6).abs() < 1e-12);
    assert!((v.spacing[2] - 2.5).abs() < 1e-9, "{:?}", v.spacing);
    assert_eq!(v.data.dtype(), DType::Int16);
    // Slice k holds 10 p + k - 1024 at pixel p.
    for k in 0..5 {
        for p in 0..12 {
            assert_eq!(v.data.get_f64(k * 12 + p), (p * 10 + k) as f64 - 1024.0);
        }
    }
    let d = v.directions();
    let tilt = 10f64.to_radians();
    assert!(
        d.y_axis
            .abs_diff_eq(DVec3::new(0.0, tilt.cos(), tilt.sin()), 1e-9)
    );
    assert!(
        d.z_axis
            .abs_diff_eq(DVec3::new(0.0, -tilt.sin(), tilt.cos()), 1e-9)
    );
    assert!(v.origin().abs_diff_eq(DVec3::new(-50.0, 10.0, 20.0), 1e-9));
    assert_eq!(v.space, Space::Lps);
}

#[test]
fn dicom_multi_frame_file_with_and_without_per_frame_positions() {
    let dir = tempfile::tempdir().unwrap();
    let (rows, cols, frames) = (2u16, 3u16, 4u32);
    let pixels: Vec<i16> = (0..(rows * cols) as i16 * frames as i16).collect();
    // Frames stored top-down: positions descend along z, so the volume flips them.
    let positions: Vec<[f64; 3]> = (0..frames)
        .map(|k| [0.0, 0.0, 9.0 - 3.0 * k as f64])
        .collect();
    for per_frame in [true, false] {
        let path = dir.path().join(format!("mf-{per_frame}.dcm"));
        write_dicom(
            &path,
            &DicomSlice {
                rows,
                cols,
                pixels: &pixels,
                frames,
                positions: positions.clone(),
                per_frame_positions: per_frame,
                orientation: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
                pixel_spacing: [1.0, 1.0],
                rescale: (2.0, 0.0),
                series_uid: "9.8.7",
                instance: 1,
            },
        );
        let v = load(&path);
        assert_eq!(v.dims, [3, 2, 4]);
        assert!((v.spacing[2] - 3.0).abs() < 1e-9, "{:?}", v.spacing);
        if per_frame {
            // Sorted along +z: the last stored frame comes first.
            assert_eq!(v.data.get_f64(0), 2.0 * 18.0);
            assert!(v.origin().abs_diff_eq(DVec3::new(0.0, 0.0, 0.0), 1e-9));
        } else {
            // Without positions, frames follow the file's order from its one position.
            assert_eq!(v.data.get_f64(0), 0.0);
            assert!(v.origin().abs_diff_eq(DVec3::new(0.0, 0.0, 9.0), 1e-9));
        }
    }
}

#[test]
fn dicom_folder_problems_name_the_file_at_fault() {
    // Two series in one folder.
    let dir = tempfile::tempdir().unwrap();
    write_series(dir.path(), "1.1", &[0, 1]);
    let other = tempfile::tempdir().unwrap();
    write_series(other.path(), "2.2", &[2]);
    std::fs::rename(other.path().join("IM000"), dir.path().join("other")).unwrap();
    let e = load_err(dir.path());
    assert!(e.contains("2 DICOM series"), "{e}");

    // A foreign file among the slices.
    let dir = tempfile::tempdir().unwrap();
    write_series(dir.path(), "1.1", &[0, 1, 2]);
    std::fs::write(dir.path().join("notes.txt"), "not an image").unwrap();
    let e = load_err(dir.path());
    assert!(
        e.contains("not a readable DICOM file") && e.ends_with("notes.txt"),
        "{e}"
    );

    // Two slices at one position.
    let dir = tempfile::tempdir().unwrap();
    write_series(dir.path(), "1.1", &[0, 1, 1]);
    let e = load_err(dir.path());
    assert!(e.contains("share one position"), "{e}");

    // A broken (truncated) slice.
    let dir = tempfile::tempdir().unwrap();
    write_series(dir.path(), "1.1", &[0, 1, 2]);
    let victim = dir.path().join("IM001");
    let bytes = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, &bytes[..bytes.len() - 10]).unwrap();
    let e = load_err(dir.path());
    assert!(e.ends_with("IM001"), "{e}");

    // An empty folder.
    let dir = tempfile::tempdir().unwrap();
    let e = load_err(dir.path());
    assert!(e.contains("holds no files"), "{e}");
}

#[test]
fn format_is_sniffed_when_the_name_says_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = random_voxels(DType::Uint8, N, &mut Rng(37));
    let path = dir.path().join("volume.bin");
    write_attached(
        &path,
        "NRRD0004\ntype: uchar\ndimension: 3\nsizes: 5 4 3\nencoding: raw\n",
        &bytes_in(&data, Endian::Little),
    );
    assert_eq!(load(&path).format, Format::Nrrd);
    let nifti = dir.path().join("volume.img0");
    std::fs::write(
        &nifti,
        NiftiSpec::new(DIMS, DType::Uint8).file(&bytes_in(&data, Endian::Little)),
    )
    .unwrap();
    assert_eq!(load(&nifti).format, Format::Nifti);
}

#[test]
fn identity_matrix_helper_is_consistent() {
    // world_from_voxel's linear part equals directions x diag(spacing).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.nrrd");
    write_attached(
        &path,
        "NRRD0004\ntype: uchar\ndimension: 3\nsizes: 5 4 3\nencoding: raw\nspace: LPS\n\
         space directions: (0,2,0) (3,0,0) (0,0,-4)\n",
        &[0u8; N],
    );
    let v = load(&path);
    let lin = glam::DMat3::from_mat4(v.world_from_voxel);
    let rebuilt = v.directions() * glam::DMat3::from_diagonal(DVec3::from(v.spacing));
    assert!(lin.abs_diff_eq(rebuilt, 1e-12));
    assert_eq!(v.spacing, [2.0, 3.0, 4.0]);
    assert_eq!(v.range, [0.0, 0.0]);
}

#[test]
fn dicom_gantry_tilt_keeps_every_slice_where_its_position_says() {
    let dir = tempfile::tempdir().unwrap();
    let pixels = [1i16; 4];
    // Axial slices 3 mm apart whose positions also step 0.5 mm along y: a 9.5 degree tilt.
    let positions: Vec<[f64; 3]> = (0..4)
        .map(|k| [0.0, 0.5 * k as f64, 3.0 * k as f64])
        .collect();
    for (k, p) in positions.iter().enumerate() {
        write_dicom(
            &dir.path().join(format!("s{k}")),
            &DicomSlice {
                rows: 2,
                cols: 2,
                pixels: &pixels,
                frames: 1,
                positions: vec![*p],
                per_frame_positions: false,
                orientation: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
                pixel_spacing: [1.0, 1.0],
                rescale: (1.0, 0.0),
                series_uid: "5.5",
                instance: k as u32 + 1,
            },
        );
    }
    let v = load(dir.path());
    assert!(
        v.notes.iter().any(|n| n.contains("gantry tilt")),
        "{:?}",
        v.notes
    );
    for (k, p) in positions.iter().enumerate() {
        let world = v
            .world_from_voxel
            .transform_point3(DVec3::new(0.0, 0.0, k as f64));
        assert!(
            world.abs_diff_eq(DVec3::from(*p), 1e-9),
            "slice {k}: {world}"
        );
    }
}
