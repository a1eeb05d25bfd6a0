//! Walks a DICOM file's element headers before anything parses it.
//!
//! A DICOM element declares its own length, and a parser that trusts the declaration allocates
//! what the file merely claims (a 39 KB slice claiming a 4 GB element). This walk checks every
//! declared length against the bytes its container really holds (the file, or the enclosing
//! sequence item) and reads nothing but headers, so it costs a few small reads however large the
//! claims. It also finds the transfer syntax, the data set's start and the top-level pixel data,
//! and keeps the raw bytes of the few top-level elements gradvol needs, so that dicom-rs decodes
//! their values from a short, checked buffer and never sees the rest (private sequences,
//! overlays, trailing padding).

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;

use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;
use dicom_dictionary_std::tags;

use crate::volume::ErrorKind;

/// Bytes of a file read once up front (a slice's header fits; its pixels are read where they
/// are needed, not twice); element headers beyond them are read one by one.
const HEAD: u64 = 64 << 10;
/// Sequences nest at most this deep (real files: 4 or 5).
const MAX_DEPTH: usize = 32;
/// A deflated data set may inflate to at most this many bytes.
const MAX_INFLATED: u64 = 1 << 32;

pub(crate) const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
pub(crate) const DEFLATED_LE: &str = "1.2.840.10008.1.2.1.99";
pub(crate) const EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";

/// A file's bytes: its first megabyte in memory and the rest read where needed, or an inflated
/// data set held whole.
#[derive(Debug)]
pub(crate) enum Bytes {
    File { file: File, len: u64, head: Vec<u8> },
    Memory(Vec<u8>),
}

impl Bytes {
    /// Opens a regular file (a FIFO or a device is refused by the caller's check).
    pub fn open(file: File, len: u64) -> std::io::Result<Bytes> {
        let mut head = Vec::new();
        (&file).take(HEAD.min(len)).read_to_end(&mut head)?;
        if (head.len() as u64) < HEAD.min(len) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file shrank while it was read",
            ));
        }
        Ok(Bytes::File { file, len, head })
    }

    pub fn len(&self) -> u64 {
        match self {
            Bytes::File { len, .. } => *len,
            Bytes::Memory(v) => v.len() as u64,
        }
    }

    /// Fills `buf` from `offset`; the caller has checked the range against [`Bytes::len`].
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let end = offset + buf.len() as u64;
        match self {
            Bytes::File { head, .. } if end <= head.len() as u64 => {
                buf.copy_from_slice(&head[offset as usize..end as usize]);
                Ok(())
            }
            Bytes::File { file, .. } => file.read_exact_at(buf, offset),
            Bytes::Memory(v) => {
                let src = v.get(offset as usize..end as usize).ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "past the end")
                })?;
                buf.copy_from_slice(src);
                Ok(())
            }
        }
    }

    /// The bytes `start..end`, which the walk has checked lie inside the file.
    pub fn range(&self, start: u64, end: u64) -> std::io::Result<Vec<u8>> {
        let mut v = vec![0; (end - start) as usize];
        self.read_at(start, &mut v)?;
        Ok(v)
    }
}

/// How the data set is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Syntax {
    pub explicit: bool,
    pub big_endian: bool,
}

const IMPLICIT: Syntax = Syntax {
    explicit: false,
    big_endian: false,
};

/// Where the top-level pixel data sits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PixelSpan {
    /// (7FE0,0010), or (7FE0,0008)/(7FE0,0009) for float pixel data.
    pub tag: Tag,
    /// Where the element's header starts.
    pub start: u64,
    /// Where the value starts.
    pub value: u64,
    /// The value's length; `None` for encapsulated (compressed) data.
    pub len: Option<u64>,
    /// Just past the element (past the sequence delimiter when encapsulated).
    pub end: u64,
}

/// What the walk learned.
#[derive(Debug)]
pub(crate) struct Walked {
    /// The transfer syntax UID, from the file meta group; `None` when the file has none.
    pub transfer_syntax: Option<String>,
    pub syntax: Syntax,
    /// The bytes the data set is read from: the file, or the inflated data set.
    pub bytes: Bytes,
    pub pixels: Option<PixelSpan>,
    /// The raw bytes of the kept top-level elements, in `syntax`, in file order.
    pub kept: Vec<u8>,
}

