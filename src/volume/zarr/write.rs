//! `gradvol convert`: a volume into an OME-Zarr 0.5 pyramid (Zarr v3), level by level and chunk
//! by chunk, in a temporary folder renamed into place at the end.
//!
//! Level 0 is the volume as it is (its own voxel type); each further level is the 2x2x2 mean of
//! the one before (integers rounded to nearest, NaN ignored, a partial box at a far edge averages
//! what it has) until every side is at most [`COARSEST_SIDE`]. A level's voxel sits at the centre
//! of its box, which the level's translation says.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use glam::DMat4;
use rayon::prelude::*;
use zarrs::array::builder::ArrayBuilderFillValue;
use zarrs::array::codec::{
    BloscCodec, BloscCompressionLevel, BloscCompressor, BloscShuffleMode, GzipCodec, ZstdCodec,
};
use zarrs::array::{
    Array, ArrayBuilder, ArraySubset, BytesToBytesCodecTraits, CodecOptions, DataType, data_type,
};
use zarrs::filesystem::FilesystemStore;
use zarrs::group::GroupBuilder;

use super::Pyramid;
use super::meta::{Axis, Dataset, Frame, Multiscale, StoredGradient, Transform};
use super::ranges::RangeMeasure;
use crate::gradient::{Operator, cpu};
use crate::volume::{DType, Format, LoadOptions, Scalar, Space, Volume, VolumeSource, VoxelData};

/// The pyramid stops at the first level whose every side is at most this.
pub const COARSEST_SIDE: usize = 256;

/// The compression of every chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Codec {
    Zstd,
    Blosc,
    Gzip,
    None,
}

/// How `convert` lays the store out.
#[derive(Debug, Clone, Copy)]
pub struct ConvertOptions {
    /// Chunk side in voxels.
    pub chunk: usize,
    /// Chunks per shard side; 1 writes every chunk as a file of its own.
    pub shard: usize,
    pub codec: Codec,
    /// Also store |grad f| by this operator, max-pooled down the pyramid.
    pub gradient: Option<Operator>,
    /// Levels to write at least, halving past [`COARSEST_SIDE`] if need be (while any side is
    /// above one voxel): a small volume gets a pyramid to draw at levels of detail.
    pub min_levels: usize,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            chunk: 64,
            shard: 4,
            codec: Codec::Zstd,
            gradient: Some(Operator::Central),
            min_levels: 1,
        }
    }
}

/// What went wrong writing a store.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("{0} exists already: choose another name or remove it")]
    Exists(PathBuf),
    #[error("cannot write {path}: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error("{0}")]
    Options(String),
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
}

/// Converts voxel values to and from `f64` for averaging, and names the Zarr data type.
trait Voxel: Scalar + zarrs::array::Element + Copy + 'static {
    const DTYPE: DType;
    fn from_f64(v: f64) -> Self;
    fn zarr() -> DataType;
    /// Zero as the array's fill value.
    fn zero() -> ArrayBuilderFillValue;
    /// The voxels of `data` if they are of this type.
    fn slice(data: &VoxelData) -> Option<&[Self]>;
}

macro_rules! voxel {
    ($($t:ty => $z:ident, $variant:ident, $round:expr);* $(;)?) => {$(
        impl Voxel for $t {
            const DTYPE: DType = DType::$variant;
            fn from_f64(v: f64) -> Self {
                let round: fn(f64) -> $t = $round;
                round(v)
            }
            fn zarr() -> DataType {
                data_type::$z()
            }
            fn zero() -> ArrayBuilderFillValue {
                (0 as $t).into()
            }
            fn slice(data: &VoxelData) -> Option<&[Self]> {
                match data {
                    VoxelData::$variant(v) => Some(v),
                    _ => None,
                }
            }
        }
    )*};
}
voxel!(
    i8 => int8, Int8, |v| v.round().clamp(i8::MIN as f64, i8::MAX as f64) as i8;
    u8 => uint8, Uint8, |v| v.round().clamp(0.0, u8::MAX as f64) as u8;
    i16 => int16, Int16, |v| v.round().clamp(i16::MIN as f64, i16::MAX as f64) as i16;
    u16 => uint16, Uint16, |v| v.round().clamp(0.0, u16::MAX as f64) as u16;
    i32 => int32, Int32, |v| v.round().clamp(i32::MIN as f64, i32::MAX as f64) as i32;
    u32 => uint32, Uint32, |v| v.round().clamp(0.0, u32::MAX as f64) as u32;
    f32 => float32, Float, |v| v as f32;
    f64 => float64, Double, |v| v;
);

