//! The pixel description of a DICOM image, checked before any decoder sees it, and the decoding
//! of native (uncompressed) pixel data, which gradvol does itself: 8, 16 and 32-bit integers of
//! any stored width and high bit, 32 and 64-bit floats, either byte order, with the rescale (or
//! RT Dose's dose grid scaling) applied.

use dicom_encoding::TransferSyntaxIndex;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use crate::volume::ErrorKind;

/// How one frame's samples are stored and what they mean.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PixelFormat {
    pub rows: usize,
    pub cols: usize,
    pub frames: usize,
    pub bits_allocated: u16,
    pub bits_stored: u16,
    pub high_bit: u16,
    pub signed: bool,
    /// IEEE samples: (7FE0,0008) float or (7FE0,0009) double pixel data.
    pub float: bool,
    /// Stored value to physical value: `v * slope + intercept`.
    pub slope: f64,
    pub intercept: f64,
}

/// The attributes as the file states them (`None` where absent).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Stated {
    pub samples: Option<i64>,
    pub bits_allocated: Option<i64>,
    pub bits_stored: Option<i64>,
    pub high_bit: Option<i64>,
    pub representation: Option<i64>,
}

impl PixelFormat {
    /// Checks the stated attributes: every combination a decoder could trip on is refused here
    /// with the attribute's name.
    pub fn check(
        stated: Stated,
        (rows, cols, frames): (usize, usize, usize),
        float_tag: Option<u16>,
        (slope, intercept): (f64, f64),
    ) -> Result<PixelFormat, ErrorKind> {
        let samples = stated.samples.unwrap_or(1);
        if samples != 1 {
            return Err(if (2..=4).contains(&samples) {
                ErrorKind::unsupported(format!("colour DICOM images (SamplesPerPixel {samples})"))
            } else {
                ErrorKind::invalid(format!("SamplesPerPixel {samples} is not 1, 3 or 4"))
            });
        }
        let float = float_tag.is_some();
        let allocated = match (stated.bits_allocated, float_tag) {
            (Some(b), _) => b,
            (None, Some(bits)) => bits as i64,
            (None, None) => return Err(ErrorKind::invalid("BitsAllocated is missing")),
        };
        match (allocated, float_tag) {
            (1, None) => {
                return Err(ErrorKind::unsupported(
                    "1-bit pixel data (BitsAllocated 1: a bitmap, not a volume)",
                ));
            }
            (8 | 16 | 32, None) => {}
            (b, Some(want)) if b == want as i64 => {}
            (b, Some(want)) => {
                return Err(ErrorKind::invalid(format!(
                    "BitsAllocated {b} does not match {want}-bit float pixel data"
                )));
            }
            (b, None) => {
                return Err(ErrorKind::invalid(format!(
                    "BitsAllocated {b} is not 8, 16 or 32"
                )));
            }
        }
        let stored = stated.bits_stored.unwrap_or(allocated);
        if !(1..=allocated).contains(&stored) {
            return Err(ErrorKind::invalid(format!(
                "BitsStored {stored} does not fit in BitsAllocated {allocated}"
            )));
        }
        let high = stated.high_bit.unwrap_or(stored - 1);
        if !(stored - 1..allocated).contains(&high) {
            return Err(ErrorKind::invalid(format!(
                "HighBit {high} does not fit BitsStored {stored} in BitsAllocated {allocated}"
            )));
        }
        let representation = stated.representation.unwrap_or(0);
        if !(0..=1).contains(&representation) {
            return Err(ErrorKind::invalid(format!(
                "PixelRepresentation {representation} is not 0 or 1"
            )));
        }
        if !(slope.is_finite() && intercept.is_finite() && slope != 0.0) {
            return Err(ErrorKind::invalid(format!(
                "the rescale (slope {slope}, intercept {intercept}) is not finite and non-zero"
            )));
        }
        Ok(PixelFormat {
            rows,
            cols,
            frames,
            bits_allocated: allocated as u16,
            bits_stored: stored as u16,
            high_bit: high as u16,
            signed: representation == 1,
            float,
            slope,
            intercept,
        })
    }

