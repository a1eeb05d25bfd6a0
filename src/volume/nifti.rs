//! NIfTI-1 and NIfTI-2 (`.nii`, `.nii.gz`, and `.hdr` + `.img` pairs), either byte order, sform or qform,
//! `scl_slope`/`scl_inter`, spatial units; 4-D files open their first volume.
//!
//! A NIfTI-1 header is parsed by the `nifti` crate, a NIfTI-2 one here; the voxels go through the shared bounded reader,
//! so a header's claim is checked against the file before anything is allocated.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use glam::{DMat3, DVec3};
use nifti::{Endianness, NiftiHeader};

use super::payload::{Compression, Payload};
use super::{DType, Endian, ErrorKind, Format, Space, VolumeSource, voxel_count};

/// True when `head` (a file's first bytes, not decompressed) starts like a NIfTI-1 or NIfTI-2
/// header in either byte order.
pub(super) fn looks_like_nifti(head: &[u8]) -> bool {
    nifti_version(head).is_some()
}

fn nifti_version(head: &[u8]) -> Option<u8> {
    if head.len() < 4 {
        return None;
    }
    let size_le = i32::from_le_bytes(head[..4].try_into().ok()?);
    let size_be = i32::from_be_bytes(head[..4].try_into().ok()?);
    let is = |n| size_le == n || size_be == n;
    if is(348) && head.len() >= 348 && matches!(&head[344..348], b"n+1\0" | b"ni1\0") {
        Some(1)
    } else if is(540) && head.len() >= 8 && matches!(&head[4..8], b"n+2\0" | b"ni2\0") {
        Some(2)
    } else {
        None
    }
}

fn invalid(reason: impl Into<String>) -> ErrorKind {
    ErrorKind::invalid(format!("NIfTI header: {}", reason.into()))
}

