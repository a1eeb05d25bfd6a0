//! Helpers shared by the integration tests: a deterministic random source and writers that lay
//! out NRRD, MetaImage, NIfTI-1 and DICOM files byte by byte, independently of gradvol's readers.

#![allow(dead_code, reason = "each test binary uses a different subset")]

pub mod display;
pub mod http;

pub mod render;

use std::io::Write;
use std::path::{Path, PathBuf};

use gradvol::volume::{self, DType, Endian, LoadOptions, Volume, VoxelData};

/// xorshift64*: small, deterministic, good enough for test data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `n` random voxels of type `dtype` spanning much of the type's range (finite for floats).
pub fn random_voxels(dtype: DType, n: usize, rng: &mut Rng) -> VoxelData {
    let mut bits = || rng.next_u64();
    match dtype {
        DType::Int8 => VoxelData::Int8((0..n).map(|_| bits() as i8).collect()),
        DType::Uint8 => VoxelData::Uint8((0..n).map(|_| bits() as u8).collect()),
        DType::Int16 => VoxelData::Int16((0..n).map(|_| bits() as i16).collect()),
        DType::Uint16 => VoxelData::Uint16((0..n).map(|_| bits() as u16).collect()),
        DType::Int32 => VoxelData::Int32((0..n).map(|_| bits() as i32).collect()),
        DType::Uint32 => VoxelData::Uint32((0..n).map(|_| bits() as u32).collect()),
        DType::Float => VoxelData::Float((0..n).map(|_| (bits() as i32) as f32 / 1024.0).collect()),
        DType::Double => VoxelData::Double((0..n).map(|_| (bits() as i64) as f64 / 1e6).collect()),
    }
}