/// How a level is made from the one before: its voxels and dimensions.
type Reduce<T> = fn(&[T], [usize; 3]) -> (Vec<T>, [usize; 3]);

/// Each 2x2x2 box of `src` (x fastest; a partial box at a far edge has fewer voxels) made one
/// voxel by `combine` of its finite values (`None` when it has none), and the new dimensions.
fn reduce_boxes<T: Voxel>(
    src: &[T],
    dims: [usize; 3],
    combine: impl Fn(&[f64]) -> f64 + Sync,
) -> (Vec<T>, [usize; 3]) {
    let [nx, ny, nz] = dims;
    let out = dims.map(|d| d.div_ceil(2));
    let [mx, my, _] = out;
    let mut values = vec![T::from_f64(0.0); out.iter().product()];
    values
        .par_chunks_mut(mx * my)
        .enumerate()
        .for_each(|(k, plane)| {
            let mut finite = Vec::with_capacity(8);
            for (j, row) in plane.chunks_exact_mut(mx).enumerate() {
                for (i, v) in row.iter_mut().enumerate() {
                    finite.clear();
                    for z in 2 * k..(2 * k + 2).min(nz) {
                        for y in 2 * j..(2 * j + 2).min(ny) {
                            for x in 2 * i..(2 * i + 2).min(nx) {
                                let s = src[x + nx * (y + ny * z)].to_f64();
                                if s.is_finite() {
                                    finite.push(s);
                                }
                            }
                        }
                    }
                    *v = T::from_f64(if finite.is_empty() {
                        f64::NAN
                    } else {
                        combine(&finite)
                    });
                }
            }
        });
    (values, out)
}

/// The 2x2x2 mean of `src` (integers rounded to nearest, NaN ignored), and its dimensions.
fn halve<T: Voxel>(src: &[T], dims: [usize; 3]) -> (Vec<T>, [usize; 3]) {
    reduce_boxes(src, dims, |v| v.iter().sum::<f64>() / v.len() as f64)
}

/// The largest of each 2x2x2 box of `src` (NaN ignored), and its dimensions.
fn max_pool(src: &[f32], dims: [usize; 3]) -> (Vec<f32>, [usize; 3]) {
    reduce_boxes(src, dims, |v| v.iter().copied().fold(f64::MIN, f64::max))
}

/// The voxels of the chunk at `origin` (x, y, z) of side `side`, padded with zeros past the edge,
/// in Zarr's C order for axes (z, y, x): x fastest, as in `src`.
fn chunk_of<T: Voxel>(src: &[T], dims: [usize; 3], origin: [usize; 3], side: [usize; 3]) -> Vec<T> {
    let [nx, ny, nz] = dims;
    let mut out = vec![T::from_f64(0.0); side.iter().product()];
    let w = side[0].min(nx.saturating_sub(origin[0]));
    for z in 0..side[2].min(nz.saturating_sub(origin[2])) {
        for y in 0..side[1].min(ny.saturating_sub(origin[1])) {
            let s = origin[0] + nx * (origin[1] + y + ny * (origin[2] + z));
            let d = side[0] * (y + side[1] * z);
            out[d..d + w].copy_from_slice(&src[s..s + w]);
        }
    }
    out
}

fn codecs(codec: Codec, dtype_size: usize) -> Vec<Arc<dyn BytesToBytesCodecTraits>> {
    match codec {
        Codec::Zstd => vec![Arc::new(ZstdCodec::new(3, false))],
        Codec::Gzip => vec![Arc::new(
            GzipCodec::new(5).expect("5 is a valid gzip level"),
        )],
        Codec::Blosc => vec![Arc::new(
            BloscCodec::new(
                BloscCompressor::Zstd,
                BloscCompressionLevel::try_from(5u8).expect("5 is a valid blosc level"),
                None,
                BloscShuffleMode::Shuffle,
                Some(dtype_size),
            )
            .expect("a valid blosc configuration"),
        )],
        Codec::None => Vec::new(),
    }
}

/// Everything one pyramid write needs to know.
struct Writer<'a> {
    store: Arc<FilesystemStore>,
    options: ConvertOptions,
    progress: &'a (dyn Fn(u64, u64) + Sync),
    done: AtomicU64,
    total: u64,
}