/// The top-level elements gradvol reads: geometry, pixel description, rescale, RT Dose's grid
/// and the functional groups of enhanced multi-frame objects.
fn kept(tag: Tag) -> bool {
    tag.group() == 0x0028
        || [
            tags::MODALITY,
            tags::SLICE_THICKNESS,
            tags::SPACING_BETWEEN_SLICES,
            tags::IMAGER_PIXEL_SPACING,
            tags::SERIES_INSTANCE_UID,
            tags::IMAGE_POSITION_PATIENT,
            tags::IMAGE_ORIENTATION_PATIENT,
            tags::GRID_FRAME_OFFSET_VECTOR,
            tags::DOSE_GRID_SCALING,
            tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE,
            tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
        ]
        .contains(&tag)
}

const ITEM: Tag = Tag(0xFFFE, 0xE000);
const ITEM_END: Tag = Tag(0xFFFE, 0xE00D);
const SEQUENCE_END: Tag = Tag(0xFFFE, 0xE0DD);
const UNDEFINED: u32 = 0xFFFF_FFFF;

fn bad(at: u64, what: impl std::fmt::Display) -> ErrorKind {
    ErrorKind::invalid(format!("not a readable DICOM file ({what}, at byte {at})"))
}

fn tag_name(tag: Tag) -> String {
    format!("({:04X},{:04X})", tag.group(), tag.element())
}

/// One element header as stored.
#[derive(Debug, Clone, Copy)]
struct Header {
    tag: Tag,
    /// `None` in implicit VR.
    vr: Option<VR>,
    len: u32,
    /// Bytes the header takes.
    size: u64,
}

struct Walker<'a> {
    bytes: &'a Bytes,
    /// Set while walking an element dicom-rs will parse: its binary values must then come in
    /// whole units, or dicom-rs reads past them and takes the next bytes for a length.
    strict: std::cell::Cell<bool>,
}

impl<'a> Walker<'a> {
    fn new(bytes: &'a Bytes) -> Walker<'a> {
        Walker {
            bytes,
            strict: std::cell::Cell::new(false),
        }
    }
}

/// The VR the standard dictionary gives a tag (for implicit VR data and elements stored as UN);
/// pixel-dependent VRs (US or SS) read as US.
pub(crate) fn dictionary_vr(tag: Tag) -> Option<VR> {
    match dicom_core::dictionary::DataDictionary::by_tag(&StandardDataDictionary, tag)?.vr {
        dicom_core::dictionary::VirtualVr::Exact(vr) => Some(vr),
        dicom_core::dictionary::VirtualVr::Xs => Some(VR::US),
        _ => None,
    }
}

/// Bytes in one value of a binary VR.
fn unit(vr: VR) -> Option<u32> {
    match vr {
        VR::SS | VR::US | VR::OW => Some(2),
        VR::AT | VR::FL | VR::SL | VR::UL | VR::OF | VR::OL => Some(4),
        VR::FD | VR::SV | VR::UV | VR::OD | VR::OV => Some(8),
        _ => None,
    }
}

impl Walker<'_> {
    fn read<const N: usize>(&self, at: u64, end: u64) -> Result<[u8; N], ErrorKind> {
        if at + N as u64 > end {
            return Err(bad(
                at,
                "an element header runs past the end of its container",
            ));
        }
        let mut b = [0u8; N];
        self.bytes.read_at(at, &mut b)?;
        Ok(b)
    }

    fn u16(b: [u8; 2], syntax: Syntax) -> u16 {
        if syntax.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    }

    fn u32(b: [u8; 4], syntax: Syntax) -> u32 {
        if syntax.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }

