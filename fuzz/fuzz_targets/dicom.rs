#![no_main]
//! DICOM: the input is read as one file (`input.dcm`): the element walk, the header pass, the
//! native decoder and, for compressed transfer syntaxes, dicom-pixeldata behind the checks.

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::load_bytes("input.dcm", data);
});
