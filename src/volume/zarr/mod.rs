//! OME-Zarr images (NGFF 0.4 on Zarr v2, 0.5 on Zarr v3), from a folder or over HTTP, read
//! through the `zarrs` crate: the pyramid's levels with their geometry, and whole levels or
//! regions of them as voxels.
//!
//! OME-Zarr has no anatomical frame: a store's x, y and z are taken along LPS's axes (as ITK
//! takes an image without directions). A store gradvol wrote carries the source's frame in its
//! `"gradvol"` attributes, so a round trip changes nothing.

pub mod meta;
pub mod ranges;
pub mod retry;
pub mod sparse;
mod write;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use glam::{DMat3, DVec3};
use serde::Serialize;
use zarrs::array::{Array, ArrayShardedExt, data_type};
use zarrs::group::Group;
use zarrs::storage::{ReadableStorage, ReadableStorageTraits};

pub use write::{Codec, ConvertError, ConvertOptions, convert, convert_source, convert_store};

use super::voxels::try_zeroed_vec;
use super::{
    DType, Decoded, ErrorKind, Format, LoadError, LoadOptions, MAX_VOXELS, Space, Volume, VoxelData,
};
use meta::{AxisLayout, Frame};

/// The most voxels a level may have to be read whole when no `--level` is given: the finest
/// level within it is chosen (1 GiB of 16-bit voxels).
pub const DEFAULT_LEVEL_VOXELS: u64 = 1 << 29;

/// The most voxels a level may claim (2^50, a petavoxel: 2 PB of 16-bit voxels); a level is
/// read whole only within [`MAX_VOXELS`].
pub const MAX_LEVEL_VOXELS: u64 = 1 << 50;

/// Where a store is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Folder(PathBuf),
    Http(String),
}

impl Location {
    /// The store at `path` when it is one: an `http(s)://` URL, or a folder holding Zarr
    /// metadata (`zarr.json`, `.zgroup` or `.zattrs`).
    pub fn of(path: &Path) -> Option<Location> {
        let text = path.to_string_lossy();
        if text.starts_with("http://") || text.starts_with("https://") {
            return Some(Location::Http(text.trim_end_matches('/').to_owned()));
        }
        let is_store = ["zarr.json", ".zgroup", ".zattrs"]
            .iter()
            .any(|name| path.join(name).is_file());
        is_store.then(|| Location::Folder(path.to_path_buf()))
    }

    /// The store, read with retries (over HTTP; a folder's errors do not go away).
    fn storage(&self) -> Result<(ReadableStorage, Option<Arc<retry::Retrying>>), ErrorKind> {
        Ok(match self {
            Location::Folder(dir) => (
                Arc::new(
                    zarrs::filesystem::FilesystemStore::new(dir)
                        .map_err(|e| ErrorKind::invalid(format!("cannot open the store ({e})")))?,
                ),
                None,
            ),
            Location::Http(url) => {
                let mut store = zarrs_http::HTTPStore::new(url)
                    .map_err(|e| ErrorKind::invalid(format!("bad store URL ({e})")))?;
                // One request a byte range: multipart answers are not served everywhere.
                store.set_batch_range_requests(false);
                let retrying = Arc::new(retry::Retrying::new(
                    Arc::new(store),
                    std::time::Duration::from_millis(50),
                ));
                (retrying.clone(), Some(retrying))
            }
        })
    }
}

/// One level of a pyramid, as `gradvol info` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct LevelSummary {
    /// The array's path inside the store.
    pub path: String,
    pub dims: [usize; 3],
    /// Voxel size in mm.
    pub spacing: [f64; 3],
    /// Chunk (or shard) size in voxels, x, y, z.
    pub chunk: [usize; 3],
    /// Inner chunk size of a sharded array.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subchunk: Option<[usize; 3]>,
}

/// What `info` says about a pyramid: its OME-Zarr version, its levels, and the one read.
#[derive(Debug, Clone, Serialize)]
pub struct PyramidSummary {
    pub ome_version: String,
    pub levels: Vec<LevelSummary>,
    /// The level the voxels came from (0 = full resolution).
    pub level: usize,
}

/// One level: its array, grid and placement.
struct Level {
    array: Array<dyn ReadableStorageTraits>,
    summary: LevelSummary,
    /// Position of voxel (0, 0, 0) in the store's frame, mm (x, y, z).
    offset: [f64; 3],
    /// The value range of each block, when the store keeps them (see [`ranges`]).
    ranges: Option<ranges::LevelRanges>,
}

