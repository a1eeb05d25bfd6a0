#![no_main]
//! A DICOM folder: the input is cut at every `--next-file--` into up to 4 files of one folder,
//! which is then loaded as a series (series checks, ordering by position, slots, notes).

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

const SEPARATOR: &[u8] = b"--next-file--";

fuzz_target!(|data: &[u8]| {
    let folder = common::scratch_dir().join("series");
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).expect("cannot create the fuzz series folder");
    let mut rest = data;
    for i in 0..4 {
        let cut = rest
            .windows(SEPARATOR.len())
            .position(|w| w == SEPARATOR)
            .filter(|_| i < 3);
        let (file, next) = match cut {
            Some(k) => (&rest[..k], &rest[k + SEPARATOR.len()..]),
            None => (rest, &rest[rest.len()..]),
        };
        std::fs::write(folder.join(format!("slice{i}.dcm")), file)
            .expect("cannot write the fuzz input");
        if next.is_empty() {
            break;
        }
        rest = next;
    }
    common::load_path(&folder);
});
