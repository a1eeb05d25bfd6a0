//! Reads the voxel payload of a file: raw, gzip or zlib, either byte order, checked against what
//! the file can really hold before anything is allocated.

use std::io::{BufReader, ErrorKind as IoErrorKind, Read, Seek, SeekFrom};
use std::path::PathBuf;

use bzip2::read::MultiBzDecoder;
use flate2::read::{MultiGzDecoder, ZlibDecoder};

use super::voxels::{
    DType, Decoded, Endian, Scalar, VoxelData, chunk_range, merge_ranges, try_zeroed_vec,
};
use super::{ErrorKind, LoadOptions};

/// Deflate cannot expand its input by more than about 1032:1 (a 258-byte match costs at least
/// two bits), so a compressed stream of n bytes never holds more than this many times n.
pub const MAX_DEFLATE_RATIO: u64 = 1032;

/// bzip2's first stage turns 4 to 255 equal bytes into 5, and its second stage about doubles
/// again at best: one compressed byte holds at most about 45 million, a bound that only
/// refuses the absurd.
pub const MAX_BZIP2_RATIO: u64 = 45_900_000;

/// Bytes read between progress reports.
const CHUNK: usize = 8 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    /// gzip, one member or several (bgzip).
    Gzip,
    /// A zlib stream (MetaImage's `CompressedData`); a gzip header is recognised too.
    Zlib,
    /// bzip2, one stream or several (NRRD's `encoding: bzip2`).
    Bzip2,
}

/// Where a payload sits and how it is stored.
#[derive(Debug, Clone)]
pub struct Payload {
    pub path: PathBuf,
    /// Byte offset of the (possibly compressed) data in the file. With `from_end`, ignored: the
    /// payload is the file's last bytes (NRRD's `byte skip: -1`, MetaImage's `HeaderSize = -1`).
    pub offset: u64,
    pub from_end: bool,
    pub compression: Compression,
    /// Bytes to drop after decompressing, before the voxels start (NIfTI's `vox_offset` in a
    /// `.nii.gz`, NRRD's `byte skip` on gzip data).
    pub skip: u64,
    pub dtype: DType,
    pub endian: Endian,
    /// Number of scalars to read.
    pub count: u64,
    /// The scalars read are all the header describes: a compressed stream that holds more is
    /// an error (a 4-D file read for its first volume sets this false).
    pub whole: bool,
}

/// A decompressed payload stream.
type Stream = Box<dyn Read + Send>;

impl Payload {
    fn needed(&self) -> u64 {
        self.count.saturating_mul(self.dtype.size() as u64)
    }

    /// Reads the payload into voxels of its own type, in native byte order.
    pub fn read(&self, options: &LoadOptions) -> Result<Decoded, ErrorKind> {
        let mut reader = self.open()?;
        let n = usize::try_from(self.count).map_err(|_| ErrorKind::OutOfMemory(self.needed()))?;
        let decoded = self.read_some(&mut reader, n, 0, options)?;
        self.check_rest(&mut reader)?;
        Ok(decoded)
    }

    /// Reads the payload `per_slab` scalars at a time (the last slab holds what is left),
    /// handing each to `each` in order: memory is one slab, whatever the payload's size.
    pub fn read_slabs<E>(
        &self,
        per_slab: usize,
        options: &LoadOptions,
        fail: impl Fn(ErrorKind) -> E,
        mut each: impl FnMut(Decoded) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut reader = self.open().map_err(&fail)?;
        let mut done = 0u64;
        while done < self.count {
            let n = (per_slab.max(1) as u64).min(self.count - done) as usize;
            let slab = self
                .read_some(&mut reader, n, done, options)
                .map_err(&fail)?;
            done += n as u64;
            each(slab)?;
        }
        self.check_rest(&mut reader).map_err(fail)
    }

