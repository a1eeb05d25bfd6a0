//! Headerless raw voxels, laid out as the user says: x fastest, then y, then z.

use std::path::Path;

use glam::{DMat3, DVec3};

use super::payload::{Compression, Payload};
use super::{DType, Endian, ErrorKind, Format, Space, VolumeSource, voxel_count};

/// The layout of a raw file (`--raw-dims`, `--raw-type`, `--raw-spacing`, `--raw-endian`,
/// `--raw-offset`).
#[derive(Debug, Clone, PartialEq)]
pub struct RawSpec {
    pub dims: [usize; 3],
    pub dtype: DType,
    pub spacing: [f64; 3],
    pub endian: Endian,
    /// Bytes to skip at the start of the file.
    pub offset: u64,
}

pub(super) fn source(path: &Path, spec: &RawSpec) -> Result<VolumeSource, ErrorKind> {
    let count = voxel_count(spec.dims)?;
    let needed = count * spec.dtype.size() as u64;
    let file_len = std::fs::metadata(path)?.len();
    let mut notes = Vec::new();
    let left = file_len.saturating_sub(spec.offset.saturating_add(needed));
    if left > 0 {
        notes.push(format!("{left} bytes after the voxels were not read"));
    }
    Ok(VolumeSource {
        dims: spec.dims,
        spacing: spec.spacing,
        axes: DMat3::IDENTITY,
        origin: DVec3::ZERO,
        space: Space::Lps,
        format: Format::Raw,
        notes,
        payload: Payload {
            path: path.to_path_buf(),
            offset: spec.offset,
            from_end: false,
            compression: Compression::None,
            skip: 0,
            dtype: spec.dtype,
            endian: spec.endian,
            count,
            whole: false,
        },
        components: 1,
        rescale: None,
        data_file: None,
    })
}
