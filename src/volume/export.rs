//! Writes a float32 volume (the gradient magnitude) on the grid of another, so it opens in
//! 3D Slicer exactly where its source lies: NRRD (gzip) or NIfTI-1 (`.nii`, `.nii.gz`).
//!
//! The NIfTI header is laid out here from the standard's byte offsets: the `nifti` crate writes
//! only through ndarray and straight to the target path, and files we write must be atomic.

use std::io::Write;
use std::path::Path;

use glam::DMat3;

use super::{Space, Volume, VoxelData};
use crate::atomic::write_atomically;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write {}: choose a .nrrd, .nii or .nii.gz file name", .0.display())]
    UnknownFormat(std::path::PathBuf),
    #[error("cannot write {}: NIfTI-1 holds at most 32767 voxels a side; use .nrrd", .0.display())]
    TooLargeForNifti(std::path::PathBuf),
    #[error("{} values do not fill a {}x{}x{} grid", .values, .dims[0], .dims[1], .dims[2])]
    WrongSize { values: usize, dims: [usize; 3] },
    #[error("cannot write {}", path.display())]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// Writes `values` (x fastest) with `grid`'s dimensions and geometry. `description` goes into
/// the file's comment or `descrip` field.
pub fn write_float_volume(
    path: &Path,
    values: &[f32],
    grid: &Volume,
    description: &str,
) -> Result<(), ExportError> {
    write_typed(path, values, grid, description)
}

/// Writes `data` in its own voxel type with `grid`'s dimensions and geometry: what
/// `gradvol.save` does with an array from Python.
pub fn write_volume(
    path: &Path,
    data: &VoxelData,
    grid: &Volume,
    description: &str,
) -> Result<(), ExportError> {
    match data {
        VoxelData::Int8(v) => write_typed(path, v, grid, description),
        VoxelData::Uint8(v) => write_typed(path, v, grid, description),
        VoxelData::Int16(v) => write_typed(path, v, grid, description),
        VoxelData::Uint16(v) => write_typed(path, v, grid, description),
        VoxelData::Int32(v) => write_typed(path, v, grid, description),
        VoxelData::Uint32(v) => write_typed(path, v, grid, description),
        VoxelData::Float(v) => write_typed(path, v, grid, description),
        VoxelData::Double(v) => write_typed(path, v, grid, description),
    }
}

/// A voxel type as NRRD and NIfTI-1 name it, and its little-endian bytes.
trait FileType: Copy {
    const NRRD: &'static str;
    /// NIfTI-1 `datatype` code; `bitpix` is eight times the size.
    const NIFTI: i16;
    fn put_le(self, out: &mut Vec<u8>);
}

macro_rules! file_type {
    ($($t:ty => $nrrd:literal, $nifti:literal);* $(;)?) => {$(
        impl FileType for $t {
            const NRRD: &'static str = $nrrd;
            const NIFTI: i16 = $nifti;
            fn put_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}
file_type! {
    i8 => "int8", 256; u8 => "uint8", 2; i16 => "int16", 4; u16 => "uint16", 512;
    i32 => "int32", 8; u32 => "uint32", 768; f32 => "float", 16; f64 => "double", 64;
}

fn write_typed<T: FileType>(
    path: &Path,
    values: &[T],
    grid: &Volume,
    description: &str,
) -> Result<(), ExportError> {
    if values.len() != grid.voxel_count() {
        return Err(ExportError::WrongSize {
            values: values.len(),
            dims: grid.dims,
        });
    }
    let format = output_format(path)?;
    if format != OutputFormat::Nrrd && grid.dims.iter().any(|&d| d > i16::MAX as usize) {
        return Err(ExportError::TooLargeForNifti(path.to_path_buf()));
    }
    let io = |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    };
    match format {
        OutputFormat::Nrrd => {
            write_atomically(path, |w| write_nrrd(w, values, grid, description)).map_err(io)
        }
        OutputFormat::NiftiGz => write_atomically(path, |w| {
            let mut gz = flate2::write::GzEncoder::new(w, flate2::Compression::fast());
            write_nifti(&mut gz, values, grid, description)?;
            gz.finish()?;
            Ok(())
        })
        .map_err(io),
        OutputFormat::Nifti => {
            write_atomically(path, |w| write_nifti(w, values, grid, description)).map_err(io)
        }
    }
}

/// The float formats gradvol writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Nrrd,
    Nifti,
    NiftiGz,
}

/// The output format a file name asks for; callers check it before any long computation.
pub fn output_format(path: &Path) -> Result<OutputFormat, ExportError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if name.ends_with(".nrrd") {
        Ok(OutputFormat::Nrrd)
    } else if name.ends_with(".nii.gz") {
        Ok(OutputFormat::NiftiGz)
    } else if name.ends_with(".nii") {
        Ok(OutputFormat::Nifti)
    } else {
        Err(ExportError::UnknownFormat(path.to_path_buf()))
    }
}

