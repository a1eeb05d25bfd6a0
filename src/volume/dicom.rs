//! DICOM: a folder holding one series of slices, or one multi-frame file, read with dicom-rs.
//!
//! Two passes. The first reads every file's header (up to the pixel data) and orders the frames
//! by ImagePositionPatient along the slice normal; spacing across slices comes from those
//! positions. The second decodes pixels straight into their slots, Rescale Slope/Intercept
//! applied, so the series is never held twice.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::file::ReadPreamble;
use dicom_object::{DefaultDicomObject, InMemDicomObject, OpenFileOptions};
use dicom_pixeldata::PixelDecoder;
use glam::{DMat3, DVec3};
use rayon::prelude::*;

use super::voxels::try_zeroed_vec;
use super::{
    Decoded, ErrorKind, Format, LoadError, LoadOptions, Space, Volume, VoxelData, voxel_count,
};

/// What the first pass learns from one file.
#[derive(Debug)]
struct FileHeader {
    series_uid: Option<String>,
    rows: usize,
    cols: usize,
    /// Spacing between rows, then between columns (DICOM's PixelSpacing order).
    pixel_spacing: Option<[f64; 2]>,
    /// Direction of increasing column index, then of increasing row index.
    orientation: Option<[DVec3; 2]>,
    /// One position per frame, where the file gives it.
    positions: Vec<Option<DVec3>>,
    slice_gap: Option<f64>,
    /// Length of the native pixel data: rows x columns x frames x samples x bytes.
    pixel_bytes: u64,
}

/// One frame of the series: which file, which frame in it, where it sits.
#[derive(Debug, Clone, Copy)]
struct Frame {
    file: usize,
    index: u32,
    position: DVec3,
}

fn at(path: &Path, kind: ErrorKind) -> LoadError {
    LoadError::new(path, kind)
}

/// Opens a folder holding one DICOM series.
pub(super) fn load_folder(folder: &Path, options: &LoadOptions) -> Result<Volume, LoadError> {
    let entries = std::fs::read_dir(folder).map_err(|e| at(folder, ErrorKind::Io(e)))?;
    let mut files = Vec::new();
    let mut skipped_dirs = 0;
    for entry in entries {
        let entry = entry.map_err(|e| at(folder, ErrorKind::Io(e)))?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            skipped_dirs += 1;
        } else {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(at(
            folder,
            ErrorKind::invalid("the folder holds no files (expected one DICOM series)"),
        ));
    }
    files.sort();
    let mut volume = load_series(&files, folder, options)?;
    if skipped_dirs > 0 {
        volume
            .notes
            .push(format!("{skipped_dirs} sub-folders were not read"));
    }
    Ok(volume)
}

/// Opens one DICOM file: a multi-frame volume, or a single slice.
pub(super) fn load_file(path: &Path, options: &LoadOptions) -> Result<Volume, LoadError> {
    load_series(&[path.to_path_buf()], path, options)
}

