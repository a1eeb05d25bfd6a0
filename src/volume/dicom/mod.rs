//! DICOM: a folder holding one series of slices, or one multi-frame file.
//!
//! Every file is first walked element by element ([`walk`]): each declared length is checked
//! against the bytes really there before anything is read, and only the elements gradvol needs
//! reach dicom-rs, which decodes their values. Two passes follow. The first reads every file's
//! header and orders the frames by ImagePositionPatient along the slice normal (RT Dose: by
//! GridFrameOffsetVector); spacing across slices comes from those positions. The second decodes
//! pixels straight into their slots: native pixel data by gradvol itself ([`pixels`]), compressed
//! pixel data by dicom-pixeldata once the pixel attributes have been checked. Rescale
//! Slope/Intercept (and RT Dose's DoseGridScaling) are applied, and the series is never held
//! twice.

mod pixels;
mod walk;

use std::fs::File;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use dicom_core::dictionary::DataDictionary;
use dicom_core::{Tag, VR};
use dicom_dictionary_std::{StandardDataDictionary, tags};
use dicom_object::InMemDicomObject;
use dicom_object::meta::FileMetaTableBuilder;
use dicom_pixeldata::PixelDecoder;
use glam::{DMat3, DVec3};
use rayon::prelude::*;

use self::pixels::PixelFormat;
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
    format: PixelFormat,
    /// The transfer syntax UID of compressed pixel data; `None` for native.
    compressed: Option<String>,
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
    let mut skipped_special = 0;
    for entry in entries {
        let entry = entry.map_err(|e| at(folder, ErrorKind::Io(e)))?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        // Following links; a FIFO, device or socket is never opened (a FIFO would block).
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => skipped_dirs += 1,
            Ok(m) if m.is_file() => files.push(path),
            Ok(_) => skipped_special += 1,
            Err(e) => return Err(at(&path, ErrorKind::Io(e))),
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
    if skipped_special > 0 {
        volume.notes.push(format!(
            "{skipped_special} entries that are not regular files (FIFOs, devices, sockets) \
             were skipped"
        ));
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
    let data = read_pixels(files, &headers, &frames, dims, options)?;
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

/// Decodes every frame straight into its slot, in parallel across files.
fn read_pixels(
    files: &[PathBuf],
    headers: &[FileHeader],
    frames: &[Frame],
    dims: [usize; 3],
    options: &LoadOptions,
) -> Result<Decoded, LoadError> {
    let slice = dims[0] * dims[1];
    let total_bytes = (slice * dims[2] * 4) as u64;
    let mut values = try_zeroed_vec::<f32>(slice * dims[2])
        .map_err(|_| at(&files[0], ErrorKind::OutOfMemory(total_bytes)))?;
    let mut slots: Vec<Vec<(u32, &mut [f32])>> = (0..files.len()).map(|_| Vec::new()).collect();
    for (f, out) in frames.iter().zip(values.chunks_mut(slice)) {
        slots[f.file].push((f.index, out));
    }
    let done = AtomicU64::new(0);
    options.report(0, total_bytes);
    slots
        .into_par_iter()
        .enumerate()
        .try_for_each(|(i, slots)| {
            let path = &files[i];
            decode_file(path, &headers[i], slots, &|| {
                let step = slice as u64 * 4;
                options.report(done.fetch_add(step, Ordering::Relaxed) + step, total_bytes);
            })
            .map_err(|k| at(path, k))
        })?;
    Ok(Decoded::scan(VoxelData::narrowest_from_f32(values)))
}

/// Decodes the frames of one file that the series uses into their slots.
fn decode_file(
    path: &Path,
    header: &FileHeader,
    slots: Vec<(u32, &mut [f32])>,
    progress: &(dyn Fn() + Sync),
) -> Result<(), ErrorKind> {
    let (file, len) = open_regular(path)?;
    let walked = walk::walk(file, len)?;
    let pixels = walked
        .pixels
        .ok_or_else(|| ErrorKind::invalid("the file changed: its pixel data is gone"))?;
    let format = &header.format;
    let frame_bytes = format.frame_bytes();
    match &header.compressed {
        None => {
            let mut raw = vec![0u8; frame_bytes as usize];
            for (index, out) in slots {
                let offset = pixels.value + index as u64 * frame_bytes;
                if offset + frame_bytes > pixels.end {
                    return Err(ErrorKind::invalid("the file changed while it was read"));
                }
                walked.bytes.read_at(offset, &mut raw)?;
                format.decode(&raw, walked.syntax.big_endian, out);
                progress();
            }
        }
        Some(uid) if uid == RLE_LOSSLESS => {
            // One fragment per frame, after the basic offset table.
            let fragments = walk::fragments(&walked.bytes, &pixels)?;
            if fragments.len() != format.frames + 1 {
                return Err(ErrorKind::Decode {
                    what: "RLE Lossless pixel data".into(),
                    reason: format!(
                        "{} fragments for {} frames",
                        fragments.len().saturating_sub(1),
                        format.frames
                    ),
                });
            }
            let mut raw = vec![0u8; frame_bytes as usize];
            for (index, out) in slots {
                let (offset, len) = fragments[index as usize + 1];
                let fragment = walked.bytes.range(offset, offset + len)?;
                pixels::rle_frame(&fragment, format, &mut raw)?;
                format.decode(&raw, false, out);
                progress();
            }
        }
        Some(uid) => {
            let mut streams = 0;
            for (offset, len) in walk::fragments(&walked.bytes, &pixels)?.into_iter().skip(1) {
                let fragment = walked.bytes.range(offset, offset + len)?;
                streams += pixels::check_stream_size(uid, &fragment, format)? as usize;
            }
            if streams == 0 {
                return Err(ErrorKind::invalid(
                    "the compressed pixel data holds no stream header",
                ));
            }
            let mut set = walked.kept;
            set.extend(walked.bytes.range(pixels.start, pixels.end)?);
            let object = InMemDicomObject::read_dataset_with_ts(
                set.as_slice(),
                &dicom_transfer_syntax_registry::entries::EXPLICIT_VR_LITTLE_ENDIAN.erased(),
            )
            .map_err(not_dicom)?
            .with_meta(
                FileMetaTableBuilder::new()
                    .transfer_syntax(uid.as_str())
                    .media_storage_sop_class_uid("1.2")
                    .media_storage_sop_instance_uid("1.2"),
            )
            .map_err(not_dicom)?;
            let name = pixels::decodable(uid)?;
            let decoded = guarded(|| object.decode_pixel_data())
                .map_err(|panic| ErrorKind::Decode {
                    what: format!("{name} pixel data"),
                    reason: format!("the decoder failed ({})", escape(panic.as_bytes())),
                })?
                .map_err(|e| ErrorKind::Decode {
                    what: format!("{name} pixel data"),
                    reason: one_line(&e),
                })?;
            let expected = frame_bytes * format.frames as u64;
            if decoded.data().len() as u64 != expected
                || decoded.samples_per_pixel() != 1
                || decoded.bits_allocated() != format.bits_allocated
            {
                return Err(ErrorKind::Decode {
                    what: format!("{name} pixel data"),
                    reason: format!(
                        "the decoder gave {} bytes of {}-bit samples where the header needs \
                         {expected} bytes of {}-bit samples",
                        decoded.data().len(),
                        decoded.bits_allocated(),
                        format.bits_allocated
                    ),
                });
            }
            // JPEG decoders give the stored bits right-aligned.
            let mut format = *format;
            format.high_bit = format.bits_stored - 1;
            for (index, out) in slots {
                let start = (index as u64 * frame_bytes) as usize;
                let raw = &decoded.data()[start..start + frame_bytes as usize];
                format.decode(raw, false, out);
                progress();
            }
        }
    }
    Ok(())
}

const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";

/// How many third-party decoders are running; while any is, the panic hook stays quiet.
static DECODING: AtomicUsize = AtomicUsize::new(0);

/// Runs a third-party decoder, turning a panic into an error. dicom-pixeldata's decoders can
/// panic on malformed data (fuzzing found an out-of-range slice in its JPEG 2000 adapter and a
/// short RLE segment); a file must end in a one-line error, never exit 101. The panic's own
/// report is silenced while a decoder runs; any other panic reaches the hook as before.
fn guarded<R>(decode: impl FnOnce() -> R) -> Result<R, String> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if DECODING.load(Ordering::SeqCst) == 0 {
                previous(info);
            }
        }));
    });
    DECODING.fetch_add(1, Ordering::SeqCst);
    let result = std::panic::catch_unwind(AssertUnwindSafe(decode));
    DECODING.fetch_sub(1, Ordering::SeqCst);
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into())
    })
}