/// Writes `values` little endian, a chunk at a time.
fn write_le<T: FileType>(w: &mut dyn Write, values: &[T]) -> std::io::Result<()> {
    let mut bytes = Vec::new();
    for chunk in values.chunks(1 << 16) {
        bytes.clear();
        chunk.iter().for_each(|v| v.put_le(&mut bytes));
        w.write_all(&bytes)?;
    }
    Ok(())
}

fn write_nrrd<T: FileType>(
    w: &mut dyn Write,
    values: &[T],
    grid: &Volume,
    description: &str,
) -> std::io::Result<()> {
    let m = grid.world_from_voxel;
    let col = |c: glam::DVec4| format!("({},{},{})", c.x, c.y, c.z);
    let space = match grid.space {
        Space::Lps => "left-posterior-superior",
        Space::Ras => "right-anterior-superior",
    };
    let [nx, ny, nz] = grid.dims;
    write!(
        w,
        "NRRD0004\n# {}\ntype: {}\ndimension: 3\nspace: {space}\nsizes: {nx} {ny} {nz}\n\
         space directions: {} {} {}\nkinds: domain domain domain\nendian: little\n\
         encoding: gzip\nspace origin: {}\n\n",
        description.replace('\n', " "),
        T::NRRD,
        col(m.x_axis),
        col(m.y_axis),
        col(m.z_axis),
        col(m.w_axis),
    )?;
    let mut gz = flate2::write::GzEncoder::new(w, flate2::Compression::fast());
    write_le(&mut gz, values)?;
    gz.finish()?;
    Ok(())
}

/// NIfTI-1 in the values' type, little endian, vox_offset 352; sform and (when the axes are
/// orthogonal) qform both hold the grid in RAS.
fn write_nifti<T: FileType>(
    w: &mut dyn Write,
    values: &[T],
    grid: &Volume,
    description: &str,
) -> std::io::Result<()> {
    let ras = grid.world_from_voxel_in(Space::Ras);
    let mut h = [0u8; 352];
    let mut put = |at: usize, bytes: &[u8]| h[at..at + bytes.len()].copy_from_slice(bytes);
    put(0, &348i32.to_le_bytes());
    let [nx, ny, nz] = grid.dims.map(|d| d as i16);
    for (k, d) in [3i16, nx, ny, nz, 1, 1, 1, 1].iter().enumerate() {
        put(40 + 2 * k, &d.to_le_bytes());
    }
    put(70, &T::NIFTI.to_le_bytes()); // datatype
    put(72, &(8 * std::mem::size_of::<T>() as i16).to_le_bytes()); // bitpix
    let (quatern, qfac, orthogonal) = quaternion_of(DMat3::from_mat4(ras), grid.spacing);
    let pixdim = [
        qfac,
        grid.spacing[0],
        grid.spacing[1],
        grid.spacing[2],
        1.0,
        1.0,
        1.0,
        1.0,
    ];
    for (k, p) in pixdim.iter().enumerate() {
        put(76 + 4 * k, &(*p as f32).to_le_bytes());
    }
    put(108, &352f32.to_le_bytes()); // vox_offset
    put(112, &1f32.to_le_bytes()); // scl_slope
    put(123, &[2]); // xyzt_units: mm
    let text: Vec<u8> = description.bytes().take(79).collect();
    put(148, &text);
    put(252, &(if orthogonal { 1i16 } else { 0 }).to_le_bytes()); // qform_code: scanner
    put(254, &1i16.to_le_bytes()); // sform_code: scanner
    let offset = ras.w_axis;
    for (k, q) in [
        quatern[0], quatern[1], quatern[2], offset.x, offset.y, offset.z,
    ]
    .iter()
    .enumerate()
    {
        put(256 + 4 * k, &(*q as f32).to_le_bytes());
    }
    let rows = ras.transpose();
    for (r, row) in [rows.x_axis, rows.y_axis, rows.z_axis].iter().enumerate() {
        for (k, v) in row.to_array().iter().enumerate() {
            put(280 + 16 * r + 4 * k, &(*v as f32).to_le_bytes());
        }
    }
    put(344, b"n+1\0");
    w.write_all(&h)?;
    write_le(w, values)
}