fn load_series(
    files: &[PathBuf],
    whole: &Path,
    options: &LoadOptions,
) -> Result<Volume, LoadError> {
    let headers: Vec<FileHeader> = files
        .par_iter()
        .map(|f| read_header(f).map_err(|k| at(f, k)))
        .collect::<Result<_, _>>()?;

    // One series, one grid.
    let mut uids: Vec<&str> = headers
        .iter()
        .filter_map(|h| h.series_uid.as_deref())
        .collect();
    uids.sort_unstable();
    uids.dedup();
    if uids.len() > 1 {
        return Err(at(
            whole,
            ErrorKind::invalid(format!(
                "the folder holds {} DICOM series; give gradvol a folder with one series",
                uids.len()
            )),
        ));
    }
    let first = &headers[0];
    for (h, f) in headers.iter().zip(files) {
        if (h.rows, h.cols) != (first.rows, first.cols) {
            return Err(at(
                f,
                ErrorKind::invalid(format!(
                    "this slice is {}x{} but the series' first is {}x{}",
                    h.cols, h.rows, first.cols, first.rows
                )),
            ));
        }
        if let (Some(a), Some(b)) = (h.orientation, first.orientation)
            && (a[0].dot(b[0]) < 0.9999 || a[1].dot(b[1]) < 0.9999)
        {
            return Err(at(
                f,
                ErrorKind::invalid("this slice's ImageOrientationPatient differs from the series'"),
            ));
        }
    }
    let mut notes = Vec::new();
    let [row_dir, col_dir] = first.orientation.unwrap_or_else(|| {
        notes.push("no ImageOrientationPatient; axial slices are assumed".into());
        [DVec3::X, DVec3::Y]
    });
    let normal = row_dir.cross(col_dir).normalize_or(DVec3::Z);
    let [row_spacing, col_spacing] = first.pixel_spacing.unwrap_or_else(|| {
        notes.push("no PixelSpacing; 1 mm is assumed".into());
        [1.0, 1.0]
    });

    // Every frame, placed and sorted along the normal.
    let mut frames = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        let n = h.positions.len();
        for (k, p) in h.positions.iter().enumerate() {
            let position = match p {
                Some(p) => *p,
                None if n > 1 => {
                    // A multi-frame file without per-frame positions: evenly spaced from its
                    // ImagePositionPatient (or the origin) along the normal.
                    let start = h
                        .positions
                        .first()
                        .copied()
                        .flatten()
                        .unwrap_or(DVec3::ZERO);
                    start + normal * h.slice_gap.unwrap_or(1.0) * k as f64
                }
                None if headers.len() == 1 => DVec3::ZERO,
                None => {
                    return Err(at(
                        &files[i],
                        ErrorKind::invalid("no ImagePositionPatient: the slice cannot be placed"),
                    ));
                }
            };
            frames.push(Frame {
                file: i,
                index: k as u32,
                position,
            });
        }
    }
    frames.sort_by(|a, b| a.position.dot(normal).total_cmp(&b.position.dot(normal)));
    let depth = frames.len();
    let (z_axis, z_spacing) = if depth > 1 {
        let gaps: Vec<f64> = frames
            .windows(2)
            .map(|w| (w[1].position - w[0].position).dot(normal))
            .collect();
        if let Some(k) = gaps.iter().position(|g| *g < 1e-3) {
            let f = &frames[k + 1];
            return Err(at(
                &files[f.file],
                ErrorKind::invalid(
                    "two slices share one position (several echoes, phases or series?)",
                ),
            ));
        }
        let span = frames[depth - 1].position - frames[0].position;
        let spacing = span.dot(normal) / (depth - 1) as f64;
        let (lo, hi) = gaps.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), g| {
            (lo.min(*g), hi.max(*g))
        });
        if hi - lo > 0.1 * spacing {
            notes.push(format!(
                "slice gaps vary from {lo:.3} to {hi:.3} mm; the mean {spacing:.3} mm is used"
            ));
        }
        // Slices stacked off the normal (a gantry tilt) make a sheared grid: follow the
        // positions then. Below 0.1 degrees it is jitter in the stored positions.
        let tilt = span.normalize().dot(normal).clamp(-1.0, 1.0).acos();
        if tilt > 0.1f64.to_radians() {
            notes.push(format!(
                "the slices are stacked {:.2} degrees off their normal (gantry tilt); the grid \
                 is sheared to follow their positions",
                tilt.to_degrees()
            ));
            (span.normalize(), span.length() / (depth - 1) as f64)
        } else {
            (normal, spacing)
        }
    } else {
        (normal, first.slice_gap.unwrap_or(1.0))
    };

    let dims = [first.cols, first.rows, depth];
    voxel_count(dims).map_err(|k| at(whole, k))?;
    let pixel_bytes: Vec<u64> = headers.iter().map(|h| h.pixel_bytes).collect();
    let data = read_pixels(files, &pixel_bytes, &frames, dims, options)?;
    let axes = DMat3::from_cols(row_dir, col_dir, z_axis);
    let mut volume = Volume::from_geometry(
        dims,
        [col_spacing, row_spacing, z_spacing],
        axes,
        frames[0].position,
        Space::Lps,
        data,
        Format::Dicom,
    )
    .map_err(|k| at(whole, k))?;
    volume.notes.extend(notes);
    Ok(volume)
}