/// Compressed pixel data is taken to expand at most this much (a blank 512x512 slice in JPEG
/// 2000 expands about 2,600 times)...
const MAX_COMPRESSION_RATIO: u64 = 10_000;
/// ...or to this size, whichever is larger.
const MIN_DECODED_LIMIT: u64 = 64 << 20;

/// Opens a regular file and returns its length; FIFOs, devices and sockets are refused before
/// they are opened, so that nothing blocks.
fn open_regular(path: &Path) -> Result<(File, u64), ErrorKind> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(super::not_regular());
    }
    Ok((File::open(path)?, meta.len()))
}

/// A message from a file or a library, on one line, its control bytes escaped.
fn one_line(e: &dyn std::fmt::Display) -> String {
    escape(e.to_string().replace('\n', " ").as_bytes())
}

/// Bytes as text, with anything that is not printable ASCII written as `\xNN`.
pub(crate) fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        if (0x20..0x7f).contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

fn not_dicom(e: impl std::fmt::Display) -> ErrorKind {
    ErrorKind::invalid(format!("not a readable DICOM file ({})", one_line(&e)))
}

fn read_header(path: &Path) -> Result<FileHeader, ErrorKind> {
    let (file, file_len) = open_regular(path)?;
    let walked = walk::walk(file, file_len)?;
    let syntax = match (walked.syntax.explicit, walked.syntax.big_endian) {
        (false, _) => dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN.erased(),
        (true, false) => {
            dicom_transfer_syntax_registry::entries::EXPLICIT_VR_LITTLE_ENDIAN.erased()
        }
        (true, true) => dicom_transfer_syntax_registry::entries::EXPLICIT_VR_BIG_ENDIAN.erased(),
    };
    let obj = InMemDicomObject::read_dataset_with_ts(walked.kept.as_slice(), &syntax)
        .map_err(not_dicom)?;
    let obj = &obj;
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
    let rows = int_checked(obj, tags::ROWS)?;
    let cols = int_checked(obj, tags::COLUMNS)?;
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
    let Some(pixels) = walked.pixels else {
        return Err(ErrorKind::invalid(
            "this DICOM file holds no image (no pixel data)",
        ));
    };
    let frames = match int_checked(obj, tags::NUMBER_OF_FRAMES)? {
        None => 1,
        Some(n) if n >= 1 => n,
        Some(n) => {
            return Err(ErrorKind::invalid(format!(
                "NumberOfFrames {n} is not positive"
            )));
        }
    };
    // Every frame takes at least a byte of the file, however well compressed.
    if frames as u64 > file_len.min(1 << 20) {
        return Err(ErrorKind::invalid(format!(
            "NumberOfFrames {frames} cannot fit in a file of {file_len} bytes"
        )));
    }
    let frames = frames as usize;
    let slope = lookup(
        tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
        tags::RESCALE_SLOPE,
    )
    .and_then(|v| v.first().copied())
    .unwrap_or(1.0);
    let intercept = lookup(
        tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
        tags::RESCALE_INTERCEPT,
    )
    .and_then(|v| v.first().copied())
    .unwrap_or(0.0);
    let dose_scaling = floats(obj, tags::DOSE_GRID_SCALING)
        .and_then(|v| v.first().copied())
        .unwrap_or(1.0);
    let float_bits = match pixels.tag {
        tags::FLOAT_PIXEL_DATA => Some(32),
        tags::DOUBLE_FLOAT_PIXEL_DATA => Some(64),
        _ => None,
    };
    let stated = pixels::Stated {
        samples: int_checked(obj, tags::SAMPLES_PER_PIXEL)?,
        bits_allocated: int_checked(obj, tags::BITS_ALLOCATED)?,
        bits_stored: int_checked(obj, tags::BITS_STORED)?,
        high_bit: int_checked(obj, tags::HIGH_BIT)?,
        representation: int_checked(obj, tags::PIXEL_REPRESENTATION)?,
    };
    let format = PixelFormat::check(
        stated,
        (rows, cols, frames),
        float_bits,
        (slope * dose_scaling, intercept * dose_scaling),
    )?;
    let needed = format.frame_bytes() * frames as u64;
    let compressed = match pixels.len {
        Some(stored) => {
            if stored < needed {
                return Err(ErrorKind::Truncated {
                    needed,
                    available: stored,
                });
            }
            None
        }
        None => {
            let uid = walked.transfer_syntax.clone().unwrap_or_default();
            pixels::decodable(&uid)?;
            // The decoder allocates what Rows x Columns x NumberOfFrames say before it decodes:
            // bound the claim by what the compressed bytes could plausibly hold.
            let stored = pixels.end - pixels.value;
            let limit = stored
                .saturating_mul(MAX_COMPRESSION_RATIO)
                .max(MIN_DECODED_LIMIT);
            if needed > limit {
                return Err(ErrorKind::ImpossibleClaim {
                    needed,
                    compressed: stored,
                    limit,
                });
            }
            Some(uid)
        }
    };
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
                .and_then(|p| p.get(k))
                .and_then(|f| item(f, tags::PLANE_POSITION_SEQUENCE, 0))
                .and_then(|o| floats(o, tags::IMAGE_POSITION_PATIENT))
                .and_then(|v| vec3(&v))
        })
        .collect();
    if positions[0].is_none() {
        positions[0] = top_position;
    }
    // RT Dose: frames placed along the normal by GridFrameOffsetVector, relative to the first.
    if let (Some(offsets), Some(origin)) =
        (floats(obj, tags::GRID_FRAME_OFFSET_VECTOR), top_position)
        && frames > 1
        && positions[1..].iter().all(Option::is_none)
    {
        if offsets.len() != frames || offsets.iter().any(|o| !o.is_finite()) {
            return Err(ErrorKind::invalid(format!(
                "GridFrameOffsetVector holds {} numbers for {frames} frames",
                offsets.len()
            )));
        }
        let [r, c] = orientation.unwrap_or([DVec3::X, DVec3::Y]);
        let normal = r.cross(c).normalize_or(DVec3::Z);
        for (p, o) in positions.iter_mut().zip(&offsets) {
            *p = Some(origin + normal * (o - offsets[0]));
        }
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
    Ok(FileHeader {
        series_uid,
        rows,
        cols,
        pixel_spacing,
        orientation,
        positions,
        slice_gap,
        format,
        compressed,
    })
}

