//! The volume model (a 3-D scalar grid and where it sits in patient space) and the loader that
//! opens every supported format into it.
//!
//! Every command opens volumes through [`load`]. Each format has a module of its own; they share
//! the bounded payload reader in [`payload`], so no reader allocates what a header merely claims.

mod dicom;
mod downsample;
mod error;
mod export;
mod metaimage;
mod nifti;
mod nrrd;
pub(crate) mod payload;
mod raw;
mod source;
pub mod synthetic;
mod voxels;
pub mod zarr;

use std::path::Path;

use glam::{DMat3, DMat4, DVec3, DVec4};
use serde::Serialize;

pub use error::{ErrorKind, LoadError};
pub use export::{ExportError, OutputFormat, output_format, write_float_volume, write_volume};
pub use raw::RawSpec;
pub use source::VolumeSource;
pub use voxels::{DType, Decoded, Endian, Scalar, VoxelData, finite_range};

/// No volume may have more voxels than this (2^34, 16 Gi voxels), whatever its header says.
pub const MAX_VOXELS: u64 = 1 << 34;

/// The anatomical frame world coordinates are expressed in.
///
/// LPS (x to the patient's left, y posterior, z superior) is DICOM's, ITK's and MetaImage's;
/// RAS is NIfTI's. NRRD files name theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Space {
    #[serde(rename = "LPS")]
    Lps,
    #[serde(rename = "RAS")]
    Ras,
}

impl Space {
    pub fn name(self) -> &'static str {
        match self {
            Space::Lps => "LPS",
            Space::Ras => "RAS",
        }
    }

    /// The matrix that maps points of `self` into `to` (a flip of x and y, or the identity).
    pub fn to_space(self, to: Space) -> DMat4 {
        if self == to {
            DMat4::IDENTITY
        } else {
            DMat4::from_diagonal(DVec4::new(-1.0, -1.0, 1.0, 1.0))
        }
    }
}

/// The file format a volume came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Nrrd,
    Nifti,
    MetaImage,
    Dicom,
    Raw,
    #[serde(rename = "ome-zarr")]
    OmeZarr,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Nrrd => "NRRD",
            Format::Nifti => "NIfTI",
            Format::MetaImage => "MetaImage",
            Format::Dicom => "DICOM",
            Format::Raw => "raw",
            Format::OmeZarr => "OME-Zarr",
        }
    }
}

/// A scalar volume: voxels on a regular grid and the affine map from voxel indices to
/// millimetres in an anatomical space.
#[derive(Debug, Clone)]
pub struct Volume {
    /// Voxels along x, y and z (x fastest in [`Volume::data`]).
    pub dims: [usize; 3],
    /// Distance between voxel centres along each axis, in mm (always positive: flips live in
    /// `world_from_voxel`).
    pub spacing: [f64; 3],
    /// Maps a voxel index (i, j, k, 1) to a point in `space`, in mm. Its upper-left 3x3 holds
    /// one column per voxel axis: the axis direction times its spacing.
    pub world_from_voxel: DMat4,
    pub space: Space,
    pub data: VoxelData,
    /// Minimum and maximum finite value.
    pub range: [f64; 2],
    pub format: Format,
    /// Things the loader did that a user should know (a 4-D file cut to its first volume, ...).
    pub notes: Vec<String>,
    /// An OME-Zarr image's levels and the one these voxels came from.
    pub pyramid: Option<zarr::PyramidSummary>,
}

impl Volume {
    /// Builds a volume from its geometry: `axes` holds one direction per voxel axis as a column
    /// (normalised here), `origin` is the centre of voxel (0, 0, 0). `voxels` carries the value
    /// range when the reader already knows it (see [`Decoded::scan`] otherwise).
    pub fn from_geometry(
        dims: [usize; 3],
        spacing: [f64; 3],
        axes: DMat3,
        origin: DVec3,
        space: Space,
        voxels: Decoded,
        format: Format,
    ) -> Result<Volume, ErrorKind> {
        let Decoded { data, range } = voxels;
        let count = voxel_count(dims)?;
        if data.len() as u64 != count {
            return Err(ErrorKind::invalid(format!(
                "{} voxels were read but the dimensions {}x{}x{} need {count}",
                data.len(),
                dims[0],
                dims[1],
                dims[2]
            )));
        }
        let world_from_voxel = world_from_voxel(spacing, axes, origin)?;
        let mut notes = Vec::new();
        let range = range.unwrap_or_else(|| {
            notes.push("the volume holds no finite value".to_owned());
            [0.0, 0.0]
        });
        Ok(Volume {
            dims,
            spacing,
            world_from_voxel,
            space,
            data,
            range,
            format,
            notes,
            pyramid: None,
        })
    }

    pub fn voxel_count(&self) -> usize {
        self.dims[0] * self.dims[1] * self.dims[2]
    }

    /// Unit direction of each voxel axis in world space, as columns.
    pub fn directions(&self) -> DMat3 {
        let m = DMat3::from_mat4(self.world_from_voxel);
        DMat3::from_cols(
            m.x_axis / self.spacing[0],
            m.y_axis / self.spacing[1],
            m.z_axis / self.spacing[2],
        )
    }

