//! NRRD (`.nrrd` attached, `.nhdr` detached): raw, gzip and ascii encodings, either byte order,
//! `space`, `space directions`, `space origin`, with `spacings` as the fallback geometry.
//!
//! Follows the NRRD0005 format description (teem.sourceforge.net/nrrd/format.html).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use glam::{DMat3, DVec3};

use super::payload::{Compression, Payload, parse_text_voxels};
use super::{
    DType, Decoded, Endian, ErrorKind, Format, Opened, Space, Volume, VolumeSource, voxel_count,
};

/// A header longer than this is not a header.
const MAX_HEADER_BYTES: u64 = 1 << 20;

fn invalid(reason: impl Into<String>) -> ErrorKind {
    ErrorKind::invalid(format!("NRRD header: {}", reason.into()))
}

/// The header fields gradvol uses, parsed and checked.
#[derive(Debug)]
struct Header {
    sizes: Vec<usize>,
    dtype: DType,
    encoding: Encoding,
    endian: Option<Endian>,
    /// The named space, lower-case.
    space: Option<String>,
    space_directions: Option<Vec<Option<Vec<f64>>>>,
    space_origin: Option<Vec<f64>>,
    spacings: Option<Vec<f64>>,
    kinds: Option<Vec<String>>,
    data_file: Option<String>,
    line_skip: u64,
    byte_skip: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Raw,
    Gzip,
    Bzip2,
    Text,
}

pub(super) fn open(path: &Path) -> Result<Opened, ErrorKind> {
    let (fields, header_end) = read_header(path)?;
    let h = Header::parse(&fields)?;
    let geometry = Geometry::from_header(&h)?;

    let (data_path, data_offset) = match &h.data_file {
        Some(name) => {
            if name == "LIST" || name.split_whitespace().count() > 1 {
                return Err(ErrorKind::unsupported(
                    "NRRD data split over several files ('data file: LIST' or a name pattern)",
                ));
            }
            let dir = path.parent().unwrap_or(Path::new("."));
            (dir.join(name), 0)
        }
        None => {
            let is_nhdr = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("nhdr"));
            if is_nhdr {
                return Err(invalid(
                    "a detached header (.nhdr) needs a 'data file' field",
                ));
            }
            (PathBuf::from(path), header_end)
        }
    };
    require_regular_file(&data_path)?;
    let data_offset = skip_lines(&data_path, data_offset, h.line_skip)?;
    let read_count = (geometry.components as u64)
        .checked_mul(geometry.voxels)
        .filter(|&n| n <= super::MAX_VOXELS)
        .ok_or_else(|| {
            invalid(format!(
                "{} values per voxel make more values than any volume may hold",
                geometry.components
            ))
        })?;

    let payload = match h.encoding {
        Encoding::Text => {
            let mut f = super::open_regular(&data_path)?;
            let len = f.metadata()?.len();
            f.seek(SeekFrom::Start(data_offset))?;
            let mut text = String::new();
            f.take(len.saturating_sub(data_offset))
                .read_to_string(&mut text)
                .map_err(|_| invalid("ascii data is not text"))?;
            let mut data = Decoded::scan(parse_text_voxels(&text, h.dtype, read_count)?);
            if geometry.components > 1 {
                data = Decoded::scan(data.data.first_component(geometry.components));
            }
            let mut volume = Volume::from_geometry(
                geometry.dims,
                geometry.spacing,
                geometry.axes,
                geometry.origin,
                geometry.space,
                data,
                Format::Nrrd,
            )?;
            volume.notes.extend(geometry.notes);
            return Ok(Opened::Read(volume));
        }
        Encoding::Raw | Encoding::Gzip | Encoding::Bzip2 => {
            let endian = match (h.endian, h.dtype.size()) {
                (Some(e), _) => e,
                (None, 1) => Endian::native(),
                (None, _) => {
                    return Err(invalid(format!(
                        "'endian' is required for {} data",
                        h.dtype
                    )));
                }
            };
            let raw = h.encoding == Encoding::Raw;
            if h.byte_skip < -1 {
                return Err(invalid(format!("byte skip {} is not allowed", h.byte_skip)));
            }
            let skip = h.byte_skip.max(0) as u64;
            // A detached raw data file must hold just the voxels: more bytes mean another
            // file (a .nii.gz, say) whose bytes would be read as values.
            if raw && h.data_file.is_some() && h.byte_skip >= 0 && geometry.whole {
                let needed = read_count.saturating_mul(h.dtype.size() as u64);
                let start = data_offset.saturating_add(skip);
                let len = std::fs::metadata(&data_path)?.len();
                if len > start.saturating_add(needed) {
                    return Err(invalid(format!(
                        "the data file {} holds {} bytes more than the {needed} bytes of voxels \
                         the header describes (is it the right file?)",
                        data_path.display(),
                        len - start - needed
                    )));
                }
            }
            Payload {
                path: data_path.clone(),
                offset: if raw {
                    data_offset.saturating_add(skip)
                } else {
                    data_offset
                },
                from_end: h.byte_skip == -1,
                compression: match h.encoding {
                    Encoding::Gzip => Compression::Gzip,
                    Encoding::Bzip2 => Compression::Bzip2,
                    _ => Compression::None,
                },
                skip: if raw { 0 } else { skip },
                dtype: h.dtype,
                endian,
                count: read_count,
                whole: geometry.whole,
            }
        }
    };
    Ok(Opened::Source(VolumeSource {
        dims: geometry.dims,
        spacing: geometry.spacing,
        axes: geometry.axes,
        origin: geometry.origin,
        space: geometry.space,
        format: Format::Nrrd,
        notes: geometry.notes,
        payload,
        components: geometry.components,
        rescale: None,
        data_file: h.data_file.is_some().then_some(data_path),
    }))
}