    fn header(&self, at: u64, end: u64, syntax: Syntax) -> Result<Header, ErrorKind> {
        let t = self.read::<4>(at, end)?;
        let tag = Tag(
            Self::u16([t[0], t[1]], syntax),
            Self::u16([t[2], t[3]], syntax),
        );
        let delimiter = tag.group() == 0xFFFE;
        if !syntax.explicit || delimiter {
            let len = Self::u32(self.read::<4>(at + 4, end)?, syntax);
            return Ok(Header {
                tag,
                vr: None,
                len,
                size: 8,
            });
        }
        let v = self.read::<2>(at + 4, end)?;
        let vr = VR::from_binary(v).ok_or_else(|| {
            bad(
                at,
                format!(
                    "element {} has no valid VR ({})",
                    tag_name(tag),
                    super::escape(&v)
                ),
            )
        })?;
        let long = matches!(
            vr,
            VR::OB
                | VR::OD
                | VR::OF
                | VR::OL
                | VR::OV
                | VR::OW
                | VR::SQ
                | VR::SV
                | VR::UC
                | VR::UN
                | VR::UR
                | VR::UT
                | VR::UV
        );
        if long {
            let len = Self::u32(self.read::<4>(at + 8, end)?, syntax);
            Ok(Header {
                tag,
                vr: Some(vr),
                len,
                size: 12,
            })
        } else {
            let len = Self::u16(self.read::<2>(at + 6, end)?, syntax) as u32;
            Ok(Header {
                tag,
                vr: Some(vr),
                len,
                size: 8,
            })
        }
    }

    /// Checks a defined length against the container; returns the value's end.
    fn value_end(&self, at: u64, h: &Header, end: u64) -> Result<u64, ErrorKind> {
        let value = at + h.size;
        let left = end.saturating_sub(value);
        if h.len as u64 > left {
            return Err(bad(
                at,
                format!(
                    "element {} claims {} bytes but only {left} are left",
                    tag_name(h.tag),
                    h.len
                ),
            ));
        }
        Ok(value + h.len as u64)
    }

    /// Whether an element's value is a sequence of items that dicom-rs will parse.
    fn is_sequence(h: &Header) -> bool {
        match h.vr {
            Some(vr) => vr == VR::SQ || (vr == VR::UN && h.len == UNDEFINED),
            None => h.len == UNDEFINED || dictionary_vr(h.tag) == Some(VR::SQ),
        }
    }

    /// Walks the elements of a data set from `at` to `end` (or to the item delimiter when
    /// `delimited`); returns where it stopped.
    fn dataset(
        &self,
        mut at: u64,
        end: u64,
        syntax: Syntax,
        depth: usize,
        delimited: bool,
    ) -> Result<u64, ErrorKind> {
        while at < end {
            let h = self.header(at, end, syntax)?;
            if h.tag == ITEM_END && delimited {
                return Ok(at + 8);
            }
            at = self.element(at, &h, end, syntax, depth)?;
        }
        if delimited {
            return Err(bad(at, "an item has no end"));
        }
        Ok(at)
    }

    /// Walks one element whose header `h` starts at `at`; returns its end.
    fn element(
        &self,
        at: u64,
        h: &Header,
        end: u64,
        syntax: Syntax,
        depth: usize,
    ) -> Result<u64, ErrorKind> {
        if h.tag.group() == 0xFFFE {
            return Err(bad(
                at,
                format!("a stray delimiter {} in a data set", tag_name(h.tag)),
            ));
        }
        if !Self::is_sequence(h) {
            if h.len == UNDEFINED {
                return Err(bad(
                    at,
                    format!("element {} has an undefined length", tag_name(h.tag)),
                ));
            }
            if self.strict.get() {
                let vr = h.vr.or_else(|| dictionary_vr(h.tag));
                if let Some((vr, n)) = vr.and_then(|vr| Some((vr, unit(vr)?)))
                    && !h.len.is_multiple_of(n)
                {
                    return Err(bad(
                        at,
                        format!(
                            "element {} of VR {} holds {} bytes, not a multiple of {n}",
                            tag_name(h.tag),
                            vr.to_string(),
                            h.len
                        ),
                    ));
                }
            }
            return self.value_end(at, h, end);
        }
        // A sequence stored as UN is implicit VR little endian inside (PS3.5 6.2.2).
        let inner = if h.vr == Some(VR::UN) {
            IMPLICIT
        } else {
            syntax
        };
        self.sequence(at + h.size, h.len, end, inner, depth + 1, at, h.tag)
    }