/// The voxels' bytes in the given byte order.
pub fn bytes_in(data: &VoxelData, endian: Endian) -> Vec<u8> {
    let mut bytes = data.as_bytes().to_vec();
    if endian != Endian::native() {
        let size = data.dtype().size();
        bytes.chunks_exact_mut(size).for_each(|c| c.reverse());
    }
    bytes
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

pub fn zlib(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Writes `header` (lines without the blank terminator) followed by a blank line and `payload`.
pub fn write_attached(path: &Path, header: &str, payload: &[u8]) {
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(header.as_bytes()).unwrap();
    f.write_all(b"\n").unwrap();
    f.write_all(payload).unwrap();
}

pub fn load(path: &Path) -> Volume {
    volume::load(path, &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{} should load: {e}", path.display()))
}

pub fn load_err(path: &Path) -> String {
    match volume::load(path, &LoadOptions::default()) {
        Ok(v) => panic!("{} should fail to load, got {:?}", path.display(), v.dims),
        Err(e) => e.to_string(),
    }
}

/// An axis-aligned volume at the origin holding `data`.
pub fn grid_volume(dims: [usize; 3], spacing: [f64; 3], data: VoxelData) -> Volume {
    Volume::from_geometry(
        dims,
        spacing,
        glam::DMat3::IDENTITY,
        glam::DVec3::ZERO,
        gradvol::volume::Space::Lps,
        gradvol::volume::Decoded::scan(data),
        gradvol::volume::Format::Raw,
    )
    .unwrap()
}

/// A JSON array of numbers.
pub fn numbers(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// `a` and `b` agree to `tol` in every element.
pub fn assert_mat4_close(a: glam::DMat4, b: glam::DMat4, tol: f64) {
    assert!(a.abs_diff_eq(b, tol), "matrices differ:\n{a}\n{b}");
}

/// A NIfTI-1 header laid out byte by byte from the standard's offsets.
#[derive(Clone, Debug)]
pub struct NiftiSpec {
    pub dim: [i16; 8],
    pub datatype: i16,
    pub bitpix: i16,
    pub pixdim: [f32; 8],
    pub vox_offset: f32,
    pub scl_slope: f32,
    pub scl_inter: f32,
    pub xyzt_units: u8,
    pub qform_code: i16,
    pub sform_code: i16,
    pub quatern: [f32; 6],
    pub srow: [[f32; 4]; 3],
    pub magic: [u8; 4],
    pub endian: Endian,
}

impl NiftiSpec {
    pub fn new(dims: [usize; 3], dtype: DType) -> NiftiSpec {
        let (datatype, bitpix) = match dtype {
            DType::Uint8 => (2, 8),
            DType::Int16 => (4, 16),
            DType::Int32 => (8, 32),
            DType::Float => (16, 32),
            DType::Double => (64, 64),
            DType::Int8 => (256, 8),
            DType::Uint16 => (512, 16),
            DType::Uint32 => (768, 32),
        };
        NiftiSpec {
            dim: [
                3,
                dims[0] as i16,
                dims[1] as i16,
                dims[2] as i16,
                1,
                1,
                1,
                1,
            ],
            datatype,
            bitpix,
            pixdim: [1.0; 8],
            vox_offset: 352.0,
            scl_slope: 0.0,
            scl_inter: 0.0,
            xyzt_units: 2,
            qform_code: 0,
            sform_code: 0,
            quatern: [0.0; 6],
            srow: [
                [1.0, 0.0, 0.0, 0.0],
                [0.0, 1.0, 0.0, 0.0],
                [0.0, 0.0, 1.0, 0.0],
            ],
            magic: *b"n+1\0",
            endian: Endian::Little,
        }
    }

    /// The 348-byte header plus the 4-byte extension flag.
    pub fn bytes(&self) -> Vec<u8> {
        let mut b = vec![0u8; 352];
        let be = self.endian == Endian::Big;
        let put = |b: &mut Vec<u8>, at: usize, bytes: &[u8]| {
            let mut v = bytes.to_vec();
            if be {
                v.reverse();
            }
            b[at..at + v.len()].copy_from_slice(&v);
        };
        put(&mut b, 0, &348i32.to_le_bytes());
        for (k, d) in self.dim.iter().enumerate() {
            put(&mut b, 40 + 2 * k, &d.to_le_bytes());
        }
        put(&mut b, 70, &self.datatype.to_le_bytes());
        put(&mut b, 72, &self.bitpix.to_le_bytes());
        for (k, p) in self.pixdim.iter().enumerate() {
            put(&mut b, 76 + 4 * k, &p.to_le_bytes());
        }
        put(&mut b, 108, &self.vox_offset.to_le_bytes());
        put(&mut b, 112, &self.scl_slope.to_le_bytes());
        put(&mut b, 116, &self.scl_inter.to_le_bytes());
        b[123] = self.xyzt_units;
        put(&mut b, 252, &self.qform_code.to_le_bytes());
        put(&mut b, 254, &self.sform_code.to_le_bytes());
        for (k, q) in self.quatern.iter().enumerate() {
            put(&mut b, 256 + 4 * k, &q.to_le_bytes());
        }
        for (r, row) in self.srow.iter().enumerate() {
            for (k, v) in row.iter().enumerate() {
                put(&mut b, 280 + 16 * r + 4 * k, &v.to_le_bytes());
            }
        }
        b[344..348].copy_from_slice(&self.magic);
        b
    }

    /// Header followed by `payload` (already in the header's byte order).
    pub fn file(&self, payload: &[u8]) -> Vec<u8> {
        let mut f = self.bytes();
        f.resize(self.vox_offset as usize, 0);
        f.extend_from_slice(payload);
        f
    }
}

/// One synthetic DICOM slice (or multi-frame image) for the DICOM tests.
pub struct DicomSlice<'a> {
    pub rows: u16,
    pub cols: u16,
    pub pixels: &'a [i16],
    pub frames: u32,
    /// Per frame when `frames > 1` and `per_frame_positions` is set; else the one position.
    pub positions: Vec<[f64; 3]>,
    pub per_frame_positions: bool,
    pub orientation: [f64; 6],
    pub pixel_spacing: [f64; 2],
    pub rescale: (f64, f64),
    pub series_uid: &'a str,
    pub instance: u32,
}

/// Writes a slice as an explicit-VR little-endian DICOM file with dicom-object.
pub fn write_dicom(path: &Path, s: &DicomSlice) {
    use dicom_core::value::DataSetSequence;
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::{tags, uids};
    use dicom_object::{FileMetaTableBuilder, InMemDicomObject};

    let ds = |v: &[f64]| {
        PrimitiveValue::Strs(v.iter().map(|x| format!("{x}")).collect::<Vec<_>>().into())
    };
    let text = |s: &str| PrimitiveValue::from(s.to_owned());
    let sop_uid = format!("{}.{}", s.series_uid, s.instance);
    let mut obj = InMemDicomObject::new_empty();
    obj.put(DataElement::new(
        tags::SOP_CLASS_UID,
        VR::UI,
        text(uids::MR_IMAGE_STORAGE),
    ));
    obj.put(DataElement::new(
        tags::SOP_INSTANCE_UID,
        VR::UI,
        text(&sop_uid),
    ));
    obj.put(DataElement::new(tags::MODALITY, VR::CS, text("MR")));
    obj.put(DataElement::new(
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        text(s.series_uid),
    ));
    obj.put(DataElement::new(
        tags::INSTANCE_NUMBER,
        VR::IS,
        text(&s.instance.to_string()),
    ));
    obj.put(DataElement::new(
        tags::IMAGE_ORIENTATION_PATIENT,
        VR::DS,
        ds(&s.orientation),
    ));
    obj.put(DataElement::new(
        tags::PIXEL_SPACING,
        VR::DS,
        ds(&s.pixel_spacing),
    ));
    obj.put(DataElement::new(
        tags::IMAGE_POSITION_PATIENT,
        VR::DS,
        ds(&s.positions[0]),
    ));
    obj.put(DataElement::new(
        tags::SAMPLES_PER_PIXEL,
        VR::US,
        PrimitiveValue::from(1u16),
    ));
    obj.put(DataElement::new(
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        text("MONOCHROME2"),
    ));
    obj.put(DataElement::new(
        tags::ROWS,
        VR::US,
        PrimitiveValue::from(s.rows),
    ));
    obj.put(DataElement::new(
        tags::COLUMNS,
        VR::US,
        PrimitiveValue::from(s.cols),
    ));
    obj.put(DataElement::new(
        tags::BITS_ALLOCATED,
        VR::US,
        PrimitiveValue::from(16u16),
    ));
    obj.put(DataElement::new(
        tags::BITS_STORED,
        VR::US,
        PrimitiveValue::from(16u16),
    ));
    obj.put(DataElement::new(
        tags::HIGH_BIT,
        VR::US,
        PrimitiveValue::from(15u16),
    ));
    obj.put(DataElement::new(
        tags::PIXEL_REPRESENTATION,
        VR::US,
        PrimitiveValue::from(1u16),
    ));
    obj.put(DataElement::new(
        tags::RESCALE_SLOPE,
        VR::DS,
        ds(&[s.rescale.0]),
    ));
    obj.put(DataElement::new(
        tags::RESCALE_INTERCEPT,
        VR::DS,
        ds(&[s.rescale.1]),
    ));
    if s.frames > 1 {
        obj.put(DataElement::new(
            tags::NUMBER_OF_FRAMES,
            VR::IS,
            text(&s.frames.to_string()),
        ));
        if s.per_frame_positions {
            let items: Vec<InMemDicomObject> = s
                .positions
                .iter()
                .map(|p| {
                    let plane = InMemDicomObject::from_element_iter([DataElement::new(
                        tags::IMAGE_POSITION_PATIENT,
                        VR::DS,
                        ds(p),
                    )]);
                    InMemDicomObject::from_element_iter([DataElement::new(
                        tags::PLANE_POSITION_SEQUENCE,
                        VR::SQ,
                        DataSetSequence::from(vec![plane]),
                    )])
                })
                .collect();
            obj.put(DataElement::new(
                tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
                VR::SQ,
                DataSetSequence::from(items),
            ));
        } else {
            let gap = if s.positions.len() > 1 {
                let (a, b) = (s.positions[0], s.positions[1]);
                ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2) + (b[2] - a[2]).powi(2)).sqrt()
            } else {
                1.0
            };
            obj.put(DataElement::new(
                tags::SPACING_BETWEEN_SLICES,
                VR::DS,
                ds(&[gap]),
            ));
        }
    }
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U16(
            s.pixels
                .iter()
                .map(|&v| v as u16)
                .collect::<Vec<_>>()
                .into(),
        ),
    ));
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                .media_storage_sop_class_uid(uids::MR_IMAGE_STORAGE)
                .media_storage_sop_instance_uid(&sop_uid),
        )
        .unwrap();
    file.write_to_file(path).unwrap();
}

