//! MetaImage (`.mha` with the data inside, `.mhd` beside a `.raw` or `.zraw`): `ElementSpacing`,
//! `TransformMatrix`, `Offset`, `CompressedData`, either byte order. Coordinates are LPS, as in
//! ITK.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use glam::{DMat3, DVec3};

use super::payload::{Compression, Payload};
use super::{DType, Endian, ErrorKind, Format, Space, VolumeSource, voxel_count};

const MAX_HEADER_BYTES: u64 = 1 << 20;

fn invalid(reason: impl Into<String>) -> ErrorKind {
    ErrorKind::invalid(format!("MetaImage header: {}", reason.into()))
}

pub(super) fn source(path: &Path) -> Result<VolumeSource, ErrorKind> {
    let (fields, header_end) = read_header(path)?;
    let get = |k: &str| fields.get(&k.to_ascii_lowercase()).map(String::as_str);
    let numbers = |k: &str| -> Result<Option<Vec<f64>>, ErrorKind> {
        get(k)
            .map(|s| {
                s.split_whitespace()
                    .map(|w| {
                        w.parse::<f64>()
                            .ok()
                            .filter(|x| x.is_finite())
                            .ok_or_else(|| invalid(format!("{k} value '{w}' is not a number")))
                    })
                    .collect()
            })
            .transpose()
    };
    let flag = |k: &str| get(k).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let mut notes = Vec::new();

    if let Some(kind) = get("ObjectType")
        && !kind.eq_ignore_ascii_case("image")
    {
        return Err(ErrorKind::unsupported(format!(
            "MetaImage object type '{kind}'"
        )));
    }
    let ndims: usize = get("NDims")
        .ok_or_else(|| invalid("the NDims field is missing"))?
        .parse()
        .map_err(|_| invalid("NDims is not a number"))?;
    if !(2..=4).contains(&ndims) {
        return Err(ErrorKind::unsupported(format!("a {ndims}-D MetaImage")));
    }
    let sizes = numbers("DimSize")?.ok_or_else(|| invalid("the DimSize field is missing"))?;
    if sizes.len() != ndims || sizes.iter().any(|&s| s < 1.0 || s.fract() != 0.0) {
        return Err(invalid(format!(
            "DimSize needs {ndims} positive integers, found '{}'",
            get("DimSize").unwrap_or_default()
        )));
    }
    let mut dims = [1usize; 3];
    for k in 0..ndims.min(3) {
        dims[k] = sizes[k] as usize;
    }
    if ndims == 4 && sizes[3] > 1.0 {
        notes.push(format!(
            "the file holds {} volumes; the first is shown",
            sizes[3]
        ));
    }
    let count = voxel_count(dims)?;

    let type_name =
        get("ElementType").ok_or_else(|| invalid("the ElementType field is missing"))?;
    let dtype = parse_element_type(type_name)?;
    let channels = match get("ElementNumberOfChannels") {
        None => 1,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|&c| (1..=64).contains(&c))
            .ok_or_else(|| invalid(format!("ElementNumberOfChannels '{s}'")))?,
    };
    if channels > 1 {
        notes.push(format!(
            "each voxel holds {channels} values; the first is shown"
        ));
    }
    let endian = if flag("BinaryDataByteOrderMSB") || flag("ElementByteOrderMSB") {
        Endian::Big
    } else {
        Endian::Little
    };
    if get("BinaryData").is_some_and(|v| v.eq_ignore_ascii_case("false")) {
        return Err(ErrorKind::unsupported(
            "MetaImage with text (BinaryData = False) voxels",
        ));
    }

    // Geometry: ElementSpacing (or ElementSize), TransformMatrix (one axis direction per row of
    // three, as ITK reads it), Offset.
    let spacing_v = numbers("ElementSpacing")?
        .or(numbers("ElementSize")?)
        .unwrap_or_else(|| {
            notes.push("the file gives no spacing; 1 mm is assumed".into());
            vec![1.0; ndims]
        });
    if spacing_v.len() < ndims.min(3) {
        return Err(invalid(format!(
            "ElementSpacing has {} values",
            spacing_v.len()
        )));
    }
    let matrix = numbers("TransformMatrix")?
        .or(numbers("Rotation")?)
        .or(numbers("Orientation")?);
    let offset = numbers("Offset")?
        .or(numbers("Position")?)
        .or(numbers("Origin")?);
    let n = ndims.min(3);
    let mut spacing = [1.0; 3];
    let mut flip = [1.0; 3];
    for k in 0..n {
        let s = spacing_v[k];
        if s == 0.0 {
            return Err(invalid("ElementSpacing holds a zero"));
        }
        spacing[k] = s.abs();
        flip[k] = s.signum();
    }
    let mut cols = [DVec3::X, DVec3::Y, DVec3::Z];
    if let Some(m) = &matrix {
        let nm = if m.len() == 9 { 3 } else { ndims };
        if m.len() != nm * nm || nm < n {
            return Err(invalid(format!("TransformMatrix has {} values", m.len())));
        }
        for (k, col) in cols.iter_mut().enumerate().take(n) {
            let z = if nm >= 3 { m[k * nm + 2] } else { 0.0 };
            *col = DVec3::new(m[k * nm], m[k * nm + 1], z);
        }
        if n == 2 {
            cols[2] = cols[0].cross(cols[1]).normalize_or(DVec3::Z);
        }
    }
    for k in 0..3 {
        cols[k] *= flip[k];
    }
    let origin = match offset {
        Some(o) if o.len() >= 3 => DVec3::new(o[0], o[1], o[2]),
        Some(o) if o.len() == 2 => DVec3::new(o[0], o[1], 0.0),
        Some(_) => return Err(invalid("Offset has too few values")),
        None => DVec3::ZERO,
    };
    if let Some(code) = get("AnatomicalOrientation")
        && !code.eq_ignore_ascii_case("RAI")
        && !code.starts_with('?')
    {
        notes.push(format!(
            "AnatomicalOrientation {code} is informational; the TransformMatrix defines the axes"
        ));
    }

    // Where the voxels are.
    let data_file = get("ElementDataFile").ok_or_else(|| invalid("ElementDataFile is missing"))?;
    let data_path = if data_file.eq_ignore_ascii_case("local") {
        path.to_path_buf()
    } else if data_file.eq_ignore_ascii_case("list") || data_file.split_whitespace().count() > 1 {
        return Err(ErrorKind::unsupported(
            "MetaImage data split over several files (ElementDataFile = LIST or a pattern)",
        ));
    } else {
        path.parent().unwrap_or(Path::new(".")).join(data_file)
    };
    let local = data_path == path;
    let header_size: i64 = match get("HeaderSize") {
        None => 0,
        Some(s) => s
            .parse()
            .map_err(|_| invalid(format!("HeaderSize '{s}'")))?,
    };
    if header_size < -1 {
        return Err(invalid(format!("HeaderSize {header_size}")));
    }
    let compressed = flag("CompressedData");
    if compressed && header_size == -1 {
        return Err(invalid(
            "HeaderSize = -1 cannot be used with CompressedData",
        ));
    }
    let base = if local { header_end } else { 0 };
    let payload = Payload {
        path: data_path.clone(),
        offset: base.saturating_add(header_size.max(0) as u64),
        from_end: header_size == -1,
        compression: if compressed {
            Compression::Zlib
        } else {
            Compression::None
        },
        skip: 0,
        dtype,
        endian,
        count: count * channels as u64,
        whole: !(ndims == 4 && sizes[3] > 1.0),
    };
    Ok(VolumeSource {
        dims,
        spacing,
        axes: DMat3::from_cols(cols[0], cols[1], cols[2]),
        origin,
        space: Space::Lps,
        format: Format::MetaImage,
        notes,
        payload,
        components: channels,
        rescale: None,
        data_file: (!local).then_some(data_path),
    })
}