impl Writer<'_> {
    /// The side of the chunks (shards, when sharding) a level of `dims` is stored in.
    fn outer_side(&self, dims: [usize; 3]) -> usize {
        let c = self.options.chunk;
        if self.options.shard <= 1 {
            return c;
        }
        // A shard larger than the level is only padding.
        let level = dims.iter().map(|&d| d.div_ceil(c) * c).max().unwrap_or(c);
        (self.options.shard * c).min(level)
    }

    /// Creates the array of a level of `dims` at `path`.
    fn array<T: Voxel>(
        &self,
        path: &str,
        dims: [usize; 3],
    ) -> Result<Array<FilesystemStore>, String> {
        let c = self.options.chunk as u64;
        let outer = self.outer_side(dims) as u64;
        let mut builder = ArrayBuilder::new(
            vec![dims[2] as u64, dims[1] as u64, dims[0] as u64],
            vec![outer; 3],
            T::zarr(),
            T::zero(),
        );
        builder
            .bytes_to_bytes_codecs(codecs(self.options.codec, size_of::<T>()))
            .dimension_names(Some(["z", "y", "x"]));
        if self.options.shard > 1 {
            builder.subchunk_shape(vec![c; 3]);
        }
        let array = builder
            .build(self.store.clone(), path)
            .map_err(|e| e.to_string())?;
        array.store_metadata().map_err(|e| e.to_string())?;
        Ok(array)
    }

    fn advance(&self, voxels: u64) {
        let done = self.done.fetch_add(voxels, Ordering::Relaxed) + voxels;
        (self.progress)(done.min(self.total), self.total);
    }

    /// The levels of a pyramid over `dims` written at `prefix/0`, `prefix/1`, ..., each level
    /// made from the one before by `reduce`: the first takes level 0's planes.
    fn levels<T: Voxel>(
        &self,
        prefix: &str,
        dims: [usize; 3],
        reduce: Reduce<T>,
    ) -> Result<LevelSink<'_, T>, String> {
        let all = level_dims(dims, self.options.min_levels);
        let mut next: Option<Box<LevelSink<'_, T>>> = None;
        for (l, &d) in all.iter().enumerate().rev() {
            let sink = LevelSink {
                writer: self,
                array: self.array::<T>(&format!("{prefix}/{l}"), d)?,
                dims: d,
                side: self.outer_side(d),
                depth: self.options.chunk,
                planes: Vec::new(),
                z0: 0,
                ranges: RangeMeasure::new(d, self.options.chunk),
                reduce,
                next,
            };
            next = Some(Box::new(sink));
        }
        Ok(*next.expect("a pyramid has a level"))
    }
}

/// One level of a pyramid written a row of chunks at a time as its z-planes arrive in order:
/// each full row is written, measured for its block ranges and reduced into the next level's
/// planes. It holds at most one row of chunks (plus what one push brings).
struct LevelSink<'w, T: Voxel> {
    writer: &'w Writer<'w>,
    array: Array<FilesystemStore>,
    dims: [usize; 3],
    /// The side of a chunk (shard, when sharding).
    side: usize,
    /// The depth of a row: a chunk's side (a shard is written a row of its chunks at a time).
    depth: usize,
    /// Planes `z0..` not written yet, x fastest.
    planes: Vec<T>,
    z0: usize,
    ranges: RangeMeasure,
    reduce: Reduce<T>,
    next: Option<Box<LevelSink<'w, T>>>,
}