/// Reads header lines up to the first blank line (or the end of a detached header). Returns the
/// fields by lower-case name and the byte offset where attached data begins.
fn read_header(path: &Path) -> Result<(HashMap<String, String>, u64), ErrorKind> {
    let file = super::open_regular(path)?;
    let mut reader = BufReader::new(file).take(MAX_HEADER_BYTES);
    let mut magic = [0u8; 8];
    let got = read_up_to(&mut reader, &mut magic)?;
    if got < 8 || !magic.starts_with(b"NRRD000") || !(b'1'..=b'5').contains(&magic[7]) {
        return Err(ErrorKind::invalid(
            "not a NRRD file (it does not start with 'NRRD0001'..'NRRD0005')",
        ));
    }
    let mut offset = 8u64;
    let mut fields = HashMap::new();
    let mut line = Vec::new();
    let mut first = true;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            if reader.limit() == 0 {
                return Err(invalid(
                    "no blank line ends the header within its first 1 MiB",
                ));
            }
            break; // a detached header may end at the end of the file
        }
        offset += n as u64;
        let text = std::str::from_utf8(&line)
            .map_err(|_| invalid("the header holds bytes that are not text"))?
            .trim_end_matches(['\n', '\r']);
        if first {
            first = false; // the rest of the magic line
            continue;
        }
        if text.is_empty() {
            break;
        }
        if text.starts_with('#') {
            continue;
        }
        // "key:=value" pairs are free-form metadata; fields are "name: value".
        let field = text.find(": ").filter(|&i| !text[..i].contains(":="));
        if let Some(i) = field {
            fields.insert(
                text[..i].trim().to_ascii_lowercase(),
                text[i + 2..].trim().to_owned(),
            );
        } else if !text.contains(":=") {
            return Err(invalid(format!("cannot read the line '{}'", clip(text))));
        }
    }
    Ok((fields, offset))
}

fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn clip(s: &str) -> String {
    s.chars().take(60).collect()
}

/// Data must come from a regular file: a device or pipe could be read without end.
fn require_regular_file(path: &Path) -> Result<(), ErrorKind> {
    let meta = std::fs::metadata(path).map_err(|e| ErrorKind::Io(e).in_data_file(path))?;
    if meta.is_file() {
        Ok(())
    } else {
        Err(invalid(format!(
            "the data file {} is not a regular file",
            path.display()
        )))
    }
}

/// Moves past `lines` newline-terminated lines starting at `offset`, never beyond the file.
fn skip_lines(path: &Path, offset: u64, lines: u64) -> Result<u64, ErrorKind> {
    if lines == 0 {
        return Ok(offset);
    }
    let file = super::open_regular(path)?;
    let len = file.metadata()?.len();
    let mut reader = BufReader::new(file);
    reader.seek(SeekFrom::Start(offset))?;
    let mut reader = reader.take(len.saturating_sub(offset));
    let mut pos = offset;
    let mut sink = Vec::new();
    for _ in 0..lines {
        sink.clear();
        let n = (&mut reader).take(1 << 20).read_until(b'\n', &mut sink)?;
        if n == 0 {
            return Err(invalid("'line skip' goes past the end of the data file"));
        }
        pos += n as u64;
    }
    Ok(pos)
}

