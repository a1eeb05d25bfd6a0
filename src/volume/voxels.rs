//! Voxel storage: the scalar type a file holds, kept as it is (an int16 CT stays two bytes a voxel).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The scalar type of a voxel, named as NRRD and numpy name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    Int8,
    Uint8,
    Int16,
    Uint16,
    Int32,
    Uint32,
    Float,
    Double,
}

impl DType {
    pub const ALL: [DType; 8] = [
        DType::Int8,
        DType::Uint8,
        DType::Int16,
        DType::Uint16,
        DType::Int32,
        DType::Uint32,
        DType::Float,
        DType::Double,
    ];

    /// Bytes one voxel of this type takes.
    pub fn size(self) -> usize {
        match self {
            DType::Int8 | DType::Uint8 => 1,
            DType::Int16 | DType::Uint16 => 2,
            DType::Int32 | DType::Uint32 | DType::Float => 4,
            DType::Double => 8,
        }
    }

    /// The name used in `--json` output and on the command line (`int16`, `float`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::Int8 => "int8",
            DType::Uint8 => "uint8",
            DType::Int16 => "int16",
            DType::Uint16 => "uint16",
            DType::Int32 => "int32",
            DType::Uint32 => "uint32",
            DType::Float => "float",
            DType::Double => "double",
        }
    }

    /// Parses the names `--raw-type` accepts: the canonical names and the short Rust-like ones.
    pub fn parse(s: &str) -> Option<DType> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "int8" | "i8" => DType::Int8,
            "uint8" | "u8" => DType::Uint8,
            "int16" | "i16" => DType::Int16,
            "uint16" | "u16" => DType::Uint16,
            "int32" | "i32" => DType::Int32,
            "uint32" | "u32" => DType::Uint32,
            "float" | "float32" | "f32" => DType::Float,
            "double" | "float64" | "f64" => DType::Double,
            _ => return None,
        })
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Byte order of multi-byte values in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Endian {
    Little,
    Big,
}

impl Endian {
    pub fn native() -> Endian {
        if cfg!(target_endian = "big") {
            Endian::Big
        } else {
            Endian::Little
        }
    }
}

/// The voxels of a volume in their own type, x fastest, then y, then z.
#[derive(Clone, PartialEq)]
pub enum VoxelData {
    Int8(Vec<i8>),
    Uint8(Vec<u8>),
    Int16(Vec<i16>),
    Uint16(Vec<u16>),
    Int32(Vec<i32>),
    Uint32(Vec<u32>),
    Float(Vec<f32>),
    Double(Vec<f64>),
}

impl std::fmt::Debug for VoxelData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VoxelData::{}[{}]", self.dtype(), self.len())
    }
}

/// Runs `$body` with `$v` bound to the typed vector inside a [`VoxelData`].
macro_rules! with_voxels {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            VoxelData::Int8($v) => $body,
            VoxelData::Uint8($v) => $body,
            VoxelData::Int16($v) => $body,
            VoxelData::Uint16($v) => $body,
            VoxelData::Int32($v) => $body,
            VoxelData::Uint32($v) => $body,
            VoxelData::Float($v) => $body,
            VoxelData::Double($v) => $body,
        }
    };
}

/// A voxel scalar type: plain old data that converts to `f64` for statistics and to `f32` for
/// the GPU.
pub trait Scalar: bytemuck::Pod + Send + Sync + PartialOrd {
    fn to_f64(self) -> f64;
    fn to_f32(self) -> f32;
}

macro_rules! impl_scalar {
    ($($t:ty),*) => {$(
        impl Scalar for $t {
            #[inline]
            fn to_f64(self) -> f64 { self as f64 }
            #[inline]
            fn to_f32(self) -> f32 { self as f32 }
        }
    )*};
}
impl_scalar!(i8, u8, i16, u16, i32, u32, f32, f64);

/// Minimum and maximum over the finite values of `values`; `None` when there are none.
pub fn finite_range<T: Scalar>(values: &[T]) -> Option<[f64; 2]> {
    values
        .par_chunks(1 << 16)
        .map(chunk_range)
        .reduce(|| None, merge_ranges)
}

