//! Why a volume did not open: one line that says what is wrong, with the file's path last.

use std::path::{Path, PathBuf};

/// A volume that could not be opened, and the file to blame (for a DICOM folder, the file inside
/// it that is at fault).
///
/// Displayed on one line, with any control character (from a file's header, say) written as an
/// escape, so that a hostile file cannot move the terminal's cursor or split the message.
#[derive(Debug, thiserror::Error)]
pub struct LoadError {
    pub path: PathBuf,
    pub kind: ErrorKind,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = format!("{}: {}", self.kind, self.path.display());
        for c in text.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

impl LoadError {
    pub fn new(path: &Path, kind: ErrorKind) -> LoadError {
        LoadError {
            path: path.to_path_buf(),
            kind,
        }
    }
}

/// What went wrong, without the path.
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    #[error("cannot read the file ({0})")]
    Io(#[from] std::io::Error),
    /// The header or the data is malformed.
    #[error("invalid volume: {0}")]
    Invalid(String),
    /// The header describes more voxel data than the file holds.
    #[error(
        "the file is truncated or its header is wrong: {needed} bytes of voxel data are needed \
         but {available} are there"
    )]
    Truncated { needed: u64, available: u64 },
    /// A compressed file claims more data than its compressed size can possibly hold.
    #[error(
        "the header claims {needed} bytes of voxel data, but {compressed} compressed bytes can \
         hold at most {limit}: the header is wrong or the file is truncated"
    )]
    ImpossibleClaim {
        needed: u64,
        compressed: u64,
        limit: u64,
    },
    #[error("the compressed voxel data is corrupt ({0})")]
    Corrupt(String),
    /// The store holding the voxels did not answer (a remote store, after retries).
    #[error("the store did not answer ({0})")]
    Unavailable(String),
    /// A decoder could not read pixel data of a supported kind.
    #[error("cannot decode the {what}: {reason}")]
    Decode { what: String, reason: String },
    #[error("not enough memory for {0} bytes of voxel data")]
    OutOfMemory(u64),
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error(
        "unrecognised file format (gradvol reads .nrrd, .nhdr, .nii, .nii.gz, .mha, .mhd, DICOM \
         files and folders, OME-Zarr images, and headerless data with --raw-dims and --raw-type)"
    )]
    Unrecognised,
}

impl ErrorKind {
    pub fn invalid(reason: impl Into<String>) -> ErrorKind {
        ErrorKind::Invalid(reason.into())
    }

    pub fn unsupported(what: impl Into<String>) -> ErrorKind {
        ErrorKind::Unsupported(what.into())
    }

    /// Names a detached data file in an I/O error, whose path would otherwise be the header's.
    pub fn in_data_file(self, data_file: &std::path::Path) -> ErrorKind {
        match self {
            ErrorKind::Io(io) => ErrorKind::Io(std::io::Error::new(
                io.kind(),
                format!("data file {}: {io}", data_file.display()),
            )),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        let e = LoadError::new(
            Path::new("a\nb.nrrd"),
            ErrorKind::invalid("type '\u{1b}[2Jshort'\r"),
        );
        assert_eq!(
            e.to_string(),
            "invalid volume: type '\\u{1b}[2Jshort'\\r: a\\nb.nrrd"
        );
    }
}