/// Reads `Key = Value` lines up to and including `ElementDataFile`, which ends the header.
fn read_header(path: &Path) -> Result<(HashMap<String, String>, u64), ErrorKind> {
    let mut reader = BufReader::new(super::open_regular(path)?).take(MAX_HEADER_BYTES);
    let mut fields = HashMap::new();
    let mut offset = 0u64;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            return Err(invalid("the header has no ElementDataFile line"));
        }
        offset += n as u64;
        let text = std::str::from_utf8(&line)
            .map_err(|_| ErrorKind::invalid("not a MetaImage file (its header is not text)"))?
            .trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let (key, value) = text.split_once('=').ok_or_else(|| {
            ErrorKind::invalid(format!(
                "not a MetaImage file (the line '{}' is not 'Key = Value')",
                text.chars().take(40).collect::<String>()
            ))
        })?;
        let key = key.trim().to_ascii_lowercase();
        let last = key == "elementdatafile";
        fields.insert(key, value.trim().to_owned());
        if last {
            return Ok((fields, offset));
        }
    }
}

fn parse_element_type(name: &str) -> Result<DType, ErrorKind> {
    let base = name.trim().to_ascii_uppercase();
    let base = base.strip_suffix("_ARRAY").unwrap_or(&base);
    Ok(match base {
        "MET_CHAR" => DType::Int8,
        "MET_UCHAR" => DType::Uint8,
        "MET_SHORT" => DType::Int16,
        "MET_USHORT" => DType::Uint16,
        "MET_INT" | "MET_LONG" => DType::Int32,
        "MET_UINT" | "MET_ULONG" => DType::Uint32,
        "MET_FLOAT" => DType::Float,
        "MET_DOUBLE" => DType::Double,
        "MET_LONG_LONG" | "MET_ULONG_LONG" => {
            return Err(ErrorKind::unsupported("64-bit integer MetaImage voxels"));
        }
        _ => return Err(invalid(format!("unknown ElementType '{name}'"))),
    })
}