    /// The decompressed stream at the first voxel, once the file is known to be able to hold
    /// what the header claims.
    fn open(&self) -> Result<Stream, ErrorKind> {
        let needed = self.needed();
        let file = super::open_regular(&self.path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(ErrorKind::invalid(format!(
                "the voxel data {} is not a regular file",
                self.path.display()
            )));
        }
        let file_len = meta.len();
        let compressed = self.compression != Compression::None;
        let start = if self.from_end && !compressed {
            file_len.checked_sub(needed).ok_or(ErrorKind::Truncated {
                needed,
                available: file_len,
            })?
        } else {
            self.offset
        };
        let stored = file_len.saturating_sub(start);
        match self.compression {
            Compression::None if needed > stored => {
                return Err(ErrorKind::Truncated {
                    needed,
                    available: stored,
                });
            }
            Compression::Gzip | Compression::Zlib | Compression::Bzip2 => {
                let ratio = match self.compression {
                    Compression::Bzip2 => MAX_BZIP2_RATIO,
                    _ => MAX_DEFLATE_RATIO,
                };
                let limit = stored.saturating_mul(ratio);
                if needed.saturating_add(self.skip) > limit {
                    return Err(ErrorKind::ImpossibleClaim {
                        needed: needed.saturating_add(self.skip),
                        compressed: stored,
                        limit,
                    });
                }
            }
            Compression::None => {}
        }
        if self.from_end && compressed {
            // The voxels are the last bytes of the decompressed stream (NRRD's `byte skip: -1`
            // on compressed data): count them once, then skip all but those.
            let total = std::io::copy(&mut self.decoder(file, start)?, &mut std::io::sink())
                .map_err(read_error)?;
            let skip = total.checked_sub(needed).ok_or(ErrorKind::Truncated {
                needed,
                available: total,
            })?;
            let exact = Payload {
                from_end: false,
                offset: start,
                skip,
                whole: true,
                ..self.clone()
            };
            return exact.open();
        }
        let mut reader = self.decoder(file, start)?;
        if self.skip > 0 {
            let skipped = std::io::copy(&mut (&mut reader).take(self.skip), &mut std::io::sink())
                .map_err(read_error)?;
            if skipped < self.skip {
                return Err(ErrorKind::Truncated {
                    needed: self.skip.saturating_add(needed),
                    available: skipped,
                });
            }
        }
        Ok(reader)
    }

    /// The stream decompressed from byte `start` of `file`.
    fn decoder(&self, mut file: std::fs::File, start: u64) -> Result<Stream, ErrorKind> {
        file.seek(SeekFrom::Start(start))?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        Ok(match self.compression {
            Compression::None => Box::new(reader),
            Compression::Gzip => Box::new(MultiGzDecoder::new(reader)),
            Compression::Bzip2 => Box::new(MultiBzDecoder::new(reader)),
            Compression::Zlib => {
                let mut magic = [0u8; 2];
                reader.read_exact(&mut magic).map_err(read_error)?;
                let chained = std::io::Cursor::new(magic).chain(reader);
                if magic == [0x1f, 0x8b] {
                    Box::new(MultiGzDecoder::new(chained))
                } else {
                    Box::new(ZlibDecoder::new(chained))
                }
            }
        })
    }

    /// After the voxels of a compressed stream that must hold exactly them: bytes left over
    /// mean that the header describes another file (a detached data file that is a whole
    /// `.nii.gz`, say), and reading its first bytes as voxels would be a silent misread.
    fn check_rest(&self, reader: &mut Stream) -> Result<(), ErrorKind> {
        if self.compression == Compression::None || !self.whole {
            return Ok(());
        }
        let left = std::io::copy(reader, &mut std::io::sink()).map_err(read_error)?;
        if left > 0 {
            return Err(ErrorKind::invalid(format!(
                "the compressed data holds {left} bytes left over after the {} bytes of voxels \
                 the header describes (is the data file the right one?)",
                self.needed()
            )));
        }
        Ok(())
    }

    /// Reads the next `n` scalars, which start `before` scalars into the payload.
    fn read_some(
        &self,
        reader: &mut Stream,
        n: usize,
        before: u64,
        options: &LoadOptions,
    ) -> Result<Decoded, ErrorKind> {
        let size = self.dtype.size() as u64;
        let bytes = (n as u64).saturating_mul(size);
        macro_rules! typed {
            ($variant:ident, $t:ty) => {{
                let mut v = try_zeroed_vec::<$t>(n).map_err(|_| ErrorKind::OutOfMemory(bytes))?;
                let range = self.fill(reader, &mut v, before * size, options)?;
                Decoded {
                    data: VoxelData::$variant(v),
                    range,
                }
            }};
        }
        Ok(match self.dtype {
            DType::Int8 => typed!(Int8, i8),
            DType::Uint8 => typed!(Uint8, u8),
            DType::Int16 => typed!(Int16, i16),
            DType::Uint16 => typed!(Uint16, u16),
            DType::Int32 => typed!(Int32, i32),
            DType::Uint32 => typed!(Uint32, u32),
            DType::Float => typed!(Float, f32),
            DType::Double => typed!(Double, f64),
        })
    }