impl<T: Voxel> LevelSink<'_, T> {
    fn plane(&self) -> usize {
        self.dims[0] * self.dims[1]
    }

    /// Takes the next planes (whole planes, in order). Whole rows are written straight from
    /// `planes`; only a part row is copied and held.
    fn push(&mut self, mut planes: &[T]) -> Result<(), String> {
        let row = self.depth * self.plane();
        if !self.planes.is_empty() {
            let take = (row - self.planes.len()).min(planes.len());
            self.planes.extend_from_slice(&planes[..take]);
            planes = &planes[take..];
            if self.planes.len() == row {
                let held = std::mem::take(&mut self.planes);
                self.write_row(&held, self.depth)?;
                self.planes = held;
                self.planes.clear();
            }
        }
        while planes.len() >= row {
            self.write_row(&planes[..row], self.depth)?;
            planes = &planes[row..];
        }
        if !planes.is_empty() {
            self.planes.reserve_exact(row);
            self.planes.extend_from_slice(planes);
        }
        Ok(())
    }

    /// Writes `slab`, the next `depth` planes, as the next row of chunks and hands their
    /// reduction to the next level.
    fn write_row(&mut self, slab: &[T], depth: usize) -> Result<(), String> {
        let [nx, ny, _] = self.dims;
        let plane = self.plane();
        let side = self.side;
        let grid = [nx.div_ceil(side), ny.div_ceil(side)];
        // Where the row sits: in which shard (chunk) along z, and how far into it.
        let (outer, within) = ((self.z0 / side) as u64, (self.z0 % side) as u64);
        let row = self.depth as u64;
        let cells: Vec<[usize; 2]> = (0..grid[1])
            .flat_map(|y| (0..grid[0]).map(move |x| [x, y]))
            .collect();
        let array = &self.array;
        // A shard deeper than a row gets its subchunks a row at a time: zarrs appends them to
        // the shard and rewrites its index, reading none back.
        let options = CodecOptions::default().with_experimental_partial_encoding(true);
        let subset =
            ArraySubset::new_with_ranges(&[within..within + row, 0..side as u64, 0..side as u64]);
        cells.par_iter().try_for_each(|&[x, y]| {
            let origin = [x * side, y * side, 0];
            let voxels = chunk_of(slab, [nx, ny, depth], origin, [side, side, self.depth]);
            let at = [outer, y as u64, x as u64];
            if self.depth == side {
                array.store_chunk(&at, voxels)
            } else {
                array.store_chunk_subset_opt(&at, &subset, voxels, &options)
            }
            .map_err(|e| e.to_string())
        })?;
        self.writer.advance((plane * depth) as u64);
        self.ranges.add(slab, self.z0, depth);
        if let Some(next) = self.next.as_mut() {
            let (reduced, _) = (self.reduce)(slab, [nx, ny, depth]);
            next.push(&reduced)?;
        }
        self.z0 += depth;
        Ok(())
    }

    /// Writes what is left, the levels below, and this level's block ranges.
    fn finish(mut self) -> Result<(), String> {
        let left = self.planes.len() / self.plane();
        if left > 0 {
            let held = std::mem::take(&mut self.planes);
            self.write_row(&held, left)?;
        }
        if self.z0 != self.dims[2] {
            return Err(format!(
                "level {:?} got {} of its {} planes",
                self.array.path(),
                self.z0,
                self.dims[2]
            ));
        }
        if let Some(next) = self.next.take() {
            next.finish()?;
        }
        // Each block's value range in the array's attributes (see `super::ranges`).
        if let Some(ranges) = self.ranges.finish() {
            self.array
                .attributes_mut()
                .insert("gradvol".into(), serde_json::json!({ "ranges": ranges }));
            self.array.store_metadata().map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// |grad f| of level 0 computed as its planes arrive: each run of planes once the operator's
/// reach beyond it has arrived too, from a window that holds that reach on both sides, so every
/// plane equals the whole volume's gradient (borders included).
struct GradientSlabs<'w, T: Voxel> {
    operator: Operator,
    dims: [usize; 3],
    spacing: [f64; 3],
    /// Planes the operator reads beyond a plane along z.
    reach: usize,
    /// Planes `w0..` held.
    window: Vec<T>,
    w0: usize,
    /// Planes whose gradient is written.
    done: usize,
    sink: LevelSink<'w, f32>,
}

impl<T: Voxel> GradientSlabs<'_, T> {
    fn push(&mut self, planes: &[T]) -> Result<(), String> {
        self.window.extend_from_slice(planes);
        let plane = self.dims[0] * self.dims[1];
        let have = self.w0 + self.window.len() / plane;
        // Whole rows of the level's chunks, so that they are written straight from `g`.
        let row = self.sink.depth;
        let upto = if have == self.dims[2] {
            have
        } else {
            let ready = have.saturating_sub(self.reach).saturating_sub(self.done);
            self.done + ready / row * row
        };
        if upto <= self.done {
            return Ok(());
        }
        let start = self.done.saturating_sub(self.reach);
        let end = (upto + self.reach).min(have);
        let depth = end - start;
        let region = &self.window[(start - self.w0) * plane..(end - self.w0) * plane];
        let dims = [self.dims[0], self.dims[1], depth];
        let g = cpu::gradient_of(region, dims, self.spacing, self.operator);
        let from = self.done - start;
        self.sink
            .push(&g[from * plane..(from + upto - self.done) * plane])?;
        self.done = upto;
        // Keep the reach below the next plane to compute.
        let keep = self.done.saturating_sub(self.reach);
        self.window.drain(..(keep - self.w0) * plane);
        self.w0 = keep;
        Ok(())
    }
}