/// An opened OME-Zarr image: its levels, finest first.
pub struct Pyramid {
    levels: Vec<Level>,
    layout: AxisLayout,
    dtype: DType,
    version: String,
    frame: Option<Frame>,
    notes: Vec<String>,
    /// The retrying reader of a remote store, for its counts.
    retrying: Option<Arc<retry::Retrying>>,
    /// A stored |grad f| pyramid (`convert --gradient`): its operator and one array a level.
    gradient: Option<(
        crate::gradient::Operator,
        Vec<Array<dyn ReadableStorageTraits>>,
    )>,
    /// The largest stored |grad f| of each level, when its array keeps its blocks' ranges.
    gradient_max: Vec<Option<f64>>,
}

impl std::fmt::Debug for Pyramid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pyramid")
            .field("levels", &self.levels.len())
            .field("dtype", &self.dtype)
            .field("version", &self.version)
            .finish()
    }
}

fn zarr_dtype(array: &Array<dyn ReadableStorageTraits>) -> Result<DType, ErrorKind> {
    let t = array.data_type();
    let known = [
        (data_type::int8(), DType::Int8),
        (data_type::uint8(), DType::Uint8),
        (data_type::int16(), DType::Int16),
        (data_type::uint16(), DType::Uint16),
        (data_type::int32(), DType::Int32),
        (data_type::uint32(), DType::Uint32),
        (data_type::float32(), DType::Float),
        (data_type::float64(), DType::Double),
    ];
    known
        .into_iter()
        .find(|(z, _)| z == t)
        .map(|(_, d)| d)
        .ok_or_else(|| ErrorKind::Unsupported(format!("the Zarr data type {t}")))
}

fn xyz<T: Copy>(layout: &AxisLayout, per_dim: &[T], missing: T) -> [T; 3] {
    layout.spatial.map(|d| d.map_or(missing, |d| per_dim[d]))
}