    /// Fills `out` from `reader` chunk by chunk (its first byte is byte `before` of the voxels).
    /// A second thread fixes each filled chunk's byte order and folds it into the value range
    /// while it is still in cache, so both hide behind decompression. Returns the range of the
    /// finite values (`None` when there are none).
    fn fill<T: Scalar>(
        &self,
        reader: &mut impl Read,
        out: &mut [T],
        before: u64,
        options: &LoadOptions,
    ) -> Result<Option<[f64; 2]>, ErrorKind> {
        let size = std::mem::size_of::<T>();
        let swap = self.endian != Endian::native();
        let total = self.needed();
        options.report(before, total);
        std::thread::scope(|scope| {
            let (to_scanner, chunks) = std::sync::mpsc::sync_channel::<&mut [T]>(2);
            let scanner = scope.spawn(move || {
                let mut range: Option<[f64; 2]> = None;
                for chunk in chunks {
                    if swap {
                        bytemuck::cast_slice_mut::<T, u8>(chunk)
                            .chunks_exact_mut(size)
                            .for_each(|v| v.reverse());
                    }
                    range = merge_ranges(range, chunk_range(chunk));
                }
                range
            });
            let mut done = before;
            for chunk in out.chunks_mut((CHUNK / size).max(1)) {
                read_fully(reader, bytemuck::cast_slice_mut(chunk)).map_err(|e| match e {
                    Short(got) => ErrorKind::Truncated {
                        needed: total,
                        available: done + got as u64,
                    },
                    Failed(e) => read_error(e),
                })?;
                done += std::mem::size_of_val(chunk) as u64;
                options.report(done, total);
                to_scanner
                    .send(chunk)
                    .expect("the scanner runs until the sender is dropped");
            }
            drop(to_scanner);
            Ok(scanner.join().expect("the scanner does not panic"))
        })
    }
}

enum ReadFailure {
    /// The stream ended after this many bytes.
    Short(usize),
    Failed(std::io::Error),
}
use ReadFailure::{Failed, Short};

/// Reads until `buf` is full, retrying interrupted reads.
fn read_fully(reader: &mut impl Read, buf: &mut [u8]) -> Result<(), ReadFailure> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => return Err(Short(got)),
            Ok(k) => got += k,
            Err(e) if e.kind() == IoErrorKind::Interrupted => {}
            Err(e) if e.kind() == IoErrorKind::UnexpectedEof => return Err(Short(got)),
            Err(e) => return Err(Failed(e)),
        }
    }
    Ok(())
}

/// Decompressors report corrupt streams as `InvalidInput`/`InvalidData`; anything else is I/O.
fn read_error(e: std::io::Error) -> ErrorKind {
    match e.kind() {
        IoErrorKind::InvalidInput | IoErrorKind::InvalidData => ErrorKind::Corrupt(e.to_string()),
        IoErrorKind::UnexpectedEof => ErrorKind::Corrupt("the compressed stream ends early".into()),
        _ => ErrorKind::Io(e),
    }
}

