//! `gradvol convert`: a volume into an OME-Zarr 0.5 pyramid (Zarr v3), level by level and chunk
//! by chunk, in a temporary folder renamed into place at the end.
//!
//! Level 0 is the volume as it is (its own voxel type); each further level is the 2x2x2 mean of
//! the one before (integers rounded to nearest, NaN ignored, a partial box at a far edge averages
//! what it has) until every side is at most [`COARSEST_SIDE`]. A level's voxel sits at the centre
//! of its box, which the level's translation says.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use zarrs::array::builder::ArrayBuilderFillValue;
use zarrs::array::codec::{
    BloscCodec, BloscCompressionLevel, BloscCompressor, BloscShuffleMode, GzipCodec, ZstdCodec,
};
use zarrs::array::{ArrayBuilder, BytesToBytesCodecTraits, DataType, data_type};
use zarrs::filesystem::FilesystemStore;
use zarrs::group::GroupBuilder;

use super::meta::{Axis, Dataset, Frame, Multiscale, StoredGradient, Transform};
use crate::gradient::{Operator, cpu};
use crate::volume::{Scalar, Volume, VoxelData};

/// The pyramid stops at the first level whose every side is at most this.
pub const COARSEST_SIDE: usize = 256;

/// The compression of every chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
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
}

/// Converts voxel values to and from `f64` for averaging, and names the Zarr data type.
trait Voxel: Scalar + zarrs::array::Element + Copy + 'static {
    fn from_f64(v: f64) -> Self;
    fn zarr() -> DataType;
    /// Zero as the array's fill value.
    fn zero() -> ArrayBuilderFillValue;
}

macro_rules! voxel_int {
    ($($t:ty => $z:ident),*) => {$(
        impl Voxel for $t {
            fn from_f64(v: f64) -> Self {
                v.round().clamp(<$t>::MIN as f64, <$t>::MAX as f64) as $t
            }
            fn zarr() -> DataType {
                data_type::$z()
            }
            fn zero() -> ArrayBuilderFillValue {
                (0 as $t).into()
            }
        }
    )*};
}
voxel_int!(i8 => int8, u8 => uint8, i16 => int16, u16 => uint16, i32 => int32, u32 => uint32);

impl Voxel for f32 {
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn zarr() -> DataType {
        data_type::float32()
    }
    fn zero() -> ArrayBuilderFillValue {
        0f32.into()
    }
}

impl Voxel for f64 {
    fn from_f64(v: f64) -> Self {
        v
    }
    fn zarr() -> DataType {
        data_type::float64()
    }
    fn zero() -> ArrayBuilderFillValue {
        0f64.into()
    }
}

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
    done: std::sync::atomic::AtomicU64,
    total: u64,
}

impl Writer<'_> {
    fn level<T: Voxel>(&self, path: &str, data: &[T], dims: [usize; 3]) -> Result<(), String> {
        let c = self.options.chunk as u64;
        let shard = (self.options.shard.max(1) as u64 * c).min(
            // A shard larger than the level is only padding.
            dims.iter()
                .map(|&d| (d as u64).div_ceil(c) * c)
                .max()
                .unwrap_or(c),
        );
        let outer = if self.options.shard > 1 { shard } else { c };
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
        // Each block's value range in the array's attributes (see `super::ranges`).
        if let Some(ranges) = super::ranges::measure(data, dims, self.options.chunk) {
            let mut attributes = serde_json::Map::new();
            attributes.insert("gradvol".into(), serde_json::json!({ "ranges": ranges }));
            builder.attributes(attributes);
        }
        let array = builder
            .build(self.store.clone(), path)
            .map_err(|e| e.to_string())?;
        array.store_metadata().map_err(|e| e.to_string())?;
        let side = [outer as usize; 3];
        let grid = dims.map(|d| d.div_ceil(side[0]));
        let cells: Vec<[usize; 3]> = (0..grid[2])
            .flat_map(|z| (0..grid[1]).flat_map(move |y| (0..grid[0]).map(move |x| [x, y, z])))
            .collect();
        cells.par_iter().try_for_each(|&[x, y, z]| {
            let origin = [x * side[0], y * side[1], z * side[2]];
            let voxels = chunk_of(data, dims, origin, side);
            let n: u64 = (0..3)
                .map(|a| side[a].min(dims[a] - origin[a]) as u64)
                .product();
            array
                .store_chunk(&[z as u64, y as u64, x as u64], voxels)
                .map_err(|e| e.to_string())?;
            let done = self.done.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
            (self.progress)(done.min(self.total), self.total);
            Ok(())
        })
    }

    /// Writes every level from `data` down; returns each level's dimensions.
    fn pyramid<T: Voxel>(&self, data: &[T], dims: [usize; 3]) -> Result<Vec<[usize; 3]>, String> {
        self.pyramid_with("", data, dims, halve)
    }

    /// Writes every level from `data` down at `prefix/0`, `prefix/1`, ..., each made from the
    /// one before by `reduce`; returns each level's dimensions.
    fn pyramid_with<T: Voxel>(
        &self,
        prefix: &str,
        data: &[T],
        dims: [usize; 3],
        reduce: Reduce<T>,
    ) -> Result<Vec<[usize; 3]>, String> {
        let mut levels = vec![dims];
        self.level(&format!("{prefix}/0"), data, dims)?;
        let mut current: Option<Vec<T>> = None;
        let mut d = dims;
        while more_levels(d, levels.len(), self.options.min_levels) {
            let src = current.as_deref().unwrap_or(data);
            let (next, nd) = reduce(src, d);
            self.level(&format!("{prefix}/{}", levels.len()), &next, nd)?;
            levels.push(nd);
            current = Some(next);
            d = nd;
        }
        Ok(levels)
    }
}