/// The qform quaternion (b, c, d) and qfac of a grid's linear part, as the NIfTI reference code
/// computes them; the bool is false when the axes are not orthogonal (no qform then).
fn quaternion_of(linear: DMat3, spacing: [f64; 3]) -> ([f64; 3], f64, bool) {
    let mut r = DMat3::from_cols(
        linear.x_axis / spacing[0],
        linear.y_axis / spacing[1],
        linear.z_axis / spacing[2],
    );
    let orthogonal = (r.transpose() * r).abs_diff_eq(DMat3::IDENTITY, 1e-4);
    let qfac = if r.determinant() < 0.0 {
        r.z_axis = -r.z_axis;
        -1.0
    } else {
        1.0
    };
    // r_ij: row i, column j.
    let e = |i: usize, j: usize| r.col(j)[i];
    let (mut a, mut b, mut c, mut d);
    let trace = e(0, 0) + e(1, 1) + e(2, 2);
    a = 0.5 * (1.0 + trace).max(0.0).sqrt();
    if a > 0.5 {
        b = 0.25 * (e(2, 1) - e(1, 2)) / a;
        c = 0.25 * (e(0, 2) - e(2, 0)) / a;
        d = 0.25 * (e(1, 0) - e(0, 1)) / a;
    } else {
        let xd = 1.0 + e(0, 0) - (e(1, 1) + e(2, 2));
        let yd = 1.0 + e(1, 1) - (e(0, 0) + e(2, 2));
        let zd = 1.0 + e(2, 2) - (e(0, 0) + e(1, 1));
        if xd > 1.0 {
            b = 0.5 * xd.sqrt();
            c = 0.25 * (e(0, 1) + e(1, 0)) / b;
            d = 0.25 * (e(0, 2) + e(2, 0)) / b;
            a = 0.25 * (e(2, 1) - e(1, 2)) / b;
        } else if yd > 1.0 {
            c = 0.5 * yd.sqrt();
            b = 0.25 * (e(0, 1) + e(1, 0)) / c;
            d = 0.25 * (e(1, 2) + e(2, 1)) / c;
            a = 0.25 * (e(0, 2) - e(2, 0)) / c;
        } else {
            d = 0.5 * zd.sqrt();
            b = 0.25 * (e(0, 2) + e(2, 0)) / d;
            c = 0.25 * (e(1, 2) + e(2, 1)) / d;
            a = 0.25 * (e(1, 0) - e(0, 1)) / d;
        }
        if a < 0.0 {
            (b, c, d) = (-b, -c, -d);
        }
    }
    ([b, c, d], qfac, orthogonal)
}
