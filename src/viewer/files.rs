//! The transfer-function file dialogs.

use std::path::PathBuf;

use crate::tf::TransferFunction;

/// Asks for a TF file and reads it; `None` when the user cancelled.
pub fn load_tf() -> Option<Result<(TransferFunction, PathBuf), String>> {
    let path = rfd::FileDialog::new()
        .add_filter("transfer function", &["json"])
        .pick_file()?;
    Some(
        std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| TransferFunction::from_json(&t))
            .map(|tf| (tf, path.clone()))
            .map_err(|e| format!("cannot load {}: {e}", path.display())),
    )
}

/// Asks where to save `tf` and writes it atomically; returns the status line's message, `None`
/// when the user cancelled.
pub fn save_tf(tf: &TransferFunction) -> Option<String> {
    let path = rfd::FileDialog::new()
        .add_filter("transfer function", &["json"])
        .set_file_name("transfer-function.json")
        .save_file()?;
    let text = serde_json::to_string_pretty(tf).expect("a TF serializes");
    Some(
        match crate::atomic::write_atomically(&path, |out| out.write_all(text.as_bytes())) {
            Ok(()) => format!("saved {}", path.display()),
            Err(e) => format!("cannot save {}: {e}", path.display()),
        },
    )
}