/// Decodes every frame into its slot, in parallel across files.
fn read_pixels(
    files: &[PathBuf],
    pixel_bytes: &[u64],
    frames: &[Frame],
    dims: [usize; 3],
    options: &LoadOptions,
) -> Result<Decoded, LoadError> {
    let slice = dims[0] * dims[1];
    let total_bytes = (slice * dims[2] * 4) as u64;
    let mut values = try_zeroed_vec::<f32>(slice * dims[2])
        .map_err(|_| at(&files[0], ErrorKind::OutOfMemory(total_bytes)))?;
    let mut slots: Vec<Vec<(u32, usize)>> = vec![Vec::new(); files.len()];
    for (z, f) in frames.iter().enumerate() {
        slots[f.file].push((f.index, z));
    }
    let done = AtomicU64::new(0);
    let out = Mutex::new(values.as_mut_slice());
    options.report(0, total_bytes);
    (0..files.len()).into_par_iter().try_for_each(|i| {
        let path = &files[i];
        let object = open_through_pixels(path, pixel_bytes[i]).map_err(|k| at(path, k))?;
        let decoded = object.decode_pixel_data().map_err(|e| {
            at(
                path,
                ErrorKind::Corrupt(format!("cannot decode the pixel data: {}", one_line(&e))),
            )
        })?;
        if decoded.samples_per_pixel() != 1 {
            return Err(at(path, ErrorKind::unsupported("colour DICOM images")));
        }
        for &(index, z) in &slots[i] {
            let pixels: Vec<f32> = decoded.to_vec_frame(index).map_err(|e| {
                at(
                    path,
                    ErrorKind::Corrupt(format!("frame {}: {}", index + 1, one_line(&e))),
                )
            })?;
            if pixels.len() != slice {
                return Err(at(
                    path,
                    ErrorKind::Truncated {
                        needed: slice as u64,
                        available: pixels.len() as u64,
                    },
                ));
            }
            out.lock().expect("no writer panics")[z * slice..(z + 1) * slice]
                .copy_from_slice(&pixels);
            let d = done.fetch_add(slice as u64 * 4, Ordering::Relaxed) + slice as u64 * 4;
            options.report(d, total_bytes);
        }
        Ok(())
    })?;
    Ok(Decoded::scan(VoxelData::narrowest_from_f32(values)))
}

/// Opens a file up to and including its pixel data.
///
/// Some writers pad files with zeros after the pixel data, which dicom-rs parses as elements until
/// it fails at the end of the file. For those, the file is cut right after the top-level
/// PixelData element, found by its expected length, and parsed again.
fn open_through_pixels(path: &Path, pixel_bytes: u64) -> Result<DefaultDicomObject, ErrorKind> {
    let first = match OpenFileOptions::new()
        .read_to(tags::PIXEL_DATA)
        .open_file(path)
    {
        Ok(object) => return Ok(object),
        Err(e) => e,
    };
    let bytes = std::fs::read(path)?;
    let end = end_of_pixel_data(&bytes, pixel_bytes).ok_or_else(|| not_dicom(&first))?;
    OpenFileOptions::new()
        .read_preamble(ReadPreamble::Auto)
        .from_reader(&bytes[..end])
        .map_err(|_| not_dicom(&first))
}

/// End offset of the last PixelData element (explicit or implicit VR little endian) whose
/// length is `len`, rounded up to even as DICOM stores it.
fn end_of_pixel_data(bytes: &[u8], len: u64) -> Option<usize> {
    const TAG: [u8; 4] = [0xE0, 0x7F, 0x10, 0x00];
    let even = len + (len & 1);
    let len_at = |i: usize| -> Option<u64> {
        let b = bytes.get(i..i + 4)?;
        Some(u32::from_le_bytes(b.try_into().ok()?) as u64)
    };
    (0..bytes.len().saturating_sub(8)).rev().find_map(|i| {
        if bytes[i..i + 4] != TAG {
            return None;
        }
        let explicit =
            matches!(&bytes[i + 4..i + 6], b"OW" | b"OB") && bytes[i + 6..i + 8] == [0, 0];
        let (header, value_len) = if explicit {
            (12, len_at(i + 8)?)
        } else {
            (8, len_at(i + 4)?)
        };
        let end = i + header + value_len as usize;
        (value_len == even && end <= bytes.len()).then_some(end)
    })
}

fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string().replace('\n', " ")
}

fn not_dicom(e: impl std::fmt::Display) -> ErrorKind {
    ErrorKind::invalid(format!("not a readable DICOM file ({})", one_line(&e)))
}