pub(super) fn source(path: &Path) -> Result<VolumeSource, ErrorKind> {
    let gzipped = is_gzip(path)?;
    let header = read_header(path, gzipped)?;
    let mut notes = Vec::new();

    // CIFTI-2 (NIFTI_INTENT_CONNECTIVITY_*) keeps a matrix over brain surfaces and voxels in
    // dims 5 and 6: read as a volume it would be one voxel of nonsense.
    if (3000..=3099).contains(&header.intent_code) {
        return Err(ErrorKind::unsupported(format!(
            "a CIFTI-2 file (intent code {}): a matrix over brain surfaces and voxels, not a \
             volume",
            header.intent_code
        )));
    }
    let ndim = header.dim[0] as i16;
    if !(1..=7).contains(&ndim) {
        return Err(invalid(format!("dim[0] = {ndim} is not between 1 and 7")));
    }
    let mut dims = [1usize; 3];
    for (k, d) in dims.iter_mut().enumerate().take((ndim as usize).min(3)) {
        let v = header.dim[k + 1] as i16; // stored as int16 in the file
        if v < 1 {
            return Err(invalid(format!(
                "dim[{}] = {v} is not a positive size",
                k + 1
            )));
        }
        *d = v as usize;
    }
    let extra: u64 = (4..=ndim as usize)
        .map(|k| (header.dim[k] as i16).max(1) as u64)
        .product();
    if extra > 1 {
        notes.push(format!(
            "the file holds {extra} volumes; the first is shown"
        ));
    }
    let count = voxel_count(dims)?;
    let dtype = match header.datatype {
        2 => DType::Uint8,
        4 => DType::Int16,
        8 => DType::Int32,
        16 => DType::Float,
        64 => DType::Double,
        256 => DType::Int8,
        512 => DType::Uint16,
        768 => DType::Uint32,
        32 | 1792 | 2048 => return Err(ErrorKind::unsupported("complex-valued NIfTI voxels")),
        128 | 2304 => return Err(ErrorKind::unsupported("RGB NIfTI voxels")),
        1024 | 1280 => return Err(ErrorKind::unsupported("64-bit integer NIfTI voxels")),
        other => return Err(invalid(format!("unknown datatype code {other}"))),
    };

    let vox_offset = header.vox_offset;
    if !vox_offset.is_finite() || vox_offset < 0.0 {
        return Err(invalid(format!(
            "vox_offset {vox_offset} is not a byte offset"
        )));
    }
    let vox_offset = vox_offset as u64;
    let single_file = &header.magic == b"n+1\0";
    let (data_path, compression, offset, skip) = if single_file {
        if vox_offset < header.sizeof_hdr.max(348) as u64 {
            return Err(invalid(format!(
                "vox_offset {vox_offset} points into the header"
            )));
        }
        let file_len = std::fs::metadata(path)?.len();
        let reach = if gzipped {
            file_len.saturating_mul(super::payload::MAX_DEFLATE_RATIO)
        } else {
            file_len
        };
        if vox_offset > reach {
            return Err(invalid(format!(
                "vox_offset {} lies beyond the end of the data ({file_len} bytes on disk)",
                header.vox_offset
            )));
        }
        if gzipped {
            (path.to_path_buf(), Compression::Gzip, 0, vox_offset)
        } else {
            (path.to_path_buf(), Compression::None, vox_offset, 0)
        }
    } else {
        let img = image_file_of_pair(path)?;
        let gz = is_gzip(&img)?;
        match gz {
            true => (img, Compression::Gzip, 0, vox_offset),
            false => (img, Compression::None, vox_offset, 0),
        }
    };
    let payload = Payload {
        path: data_path,
        offset,
        from_end: false,
        compression,
        skip,
        dtype,
        endian: match header.endianness {
            Endianness::Little => Endian::Little,
            Endianness::Big => Endian::Big,
        },
        count,
        whole: extra == 1,
    };

    let slope = header.scl_slope as f64;
    let inter = header.scl_inter as f64;
    let rescale =
        (slope != 0.0 && slope.is_finite() && inter.is_finite() && (slope, inter) != (1.0, 0.0))
            .then_some((slope, inter));
    if rescale.is_some() {
        notes.push(format!(
            "values rescaled by scl_slope {slope} and scl_inter {inter}"
        ));
    }

    let (axes_scaled, origin) = world_axes(&header, &mut notes)?;
    let unit_scale = spatial_unit_scale(header.xyzt_units, &mut notes);
    let axes_scaled = axes_scaled * unit_scale;
    let origin = origin * unit_scale;
    let spacing = [
        axes_scaled.x_axis.length(),
        axes_scaled.y_axis.length(),
        axes_scaled.z_axis.length(),
    ];
    Ok(VolumeSource {
        dims,
        spacing,
        axes: axes_scaled,
        origin,
        space: Space::Ras,
        format: Format::Nifti,
        notes,
        payload,
        components: 1,
        rescale,
        data_file: None,
    })
}

fn is_gzip(path: &Path) -> Result<bool, ErrorKind> {
    let mut magic = [0u8; 2];
    let n = super::open_regular(path)?.take(2).read(&mut magic)?;
    Ok(n == 2 && magic == [0x1f, 0x8b])
}

fn read_header(path: &Path, gzipped: bool) -> Result<NiftiHeader, ErrorKind> {
    let file = super::open_regular(path)?;
    let mut head = Vec::with_capacity(NIFTI2_HEADER);
    if gzipped {
        MultiGzDecoder::new(file)
            .take(NIFTI2_HEADER as u64)
            .read_to_end(&mut head)
            .map_err(|e| ErrorKind::Corrupt(e.to_string()))?;
    } else {
        file.take(NIFTI2_HEADER as u64).read_to_end(&mut head)?;
    }
    match nifti_version(&head) {
        Some(1) => {
            head.truncate(348);
            NiftiHeader::from_reader(std::io::Cursor::new(head)).map_err(|e| invalid(e.to_string()))
        }
        Some(_) if head.len() < NIFTI2_HEADER => Err(ErrorKind::Truncated {
            needed: NIFTI2_HEADER as u64,
            available: head.len() as u64,
        }),
        Some(_) => nifti2_header(&head),
        None if head.len() < 348 => Err(ErrorKind::Truncated {
            needed: 348,
            available: head.len() as u64,
        }),
        None => Err(invalid(
            "not a NIfTI file (no sizeof_hdr 348 with magic n+1/ni1, or 540 with n+2/ni2)",
        )),
    }
}

/// Bytes in a NIfTI-2 header.
const NIFTI2_HEADER: usize = 540;

