#![no_main]
//! MetaImage with the voxels in the same file: the input is the whole `.mha`.

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::load_bytes("input.mha", data);
});