fn item(obj: &InMemDicomObject, seq: Tag, i: usize) -> Option<&InMemDicomObject> {
    obj.element_opt(seq).ok().flatten()?.items()?.get(i)
}

fn floats(obj: &InMemDicomObject, tag: Tag) -> Option<Vec<f64>> {
    let e = obj.element_opt(tag).ok().flatten()?;
    if e.vr() == VR::UN {
        return un_numbers(tag, &e.to_bytes().ok()?);
    }
    e.to_multi_float64().ok()
}

/// Reads the value of an element stored with VR UN as its standard VR says (little endian, as
/// UN is always written in a little-endian data set).
fn un_numbers(tag: Tag, bytes: &[u8]) -> Option<Vec<f64>> {
    let vr = walk::dictionary_vr(tag)?;
    fn binary<const N: usize>(bytes: &[u8], f: impl Fn([u8; N]) -> f64) -> Option<Vec<f64>> {
        bytes.len().is_multiple_of(N).then(|| {
            bytes
                .chunks_exact(N)
                .map(|c| f(c.try_into().expect("N bytes")))
                .collect()
        })
    }
    match vr {
        VR::DS | VR::IS => std::str::from_utf8(bytes)
            .ok()?
            .trim_end_matches(['\0', ' '])
            .split('\\')
            .map(|w| w.trim().parse::<f64>().ok())
            .collect(),
        VR::US => binary(bytes, |b| u16::from_le_bytes(b) as f64),
        VR::SS => binary(bytes, |b| i16::from_le_bytes(b) as f64),
        VR::UL => binary(bytes, |b| u32::from_le_bytes(b) as f64),
        VR::SL => binary(bytes, |b| i32::from_le_bytes(b) as f64),
        VR::FL => binary(bytes, |b| f32::from_le_bytes(b) as f64),
        VR::FD => binary(bytes, f64::from_le_bytes),
        _ => None,
    }
}

