//! A volume whose header has been read and whose voxels have not: where they are and what the
//! reader does to them (keep the first of several components, rescale). [`load`](super::load)
//! reads them all at once; `convert` reads them a slab of z-planes at a time, so a file larger
//! than the host's memory can be converted.

use std::path::PathBuf;

use glam::{DMat3, DMat4, DVec3};

use super::payload::Payload;
use super::{DType, Decoded, ErrorKind, Format, LoadOptions, Space, Volume, VoxelData};

/// Everything about a volume but its voxels, and how to read them.
#[derive(Debug, Clone)]
pub struct VolumeSource {
    pub dims: [usize; 3],
    pub spacing: [f64; 3],
    /// One direction per voxel axis as a column (any length), as the reader found it.
    pub(crate) axes: DMat3,
    /// The centre of voxel (0, 0, 0).
    pub(crate) origin: DVec3,
    pub space: Space,
    pub format: Format,
    pub notes: Vec<String>,
    pub(crate) payload: Payload,
    /// Interleaved values per voxel; the first is kept.
    pub(crate) components: usize,
    /// `value * slope + intercept` applied to every value (NIfTI's `scl_*`).
    pub(crate) rescale: Option<(f64, f64)>,
    /// The detached data file errors are said to be in, if the voxels are not in the header's
    /// own file.
    pub(crate) data_file: Option<PathBuf>,
}

impl VolumeSource {
    /// Maps voxel indices to world millimetres, checked as [`Volume::from_geometry`] checks it.
    pub fn world_from_voxel(&self) -> Result<DMat4, ErrorKind> {
        super::world_from_voxel(self.spacing, self.axes, self.origin)
    }

    /// The file the voxels are read from.
    pub fn path(&self) -> &std::path::Path {
        &self.payload.path
    }

    /// The type of the voxels read (after any rescale).
    pub fn dtype(&self) -> DType {
        match (self.rescale, self.payload.dtype) {
            (None, t) | (Some(_), t @ DType::Double) => t,
            (Some(_), _) => DType::Float,
        }
    }

    /// Reads every voxel: the volume [`load`](super::load) returns.
    pub fn read(&self, options: &LoadOptions) -> Result<Volume, ErrorKind> {
        let data = self.payload.read(options).map_err(|e| self.in_file(e))?;
        let data = self.finish(data);
        let mut volume = Volume::from_geometry(
            self.dims,
            self.spacing,
            self.axes,
            self.origin,
            self.space,
            data,
            self.format,
        )?;
        volume.notes.extend(self.notes.iter().cloned());
        Ok(volume)
    }

    /// Reads the voxels `planes` z-planes at a time (the last slab holds what is left), each
    /// handed to `each` in order as it would be in [`VolumeSource::read`]'s volume (x fastest).
    /// Memory is about two slabs, whatever the volume's size.
    pub fn read_slabs<E>(
        &self,
        planes: usize,
        options: &LoadOptions,
        fail: impl Fn(ErrorKind) -> E,
        mut each: impl FnMut(VoxelData) -> Result<(), E>,
    ) -> Result<(), E> {
        self.world_from_voxel().map_err(&fail)?;
        let per_slab = planes.max(1) * self.dims[0] * self.dims[1] * self.components;
        self.payload.read_slabs(
            per_slab,
            options,
            |e| fail(self.in_file(e)),
            |slab| each(self.finish(slab).data),
        )
    }

    /// What the reader does to the values read.
    fn finish(&self, mut data: Decoded) -> Decoded {
        if self.components > 1 {
            data = Decoded::scan(data.data.first_component(self.components));
        }
        if let Some((slope, intercept)) = self.rescale {
            data = Decoded::scan(data.data.rescale(slope, intercept));
        }
        data
    }

    fn in_file(&self, e: ErrorKind) -> ErrorKind {
        match &self.data_file {
            Some(path) => e.in_data_file(path),
            None => e,
        }
    }
}
