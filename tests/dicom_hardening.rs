//! Readers that survive every file: mutants of real DICOM slices (pydicom's CT_small.dcm and
//! MR_small_implicit.dcm, fetched by scripts/fetch-sample-data.sh) that once panicked, hung or
//! allocated gigabytes, FIFOs where files belong, and a detached NRRD pointing at a file of
//! the wrong size. Each must give a one-line error (or the right volume) at once, in bounded
//! memory.

mod common;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use gradvol::volume::{LoadOptions, Volume, load};

fn pydicom(name: &str) -> Vec<u8> {
    std::fs::read(common::sample_data_dir().join("pydicom").join(name)).unwrap()
}

/// Offset of an element's tag in an explicit or implicit VR little-endian file.
fn find(bytes: &[u8], group: u16, element: u16) -> usize {
    let mut pat = group.to_le_bytes().to_vec();
    pat.extend(element.to_le_bytes());
    bytes
        .windows(4)
        .position(|w| w == pat.as_slice())
        .unwrap_or_else(|| panic!("({group:04X},{element:04X}) not found"))
}

/// Loads `bytes` as a .dcm file in a thread, failing the test if it takes over 20 s.
fn load_bytes(bytes: &[u8]) -> Result<Volume, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mutant.dcm");
    std::fs::write(&path, bytes).unwrap();
    load_path(path)
}

fn load_path(path: PathBuf) -> Result<Volume, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(load(&path, &LoadOptions::default()).map_err(|e| e.to_string()));
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("the loader hung (over 20 s)")
}

/// The largest resident size this process has had, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

#[test]
fn every_length_field_claiming_4_gb_is_refused_by_the_walk_in_bounded_memory() {
    // Implicit VR: every element has a 4-byte length. Set each in turn to 0xFFFFFFF0.
    let original = pydicom("MR_small_implicit.dcm");
    let pixels = find(&original, 0x7FE0, 0x0010);
    let mut at = 132 + {
        // Skip the meta group: its length is the value of (0002,0000).
        let group_len = u32::from_le_bytes(original[140..144].try_into().unwrap()) as usize;
        12 + group_len
    };
    let mut mutants = 0;
    while at <= pixels {
        let len = u32::from_le_bytes(original[at + 4..at + 8].try_into().unwrap());
        let mut m = original.clone();
        m[at + 4..at + 8].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        let err = load_bytes(&m).expect_err("a 4 GB claim in a 10 KB file");
        assert!(
            err.contains("claims 4294967280 bytes") || err.contains("undefined length"),
            "element at {at}: {err}"
        );
        assert!(!err.contains('\n'));
        mutants += 1;
        if len == 0xFFFF_FFFF {
            break;
        }
        at += 8 + len as usize;
    }
    assert!(mutants > 30, "only {mutants} elements walked");
    // Nothing allocated what the claims asked for (4 GB each).
    assert!(
        peak_rss() < 1 << 30,
        "peak resident memory {} MB",
        peak_rss() >> 20
    );
}

#[test]
fn pixel_attributes_that_crashed_decoders_are_refused_by_name() {
    let original = pydicom("CT_small.dcm");
    let bits_stored = find(&original, 0x0028, 0x0101) + 8;
    for (value, words) in [
        (0u16, "BitsStored 0"),
        (33, "BitsStored 33"),
        (40, "BitsStored 40"),
    ] {
        let mut m = original.clone();
        m[bits_stored..bits_stored + 2].copy_from_slice(&value.to_le_bytes());
        let err = load_bytes(&m).unwrap_err();
        assert!(err.contains(words), "{err}");
    }
    let high_bit = find(&original, 0x0028, 0x0102) + 8;
    let mut m = original.clone();
    m[high_bit..high_bit + 2].copy_from_slice(&16u16.to_le_bytes());
    assert!(load_bytes(&m).unwrap_err().contains("HighBit 16"));
    let allocated = find(&original, 0x0028, 0x0100) + 8;
    let mut m = original.clone();
    m[allocated..allocated + 2].copy_from_slice(&12u16.to_le_bytes());
    assert!(load_bytes(&m).unwrap_err().contains("BitsAllocated 12"));
}

#[test]
fn a_duplicated_element_is_an_error_not_a_default() {
    let original = pydicom("CT_small.dcm");
    let at = find(&original, 0x0028, 0x0030);
    let len = u16::from_le_bytes(original[at + 6..at + 8].try_into().unwrap()) as usize;
    let element = original[at..at + 8 + len].to_vec();
    let mut m = original[..at + 8 + len].to_vec();
    m.extend(&element);
    m.extend(&original[at + 8 + len..]);
    let err = load_bytes(&m).unwrap_err();
    assert!(err.contains("(0028,0030) appears twice"), "{err}");
}