/// An integer attribute that must be well formed when present: a malformed value is an error,
/// not a default.
fn int_checked(obj: &InMemDicomObject, tag: Tag) -> Result<Option<i64>, ErrorKind> {
    let Some(e) = obj.element_opt(tag).ok().flatten() else {
        return Ok(None);
    };
    let raw = e.to_bytes().map(|b| b.into_owned()).unwrap_or_default();
    // Text values are padded with spaces or NULs; binary ones are not.
    let text = matches!(e.vr(), VR::IS | VR::DS | VR::UN);
    let raw = match raw.iter().rposition(|&b| b != 0 && b != b' ') {
        _ if !text => &raw[..],
        Some(end) => &raw[..=end],
        None => &raw[..0],
    };
    if raw.is_empty() {
        return Ok(None);
    }
    int(obj, tag).map(Some).ok_or_else(|| {
        let name = StandardDataDictionary
            .by_tag(tag)
            .map(|d| d.alias)
            .unwrap_or("an attribute");
        ErrorKind::invalid(format!("{name} '{}' is not a number", escape(raw)))
    })
}

fn int(obj: &InMemDicomObject, tag: Tag) -> Option<i64> {
    let e = obj.element_opt(tag).ok().flatten()?;
    if e.vr() == VR::UN {
        let v = *un_numbers(tag, &e.to_bytes().ok()?)?.first()?;
        return (v.fract() == 0.0 && v.abs() < 9e15).then_some(v as i64);
    }
    e.to_int::<i64>().ok()
}

fn vec3(v: &[f64]) -> Option<DVec3> {
    (v.len() == 3 && v.iter().all(|x| x.is_finite())).then(|| DVec3::new(v[0], v[1], v[2]))
}

fn positive_pair(v: &[f64]) -> Option<[f64; 2]> {
    (v.len() == 2 && v.iter().all(|x| x.is_finite() && *x > 0.0)).then(|| [v[0], v[1]])
}