    pub fn frame_bytes(&self) -> u64 {
        (self.rows * self.cols) as u64 * (self.bits_allocated / 8) as u64
    }

    /// Decodes one native frame into physical values.
    pub fn decode(&self, raw: &[u8], big_endian: bool, out: &mut [f32]) {
        let size = (self.bits_allocated / 8) as usize;
        debug_assert_eq!(raw.len(), out.len() * size);
        let (slope, intercept) = (self.slope, self.intercept);
        let word = |b: &[u8]| -> u64 {
            let mut w = [0u8; 8];
            if big_endian {
                w[8 - b.len()..].copy_from_slice(b);
                u64::from_be_bytes(w)
            } else {
                w[..b.len()].copy_from_slice(b);
                u64::from_le_bytes(w)
            }
        };
        if self.float {
            for (o, b) in out.iter_mut().zip(raw.chunks_exact(size)) {
                let v = match size {
                    4 => f32::from_bits(word(b) as u32) as f64,
                    _ => f64::from_bits(word(b)),
                };
                *o = (v * slope + intercept) as f32;
            }
            return;
        }
        let shift = self.high_bit + 1 - self.bits_stored;
        let bits = self.bits_stored as u32;
        let mask = if bits == 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        let sign = 1u64 << (bits - 1);
        let signed = self.signed;
        for (o, b) in out.iter_mut().zip(raw.chunks_exact(size)) {
            let v = (word(b) >> shift) & mask;
            let v = if signed && v & sign != 0 {
                v as i64 - (1i64 << bits)
            } else {
                v as i64
            };
            *o = (v as f64 * slope + intercept) as f32;
        }
    }
}

/// Decodes one RLE Lossless frame (PS3.5 annex G) into native little-endian samples: a 64-byte
/// header of segment offsets, then one PackBits segment per byte of each sample, most
/// significant first. Any bits allocated (8, 16, 32); a short segment is an error.
pub(crate) fn rle_frame(
    fragment: &[u8],
    format: &PixelFormat,
    raw: &mut [u8],
) -> Result<(), ErrorKind> {
    let bad = |why: String| ErrorKind::Decode {
        what: "RLE Lossless pixel data".into(),
        reason: why,
    };
    let size = (format.bits_allocated / 8) as usize;
    let pixels = format.rows * format.cols;
    debug_assert_eq!(raw.len(), pixels * size);
    if fragment.len() < 64 {
        return Err(bad(format!(
            "a frame of {} bytes has no 64-byte RLE header",
            fragment.len()
        )));
    }
    let word = |i: usize| u32::from_le_bytes(fragment[4 * i..4 * i + 4].try_into().expect("4"));
    let segments = word(0) as usize;
    if segments != size {
        return Err(bad(format!(
            "{segments} segments where {size}-byte samples need {size}"
        )));
    }
    let mut segment_bytes = vec![0u8; pixels];
    for k in 0..segments {
        let start = word(1 + k) as usize;
        let end = if k + 1 < segments {
            word(2 + k) as usize
        } else {
            fragment.len()
        };
        let segment = fragment
            .get(start..end)
            .filter(|_| start >= 64)
            .ok_or_else(|| bad(format!("segment {} spans {start}..{end}", k + 1)))?;
        let got = unpack_bits(segment, &mut segment_bytes);
        if got < pixels {
            return Err(bad(format!(
                "segment {} holds {got} bytes where {pixels} are needed",
                k + 1
            )));
        }
        // Segment k holds byte (size - 1 - k) of each little-endian sample.
        let byte = size - 1 - k;
        for (sample, b) in raw.chunks_exact_mut(size).zip(&segment_bytes) {
            sample[byte] = *b;
        }
    }
    Ok(())
}

/// PackBits: a header byte n in 0..=127 copies n + 1 literal bytes, -127..=-1 repeats the next
/// byte 1 - n times, -128 does nothing. Fills `out` at most; returns how many bytes it filled.
fn unpack_bits(src: &[u8], out: &mut [u8]) -> usize {
    let (mut i, mut o) = (0, 0);
    while i < src.len() && o < out.len() {
        let n = src[i] as i8;
        i += 1;
        if n >= 0 {
            let k = (n as usize + 1).min(src.len() - i).min(out.len() - o);
            out[o..o + k].copy_from_slice(&src[i..i + k]);
            i += n as usize + 1;
            o += k;
        } else if n != -128 && i < src.len() {
            let k = (1 - n as isize) as usize;
            let k = k.min(out.len() - o);
            out[o..o + k].fill(src[i]);
            i += 1;
            o += k;
        }
    }
    o
}