    /// World position of voxel (0, 0, 0).
    pub fn origin(&self) -> DVec3 {
        self.world_from_voxel.w_axis.truncate()
    }

    /// `world_from_voxel` expressed in another anatomical space.
    pub fn world_from_voxel_in(&self, space: Space) -> DMat4 {
        self.space.to_space(space) * self.world_from_voxel
    }

    /// The summary `gradvol info --json` prints.
    pub fn info(&self, path: &Path) -> VolumeInfo {
        let rows = |m: DMat4| -> [[f64; 4]; 4] { m.transpose().to_cols_array_2d() };
        let dirs = self.directions().transpose().to_cols_array_2d();
        VolumeInfo {
            path: path.display().to_string(),
            format: self.format,
            dims: self.dims,
            spacing: self.spacing,
            world_from_voxel: rows(self.world_from_voxel),
            space: self.space,
            origin: self.origin().to_array(),
            directions: dirs,
            dtype: self.data.dtype(),
            range: self.range,
            voxels: self.voxel_count() as u64,
            bytes: self.data.as_bytes().len() as u64,
            extent_mm: std::array::from_fn(|i| self.spacing[i] * self.dims[i] as f64),
            notes: self.notes.clone(),
            pyramid: self.pyramid.clone(),
        }
    }
}

/// Maps voxel indices to world millimetres: `axes` holds one direction per voxel axis as a
/// column (normalised here), `origin` is the centre of voxel (0, 0, 0). Refuses a spacing that
/// is not positive and finite, and directions or an origin that are degenerate.
pub(crate) fn world_from_voxel(
    spacing: [f64; 3],
    axes: DMat3,
    origin: DVec3,
) -> Result<DMat4, ErrorKind> {
    if let Some(s) = spacing.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(ErrorKind::invalid(format!(
            "voxel spacing must be positive and finite, found {s}"
        )));
    }
    let cols = [axes.x_axis, axes.y_axis, axes.z_axis];
    if cols.iter().any(|c| !c.is_finite() || c.length() < 1e-12) || !origin.is_finite() {
        return Err(ErrorKind::invalid(
            "the axis directions or origin are zero, infinite or NaN",
        ));
    }
    let unit = DMat3::from_cols(
        cols[0].normalize(),
        cols[1].normalize(),
        cols[2].normalize(),
    );
    if unit.determinant().abs() < 1e-6 {
        return Err(ErrorKind::invalid(
            "the axis directions are parallel: the grid has no volume",
        ));
    }
    let linear = unit * DMat3::from_diagonal(DVec3::from(spacing));
    Ok(DMat4::from_cols(
        linear.x_axis.extend(0.0),
        linear.y_axis.extend(0.0),
        linear.z_axis.extend(0.0),
        origin.extend(1.0),
    ))
}

/// What `gradvol info --json` prints: scripts and tests rely on these names.
#[derive(Debug, Clone, Serialize)]
pub struct VolumeInfo {
    pub path: String,
    pub format: Format,
    pub dims: [usize; 3],
    pub spacing: [f64; 3],
    /// Row-major 4x4: `world_from_voxel[row][col]`.
    pub world_from_voxel: [[f64; 4]; 4],
    pub space: Space,
    pub origin: [f64; 3],
    /// Row-major 3x3 whose columns are the unit directions of the voxel axes.
    pub directions: [[f64; 3]; 3],
    pub dtype: DType,
    pub range: [f64; 2],
    pub voxels: u64,
    pub bytes: u64,
    /// Size of the grid in mm along each voxel axis (dims x spacing).
    pub extent_mm: [f64; 3],
    pub notes: Vec<String>,
    /// For OME-Zarr: the pyramid's levels and the one read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pyramid: Option<zarr::PyramidSummary>,
}

/// The error for a path that is neither a file nor a folder.
pub(crate) fn not_regular() -> ErrorKind {
    ErrorKind::invalid(
        "not a regular file (a FIFO, device or socket); gradvol reads files and folders",
    )
}

/// Opens a file for reading after checking that it is a regular one: opening a FIFO blocks
/// until something writes to it.
pub(crate) fn open_regular(path: &Path) -> Result<std::fs::File, ErrorKind> {
    if !std::fs::metadata(path)?.is_file() {
        return Err(not_regular());
    }
    Ok(std::fs::File::open(path)?)
}

/// Checks dimensions and returns the voxel count, refusing zero sizes and absurd claims.
pub fn voxel_count(dims: [usize; 3]) -> Result<u64, ErrorKind> {
    if dims.contains(&0) {
        return Err(ErrorKind::invalid(format!(
            "dimensions {}x{}x{} contain a zero",
            dims[0], dims[1], dims[2]
        )));
    }
    dims.iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
        .filter(|&n| n <= MAX_VOXELS)
        .ok_or_else(|| {
            ErrorKind::invalid(format!(
                "dimensions {}x{}x{} exceed the limit of {MAX_VOXELS} voxels",
                dims[0], dims[1], dims[2]
            ))
        })
}