impl Pyramid {
    /// Opens the image at `location`: its metadata and every level's array metadata (no voxels).
    pub fn open(location: &Location) -> Result<Pyramid, ErrorKind> {
        let (storage, retrying) = location.storage()?;
        let mut group_path = "/".to_owned();
        let mut group = Group::open(storage.clone(), &group_path).map_err(|e| {
            ErrorKind::invalid(format!(
                "no Zarr group metadata at the top of the store ({e})"
            ))
        })?;
        // bioformats2raw writes its image one level down, in group "0".
        if group.attributes().contains_key("bioformats2raw.layout")
            && !group.attributes().contains_key("multiscales")
        {
            group_path = "/0".to_owned();
            group = Group::open(storage.clone(), &group_path).map_err(|e| {
                ErrorKind::invalid(format!("bioformats2raw layout without image 0 ({e})"))
            })?;
        }
        let attributes = group.attributes();
        let (version, image) = meta::find_multiscale(attributes)?;
        let frame: Option<Frame> = match attributes.get("gradvol") {
            Some(v) => Some(serde_json::from_value(v.clone()).map_err(|e| {
                ErrorKind::invalid(format!("malformed \"gradvol\" attributes ({e})"))
            })?),
            None => None,
        };
        let layout = AxisLayout::from_axes(&image.axes)?;
        let mut notes = layout.notes.clone();
        if image.datasets.is_empty() {
            return Err(ErrorKind::invalid("the OME-Zarr image has no datasets"));
        }
        let mut levels: Vec<Level> = Vec::with_capacity(image.datasets.len());
        let mut dtype = None;
        for dataset in &image.datasets {
            let path = join(&group_path, &dataset.path);
            let array = Array::open(storage.clone(), &path).map_err(|e| {
                ErrorKind::invalid(format!("cannot open level {:?} ({e})", dataset.path))
            })?;
            let shape = array.shape().to_vec();
            if shape.len() != layout.ndim {
                return Err(ErrorKind::invalid(format!(
                    "level {:?} has {} dimensions but the image has {} axes",
                    dataset.path,
                    shape.len(),
                    layout.ndim
                )));
            }
            let t = zarr_dtype(&array)?;
            if *dtype.get_or_insert(t) != t {
                return Err(ErrorKind::invalid(format!(
                    "level {:?} holds {t} but level 0 holds {}",
                    dataset.path,
                    dtype.unwrap_or(t)
                )));
            }
            let to_usize = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
            let dims = xyz(&layout, &shape, 1).map(to_usize);
            let count = dims
                .iter()
                .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
                .filter(|&n| n > 0 && n <= MAX_LEVEL_VOXELS);
            if count.is_none() {
                return Err(ErrorKind::invalid(format!(
                    "level {:?} claims {}x{}x{} voxels: none, or beyond the limit of \
                     {MAX_LEVEL_VOXELS}",
                    dataset.path, dims[0], dims[1], dims[2]
                )));
            }
            let (spacing, offset) = layout.geometry(dataset, &image.coordinate_transformations)?;
            let chunk_shape = array
                .chunk_shape(&vec![0; layout.ndim])
                .map_err(|e| ErrorKind::invalid(format!("level {:?}: {e}", dataset.path)))?;
            let chunk_dims: Vec<u64> = chunk_shape.iter().map(|c| c.get()).collect();
            let chunk = xyz(&layout, &chunk_dims, 1).map(to_usize);
            let subchunk = array.subchunk_shape().map(|s| {
                let s: Vec<u64> = s.iter().map(|c| c.get()).collect();
                xyz(&layout, &s, 1).map(to_usize)
            });
            let ranges = ranges::LevelRanges::of_attributes(array.attributes(), dims);
            levels.push(Level {
                ranges,
                array,
                summary: LevelSummary {
                    path: dataset.path.clone(),
                    dims,
                    spacing,
                    chunk,
                    subchunk,
                },
                offset,
            });
        }
        check_pyramid(&levels)?;
        let mut gradient_max = Vec::new();
        let gradient = match frame.as_ref().and_then(|f| f.gradient.as_ref()) {
            None => None,
            Some(stored) => {
                let mut arrays = Vec::with_capacity(levels.len());
                for (l, level) in levels.iter().enumerate() {
                    let path = join(&group_path, &format!("{}/{l}", stored.path));
                    let array = Array::open(storage.clone(), &path).map_err(|e| {
                        ErrorKind::invalid(format!("cannot open the stored |grad f| {path} ({e})"))
                    })?;
                    if array.shape() != level.array.shape()
                        || *array.data_type() != data_type::float32()
                    {
                        return Err(ErrorKind::invalid(format!(
                            "the stored |grad f| {path} is not float32 on level {l}'s grid"
                        )));
                    }
                    let dims = level.summary.dims;
                    gradient_max.push(
                        ranges::LevelRanges::of_attributes(array.attributes(), dims)
                            .map(|r| r.whole()[1]),
                    );
                    arrays.push(array);
                }
                Some((stored.operator, arrays))
            }
        };
        for (name, dim) in &layout.others {
            let n = levels[0].array.shape()[*dim];
            if n > 1 {
                notes.push(format!("axis {name} has {n} entries: the first is shown"));
            }
        }
        Ok(Pyramid {
            levels,
            layout,
            dtype: dtype.expect("at least one level"),
            version,
            frame,
            notes,
            retrying,
            gradient,
            gradient_max,
        })
    }

    /// The range of the values of voxels `first` to `last` (inclusive, x, y, z) of `level`,
    /// when the store keeps its blocks' ranges; no voxel is read.
    pub fn known_range_of(
        &self,
        level: usize,
        first: [usize; 3],
        last: [usize; 3],
    ) -> Option<[f64; 2]> {
        let ranges = self.levels[level].ranges.as_ref()?;
        Some(ranges.of_region(first, last))
    }

    /// The range of level 0's values, when the store keeps its blocks' ranges.
    pub fn known_range(&self) -> Option<[f64; 2]> {
        self.levels[0].ranges.as_ref().map(|r| r.whole())
    }

    /// The range of `level`'s values, when the store keeps its blocks' ranges.
    pub fn known_level_range(&self, level: usize) -> Option<[f64; 2]> {
        self.levels[level].ranges.as_ref().map(|r| r.whole())
    }

    /// The largest value of `level`'s stored |grad f|, when the store keeps one with its
    /// blocks' ranges (convert's max-pooling makes it level 0's largest on every level).
    pub fn known_gradient_max(&self, level: usize) -> Option<f64> {
        self.gradient_max.get(level).copied().flatten()
    }