impl Header {
    fn parse(f: &HashMap<String, String>) -> Result<Header, ErrorKind> {
        let get = |k: &str| f.get(k).map(String::as_str);
        let dimension: usize = get("dimension")
            .ok_or_else(|| invalid("the 'dimension' field is missing"))?
            .parse()
            .map_err(|_| invalid("'dimension' is not a number"))?;
        let sizes_text = get("sizes").ok_or_else(|| invalid("the 'sizes' field is missing"))?;
        let sizes: Vec<usize> = sizes_text
            .split_whitespace()
            .map(|s| {
                s.parse::<i64>()
                    .ok()
                    .filter(|&v| v > 0)
                    .map(|v| v as usize)
                    .ok_or_else(|| invalid(format!("size '{s}' is not a positive integer")))
            })
            .collect::<Result<_, _>>()?;
        if sizes.len() != dimension {
            return Err(invalid(format!(
                "'sizes' has {} values but 'dimension' is {dimension}",
                sizes.len()
            )));
        }
        let type_name = get("type").ok_or_else(|| invalid("the 'type' field is missing"))?;
        let dtype = parse_type(type_name)?;
        let encoding = match get("encoding")
            .ok_or_else(|| invalid("the 'encoding' field is missing"))?
            .to_ascii_lowercase()
            .as_str()
        {
            "raw" => Encoding::Raw,
            "gzip" | "gz" => Encoding::Gzip,
            "ascii" | "text" | "txt" => Encoding::Text,
            "bzip2" | "bz2" => Encoding::Bzip2,
            other => return Err(ErrorKind::unsupported(format!("NRRD encoding '{other}'"))),
        };
        let endian = match get("endian").map(str::to_ascii_lowercase).as_deref() {
            None => None,
            Some("little") => Some(Endian::Little),
            Some("big") => Some(Endian::Big),
            Some(other) => return Err(invalid(format!("endian '{other}' is not little or big"))),
        };
        let space = get("space").map(str::to_ascii_lowercase);
        let space_directions = get("space directions")
            .map(|s| parse_vectors(s, dimension))
            .transpose()?;
        let space_origin = get("space origin")
            .map(|s| {
                let v = parse_vectors(s, 1)?;
                v.into_iter()
                    .next()
                    .flatten()
                    .ok_or_else(|| invalid("'space origin' is 'none'"))
            })
            .transpose()?;
        let spacings = get("spacings")
            .map(|s| {
                s.split_whitespace()
                    .map(|w| match w.to_ascii_lowercase().as_str() {
                        "nan" => Ok(f64::NAN),
                        _ => w
                            .parse::<f64>()
                            .map_err(|_| invalid(format!("spacing '{w}' is not a number"))),
                    })
                    .collect::<Result<Vec<f64>, _>>()
            })
            .transpose()?;
        let kinds = get("kinds").map(|s| {
            s.split_whitespace()
                .map(|k| k.to_ascii_lowercase())
                .collect::<Vec<_>>()
        });
        let data_file = get("data file").or(get("datafile")).map(str::to_owned);
        let line_skip = get("line skip")
            .or(get("lineskip"))
            .map(|s| {
                s.parse::<u64>()
                    .map_err(|_| invalid(format!("line skip '{s}'")))
            })
            .transpose()?
            .unwrap_or(0);
        let byte_skip = get("byte skip")
            .or(get("byteskip"))
            .map(|s| {
                s.parse::<i64>()
                    .map_err(|_| invalid(format!("byte skip '{s}'")))
            })
            .transpose()?
            .unwrap_or(0);
        Ok(Header {
            sizes,
            dtype,
            encoding,
            endian,
            space,
            space_directions,
            space_origin,
            spacings,
            kinds,
            data_file,
            line_skip,
            byte_skip,
        })
    }
}

fn parse_type(name: &str) -> Result<DType, ErrorKind> {
    let n = name.to_ascii_lowercase();
    Ok(match n.as_str() {
        "signed char" | "int8" | "int8_t" => DType::Int8,
        "uchar" | "unsigned char" | "uint8" | "uint8_t" => DType::Uint8,
        "short" | "short int" | "signed short" | "signed short int" | "int16" | "int16_t" => {
            DType::Int16
        }
        "ushort" | "unsigned short" | "unsigned short int" | "uint16" | "uint16_t" => DType::Uint16,
        "int" | "signed int" | "int32" | "int32_t" => DType::Int32,
        "uint" | "unsigned int" | "uint32" | "uint32_t" => DType::Uint32,
        "float" => DType::Float,
        "double" => DType::Double,
        _ if n.contains("long") || n.contains("64") => {
            return Err(ErrorKind::unsupported(format!(
                "64-bit integer voxels (type '{name}')"
            )));
        }
        _ => return Err(invalid(format!("unknown type '{name}'"))),
    })
}