/// Reads whitespace-separated numbers (NRRD's `ascii` encoding) into voxels of type `dtype`.
pub fn parse_text_voxels(text: &str, dtype: DType, count: u64) -> Result<VoxelData, ErrorKind> {
    let mut words = text.split_ascii_whitespace();
    let n = usize::try_from(count).map_err(|_| ErrorKind::OutOfMemory(count))?;
    // Each number takes at least two bytes of text ("1 "), which bounds `n` by the real file.
    if n > text.len() / 2 + 1 {
        return Err(ErrorKind::Truncated {
            needed: count,
            available: text.split_ascii_whitespace().count() as u64,
        });
    }
    macro_rules! typed {
        ($variant:ident, $t:ty) => {{
            let mut v: Vec<$t> = Vec::with_capacity(n);
            for i in 0..n {
                let w = words.next().ok_or(ErrorKind::Truncated {
                    needed: count,
                    available: i as u64,
                })?;
                let x = w.parse::<$t>().or_else(|_| {
                    // Integer data written as "12.0" is still integer data.
                    w.parse::<f64>()
                        .ok()
                        .filter(|f| {
                            f.fract() == 0.0 && *f >= <$t>::MIN as f64 && *f <= <$t>::MAX as f64
                        })
                        .map(|f| f as $t)
                        .ok_or_else(|| {
                            ErrorKind::invalid(format!("'{w}' is not a {} value", dtype))
                        })
                })?;
                v.push(x);
            }
            VoxelData::$variant(v)
        }};
    }
    Ok(match dtype {
        DType::Int8 => typed!(Int8, i8),
        DType::Uint8 => typed!(Uint8, u8),
        DType::Int16 => typed!(Int16, i16),
        DType::Uint16 => typed!(Uint16, u16),
        DType::Int32 => typed!(Int32, i32),
        DType::Uint32 => typed!(Uint32, u32),
        DType::Float => typed!(Float, f32),
        DType::Double => typed!(Double, f64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::path::Path;

    fn payload(path: &Path, compression: Compression, count: u64) -> Payload {
        Payload {
            path: path.to_path_buf(),
            offset: 0,
            from_end: false,
            compression,
            skip: 0,
            dtype: DType::Uint16,
            endian: Endian::Big,
            count,
            whole: true,
        }
    }

    #[test]
    fn big_endian_raw_is_swapped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.raw");
        std::fs::write(&p, [0x01, 0x02, 0xff, 0x00]).unwrap();
        let v = payload(&p, Compression::None, 2)
            .read(&LoadOptions::default())
            .unwrap();
        assert_eq!(v.data, VoxelData::Uint16(vec![0x0102, 0xff00]));
        assert_eq!(v.range, Some([258.0, 65280.0]));
    }

    #[test]
    fn gzip_claim_beyond_deflate_ratio_is_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&[0u8; 64]).unwrap();
        std::fs::write(&p, gz.finish().unwrap()).unwrap();
        let err = payload(&p, Compression::Gzip, 1 << 40).read(&LoadOptions::default());
        assert!(
            matches!(err, Err(ErrorKind::ImpossibleClaim { .. })),
            "{err:?}"
        );
        let err = payload(&p, Compression::Gzip, 33).read(&LoadOptions::default());
        assert!(
            matches!(
                err,
                Err(ErrorKind::Truncated {
                    needed: 66,
                    available: 64
                })
            ),
            "{err:?}"
        );
    }

    #[test]
    fn zlib_and_gzip_both_read_as_compressed_data() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.zraw");
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&[0, 7, 1, 0]).unwrap();
        std::fs::write(&p, z.finish().unwrap()).unwrap();
        let v = payload(&p, Compression::Zlib, 2)
            .read(&LoadOptions::default())
            .unwrap();
        assert_eq!(v.data, VoxelData::Uint16(vec![7, 256]));
    }

    #[test]
    fn range_found_while_reading_matches_a_full_scan_across_chunks() {
        // More than two chunks of big-endian floats, NaN and infinity included.
        let n = CHUNK / 4 * 2 + 12345;
        let mut values: Vec<f32> = (0..n)
            .map(|i| ((i * 7919) % 100_003) as f32 - 5e4)
            .collect();
        values[10] = f32::NAN;
        values[n - 1] = f32::INFINITY;
        values[CHUNK / 4 + 3] = -9e9;
        let be: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.raw");
        std::fs::write(&p, &be).unwrap();
        let mut spec = payload(&p, Compression::None, n as u64);
        spec.dtype = DType::Float;
        let got = spec.read(&LoadOptions::default()).unwrap();
        let VoxelData::Float(read) = &got.data else {
            panic!("float voxels")
        };
        assert!(
            read.iter()
                .zip(&values)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
        assert_eq!(got.range, got.data.range());
        assert_eq!(got.range.unwrap()[0], -9e9f32 as f64);
    }

    #[test]
    fn text_voxels_parse_and_count() {
        assert_eq!(
            parse_text_voxels("1 2\n3.0 -4", DType::Int16, 4).unwrap(),
            VoxelData::Int16(vec![1, 2, 3, -4])
        );
        assert!(parse_text_voxels("1 2", DType::Int16, 3).is_err());
        assert!(parse_text_voxels("1 x", DType::Float, 2).is_err());
        assert!(parse_text_voxels("1 2", DType::Float, 1 << 50).is_err());
    }
}