    /// The operator of the stored |grad f| pyramid, if the store has one.
    pub fn stored_gradient(&self) -> Option<crate::gradient::Operator> {
        self.gradient.as_ref().map(|(op, _)| *op)
    }

    /// `region` of `level`'s stored |grad f| (x, y, z voxel ranges), x fastest.
    pub fn read_gradient_region(
        &self,
        level: usize,
        region: [Range<u64>; 3],
    ) -> Result<Vec<f32>, ErrorKind> {
        let Some((_, arrays)) = &self.gradient else {
            return Err(ErrorKind::invalid("the store holds no |grad f|"));
        };
        let ranges = self.ranges(&region);
        arrays[level]
            .retrieve_array_subset(&ranges)
            .map_err(|e| ErrorKind::Corrupt(format!("stored |grad f|, level {level}: {e}")))
    }

    /// Reads that succeeded only on a later try, and reads that failed every try (a remote
    /// store's; zero for a folder).
    pub fn retries(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.retrying.as_ref().map_or((0, 0), |r| {
            (r.retried.load(Relaxed), r.failed.load(Relaxed))
        })
    }

    pub fn level_count(&self) -> usize {
        self.levels.len()
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn level(&self, level: usize) -> &LevelSummary {
        &self.levels[level].summary
    }

    /// Where `level`'s voxel (0, 0, 0) sits in the store's own frame, mm (x, y, z): with the
    /// spacings, how one level's voxels map onto another's.
    pub fn level_offset(&self, level: usize) -> [f64; 3] {
        self.levels[level].offset
    }

    pub fn summary(&self, level: usize) -> PyramidSummary {
        PyramidSummary {
            ome_version: self.version.clone(),
            levels: self.levels.iter().map(|l| l.summary.clone()).collect(),
            level,
        }
    }

    /// `level` if the pyramid has it, else the error that says which it has.
    pub fn check_level(&self, level: usize) -> Result<usize, ErrorKind> {
        if level >= self.level_count() {
            return Err(ErrorKind::invalid(format!(
                "--level {level} asked for, but the image has levels 0 to {}",
                self.level_count() - 1
            )));
        }
        Ok(level)
    }

    /// The finest level with at most `max_voxels` voxels (the coarsest when none has).
    pub fn finest_within(&self, max_voxels: u64) -> usize {
        let count = |l: &Level| l.summary.dims.iter().map(|&d| d as u64).product::<u64>();
        self.levels
            .iter()
            .position(|l| count(l) <= max_voxels)
            .unwrap_or(self.levels.len() - 1)
    }

    /// The anatomical space, the unit directions of the voxel axes (columns) and the world
    /// position of voxel (0, 0, 0) of `level`.
    pub fn placement(&self, level: usize) -> (Space, DMat3, DVec3) {
        let l = &self.levels[level];
        let q = DVec3::from(l.offset);
        match &self.frame {
            None => (Space::Lps, DMat3::IDENTITY, q),
            Some(frame) => {
                let space = if frame.space == "RAS" {
                    Space::Ras
                } else {
                    Space::Lps
                };
                let d = DMat3::from_cols_array_2d(&frame.directions);
                let o = DVec3::from(frame.origin);
                // The store's own frame puts level 0's first voxel at `origin` along the axes;
                // the source's directions turn offsets from there back into the source frame.
                let q0 = DVec3::from(self.levels[0].offset);
                (space, d, o + d * (q - q0))
            }
        }
    }

    /// Maps `level`'s voxel indices to mm in the returned space (its columns: axis direction
    /// times spacing, then the origin).
    pub fn world_from_voxel(&self, level: usize) -> (glam::DMat4, Space) {
        let (space, axes, origin) = self.placement(level);
        let linear = axes * DMat3::from_diagonal(DVec3::from(self.levels[level].summary.spacing));
        let m = glam::DMat4::from_cols(
            linear.x_axis.extend(0.0),
            linear.y_axis.extend(0.0),
            linear.z_axis.extend(0.0),
            origin.extend(1.0),
        );
        (m, space)
    }

    /// The array ranges that select `region` (x, y, z voxel ranges) of the first time point and
    /// channel.
    fn ranges(&self, region: &[Range<u64>; 3]) -> Vec<Range<u64>> {
        let mut ranges = vec![0..1; self.layout.ndim];
        for (a, dim) in self.layout.spatial.iter().enumerate() {
            if let Some(dim) = dim {
                ranges[*dim] = region[a].clone();
            }
        }
        ranges
    }

    /// Reads `region` of `level` (voxel ranges along x, y, z) as voxels, x fastest. Chunks the
    /// store does not hold read as the fill value.
    pub fn read_region(
        &self,
        level: usize,
        region: [Range<u64>; 3],
    ) -> Result<VoxelData, ErrorKind> {
        let array = &self.levels[level].array;
        let ranges = self.ranges(&region);
        let fail = |e: zarrs::array::ArrayError| {
            use zarrs::array::{ArrayError, CodecError};
            let what = format!(
                "level {:?}, voxels {:?}",
                self.levels[level].summary.path, region
            );
            match e {
                // The store did not answer (after retries, for a remote one).
                ArrayError::StorageError(e)
                | ArrayError::CodecError(CodecError::StorageError(e)) => {
                    ErrorKind::Unavailable(format!("{what}: {e}"))
                }
                e => ErrorKind::Corrupt(format!("{what}: {e}")),
            }
        };
        Ok(match self.dtype {
            DType::Int8 => VoxelData::Int8(array.retrieve_array_subset(&ranges).map_err(fail)?),
            DType::Uint8 => VoxelData::Uint8(array.retrieve_array_subset(&ranges).map_err(fail)?),
            DType::Int16 => VoxelData::Int16(array.retrieve_array_subset(&ranges).map_err(fail)?),
            DType::Uint16 => VoxelData::Uint16(array.retrieve_array_subset(&ranges).map_err(fail)?),
            DType::Int32 => VoxelData::Int32(array.retrieve_array_subset(&ranges).map_err(fail)?),
            DType::Uint32 => VoxelData::Uint32(array.retrieve_array_subset(&ranges).map_err(fail)?),
            DType::Float => VoxelData::Float(array.retrieve_array_subset(&ranges).map_err(fail)?),
            DType::Double => VoxelData::Double(array.retrieve_array_subset(&ranges).map_err(fail)?),
        })
    }

    /// Reads a whole level as a volume, slab by slab of chunk height (progress in bytes).
    pub fn read_level(&self, level: usize, options: &LoadOptions) -> Result<Volume, ErrorKind> {
        let s = &self.levels[level].summary;
        let [nx, ny, nz] = s.dims;
        let count = super::voxel_count(s.dims)?;
        if count > MAX_VOXELS {
            return Err(ErrorKind::OutOfMemory(count * self.dtype.size() as u64));
        }
        let plane = nx * ny;
        let slab = s.chunk[2].max(1);
        let mut data = alloc(self.dtype, count as usize)?;
        let mut z = 0;
        let bytes = |voxels: usize| (voxels * self.dtype.size()) as u64;
        let total = bytes(count as usize);
        options.report(0, total);
        while z < nz {
            let end = (z + slab).min(nz);
            let part =
                self.read_region(level, [0..nx as u64, 0..ny as u64, z as u64..end as u64])?;
            copy_into(&mut data, &part, z * plane);
            z = end;
            options.report(bytes(z * plane), total);
        }
        let (space, axes, origin) = self.placement(level);
        let mut volume = Volume::from_geometry(
            s.dims,
            s.spacing,
            axes,
            origin,
            space,
            Decoded::scan(data),
            Format::OmeZarr,
        )?;
        volume.notes.extend(self.notes.iter().cloned());
        if level > 0 {
            let full = &self.levels[0].summary.dims;
            volume.notes.push(format!(
                "OME-Zarr level {level} of {} ({}x{}x{} of {}x{}x{}); --level 0 reads full resolution",
                self.levels.len(),
                nx,
                ny,
                nz,
                full[0],
                full[1],
                full[2]
            ));
        }
        volume.pyramid = Some(self.summary(level));
        Ok(volume)
    }
}

/// Joins a group path and a dataset path into an array path.
fn join(group: &str, path: &str) -> String {
    let path = path.trim_matches('/');
    if group == "/" {
        format!("/{path}")
    } else {
        format!("{group}/{path}")
    }
}

/// Each level must cover the same extent as level 0 (to within one of its voxels) with no more
/// voxels along any axis.
fn check_pyramid(levels: &[Level]) -> Result<(), ErrorKind> {
    let first = &levels[0].summary;
    for l in &levels[1..] {
        let s = &l.summary;
        for a in 0..3 {
            let extent0 = first.dims[a] as f64 * first.spacing[a];
            let extent = s.dims[a] as f64 * s.spacing[a];
            if s.dims[a] > first.dims[a] || (extent - extent0).abs() > s.spacing[a] * 1.001 {
                return Err(ErrorKind::invalid(format!(
                    "level {:?} ({}x{}x{} voxels of {:.4}x{:.4}x{:.4} mm) does not cover the \
                     extent of level {:?} ({}x{}x{} of {:.4}x{:.4}x{:.4} mm)",
                    s.path,
                    s.dims[0],
                    s.dims[1],
                    s.dims[2],
                    s.spacing[0],
                    s.spacing[1],
                    s.spacing[2],
                    first.path,
                    first.dims[0],
                    first.dims[1],
                    first.dims[2],
                    first.spacing[0],
                    first.spacing[1],
                    first.spacing[2]
                )));
            }
        }
    }
    Ok(())
}

fn alloc(dtype: DType, n: usize) -> Result<VoxelData, ErrorKind> {
    let oom = |_| ErrorKind::OutOfMemory((n * dtype.size()) as u64);
    Ok(match dtype {
        DType::Int8 => VoxelData::Int8(try_zeroed_vec(n).map_err(oom)?),
        DType::Uint8 => VoxelData::Uint8(try_zeroed_vec(n).map_err(oom)?),
        DType::Int16 => VoxelData::Int16(try_zeroed_vec(n).map_err(oom)?),
        DType::Uint16 => VoxelData::Uint16(try_zeroed_vec(n).map_err(oom)?),
        DType::Int32 => VoxelData::Int32(try_zeroed_vec(n).map_err(oom)?),
        DType::Uint32 => VoxelData::Uint32(try_zeroed_vec(n).map_err(oom)?),
        DType::Float => VoxelData::Float(try_zeroed_vec(n).map_err(oom)?),
        DType::Double => VoxelData::Double(try_zeroed_vec(n).map_err(oom)?),
    })
}

/// Copies `part` into `data` from voxel `at` on (both of the same type).
fn copy_into(data: &mut VoxelData, part: &VoxelData, at: usize) {
    let dst = bytemuck_bytes_mut(data);
    let src = part.as_bytes();
    let size = part.dtype().size();
    dst[at * size..at * size + src.len()].copy_from_slice(src);
}

fn bytemuck_bytes_mut(data: &mut VoxelData) -> &mut [u8] {
    match data {
        VoxelData::Int8(v) => bytemuck::cast_slice_mut(v),
        VoxelData::Uint8(v) => bytemuck::cast_slice_mut(v),
        VoxelData::Int16(v) => bytemuck::cast_slice_mut(v),
        VoxelData::Uint16(v) => bytemuck::cast_slice_mut(v),
        VoxelData::Int32(v) => bytemuck::cast_slice_mut(v),
        VoxelData::Uint32(v) => bytemuck::cast_slice_mut(v),
        VoxelData::Float(v) => bytemuck::cast_slice_mut(v),
        VoxelData::Double(v) => bytemuck::cast_slice_mut(v),
    }
}

/// Opens the OME-Zarr image at `location` and reads one level whole: `options.level`, or the
/// finest level with at most [`DEFAULT_LEVEL_VOXELS`] voxels.
pub fn load(path: &Path, location: &Location, options: &LoadOptions) -> Result<Volume, LoadError> {
    let pyramid = Pyramid::open(location).map_err(|e| LoadError::new(path, e))?;
    read(path, &pyramid, options.level, options)
}

/// Reads `level` of `pyramid` (opened from `path`), by default the finest level with at most
/// [`DEFAULT_LEVEL_VOXELS`] voxels.
pub fn read(
    path: &Path,
    pyramid: &Pyramid,
    level: Option<usize>,
    options: &LoadOptions,
) -> Result<Volume, LoadError> {
    let at = |kind| LoadError::new(path, kind);
    let level = match level {
        Some(l) => pyramid.check_level(l).map_err(at)?,
        None => pyramid.finest_within(DEFAULT_LEVEL_VOXELS),
    };
    pyramid.read_level(level, options).map_err(at)
}
