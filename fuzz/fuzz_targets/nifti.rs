#![no_main]
//! NIfTI-1: the input is read as a `.nii`, then gzip-compressed and read again as a `.nii.gz`
//! (so the gzip path, where `vox_offset` becomes a skip after decompressing, is covered too).

use std::io::Write;

use flate2::{Compression, write::GzEncoder};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::load_bytes("input.nii", data);
    // A seed that is itself gzip would be compressed twice: also try it as it is.
    if data.starts_with(&[0x1f, 0x8b]) {
        common::load_bytes("input-raw.nii.gz", data);
    }
    let mut gz = GzEncoder::new(Vec::with_capacity(data.len() / 2 + 64), Compression::fast());
    gz.write_all(data).expect("gzip into a Vec cannot fail");
    let compressed = gz.finish().expect("gzip into a Vec cannot fail");
    common::load_bytes("input.nii.gz", &compressed);
});