#[test]
fn elements_stored_as_un_read_as_their_standard_vr() {
    let original = pydicom("CT_small.dcm");
    let reference = load_bytes(&original).unwrap();
    // ImageOrientationPatient and PixelSpacing rewritten from DS to UN (long form), as some
    // anonymisers and PACS exports store them.
    let mut m = original.clone();
    for (g, e) in [(0x0020, 0x0037), (0x0028, 0x0030)] {
        let at = find(&m, g, e);
        assert_eq!(&m[at + 4..at + 6], b"DS");
        let len = u16::from_le_bytes(m[at + 6..at + 8].try_into().unwrap()) as u32;
        let mut header = m[at..at + 4].to_vec();
        header.extend(b"UN\0\0");
        header.extend(len.to_le_bytes());
        m.splice(at..at + 8, header);
    }
    let v = load_bytes(&m).unwrap();
    assert_eq!(v.dims, reference.dims);
    assert_eq!(v.spacing, reference.spacing);
    assert_eq!(v.world_from_voxel, reference.world_from_voxel);
    assert_eq!(v.range, reference.range);
}

#[test]
fn a_malformed_number_is_an_error() {
    let original = pydicom("CT_small.dcm");
    let mut m = original.clone();
    let at = find(&m, 0x0028, 0x0010); // Rows, US
    m[at + 4..at + 6].copy_from_slice(b"IS");
    m[at + 8..at + 10].copy_from_slice(b"1A");
    let err = load_bytes(&m).unwrap_err();
    assert!(err.contains("Rows '1A' is not a number"), "{err}");
}

#[test]
fn truncated_pixel_data_is_named() {
    let original = pydicom("CT_small.dcm");
    let end = find(&original, 0x7FE0, 0x0010) + 12 + 32768;
    let err = load_bytes(&original[..end - 100]).unwrap_err();
    assert!(
        err.contains("element (7FE0,0010) claims 32768 bytes but only 32668 are left"),
        "{err}"
    );
}

fn mkfifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mkfifo failed");
}

#[test]
fn fifos_are_never_opened() {
    let dir = tempfile::tempdir().unwrap();
    // A FIFO given as the volume.
    let fifo = dir.path().join("volume.dcm");
    mkfifo(&fifo);
    let err = load_path(fifo.clone()).unwrap_err();
    assert!(err.contains("not a regular file"), "{err}");
    // A FIFO inside a DICOM folder is skipped with a note.
    let series = dir.path().join("series");
    std::fs::create_dir(&series).unwrap();
    std::fs::write(series.join("a.dcm"), pydicom("CT_small.dcm")).unwrap();
    mkfifo(&series.join("b.dcm"));
    let v = load_path(series).unwrap();
    assert_eq!(v.dims, [128, 128, 1]);
    assert!(
        v.notes.iter().any(|n| n.contains("not regular files")),
        "{:?}",
        v.notes
    );
    // A FIFO as a MetaImage's detached data file.
    let mhd = dir.path().join("v.mhd");
    std::fs::write(
        &mhd,
        "ObjectType = Image\nNDims = 3\nDimSize = 2 2 2\nElementType = MET_UCHAR\n\
         ElementDataFile = v.raw\n",
    )
    .unwrap();
    mkfifo(&dir.path().join("v.raw"));
    let err = load_path(mhd).unwrap_err();
    assert!(err.contains("not a regular file"), "{err}");
}

#[test]
fn a_detached_nrrd_whose_data_file_is_a_gzip_nifti_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A .nii.gz holding 4x4x4 bytes: its decompressed stream is the 352-byte header + 64.
    let src = common::sample_data_dir().join("ch2.nii.gz");
    let ch2 = load(&src, &LoadOptions::default()).unwrap();
    assert!(ch2.voxel_count() > 64);
    std::fs::copy(&src, dir.path().join("data.nii.gz")).unwrap();
    let nhdr = dir.path().join("v.nhdr");
    std::fs::write(
        &nhdr,
        "NRRD0004\ntype: uint8\ndimension: 3\nsizes: 181 217 181\nencoding: gzip\n\
         data file: data.nii.gz\n",
    )
    .unwrap();
    let err = load_path(nhdr).unwrap_err();
    assert!(err.contains("bytes left over"), "{err}");
}

#[test]
fn compressed_pixel_data_cannot_claim_gigabytes() {
    // RLE pixel data of a few KB whose Rows and Columns say 65535: the decoder would allocate
    // 8.6 GB before finding out.
    let mut m = pydicom("MR_small_RLE.dcm");
    for e in [0x0010, 0x0011] {
        let at = find(&m, 0x0028, e);
        assert_eq!(&m[at + 4..at + 6], b"US");
        m[at + 8..at + 10].copy_from_slice(&65535u16.to_le_bytes());
    }
    let err = load_bytes(&m).unwrap_err();
    assert!(
        err.contains("the header claims 8589672450 bytes of voxel data"),
        "{err}"
    );
    assert!(peak_rss() < 1 << 30, "peak {} MB", peak_rss() >> 20);
}
