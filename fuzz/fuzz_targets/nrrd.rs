#![no_main]
//! NRRD with attached data: the input is the whole `.nrrd` file (header and payload).

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::load_bytes("input.nrrd", data);
});