/// Checks the image size that a JPEG or JPEG 2000 stream declares (its SOF or SIZ marker)
/// against the DICOM header, before a decoder allocates for it: the decoders trust their own
/// stream, and a 16 KB file can declare 11 GB. Returns whether this fragment starts a stream
/// (continuation fragments do not).
pub(crate) fn check_stream_size(
    uid: &str,
    fragment: &[u8],
    format: &PixelFormat,
) -> Result<bool, ErrorKind> {
    let declared =
        if uid.starts_with("1.2.840.10008.1.2.4.9") || uid.starts_with("1.2.840.10008.1.2.4.20") {
            j2k_size(fragment)?
        } else if matches!(
            uid,
            "1.2.840.10008.1.2.4.50"
                | "1.2.840.10008.1.2.4.51"
                | "1.2.840.10008.1.2.4.57"
                | "1.2.840.10008.1.2.4.70"
        ) {
            jpeg_size(fragment)?
        } else {
            // Other codecs are refused before decoding, or checked by gradvol's own decoder.
            return Ok(true);
        };
    let Some((w, h, components, tiles)) = declared else {
        return Ok(false);
    };
    if (w, h, components) != (format.cols as u64, format.rows as u64, 1) {
        return Err(ErrorKind::invalid(format!(
            "the compressed stream declares {w}x{h} with {components} components, but the \
             header says {}x{} with 1 sample",
            format.cols, format.rows
        )));
    }
    if tiles > MAX_TILES {
        return Err(ErrorKind::unsupported(format!(
            "a JPEG 2000 stream of {tiles} tiles (gradvol decodes up to {MAX_TILES})"
        )));
    }
    Ok(true)
}

fn be16(b: &[u8], at: usize) -> Option<u64> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?) as u64)
}

fn be32(b: &[u8], at: usize) -> Option<u64> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?) as u64)
}

/// A JPEG 2000 codestream's size from its SIZ marker: (width, height, components, tiles). The
/// codestream may sit inside a JP2 wrapper, so SOC + SIZ is looked for near the start.
fn j2k_size(b: &[u8]) -> Result<Option<(u64, u64, u64, u64)>, ErrorKind> {
    let window = &b[..b.len().min(1 << 16)];
    let Some(at) = window
        .windows(4)
        .position(|w| w == [0xFF, 0x4F, 0xFF, 0x51])
    else {
        return Ok(None);
    };
    let siz = at + 4;
    let bad =
        || ErrorKind::invalid("the JPEG 2000 stream's SIZ marker is cut short or inconsistent");
    let field = |k: usize| be32(b, siz + 4 + 4 * k).ok_or_else(bad);
    let (x, y, xo, yo) = (field(0)?, field(1)?, field(2)?, field(3)?);
    let (xt, yt, xto, yto) = (field(4)?, field(5)?, field(6)?, field(7)?);
    let components = be16(b, siz + 36).ok_or_else(bad)?;
    let w = x.checked_sub(xo).ok_or_else(bad)?;
    let h = y.checked_sub(yo).ok_or_else(bad)?;
    if xt == 0 || yt == 0 || xto > xo || yto > yo {
        return Err(bad());
    }
    let tiles = (x - xto).div_ceil(xt) * (y - yto).div_ceil(yt);
    Ok(Some((w, h, components, tiles)))
}

/// JPEG 2000 streams in DICOM use one tile or a few; a stream of a million 1x1 tiles costs the
/// decoder gigabytes of bookkeeping.
const MAX_TILES: u64 = 4096;

