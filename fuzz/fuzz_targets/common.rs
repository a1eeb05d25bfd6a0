//! Shared by the fuzz targets: writes the input to a file with the right name under a
//! per-process folder in /dev/shm and opens it with `gradvol::volume::load`. Any `Err` is fine;
//! a panic, abort, OOM (-rss_limit_mb) or hang (-timeout) is the bug.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use gradvol::volume::{LoadOptions, load};

/// /dev/shm/gradvol-fuzz-<pid>, created once (RAM-backed, so writing each input costs little).
pub fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("gradvol-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("cannot create the fuzz scratch folder");
        dir
    })
}

/// Writes `bytes` to `<scratch>/<file_name>` and loads it; errors are expected and ignored.
#[allow(dead_code, reason = "the folder target writes its own files")]
pub fn load_bytes(file_name: &str, bytes: &[u8]) {
    let path = scratch_dir().join(file_name);
    std::fs::write(&path, bytes).expect("cannot write the fuzz input");
    load_path(&path);
}

/// Loads a file or folder; errors are expected and ignored.
pub fn load_path(path: &Path) {
    let file_name = path.display();
    let result = load(path, &LoadOptions::default());
    // Formatting the error is part of the contract too (a clear message, no panic).
    let message = match &result {
        Ok(v) => format!("ok: {:?} {} {:?} notes {:?}", v.dims, v.data.dtype(), v.range, v.notes),
        Err(e) => format!("err: {e}"),
    };
    // GRADVOL_FUZZ_VERBOSE=1 prints what each input gave (when running single files).
    if std::env::var_os("GRADVOL_FUZZ_VERBOSE").is_some() {
        eprintln!("{file_name}: {message}");
    }
}