/// Parses "(1,0,0) none (0,0,2.5)" into one optional vector per token.
fn parse_vectors(s: &str, expected: usize) -> Result<Vec<Option<Vec<f64>>>, ErrorKind> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('(') {
            let close = after
                .find(')')
                .ok_or_else(|| invalid(format!("unclosed vector in '{}'", clip(s))))?;
            let v = after[..close]
                .split(',')
                .map(|c| {
                    c.trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|x| x.is_finite())
                        .ok_or_else(|| invalid(format!("'{}' is not a number", c.trim())))
                })
                .collect::<Result<Vec<_>, _>>()?;
            out.push(Some(v));
            rest = after[close + 1..].trim_start();
        } else if rest
            .as_bytes()
            .get(..4)
            .is_some_and(|b| b.eq_ignore_ascii_case(b"none"))
        {
            out.push(None);
            rest = rest[4..].trim_start();
        } else {
            return Err(invalid(format!("cannot read the vectors '{}'", clip(s))));
        }
    }
    if out.len() != expected {
        return Err(invalid(format!(
            "expected {expected} vectors or 'none' in '{}', found {}",
            clip(s),
            out.len()
        )));
    }
    Ok(out)
}

/// Kinds of axes that are not spatial: components of a voxel, or a list of volumes.
fn is_non_spatial_kind(kind: &str) -> bool {
    !matches!(kind, "domain" | "space" | "???" | "none")
}

/// Where the grid sits, worked out from the header.
struct Geometry {
    dims: [usize; 3],
    spacing: [f64; 3],
    axes: DMat3,
    origin: DVec3,
    space: Space,
    /// Interleaved values per voxel (a leading vector axis); the first is kept.
    components: usize,
    voxels: u64,
    /// Whether the values read are all the data holds (no further volumes follow).
    whole: bool,
    notes: Vec<String>,
}