/// Reports progress while a volume loads: `(bytes done, bytes in all)`.
pub type Progress<'a> = &'a (dyn Fn(u64, u64) + Sync);

/// How to open a volume.
#[derive(Default, Clone, Copy)]
pub struct LoadOptions<'a> {
    /// Read the file as headerless raw voxels with this layout.
    pub raw: Option<&'a RawSpec>,
    pub progress: Option<Progress<'a>>,
    /// The OME-Zarr level to read (0 = full resolution); by default the finest level with at
    /// most [`zarr::DEFAULT_LEVEL_VOXELS`] voxels.
    pub level: Option<usize>,
}

impl std::fmt::Debug for LoadOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadOptions")
            .field("raw", &self.raw)
            .field("progress", &self.progress.is_some())
            .field("level", &self.level)
            .finish()
    }
}

impl LoadOptions<'_> {
    pub(crate) fn report(&self, done: u64, total: u64) {
        if let Some(p) = self.progress {
            p(done, total);
        }
    }
}

/// Opens the volume at `path`: a file in any supported format, a folder holding one DICOM
/// series, or an OME-Zarr image (a folder or an `http(s)://` URL). The format comes from the
/// name and, failing that, from the file's first bytes.
pub fn load(path: &Path, options: &LoadOptions) -> Result<Volume, LoadError> {
    match open(path, options)? {
        Opened::Source(source) => source.read(options).map_err(|e| LoadError::new(path, e)),
        Opened::Read(volume) => Ok(volume),
        Opened::Store { pyramid, level } => zarr::read(path, &pyramid, level, options),
    }
}

/// A volume opened for reading: its header read and its voxels not yet, or read already
/// (formats whose voxels cannot be read a slab at a time).
#[derive(Debug)]
pub enum Opened {
    Source(VolumeSource),
    Read(Volume),
    /// An OME-Zarr image, and the level asked for (`--level`), if any.
    Store {
        pyramid: Box<zarr::Pyramid>,
        level: Option<usize>,
    },
}

/// Opens the volume at `path` as [`load`] does, reading its voxels only where they cannot be
/// read a slab at a time later (DICOM, NRRD's text encoding): what `convert` streams.
pub fn open(path: &Path, options: &LoadOptions) -> Result<Opened, LoadError> {
    let at = |kind| LoadError::new(path, kind);
    if let Some(spec) = options.raw {
        return raw::source(path, spec).map(Opened::Source).map_err(at);
    }
    if let Some(location) = zarr::Location::of(path) {
        let pyramid = zarr::Pyramid::open(&location).map_err(at)?;
        return Ok(Opened::Store {
            pyramid: Box::new(pyramid),
            level: options.level,
        });
    }
    if options.level.is_some() {
        return Err(at(ErrorKind::invalid(
            "--level applies to OME-Zarr images, and this is not one",
        )));
    }
    let meta = std::fs::metadata(path).map_err(|e| at(ErrorKind::Io(e)))?;
    if meta.is_dir() {
        return dicom::load_folder(path, options).map(Opened::Read);
    }
    if !meta.is_file() {
        return Err(at(not_regular()));
    }
    if meta.len() == 0 {
        return Err(at(ErrorKind::invalid("the file is empty")));
    }
    match detect(path).map_err(at)? {
        Format::Nrrd => nrrd::open(path).map_err(at),
        Format::Nifti => nifti::source(path).map(Opened::Source).map_err(at),
        Format::MetaImage => metaimage::source(path).map(Opened::Source).map_err(at),
        Format::Dicom => dicom::load_file(path, options).map(Opened::Read),
        Format::Raw | Format::OmeZarr => unreachable!("opened before the format is detected"),
    }
}

/// Decides a file's format from its name, then from its first bytes.
fn detect(path: &Path) -> Result<Format, ErrorKind> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let by_name = [
        (".nrrd", Format::Nrrd),
        (".nhdr", Format::Nrrd),
        (".nii", Format::Nifti),
        (".nii.gz", Format::Nifti),
        (".mha", Format::MetaImage),
        (".mhd", Format::MetaImage),
        (".dcm", Format::Dicom),
    ];
    if let Some((_, f)) = by_name.iter().find(|(ext, _)| name.ends_with(ext)) {
        return Ok(*f);
    }
    let mut head = Vec::with_capacity(352);
    use std::io::Read;
    open_regular(path)?.take(352).read_to_end(&mut head)?;
    if head.starts_with(b"NRRD000") {
        return Ok(Format::Nrrd);
    }
    if head.len() >= 132 && &head[128..132] == b"DICM" {
        return Ok(Format::Dicom);
    }
    if nifti::looks_like_nifti(&head) || head.starts_with(&[0x1f, 0x8b]) {
        return Ok(Format::Nifti);
    }
    let text = String::from_utf8_lossy(&head);
    if text.starts_with("ObjectType") || text.starts_with("NDims") {
        return Ok(Format::MetaImage);
    }
    Err(ErrorKind::Unrecognised)
}