/// Level 0's planes in order in, every level of the image (and of |grad f|) out.
struct Pipeline<'w, T: Voxel> {
    image: LevelSink<'w, T>,
    gradient: Option<GradientSlabs<'w, T>>,
}

impl<'w, T: Voxel> Pipeline<'w, T> {
    fn new(writer: &'w Writer<'w>, grid: &Grid) -> Result<Pipeline<'w, T>, String> {
        let gradient = match writer.options.gradient {
            None => None,
            Some(operator) => {
                let reach = operator.reach(grid.spacing)[2];
                Some(GradientSlabs {
                    operator,
                    dims: grid.dims,
                    spacing: grid.spacing,
                    reach,
                    window: Vec::new(),
                    w0: 0,
                    done: 0,
                    sink: writer.levels(
                        &format!("/{}", gradient_path(operator)),
                        grid.dims,
                        max_pool,
                    )?,
                })
            }
        };
        Ok(Pipeline {
            image: writer.levels("", grid.dims, halve)?,
            gradient,
        })
    }

    /// Planes to push at a time: one row of level 0's chunks.
    fn slab_planes(writer: &Writer) -> usize {
        writer.options.chunk
    }

    fn push(&mut self, planes: &[T]) -> Result<(), String> {
        if let Some(g) = self.gradient.as_mut() {
            g.push(planes)?;
        }
        self.image.push(planes)
    }

    fn finish(self) -> Result<(), String> {
        self.image.finish()?;
        if let Some(g) = self.gradient {
            g.sink.finish()?;
        }
        Ok(())
    }
}

fn gradient_path(operator: Operator) -> String {
    format!("gradient/{}", operator.name())
}

/// Whether a pyramid whose coarsest level so far is `dims`, with `levels` levels, goes on.
fn more_levels(dims: [usize; 3], levels: usize, min_levels: usize) -> bool {
    dims.iter().any(|&n| n > COARSEST_SIDE) || (levels < min_levels && dims.iter().any(|&n| n > 1))
}

/// The dimensions of every level of the pyramid over `dims`, finest first.
fn level_dims(dims: [usize; 3], min_levels: usize) -> Vec<[usize; 3]> {
    let mut all = vec![dims];
    while more_levels(all[all.len() - 1], all.len(), min_levels) {
        all.push(all[all.len() - 1].map(|d| d.div_ceil(2)));
    }
    all
}

/// Voxels in all the levels of the pyramid over `dims` (for progress).
fn pyramid_voxels(dims: [usize; 3], min_levels: usize) -> u64 {
    level_dims(dims, min_levels)
        .iter()
        .map(|d| d.iter().map(|&n| n as u64).product::<u64>())
        .sum()
}

/// Where a volume sits: what the store's attributes say of it.
struct Grid {
    dims: [usize; 3],
    spacing: [f64; 3],
    world_from_voxel: DMat4,
    space: Space,
    format: Format,
}

/// Calls the generic `f` with the voxel type `dtype` names.
macro_rules! by_dtype {
    ($dtype:expr, $f:ident($($arg:expr),*)) => {
        match $dtype {
            DType::Int8 => $f::<i8>($($arg),*),
            DType::Uint8 => $f::<u8>($($arg),*),
            DType::Int16 => $f::<i16>($($arg),*),
            DType::Uint16 => $f::<u16>($($arg),*),
            DType::Int32 => $f::<i32>($($arg),*),
            DType::Uint32 => $f::<u32>($($arg),*),
            DType::Float => $f::<f32>($($arg),*),
            DType::Double => $f::<f64>($($arg),*),
        }
    };
}