/// A JPEG stream's size from its SOF marker: (width, height, components, 1 tile). Markers are walked
/// from SOI; a fragment that does not start with SOI continues a stream.
fn jpeg_size(b: &[u8]) -> Result<Option<(u64, u64, u64, u64)>, ErrorKind> {
    if !b.starts_with(&[0xFF, 0xD8]) {
        return Ok(None);
    }
    let bad = |why: &str| ErrorKind::invalid(format!("the JPEG stream {why}"));
    let mut at = 2;
    loop {
        // Markers may be preceded by fill bytes 0xFF.
        while b.get(at) == Some(&0xFF) && b.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        if b.get(at) != Some(&0xFF) {
            return Err(bad("has no frame header (SOF) before its data"));
        }
        let marker = *b
            .get(at + 1)
            .ok_or_else(|| bad("ends before its frame header"))?;
        match marker {
            0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                let h = be16(b, at + 5).ok_or_else(|| bad("frame header is cut short"))?;
                let w = be16(b, at + 7).ok_or_else(|| bad("frame header is cut short"))?;
                let c = *b
                    .get(at + 9)
                    .ok_or_else(|| bad("frame header is cut short"))?
                    as u64;
                if h == 0 {
                    return Err(ErrorKind::unsupported(
                        "a JPEG stream whose height comes later (a DNL marker)",
                    ));
                }
                return Ok(Some((w, h, c, 1)));
            }
            0xDA => return Err(bad("starts its data before its frame header (SOF)")),
            0x01 | 0xD0..=0xD8 => at += 2,
            _ => {
                let len = be16(b, at + 2).ok_or_else(|| bad("ends inside a marker"))?;
                at += 2 + len as usize;
            }
        }
    }
}