    #[allow(clippy::too_many_arguments)]
    fn sequence(
        &self,
        mut at: u64,
        len: u32,
        end: u64,
        syntax: Syntax,
        depth: usize,
        start: u64,
        tag: Tag,
    ) -> Result<u64, ErrorKind> {
        if depth > MAX_DEPTH {
            return Err(bad(start, "sequences nest too deep"));
        }
        let limit = if len == UNDEFINED {
            end
        } else {
            self.value_end(
                start,
                &Header {
                    tag,
                    vr: None,
                    len,
                    size: at - start,
                },
                end,
            )?
        };
        loop {
            if len != UNDEFINED && at == limit {
                return Ok(at);
            }
            let h = self.header(at, limit, syntax)?;
            match h.tag {
                SEQUENCE_END if len == UNDEFINED => return Ok(at + 8),
                ITEM if h.len == UNDEFINED => {
                    at = self.dataset(at + 8, limit, syntax, depth, true)?;
                }
                ITEM => {
                    let item_end = self.value_end(at, &h, limit)?;
                    at = self.dataset(at + 8, item_end, syntax, depth, false)?;
                }
                other => {
                    return Err(bad(
                        at,
                        format!(
                            "sequence {} holds {} where an item belongs",
                            tag_name(tag),
                            tag_name(other)
                        ),
                    ));
                }
            }
        }
    }

    /// Encapsulated pixel data: items (offset table, fragments) up to the sequence delimiter.
    fn fragments(&self, mut at: u64, end: u64, syntax: Syntax) -> Result<u64, ErrorKind> {
        loop {
            let h = self.header(at, end, syntax)?;
            match h.tag {
                SEQUENCE_END => return Ok(at + 8),
                ITEM if h.len != UNDEFINED => at = self.value_end(at, &h, end)?,
                other => {
                    return Err(bad(
                        at,
                        format!(
                            "the compressed pixel data holds {} where a fragment belongs",
                            tag_name(other)
                        ),
                    ));
                }
            }
        }
    }
}

/// The fragments of encapsulated pixel data, as (offset, length), the basic offset table first.
/// The walk has already checked every item against the file.
pub(crate) fn fragments(bytes: &Bytes, pixels: &PixelSpan) -> Result<Vec<(u64, u64)>, ErrorKind> {
    let walker = Walker::new(bytes);
    let syntax = Syntax {
        explicit: true,
        big_endian: false,
    };
    let mut out = Vec::new();
    let mut at = pixels.value;
    while at < pixels.end {
        let h = walker.header(at, pixels.end, syntax)?;
        if h.tag != ITEM {
            break;
        }
        let end = walker.value_end(at, &h, pixels.end)?;
        out.push((at + 8, h.len as u64));
        at = end;
    }
    Ok(out)
}

fn trim_uid(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .trim_end_matches(['\0', ' '])
        .to_owned()
}

/// Guesses how a data set without a transfer syntax is encoded, from its first element.
fn guess_syntax(bytes: &Bytes, at: u64) -> Result<Syntax, ErrorKind> {
    let mut b = [0u8; 6];
    if at + 6 > bytes.len() {
        return Err(bad(at, "the data set is empty"));
    }
    bytes.read_at(at, &mut b)?;
    let big_endian = b[0] == 0 && b[1] != 0;
    let explicit = VR::from_binary([b[4], b[5]]).is_some();
    Ok(Syntax {
        explicit,
        big_endian,
    })
}