/// Writes `volume` as an OME-Zarr 0.5 pyramid at `out` (which must not exist), reporting
/// `(voxels written, voxels in all)`. Nothing appears at `out` unless every level was written.
pub fn convert(
    volume: &Volume,
    out: &Path,
    options: ConvertOptions,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<(), ConvertError> {
    let grid = Grid {
        dims: volume.dims,
        spacing: volume.spacing,
        world_from_voxel: volume.world_from_voxel,
        space: volume.space,
        format: volume.format,
    };
    let read_fail = |reason| ConvertError::Read {
        path: PathBuf::new(),
        reason,
    };
    write_store(out, options, &grid, progress, read_fail, |writer| {
        fn planes<T: Voxel>(writer: &Writer, grid: &Grid, data: &[T]) -> Result<(), String> {
            let mut pipeline = Pipeline::<T>::new(writer, grid)?;
            let slab = Pipeline::<T>::slab_planes(writer) * grid.dims[0] * grid.dims[1];
            for planes in data.chunks(slab) {
                pipeline.push(planes)?;
            }
            pipeline.finish()
        }
        match &volume.data {
            VoxelData::Int8(v) => planes(writer, &grid, v),
            VoxelData::Uint8(v) => planes(writer, &grid, v),
            VoxelData::Int16(v) => planes(writer, &grid, v),
            VoxelData::Uint16(v) => planes(writer, &grid, v),
            VoxelData::Int32(v) => planes(writer, &grid, v),
            VoxelData::Uint32(v) => planes(writer, &grid, v),
            VoxelData::Float(v) => planes(writer, &grid, v),
            VoxelData::Double(v) => planes(writer, &grid, v),
        }
        .map_err(SlabError::Write)
    })
}

/// Writes the volume `source` describes as [`convert`] writes a volume, reading it a row of
/// chunks at a time: memory holds a few rows of level 0's chunks (a slab of its planes), never
/// the volume, so a file larger than the host's memory converts.
pub fn convert_source(
    source: &VolumeSource,
    out: &Path,
    options: ConvertOptions,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<(), ConvertError> {
    let world_from_voxel = source.world_from_voxel().map_err(|e| ConvertError::Read {
        path: source.path().to_path_buf(),
        reason: e.to_string(),
    })?;
    let grid = Grid {
        dims: source.dims,
        spacing: source.spacing,
        world_from_voxel,
        space: source.space,
        format: source.format,
    };
    let read_fail = |reason| ConvertError::Read {
        path: source.path().to_path_buf(),
        reason,
    };
    write_store(out, options, &grid, progress, read_fail, |writer| {
        fn planes<T: Voxel>(
            writer: &Writer,
            grid: &Grid,
            source: &VolumeSource,
        ) -> Result<(), SlabError> {
            let mut pipeline = Pipeline::<T>::new(writer, grid).map_err(SlabError::Write)?;
            let depth = Pipeline::<T>::slab_planes(writer);
            source.read_slabs(
                depth,
                &LoadOptions::default(),
                |e| SlabError::Read(e.to_string()),
                |data| pipeline.push(typed(&data)?).map_err(SlabError::Write),
            )?;
            pipeline.finish().map_err(SlabError::Write)
        }
        by_dtype!(source.dtype(), planes(writer, &grid, source))
    })
}

/// Writes `level` of `pyramid` (opened from `input`) as [`convert`] writes a volume, reading it a
/// row of chunks at a time: a store of any size, from a folder or over HTTP, is re-chunked,
/// re-compressed and given |grad f| and block ranges in the memory of a few rows.
pub fn convert_store(
    input: &Path,
    pyramid: &Pyramid,
    level: usize,
    out: &Path,
    options: ConvertOptions,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<(), ConvertError> {
    let read_fail = |reason| ConvertError::Read {
        path: input.to_path_buf(),
        reason,
    };
    let level = pyramid
        .check_level(level)
        .map_err(|e| read_fail(e.to_string()))?;
    let (world_from_voxel, space) = pyramid.world_from_voxel(level);
    let s = pyramid.level(level);
    let grid = Grid {
        dims: s.dims,
        spacing: s.spacing,
        world_from_voxel,
        space,
        format: Format::OmeZarr,
    };
    write_store(out, options, &grid, progress, read_fail, |writer| {
        fn planes<T: Voxel>(
            writer: &Writer,
            grid: &Grid,
            (pyramid, level): (&Pyramid, usize),
        ) -> Result<(), SlabError> {
            let mut pipeline = Pipeline::<T>::new(writer, grid).map_err(SlabError::Write)?;
            let [nx, ny, nz] = grid.dims.map(|d| d as u64);
            let depth = Pipeline::<T>::slab_planes(writer) as u64;
            for z in (0..nz).step_by(depth as usize) {
                let data = pyramid
                    .read_region(level, [0..nx, 0..ny, z..(z + depth).min(nz)])
                    .map_err(|e| SlabError::Read(e.to_string()))?;
                pipeline.push(typed(&data)?).map_err(SlabError::Write)?;
            }
            pipeline.finish().map_err(SlabError::Write)
        }
        by_dtype!(pyramid.dtype(), planes(writer, &grid, (pyramid, level)))
    })
}

/// `data`'s voxels as `T`, which the reader promised.
fn typed<T: Voxel>(data: &VoxelData) -> Result<&[T], SlabError> {
    T::slice(data).ok_or_else(|| {
        SlabError::Read(format!(
            "a slab of {} voxels where {} were expected",
            data.dtype(),
            T::DTYPE
        ))
    })
}

/// Why writing the levels stopped.
enum SlabError {
    Read(String),
    Write(String),
}

/// Checks `options`, writes the pyramid by `levels` into a temporary folder beside `out`, then
/// the group's attributes, and renames the folder to `out`.
fn write_store(
    out: &Path,
    options: ConvertOptions,
    grid: &Grid,
    progress: &(dyn Fn(u64, u64) + Sync),
    read_fail: impl FnOnce(String) -> ConvertError,
    levels: impl FnOnce(&Writer) -> Result<(), SlabError>,
) -> Result<(), ConvertError> {
    if !(8..=1024).contains(&options.chunk) {
        return Err(ConvertError::Options(format!(
            "--chunk {} is outside 8 to 1024 voxels",
            options.chunk
        )));
    }
    if !(1..=64).contains(&options.shard) {
        return Err(ConvertError::Options(format!(
            "--shard {} is outside 1 to 64 chunks",
            options.shard
        )));
    }
    if let Some(Operator::Gaussian { sigma_mm }) = options.gradient {
        cpu::check_gaussian(grid.dims, grid.spacing, sigma_mm).map_err(ConvertError::Options)?;
    }
    if out.exists() {
        return Err(ConvertError::Exists(out.to_path_buf()));
    }
    let fail = |reason: String| ConvertError::Write {
        path: out.to_path_buf(),
        reason,
    };
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = out
        .file_name()
        .ok_or_else(|| fail("the output needs a folder name".to_owned()))?;
    let temp = tempfile::Builder::new()
        .prefix(&format!(".{}.", name.to_string_lossy()))
        .suffix(".partial")
        .tempdir_in(&parent)
        .map_err(|e| fail(e.to_string()))?;
    let store = Arc::new(FilesystemStore::new(temp.path()).map_err(|e| fail(e.to_string()))?);
    let passes = if options.gradient.is_some() { 2 } else { 1 };
    let writer = Writer {
        store: store.clone(),
        options,
        progress,
        done: Default::default(),
        total: passes * pyramid_voxels(grid.dims, options.min_levels),
    };
    levels(&writer).map_err(|e| match e {
        SlabError::Read(reason) => read_fail(reason),
        SlabError::Write(reason) => fail(reason),
    })?;
    let stored = options.gradient.map(|operator| StoredGradient {
        operator,
        path: gradient_path(operator),
    });
    let attributes = group_attributes(
        grid,
        level_dims(grid.dims, options.min_levels).len(),
        stored,
    )
    .map_err(fail)?;
    let mut group = GroupBuilder::new()
        .build(store, "/")
        .map_err(|e| fail(e.to_string()))?;
    *group.attributes_mut() = attributes;
    group.store_metadata().map_err(|e| fail(e.to_string()))?;
    // Keep the folder: rename it into place. A rename fails if `out` appeared meanwhile.
    let kept = temp.keep();
    std::fs::rename(&kept, out).map_err(|e| {
        let _ = std::fs::remove_dir_all(&kept);
        fail(e.to_string())
    })?;
    Ok(())
}

/// The `ome` multiscales metadata of a pyramid of `levels` halvings over voxels of `spacing`
/// whose first sits at `origin` (mm, x y z), and gradvol's `frame` when given.
pub(crate) fn pyramid_attributes(
    spacing: [f64; 3],
    origin: [f64; 3],
    levels: usize,
    frame: Option<Frame>,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let [sx, sy, sz] = spacing;
    let [ox, oy, oz] = origin;
    let datasets = (0..levels)
        .map(|l| {
            let f = (1u64 << l) as f64;
            // A level-l voxel is the mean of a 2^l box: its centre is (2^l - 1) / 2 voxels in.
            let shift = (f - 1.0) / 2.0;
            Dataset {
                path: l.to_string(),
                coordinate_transformations: vec![
                    Transform::Scale {
                        scale: vec![sz * f, sy * f, sx * f],
                    },
                    Transform::Translation {
                        translation: vec![oz + sz * shift, oy + sy * shift, ox + sx * shift],
                    },
                ],
            }
        })
        .collect();
    let image = Multiscale {
        version: None,
        name: None,
        axes: ["z", "y", "x"]
            .iter()
            .map(|n| Axis::space(n, "millimeter"))
            .collect(),
        datasets,
        coordinate_transformations: Vec::new(),
        r#type: Some("mean".to_owned()),
    };
    let ome = serde_json::json!({ "version": "0.5", "multiscales": [image] });
    let mut map = serde_json::Map::new();
    map.insert("ome".to_owned(), ome);
    if let Some(frame) = frame {
        map.insert(
            "gradvol".to_owned(),
            serde_json::to_value(frame).map_err(|e| e.to_string())?,
        );
    }
    Ok(map)
}

/// The attributes of a pyramid of `levels` levels over `grid`, with its frame and the stored
/// |grad f| pyramid, if any.
fn group_attributes(
    grid: &Grid,
    levels: usize,
    gradient: Option<StoredGradient>,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let m = grid.world_from_voxel;
    let directions = [m.x_axis, m.y_axis, m.z_axis]
        .iter()
        .zip(grid.spacing)
        .map(|(c, s)| (c.truncate() / s).to_array())
        .collect::<Vec<_>>();
    let origin = m.w_axis.truncate().to_array();
    let frame = Frame {
        space: grid.space.name().to_owned(),
        directions: [directions[0], directions[1], directions[2]],
        origin,
        source_format: Some(grid.format.name().to_owned()),
        gradient,
    };
    pyramid_attributes(grid.spacing, origin, levels, Some(frame))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::DType;

    #[test]
    fn halving_averages_boxes_and_keeps_partial_edges() {
        // 3 x 2 x 1: the last column is a partial box of 2 voxels.
        let src: Vec<u16> = vec![1, 3, 10, 5, 7, 20];
        let (out, dims) = halve(&src, [3, 2, 1]);
        assert_eq!(dims, [2, 1, 1]);
        assert_eq!(out, vec![4, 15]);
        let f: Vec<f32> = vec![1.0, f32::NAN, 3.0, f32::NAN];
        let (out, _) = halve(&f, [2, 2, 1]);
        assert_eq!(out, vec![2.0]);
        let (out, _) = halve(&[250u8, 255], [2, 1, 1]);
        assert_eq!(out, vec![253], "253 rounds from 252.5 away from zero");
    }

    #[test]
    fn max_pooling_keeps_the_largest_and_ignores_nan() {
        let src = [1.0, 5.0, f32::NAN, 2.0, 3.0, 4.0];
        let (out, dims) = max_pool(&src, [3, 2, 1]);
        assert_eq!(dims, [2, 1, 1]);
        assert_eq!(out, vec![5.0, 4.0]);
    }

    #[test]
    fn chunks_are_padded_with_zeros() {
        let src: Vec<i16> = (0..27).collect();
        let c = chunk_of(&src, [3, 3, 3], [2, 2, 2], [2, 2, 2]);
        assert_eq!(c, vec![26, 0, 0, 0, 0, 0, 0, 0]);
        let c = chunk_of(&src, [3, 3, 3], [0, 0, 0], [2, 2, 2]);
        assert_eq!(c, vec![0, 1, 3, 4, 9, 10, 12, 13]);
    }

    #[test]
    fn pyramid_size_counts_every_level() {
        assert_eq!(pyramid_voxels([100, 100, 100], 1), 1_000_000);
        assert_eq!(pyramid_voxels([100, 100, 100], 2), 1_000_000 + 125_000);
        assert_eq!(pyramid_voxels([300, 10, 10], 1), 30_000 + 150 * 5 * 5);
    }

    #[test]
    fn every_voxel_type_has_a_zarr_type() {
        for t in DType::ALL {
            let z = match t {
                DType::Int8 => i8::zarr(),
                DType::Uint8 => u8::zarr(),
                DType::Int16 => i16::zarr(),
                DType::Uint16 => u16::zarr(),
                DType::Int32 => i32::zarr(),
                DType::Uint32 => u32::zarr(),
                DType::Float => f32::zarr(),
                DType::Double => f64::zarr(),
            };
            assert_eq!(z.fixed_size(), Some(t.size()));
        }
    }
}