/// Refuses a compressed transfer syntax that this build cannot decode, naming it; returns its
/// name otherwise.
pub(crate) fn decodable(uid: &str) -> Result<&'static str, ErrorKind> {
    match TransferSyntaxRegistry.get(uid) {
        Some(ts) if ts.can_decode_all() => Ok(ts.name()),
        Some(ts) => Err(ErrorKind::unsupported(format!(
            "{} (transfer syntax {uid})",
            ts.name()
        ))),
        None => Err(ErrorKind::unsupported(format!(
            "transfer syntax {}",
            super::escape(uid.as_bytes())
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(allocated: i64, stored: i64, high: i64, signed: bool) -> PixelFormat {
        PixelFormat::check(
            Stated {
                samples: Some(1),
                bits_allocated: Some(allocated),
                bits_stored: Some(stored),
                high_bit: Some(high),
                representation: Some(signed as i64),
            },
            (1, 2, 1),
            None,
            (1.0, 0.0),
        )
        .unwrap()
    }

    #[test]
    fn stored_bits_are_masked_shifted_and_sign_extended() {
        // 12 bits stored in 16, high bit 11: the top nibble is overlay junk.
        let f = format(16, 12, 11, true);
        let mut out = [0.0; 2];
        f.decode(&[0xFF, 0xFF, 0xFF, 0x07], false, &mut out);
        assert_eq!(out, [-1.0, 2047.0]);
        // The same 12 bits stored high (high bit 15).
        let f = format(16, 12, 15, false);
        f.decode(&[0x10, 0xFF, 0x20, 0x00], false, &mut out);
        assert_eq!(out, [4081.0, 2.0]);
        // 32-bit signed, big endian.
        let f = format(32, 32, 31, true);
        f.decode(&[0xFF, 0xFF, 0xFF, 0xFE, 0, 1, 0, 0], true, &mut out);
        assert_eq!(out, [-2.0, 65536.0]);
    }

    #[test]
    fn float_pixel_data_and_rescale() {
        let mut f = PixelFormat::check(Stated::default(), (1, 2, 1), Some(64), (2.0, 1.0)).unwrap();
        let raw: Vec<u8> = [1.5f64, -3.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let mut out = [0.0; 2];
        f.decode(&raw, false, &mut out);
        assert_eq!(out, [4.0, -5.0]);
        f.slope = 1.0;
        f.intercept = 0.0;
        f.decode(&raw, false, &mut out);
        assert_eq!(out, [1.5, -3.0]);
    }

    #[test]
    fn impossible_attributes_are_refused_by_name() {
        let stated = |a, s, h, r| Stated {
            samples: None,
            bits_allocated: Some(a),
            bits_stored: Some(s),
            high_bit: Some(h),
            representation: Some(r),
        };
        let err = |s: Stated| {
            PixelFormat::check(s, (1, 1, 1), None, (1.0, 0.0))
                .unwrap_err()
                .to_string()
        };
        assert!(err(stated(16, 0, 15, 0)).contains("BitsStored 0"));
        assert!(err(stated(16, 33, 15, 0)).contains("BitsStored 33"));
        assert!(err(stated(16, 12, 3, 0)).contains("HighBit 3"));
        assert!(err(stated(12, 12, 11, 0)).contains("BitsAllocated 12"));
        assert!(err(stated(16, 16, 15, 2)).contains("PixelRepresentation 2"));
        assert!(err(stated(1, 1, 0, 0)).starts_with("unsupported"));
    }

    #[test]
    fn rle_frames_of_8_16_and_32_bits() {
        // Two 16-bit pixels, 0x0102 and 0xFF02: segment 1 the high bytes, 2 the low ones.
        let mut frame = vec![0u8; 64];
        frame[..4].copy_from_slice(&2u32.to_le_bytes());
        frame[4..8].copy_from_slice(&64u32.to_le_bytes());
        frame[8..12].copy_from_slice(&67u32.to_le_bytes());
        frame.extend([1, 0x01, 0xFF]); // a literal run of 2
        frame.extend([0xFF, 0x02]); // 0x02 repeated 1 - (-1) = 2 times
        let f = format(16, 16, 15, false);
        let mut raw = [0u8; 4];
        rle_frame(&frame, &f, &mut raw).unwrap();
        assert_eq!(raw, [0x02, 0x01, 0x02, 0xFF]);
        // A short segment is an error, not a panic.
        let err = rle_frame(&frame[..66], &f, &mut raw).unwrap_err();
        assert!(err.to_string().contains("segment"), "{err}");
        // Wrong segment count for 32-bit samples.
        let f32bit = format(32, 32, 31, false);
        let mut raw = [0u8; 8];
        assert!(rle_frame(&frame, &f32bit, &mut raw).is_err());
    }

    #[test]
    fn stream_sizes_are_read_from_sof_and_siz() {
        // SOI, an APP0 of 4 bytes, fill bytes, SOF1: 8-bit, 3 high, 2 wide, 1 component.
        let jpeg = [
            0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 1, 2, 0xFF, 0xFF, 0xC1, 0, 11, 8, 0, 3, 0, 2, 1,
        ];
        assert_eq!(jpeg_size(&jpeg).unwrap(), Some((2, 3, 1, 1)));
        assert_eq!(
            jpeg_size(&jpeg[2..]).unwrap(),
            None,
            "a continuation fragment"
        );
        assert!(
            jpeg_size(&[0xFF, 0xD8, 0xFF, 0xDA, 0, 2]).is_err(),
            "SOS before SOF"
        );
        let f = format(8, 8, 7, false);
        assert!(
            check_stream_size("1.2.840.10008.1.2.4.51", &jpeg, &f).is_err(),
            "3x2 vs 2x1"
        );
        // SOC, SIZ: 300x200 image at offset (0, 0), 100x100 tiles, one component.
        let mut j2k = vec![0xFF, 0x4F, 0xFF, 0x51, 0, 41, 0, 0];
        for v in [300u32, 200, 0, 0, 100, 100, 0, 0] {
            j2k.extend(v.to_be_bytes());
        }
        j2k.extend(1u16.to_be_bytes());
        assert_eq!(j2k_size(&j2k).unwrap(), Some((300, 200, 1, 6)));
        assert!(j2k_size(&j2k[..20]).is_err(), "cut short");
    }

    #[test]
    fn compressed_syntaxes_are_named() {
        assert!(decodable("1.2.840.10008.1.2.5").is_ok());
        let e = decodable("1.2.840.10008.1.2.4.80").unwrap_err().to_string();
        assert!(e.starts_with("unsupported: JPEG-LS"), "{e}");
        assert!(e.contains("1.2.840.10008.1.2.4.80"), "{e}");
        let e = decodable("1.2.3\u{1}").unwrap_err().to_string();
        assert_eq!(e, "unsupported: transfer syntax 1.2.3\\x01");
    }
}