/// Walks a whole file (its length already known to be the real one).
pub(crate) fn walk(file: File, len: u64) -> Result<Walked, ErrorKind> {
    let bytes = Bytes::open(file, len)?;
    let walker = Walker::new(&bytes);
    // Preamble and "DICM", when present.
    let mut at = 0;
    if len >= 132 {
        let mut magic = [0u8; 4];
        bytes.read_at(128, &mut magic)?;
        if &magic == b"DICM" {
            at = 132;
        }
    }
    // The file meta group: explicit VR little endian, group 0002.
    let meta_syntax = Syntax {
        explicit: true,
        big_endian: false,
    };
    let mut transfer_syntax = None;
    while at + 8 <= len {
        let t = walker.read::<2>(at, len)?;
        if u16::from_le_bytes(t) != 0x0002 {
            break;
        }
        let h = walker.header(at, len, meta_syntax)?;
        let next = walker.value_end(at, &h, len)?;
        if h.tag == tags::TRANSFER_SYNTAX_UID {
            transfer_syntax = Some(trim_uid(&bytes.range(at + h.size, next)?));
        }
        at = next;
    }
    let (syntax, bytes, at) = match transfer_syntax.as_deref() {
        Some(IMPLICIT_LE) => (IMPLICIT, bytes, at),
        Some(EXPLICIT_BE) => (
            Syntax {
                explicit: true,
                big_endian: true,
            },
            bytes,
            at,
        ),
        Some(DEFLATED_LE) => (meta_syntax, inflate(&bytes, at)?, 0),
        // Every other syntax encodes the data set as explicit VR little endian.
        Some(_) => (meta_syntax, bytes, at),
        None => (guess_syntax(&bytes, at)?, bytes, at),
    };
    // Some writers state explicit VR and write implicit: the first element tells (as pydicom
    // and DCMTK decide).
    let syntax = if syntax.explicit && !syntax.big_endian && at + 6 <= bytes.len() {
        let mut b = [0u8; 2];
        bytes.read_at(at + 4, &mut b)?;
        if VR::from_binary(b).is_some() {
            syntax
        } else {
            IMPLICIT
        }
    } else {
        syntax
    };
    let walker = Walker::new(&bytes);
    let end = bytes.len();
    let mut at = at;
    let mut kept_bytes = Vec::new();
    let mut kept_tags: Vec<Tag> = Vec::new();
    let mut pixels = None;
    while at < end {
        let h = walker.header(at, end, syntax)?;
        let is_pixels = [
            tags::PIXEL_DATA,
            tags::FLOAT_PIXEL_DATA,
            tags::DOUBLE_FLOAT_PIXEL_DATA,
        ]
        .contains(&h.tag);
        if is_pixels {
            let value = at + h.size;
            let span = if h.len == UNDEFINED {
                PixelSpan {
                    tag: h.tag,
                    start: at,
                    value,
                    len: None,
                    end: walker.fragments(value, end, syntax)?,
                }
            } else {
                PixelSpan {
                    tag: h.tag,
                    start: at,
                    value,
                    len: Some(h.len as u64),
                    end: walker.value_end(at, &h, end)?,
                }
            };
            pixels = Some(span);
            // What follows the pixel data (signatures, padding) is not gradvol's business.
            break;
        }
        walker.strict.set(kept(h.tag));
        let next = walker.element(at, &h, end, syntax, 0)?;
        walker.strict.set(false);
        if kept(h.tag) {
            if kept_tags.contains(&h.tag) {
                return Err(ErrorKind::invalid(format!(
                    "element {} appears twice in the data set",
                    tag_name(h.tag)
                )));
            }
            kept_tags.push(h.tag);
            kept_bytes.extend(bytes.range(at, next)?);
        }
        at = next;
    }
    Ok(Walked {
        transfer_syntax,
        syntax,
        bytes,
        pixels,
        kept: kept_bytes,
    })
}

/// Inflates a deflated data set, bounded by what deflate can expand to.
fn inflate(bytes: &Bytes, at: u64) -> Result<Bytes, ErrorKind> {
    let compressed = bytes.range(at, bytes.len())?;
    let limit = (compressed.len() as u64)
        .saturating_mul(crate::volume::payload::MAX_DEFLATE_RATIO)
        .min(MAX_INFLATED);
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(compressed.as_slice())
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| ErrorKind::Corrupt(format!("the deflated data set: {e}")))?;
    Ok(Bytes::Memory(out))
}
