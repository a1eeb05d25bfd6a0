//! PNG files: images written atomically with the scene that made them in an iTXt chunk, and
//! that scene read back, so any image gradvol wrote can be drawn again.

use std::io::{BufReader, Write};
use std::path::Path;

use crate::render::renderer::Image;

/// The iTXt keyword under which the scene JSON is stored.
pub const SCENE_KEYWORD: &str = "gradvol-scene";

/// Why a PNG could not be written or its scene read.
#[derive(Debug, thiserror::Error)]
pub enum PngError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {why}")]
    Read { path: String, why: String },
    #[error("{0} holds no gradvol scene (it was not written by gradvol render or the viewer)")]
    NoScene(String),
}

/// Writes `image` as an 8-bit RGBA PNG with `scene_json` in its metadata, atomically.
pub fn write_png(path: &Path, image: &Image, scene_json: &str) -> Result<(), PngError> {
    write_png_rows(path, [image.width, image.height], scene_json, |rows| {
        rows.write_all(&image.rgba)
    })
}

/// Writes a `width` x `height` 8-bit RGBA PNG with `scene_json` in its metadata, atomically,
/// its pixels streamed: `fill` writes the rows, top first, into the compressor as they come,
/// so an image far larger than memory can be written a band at a time. A failure (from `fill`
/// too) leaves nothing behind.
pub fn write_png_rows(
    path: &Path,
    [width, height]: [u32; 2],
    scene_json: &str,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), PngError> {
    let encode = |w: &mut dyn Write| -> std::io::Result<()> {
        let mut encoder = png::Encoder::new(w, width, height);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Fast);
        encoder
            .add_itxt_chunk(SCENE_KEYWORD.to_string(), scene_json.to_string())
            .map_err(std::io::Error::other)?;
        encoder
            .add_text_chunk("Software".to_string(), "gradvol".to_string())
            .map_err(std::io::Error::other)?;
        let mut writer = encoder.write_header().map_err(std::io::Error::other)?;
        let mut rows = writer
            .stream_writer_with_size(1 << 20)
            .map_err(std::io::Error::other)?;
        fill(&mut rows)?;
        rows.finish().map_err(std::io::Error::other)?;
        writer.finish().map_err(std::io::Error::other)
    };
    crate::atomic::write_atomically(path, encode).map_err(|source| PngError::Write {
        path: path.display().to_string(),
        source,
    })
}

/// The scene JSON stored in a PNG that gradvol wrote. Reads the header chunks only.
pub fn read_scene(path: &Path) -> Result<String, PngError> {
    let read_error = |why: String| PngError::Read {
        path: path.display().to_string(),
        why,
    };
    let file = std::fs::File::open(path).map_err(|e| read_error(e.to_string()))?;
    let mut decoder =
        png::Decoder::new_with_limits(BufReader::new(file), png::Limits { bytes: 64 << 20 });
    decoder.set_ignore_text_chunk(false);
    let reader = decoder.read_info().map_err(|e| read_error(e.to_string()))?;
    let info = reader.info();
    for chunk in &info.utf8_text {
        if chunk.keyword == SCENE_KEYWORD {
            return chunk.get_text().map_err(|e| read_error(e.to_string()));
        }
    }
    Err(PngError::NoScene(path.display().to_string()))
}

/// Reads an 8-bit RGBA or RGB PNG into an [`Image`] (for tests and golden references).
pub fn read_png(path: &Path) -> Result<Image, PngError> {
    let read_error = |why: String| PngError::Read {
        path: path.display().to_string(),
        why,
    };
    let file = std::fs::File::open(path).map_err(|e| read_error(e.to_string()))?;
    let decoder =
        png::Decoder::new_with_limits(BufReader::new(file), png::Limits { bytes: 1 << 30 });
    let mut reader = decoder.read_info().map_err(|e| read_error(e.to_string()))?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| read_error("the image is too large".into()))?;
    let mut buf = vec![0; size];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|e| read_error(e.to_string()))?;
    buf.truncate(frame.buffer_size());
    let rgba = match (frame.color_type, frame.bit_depth) {
        (png::ColorType::Rgba, png::BitDepth::Eight) => buf,
        (png::ColorType::Rgb, png::BitDepth::Eight) => buf
            .chunks_exact(3)
            .flat_map(|c| [c[0], c[1], c[2], 255])
            .collect(),
        other => return Err(read_error(format!("unsupported PNG layout {other:?}"))),
    };
    Ok(Image {
        width: frame.width,
        height: frame.height,
        rgba,
    })
}