/// Minimum and maximum finite value of `values`, on this thread.
pub(crate) fn chunk_range<T: Scalar>(values: &[T]) -> Option<[f64; 2]> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for &v in values {
        let v = v.to_f64();
        if v.is_finite() {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    (lo <= hi).then_some([lo, hi])
}

/// The range covering both.
pub(crate) fn merge_ranges(a: Option<[f64; 2]>, b: Option<[f64; 2]>) -> Option<[f64; 2]> {
    match (a, b) {
        (Some(a), Some(b)) => Some([a[0].min(b[0]), a[1].max(b[1])]),
        (a, b) => a.or(b),
    }
}

impl VoxelData {
    pub fn dtype(&self) -> DType {
        match self {
            VoxelData::Int8(_) => DType::Int8,
            VoxelData::Uint8(_) => DType::Uint8,
            VoxelData::Int16(_) => DType::Int16,
            VoxelData::Uint16(_) => DType::Uint16,
            VoxelData::Int32(_) => DType::Int32,
            VoxelData::Uint32(_) => DType::Uint32,
            VoxelData::Float(_) => DType::Float,
            VoxelData::Double(_) => DType::Double,
        }
    }

    pub fn len(&self) -> usize {
        with_voxels!(self, v => v.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The voxel at flat index `i` as `f64`.
    pub fn get_f64(&self, i: usize) -> f64 {
        with_voxels!(self, v => v[i].to_f64())
    }

    /// The raw bytes in native byte order.
    pub fn as_bytes(&self) -> &[u8] {
        with_voxels!(self, v => bytemuck::cast_slice(v))
    }

    /// Minimum and maximum finite value.
    pub fn range(&self) -> Option<[f64; 2]> {
        with_voxels!(self, v => finite_range(v))
    }

    /// Voxels `start..start + len` converted to `f32`.
    pub fn range_to_f32(&self, start: usize, len: usize) -> Vec<f32> {
        with_voxels!(self, v => v[start..start + len].par_iter().map(|x| x.to_f32()).collect())
    }

    /// Keeps every `stride`-th voxel starting at 0: the first component of interleaved
    /// multi-component voxels.
    pub fn first_component(self, stride: usize) -> VoxelData {
        fn pick<T: Copy + Send + Sync>(v: Vec<T>, stride: usize) -> Vec<T> {
            v.par_chunks_exact(stride).map(|c| c[0]).collect()
        }
        match self {
            VoxelData::Int8(v) => VoxelData::Int8(pick(v, stride)),
            VoxelData::Uint8(v) => VoxelData::Uint8(pick(v, stride)),
            VoxelData::Int16(v) => VoxelData::Int16(pick(v, stride)),
            VoxelData::Uint16(v) => VoxelData::Uint16(pick(v, stride)),
            VoxelData::Int32(v) => VoxelData::Int32(pick(v, stride)),
            VoxelData::Uint32(v) => VoxelData::Uint32(pick(v, stride)),
            VoxelData::Float(v) => VoxelData::Float(pick(v, stride)),
            VoxelData::Double(v) => VoxelData::Double(pick(v, stride)),
        }
    }

    /// Applies `value * slope + intercept` (NIfTI `scl_*`, DICOM Rescale). Integers become
    /// `float` (`double` stays `double`); an identity rescale changes nothing.
    pub fn rescale(self, slope: f64, intercept: f64) -> VoxelData {
        if slope == 1.0 && intercept == 0.0 {
            return self;
        }
        match self {
            VoxelData::Double(v) => {
                VoxelData::Double(v.into_par_iter().map(|x| x * slope + intercept).collect())
            }
            other => with_voxels!(&other, v => VoxelData::Float(
                v.par_iter()
                    .map(|x| (x.to_f64() * slope + intercept) as f32)
                    .collect(),
            )),
        }
    }

    /// Stores `values` as `int16` when every value is an integer in its range (CT in HU after a
    /// DICOM rescale), else as `float`.
    pub fn narrowest_from_f32(values: Vec<f32>) -> VoxelData {
        let fits_i16 = values
            .par_iter()
            .all(|&x| x.fract() == 0.0 && x >= i16::MIN as f32 && x <= i16::MAX as f32);
        if fits_i16 {
            VoxelData::Int16(values.par_iter().map(|&x| x as i16).collect())
        } else {
            VoxelData::Float(values)
        }
    }
}

/// Voxels and the range of their finite values (`None` when there are none), so that the range
/// computed while reading need not be computed again.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub data: VoxelData,
    pub range: Option<[f64; 2]>,
}

impl Decoded {
    /// Wraps voxels whose range is not known yet, scanning them for it.
    pub fn scan(data: VoxelData) -> Decoded {
        let range = data.range();
        Decoded { data, range }
    }
}

/// Allocates `n` zeroed voxels of type `T`, failing instead of aborting when memory is short.
///
/// The size is first probed with `try_reserve_exact`; the buffer itself comes from `vec!`, which
/// for the primitive voxel types asks the allocator for zeroed memory, so the pages are zeroed
/// lazily by the kernel rather than written twice.
pub(crate) fn try_zeroed_vec<T: bytemuck::Zeroable + Clone>(
    n: usize,
) -> Result<Vec<T>, std::collections::TryReserveError> {
    Vec::<T>::new().try_reserve_exact(n)?;
    Ok(vec![T::zeroed(); n])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_ignores_nan_and_infinity() {
        let d = VoxelData::Float(vec![f32::NAN, 2.0, -1.5, f32::INFINITY, 7.0]);
        assert_eq!(d.range(), Some([-1.5, 7.0]));
        assert_eq!(VoxelData::Float(vec![f32::NAN]).range(), None);
    }

    #[test]
    fn rescale_turns_integers_into_float() {
        let d = VoxelData::Uint16(vec![0, 1024, 4095]).rescale(1.0, -1024.0);
        assert_eq!(d, VoxelData::Float(vec![-1024.0, 0.0, 3071.0]));
        let same = VoxelData::Int16(vec![1, 2]).rescale(1.0, 0.0);
        assert_eq!(same, VoxelData::Int16(vec![1, 2]));
    }

    #[test]
    fn narrowing_keeps_hounsfield_units_in_int16() {
        assert_eq!(
            VoxelData::narrowest_from_f32(vec![-1024.0, 3071.0]),
            VoxelData::Int16(vec![-1024, 3071])
        );
        assert_eq!(
            VoxelData::narrowest_from_f32(vec![0.5]),
            VoxelData::Float(vec![0.5])
        );
        assert_eq!(
            VoxelData::narrowest_from_f32(vec![40000.0]),
            VoxelData::Float(vec![40000.0])
        );
    }

    #[test]
    fn dtype_names_round_trip() {
        for t in DType::ALL {
            assert_eq!(DType::parse(t.name()), Some(t));
        }
        assert_eq!(DType::parse("i16"), Some(DType::Int16));
        assert_eq!(DType::parse("complex"), None);
    }
}