fn read_header(path: &Path) -> Result<FileHeader, ErrorKind> {
    let object = OpenFileOptions::new()
        .read_until(tags::PIXEL_DATA)
        .open_file(path)
        .map_err(not_dicom)?;
    let obj: &InMemDicomObject = &object;
    let shared = item(obj, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE, 0);
    let per_frame = obj
        .element_opt(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .ok()
        .flatten()
        .and_then(|e| e.items());
    // A value at the top level, else in the shared functional groups, else in frame 1's.
    let lookup = |seq: Tag, tag: Tag| -> Option<Vec<f64>> {
        floats(obj, tag)
            .or_else(|| {
                shared
                    .and_then(|s| item(s, seq, 0))
                    .and_then(|o| floats(o, tag))
            })
            .or_else(|| {
                per_frame
                    .and_then(|p| p.first())
                    .and_then(|f| item(f, seq, 0))
                    .and_then(|o| floats(o, tag))
            })
    };
    let rows = int(obj, tags::ROWS);
    let cols = int(obj, tags::COLUMNS);
    let (rows, cols) = match (rows, cols) {
        (Some(r), Some(c)) if (1..=65535).contains(&r) && (1..=65535).contains(&c) => {
            (r as usize, c as usize)
        }
        _ => {
            return Err(ErrorKind::invalid(
                "this DICOM file holds no image (Rows/Columns missing or zero)",
            ));
        }
    };
    let frames = int(obj, tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1);
    // Every frame takes at least a byte of the file, however well compressed.
    let file_len = std::fs::metadata(path)?.len();
    if frames as u64 > file_len.min(1 << 20) {
        return Err(ErrorKind::invalid(format!(
            "NumberOfFrames {frames} cannot fit in a file of {file_len} bytes"
        )));
    }
    let pixel_spacing = lookup(tags::PIXEL_MEASURES_SEQUENCE, tags::PIXEL_SPACING)
        .or_else(|| floats(obj, tags::IMAGER_PIXEL_SPACING))
        .and_then(|v| positive_pair(&v));
    let orientation = lookup(
        tags::PLANE_ORIENTATION_SEQUENCE,
        tags::IMAGE_ORIENTATION_PATIENT,
    )
    .map(|v| {
        if v.len() != 6 || v.iter().any(|x| !x.is_finite()) {
            return Err(ErrorKind::invalid(
                "ImageOrientationPatient needs 6 numbers",
            ));
        }
        let r = DVec3::new(v[0], v[1], v[2]);
        let c = DVec3::new(v[3], v[4], v[5]);
        if r.length() < 1e-6
            || c.length() < 1e-6
            || r.normalize().cross(c.normalize()).length() < 1e-3
        {
            return Err(ErrorKind::invalid("ImageOrientationPatient is degenerate"));
        }
        Ok([r.normalize(), c.normalize()])
    })
    .transpose()?;
    let top_position = floats(obj, tags::IMAGE_POSITION_PATIENT).and_then(|v| vec3(&v));
    let mut positions: Vec<Option<DVec3>> = (0..frames)
        .map(|k| {
            per_frame
                .and_then(|p| p.get(k as usize))
                .and_then(|f| item(f, tags::PLANE_POSITION_SEQUENCE, 0))
                .and_then(|o| floats(o, tags::IMAGE_POSITION_PATIENT))
                .and_then(|v| vec3(&v))
        })
        .collect();
    if positions[0].is_none() {
        positions[0] = top_position;
    }
    let slice_gap = lookup(tags::PIXEL_MEASURES_SEQUENCE, tags::SPACING_BETWEEN_SLICES)
        .or_else(|| lookup(tags::PIXEL_MEASURES_SEQUENCE, tags::SLICE_THICKNESS))
        .and_then(|v| v.first().copied())
        .filter(|g| g.is_finite() && *g > 0.0);
    let series_uid = obj
        .element_opt(tags::SERIES_INSTANCE_UID)
        .ok()
        .flatten()
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).to_owned());
    let bits = int(obj, tags::BITS_ALLOCATED).unwrap_or(16).clamp(1, 64) as u64;
    let samples = int(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1).clamp(1, 4) as u64;
    let pixel_bytes = (rows * cols) as u64 * frames as u64 * samples * bits.div_ceil(8);
    Ok(FileHeader {
        pixel_bytes,
        series_uid,
        rows,
        cols,
        pixel_spacing,
        orientation,
        positions,
        slice_gap,
    })
}

fn item(obj: &InMemDicomObject, seq: Tag, i: usize) -> Option<&InMemDicomObject> {
    obj.element_opt(seq).ok().flatten()?.items()?.get(i)
}

fn floats(obj: &InMemDicomObject, tag: Tag) -> Option<Vec<f64>> {
    obj.element_opt(tag).ok().flatten()?.to_multi_float64().ok()
}

fn int(obj: &InMemDicomObject, tag: Tag) -> Option<i64> {
    obj.element_opt(tag).ok().flatten()?.to_int::<i64>().ok()
}

fn vec3(v: &[f64]) -> Option<DVec3> {
    (v.len() == 3 && v.iter().all(|x| x.is_finite())).then(|| DVec3::new(v[0], v[1], v[2]))
}

fn positive_pair(v: &[f64]) -> Option<[f64; 2]> {
    (v.len() == 2 && v.iter().all(|x| x.is_finite() && *x > 0.0)).then(|| [v[0], v[1]])
}