/// The folder of real sample volumes fetched by scripts/fetch-sample-data.sh. Missing data is a
/// failure, never a skip: the tests tell the user how to fetch it.
pub fn sample_data_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    assert!(
        dir.join("SOURCES.txt").is_file(),
        "the sample volumes are missing from {}: run scripts/fetch-sample-data.sh first",
        dir.display()
    );
    dir
}

/// Runs the gradvol binary at `exe` with `args` (a runtime folder set, so Mesa stays quiet).
pub fn run_gradvol(exe: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(exe)
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .unwrap()
}

/// The JSON summary line a successful gradvol command printed.
pub fn summary(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "gradvol failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `volume` converted to OME-Zarr (zstd, chunks of `chunk` voxels, `shard` chunks a shard side)
/// in a temporary folder, opened.
pub fn store_of(
    volume: &Volume,
    chunk: usize,
    shard: usize,
) -> (
    tempfile::TempDir,
    std::sync::Arc<gradvol::volume::zarr::Pyramid>,
) {
    use gradvol::volume::zarr::{Codec, ConvertOptions, Location, Pyramid, convert};
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("v.ome.zarr");
    let options = ConvertOptions {
        chunk,
        shard,
        codec: Codec::Zstd,
        gradient: None,
        min_levels: 1,
    };
    convert(volume, &store, options, &|_, _| {}).unwrap();
    let pyramid = Pyramid::open(&Location::Folder(store)).unwrap();
    (dir, std::sync::Arc::new(pyramid))
}