/// Reads a NIfTI-2 header (64-bit sizes and offsets, double-precision geometry) into the
/// NIfTI-1 form the rest of this reader uses. Sizes must fit in NIfTI-1's 16 bits (32767 a
/// side), and the geometry keeps single precision (about 1e-5 mm at 100 mm from the origin).
fn nifti2_header(b: &[u8]) -> Result<NiftiHeader, ErrorKind> {
    let big = i32::from_le_bytes(b[..4].try_into().expect("4 bytes")) != 540;
    let bytes = |at: usize, n: usize| -> [u8; 8] {
        let mut w = [0u8; 8];
        w[..n].copy_from_slice(&b[at..at + n]);
        if big {
            w[..n].reverse();
        }
        w
    };
    let i64_at = |at| i64::from_le_bytes(bytes(at, 8));
    let f64_at = |at| f64::from_le_bytes(bytes(at, 8));
    let i32_at = |at| i32::from_le_bytes(bytes(at, 4)[..4].try_into().expect("4 bytes"));
    let i16_at = |at| i16::from_le_bytes(bytes(at, 2)[..2].try_into().expect("2 bytes"));
    let mut dim = [0u16; 8];
    for (k, d) in dim.iter_mut().enumerate() {
        let v = i64_at(16 + 8 * k);
        // dim[0] is the count; unused entries may hold anything (as NIfTI-1 readers ignore).
        if k <= i64_at(16).clamp(0, 7) as usize {
            *d = u16::try_from(v)
                .ok()
                .filter(|v| *v <= i16::MAX as u16)
                .ok_or_else(|| {
                    ErrorKind::unsupported(format!(
                        "a NIfTI-2 size of {v} (dim[{k}]); gradvol reads up to 32767 a side"
                    ))
                })?;
        }
    }
    let code = |at| -> Result<i16, ErrorKind> {
        let v = i32_at(at);
        i16::try_from(v).map_err(|_| invalid(format!("form code {v}")))
    };
    let vox_offset = i64_at(168);
    let row = |at: usize| [0, 1, 2, 3].map(|i| f64_at(at + 8 * i) as f32);
    Ok(NiftiHeader {
        sizeof_hdr: 540,
        dim,
        datatype: i16_at(12),
        bitpix: i16_at(14),
        pixdim: std::array::from_fn(|k| f64_at(104 + 8 * k) as f32),
        vox_offset: if vox_offset >= 0 {
            vox_offset as f32
        } else {
            -1.0
        },
        scl_slope: f64_at(176) as f32,
        scl_inter: f64_at(184) as f32,
        qform_code: code(344)?,
        sform_code: code(348)?,
        quatern_b: f64_at(352) as f32,
        quatern_c: f64_at(360) as f32,
        quatern_d: f64_at(368) as f32,
        quatern_x: f64_at(376) as f32,
        quatern_y: f64_at(384) as f32,
        quatern_z: f64_at(392) as f32,
        srow_x: row(400),
        srow_y: row(432),
        srow_z: row(464),
        xyzt_units: i32_at(500) as u8,
        intent_code: i16::try_from(i32_at(504)).unwrap_or(i16::MAX),
        magic: if &b[4..8] == b"n+2\0" {
            *b"n+1\0"
        } else {
            *b"ni1\0"
        },
        endianness: if big {
            Endianness::Big
        } else {
            Endianness::Little
        },
        ..Default::default()
    })
}

/// The `.img` (or `.img.gz`) beside a `.hdr`.
fn image_file_of_pair(path: &Path) -> Result<PathBuf, ErrorKind> {
    let name = path.to_string_lossy();
    let candidates = if let Some(stem) = name.strip_suffix(".hdr.gz") {
        vec![format!("{stem}.img.gz"), format!("{stem}.img")]
    } else if let Some(stem) = name.strip_suffix(".hdr") {
        vec![format!("{stem}.img"), format!("{stem}.img.gz")]
    } else {
        vec![]
    };
    candidates
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| invalid("a header-only NIfTI (.hdr) needs its .img file beside it"))
}