impl Geometry {
    fn from_header(h: &Header) -> Result<Geometry, ErrorKind> {
        let n = h.sizes.len();
        let mut notes = Vec::new();
        // Which axes are spatial.
        let spatial: Vec<bool> = if let Some(dirs) = &h.space_directions {
            dirs.iter().map(Option::is_some).collect()
        } else if let Some(kinds) = &h.kinds {
            if kinds.len() != n {
                return Err(invalid(format!(
                    "'kinds' has {} values, expected {n}",
                    kinds.len()
                )));
            }
            kinds.iter().map(|k| !is_non_spatial_kind(k)).collect()
        } else {
            vec![true; n]
        };
        let spatial_axes: Vec<usize> = (0..n).filter(|&i| spatial[i]).collect();
        if !(2..=3).contains(&spatial_axes.len()) {
            return Err(ErrorKind::unsupported(format!(
                "a NRRD with {} spatial axes (gradvol reads 3-D volumes, and 2-D images as one slice)",
                spatial_axes.len()
            )));
        }
        // Non-spatial axes may come first (components) or last (a list of volumes).
        let mut components = 1;
        let mut whole = true;
        for (i, (&is_spatial, &size)) in spatial.iter().zip(&h.sizes).enumerate() {
            if is_spatial {
                continue;
            }
            if i == 0 {
                components = size;
                if size > 1 {
                    notes.push(format!(
                        "each voxel holds {size} values; the first is shown"
                    ));
                }
            } else if i == n - 1 {
                if size > 1 {
                    whole = false;
                    notes.push(format!("the file holds {size} volumes; the first is shown"));
                }
            } else {
                return Err(ErrorKind::unsupported(
                    "a NRRD whose non-spatial axis sits between spatial axes",
                ));
            }
        }
        let mut dims = [1usize; 3];
        for (k, &a) in spatial_axes.iter().enumerate() {
            dims[k] = h.sizes[a];
        }
        let voxels = voxel_count(dims)?;

        let (space, flip_x) = match &h.space {
            Some(name) => anatomical_space(name, &mut notes)?,
            None => {
                if h.space_directions.is_some() {
                    notes.push(
                        "the file names no anatomical space; its coordinates are taken as LPS"
                            .to_owned(),
                    );
                }
                (Space::Lps, false)
            }
        };
        let mut cols = [DVec3::X, DVec3::Y, DVec3::Z];
        let mut spacing = [1.0; 3];
        if let Some(dirs) = &h.space_directions {
            for (k, &a) in spatial_axes.iter().enumerate() {
                let v = dirs[a].as_ref().expect("spatial axes have directions");
                if v.len() < 3 && !(v.len() == 2 && spatial_axes.len() == 2) {
                    return Err(invalid(format!(
                        "space direction {} has {} components, expected 3",
                        a + 1,
                        v.len()
                    )));
                }
                let d = DVec3::new(v[0], v[1], v.get(2).copied().unwrap_or(0.0));
                let len = d.length();
                if len <= 0.0 {
                    return Err(invalid(format!("space direction {} is zero", a + 1)));
                }
                spacing[k] = len;
                cols[k] = d / len;
            }
            if spatial_axes.len() == 2 {
                cols[2] = cols[0].cross(cols[1]).normalize_or(DVec3::Z);
            }
        } else if let Some(sp) = &h.spacings {
            if sp.len() != n {
                return Err(invalid(format!(
                    "'spacings' has {} values, expected {n}",
                    sp.len()
                )));
            }
            for (k, &a) in spatial_axes.iter().enumerate() {
                let s = sp[a];
                if s.is_finite() && s != 0.0 {
                    spacing[k] = s.abs();
                    if s < 0.0 {
                        cols[k] = -cols[k];
                    }
                } else {
                    notes.push(format!("axis {} has no spacing; 1 mm is assumed", a + 1));
                }
            }
        } else {
            notes.push("the file gives no spacing; 1 mm is assumed".to_owned());
        }
        let origin = match &h.space_origin {
            Some(o) if o.len() >= 3 => DVec3::new(o[0], o[1], o[2]),
            Some(o) if o.len() == 2 => DVec3::new(o[0], o[1], 0.0),
            Some(o) => {
                return Err(invalid(format!(
                    "'space origin' has {} components",
                    o.len()
                )));
            }
            None => DVec3::ZERO,
        };
        let (mut axes, mut origin) = (DMat3::from_cols(cols[0], cols[1], cols[2]), origin);
        if flip_x {
            let f = DMat3::from_diagonal(DVec3::new(-1.0, 1.0, 1.0));
            axes = f * axes;
            origin = f * origin;
        }
        Ok(Geometry {
            dims,
            spacing,
            axes,
            origin,
            space,
            components,
            voxels,
            whole,
            notes,
        })
    }
}

/// Maps a NRRD `space` to LPS or RAS; the bool asks for x to be flipped (LAS into RAS).
fn anatomical_space(name: &str, notes: &mut Vec<String>) -> Result<(Space, bool), ErrorKind> {
    let base = name.trim_end_matches("-time");
    Ok(match base {
        "left-posterior-superior" | "lps" => (Space::Lps, false),
        "right-anterior-superior" | "ras" => (Space::Ras, false),
        "left-anterior-superior" | "las" => {
            notes.push("LAS coordinates were converted to RAS".to_owned());
            (Space::Ras, true)
        }
        "scanner-xyz" | "3d-right-handed" | "3d-left-handed" => {
            notes.push(format!(
                "space '{name}' has no anatomical meaning; its coordinates are taken as LPS"
            ));
            (Space::Lps, false)
        }
        _ => return Err(invalid(format!("unknown space '{name}'"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_parse_with_none_and_spaces() {
        let v = parse_vectors("none (1, 0,0) ( 0,-2.5,0)(0,0,5)", 4).unwrap();
        assert_eq!(v[0], None);
        assert_eq!(v[2], Some(vec![0.0, -2.5, 0.0]));
        assert!(parse_vectors("(1,0,0) (0,1,0)", 3).is_err());
        assert!(parse_vectors("(1,0,0", 1).is_err());
        assert!(parse_vectors("(1,nan,0)", 1).is_err());
    }

    #[test]
    fn every_type_spelling_is_known() {
        for (s, t) in [
            ("short", DType::Int16),
            ("unsigned char", DType::Uint8),
            ("uint32_t", DType::Uint32),
            ("signed char", DType::Int8),
        ] {
            assert_eq!(parse_type(s).unwrap(), t);
        }
        assert!(matches!(
            parse_type("longlong"),
            Err(ErrorKind::Unsupported(_))
        ));
        assert!(matches!(
            parse_type("quaternion"),
            Err(ErrorKind::Invalid(_))
        ));
    }
}