/// Whether a pyramid whose coarsest level so far is `dims`, with `levels` levels, goes on.
fn more_levels(dims: [usize; 3], levels: usize, min_levels: usize) -> bool {
    dims.iter().any(|&n| n > COARSEST_SIDE) || (levels < min_levels && dims.iter().any(|&n| n > 1))
}

/// Voxels in all the levels of the pyramid over `dims` (for progress).
fn pyramid_voxels(mut dims: [usize; 3], min_levels: usize) -> u64 {
    let mut total = 0u64;
    let mut levels = 1;
    loop {
        total += dims.iter().map(|&d| d as u64).product::<u64>();
        if !more_levels(dims, levels, min_levels) {
            return total;
        }
        dims = dims.map(|d| d.div_ceil(2));
        levels += 1;
    }
}

/// Writes `volume` as an OME-Zarr 0.5 pyramid at `out` (which must not exist), reporting
/// `(voxels written, voxels in all)`. Nothing appears at `out` unless every level was written.
pub fn convert(
    volume: &Volume,
    out: &Path,
    options: ConvertOptions,
    progress: &(dyn Fn(u64, u64) + Sync),
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
        total: passes * pyramid_voxels(volume.dims, options.min_levels),
    };
    let levels = match &volume.data {
        VoxelData::Int8(v) => writer.pyramid(v, volume.dims),
        VoxelData::Uint8(v) => writer.pyramid(v, volume.dims),
        VoxelData::Int16(v) => writer.pyramid(v, volume.dims),
        VoxelData::Uint16(v) => writer.pyramid(v, volume.dims),
        VoxelData::Int32(v) => writer.pyramid(v, volume.dims),
        VoxelData::Uint32(v) => writer.pyramid(v, volume.dims),
        VoxelData::Float(v) => writer.pyramid(v, volume.dims),
        VoxelData::Double(v) => writer.pyramid(v, volume.dims),
    }
    .map_err(fail)?;
    let stored = match options.gradient {
        None => None,
        Some(operator) => {
            if let Operator::Gaussian { sigma_mm } = operator {
                cpu::check_gaussian(volume.dims, volume.spacing, sigma_mm)
                    .map_err(ConvertError::Options)?;
            }
            let path = format!("gradient/{}", operator.name());
            let g = cpu::gradient_magnitude(volume, operator);
            writer
                .pyramid_with(&format!("/{path}"), &g, volume.dims, max_pool)
                .map_err(fail)?;
            Some(StoredGradient { operator, path })
        }
    };
    let attributes = group_attributes(volume, &levels, stored).map_err(fail)?;
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

/// The attributes of a pyramid of `levels` levels over `volume`, with its frame and the stored
/// |grad f| pyramid, if any.
fn group_attributes(
    volume: &Volume,
    levels: &[[usize; 3]],
    gradient: Option<StoredGradient>,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let o = volume.origin();
    let frame = Frame {
        space: volume.space.name().to_owned(),
        directions: volume.directions().to_cols_array_2d(),
        origin: o.to_array(),
        source_format: Some(volume.format.name().to_owned()),
        gradient,
    };
    pyramid_attributes(volume.spacing, o.to_array(), levels.len(), Some(frame))
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