/// Columns = voxel axis times spacing, and the origin, in RAS mm (before unit scaling).
fn world_axes(h: &NiftiHeader, notes: &mut Vec<String>) -> Result<(DMat3, DVec3), ErrorKind> {
    let pixdim = |i: usize| {
        let p = h.pixdim[i] as f64;
        if p.is_finite() && p != 0.0 {
            p.abs()
        } else {
            1.0
        }
    };
    if h.sform_code > 0 {
        let r = [h.srow_x, h.srow_y, h.srow_z].map(|row| row.map(f64::from));
        let axes = DMat3::from_cols(
            DVec3::new(r[0][0], r[1][0], r[2][0]),
            DVec3::new(r[0][1], r[1][1], r[2][1]),
            DVec3::new(r[0][2], r[1][2], r[2][2]),
        );
        return Ok((axes, DVec3::new(r[0][3], r[1][3], r[2][3])));
    }
    if h.qform_code > 0 {
        let (mut b, mut c, mut d) = (h.quatern_b as f64, h.quatern_c as f64, h.quatern_d as f64);
        // As the NIfTI reference code does: a rotation by 180 degrees has a = 0, and rounding in
        // the stored b, c, d must not turn that into a small positive a.
        let rest = 1.0 - (b * b + c * c + d * d);
        let a = if rest < 1e-7 {
            let norm = (b * b + c * c + d * d).sqrt();
            if norm > 0.0 {
                (b, c, d) = (b / norm, c / norm, d / norm);
            }
            0.0
        } else {
            rest.sqrt()
        };
        let rot = DMat3::from_cols(
            DVec3::new(
                a * a + b * b - c * c - d * d,
                2.0 * (b * c + a * d),
                2.0 * (b * d - a * c),
            ),
            DVec3::new(
                2.0 * (b * c - a * d),
                a * a + c * c - b * b - d * d,
                2.0 * (c * d + a * b),
            ),
            DVec3::new(
                2.0 * (b * d + a * c),
                2.0 * (c * d - a * b),
                a * a + d * d - b * b - c * c,
            ),
        );
        let qfac = if h.pixdim[0] < 0.0 { -1.0 } else { 1.0 };
        let scale = DMat3::from_diagonal(DVec3::new(pixdim(1), pixdim(2), qfac * pixdim(3)));
        let origin = DVec3::new(h.quatern_x as f64, h.quatern_y as f64, h.quatern_z as f64);
        return Ok((rot * scale, origin));
    }
    notes.push("neither sform nor qform is set; the grid is axis-aligned at the origin".into());
    Ok((
        DMat3::from_diagonal(DVec3::new(pixdim(1), pixdim(2), pixdim(3))),
        DVec3::ZERO,
    ))
}

/// Factor from the file's spatial unit to mm.
fn spatial_unit_scale(xyzt_units: u8, notes: &mut Vec<String>) -> f64 {
    match xyzt_units & 0x07 {
        1 => {
            notes.push("the file's unit is metres; converted to mm".into());
            1000.0
        }
        3 => {
            notes.push("the file's unit is micrometres; converted to mm".into());
            0.001
        }
        _ => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qform_identity_quaternion_is_axis_aligned() {
        let mut h = NiftiHeader {
            qform_code: 1,
            sform_code: 0,
            ..Default::default()
        };
        h.pixdim = [1.0, 2.0, 3.0, 4.0, 1.0, 1.0, 1.0, 1.0];
        h.quatern_x = 10.0;
        let (axes, origin) = world_axes(&h, &mut vec![]).unwrap();
        assert_eq!(axes, DMat3::from_diagonal(DVec3::new(2.0, 3.0, 4.0)));
        assert_eq!(origin, DVec3::new(10.0, 0.0, 0.0));
        // qfac = -1 flips the third axis.
        h.pixdim[0] = -1.0;
        let (axes, _) = world_axes(&h, &mut vec![]).unwrap();
        assert_eq!(axes.z_axis, DVec3::new(0.0, 0.0, -4.0));
    }

    #[test]
    fn qform_half_turn_about_z_flips_x_and_y() {
        let mut h = NiftiHeader {
            qform_code: 1,
            sform_code: 0,
            quatern_b: 0.0,
            quatern_c: 0.0,
            quatern_d: 1.0,
            ..Default::default()
        };
        h.pixdim = [1.0; 8];
        let (axes, _) = world_axes(&h, &mut vec![]).unwrap();
        let expected = DMat3::from_diagonal(DVec3::new(-1.0, -1.0, 1.0));
        assert!(axes.abs_diff_eq(expected, 1e-12), "{axes}");
    }
}
