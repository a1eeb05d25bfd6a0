//! The viewer's session: the last scene (volume, transfer function, camera, settings), saved as
//! JSON a few seconds after each change and on exit, and restored on the next start.

use std::path::{Path, PathBuf};

use crate::atomic::write_atomically;
use crate::scene::Scene;

/// Largest session file read back; anything larger is not ours.
const MAX_SESSION_BYTES: u64 = 16 << 20;

/// `$XDG_STATE_HOME/gradvol/session.json`, else `~/.local/state/gradvol/session.json`.
pub fn default_path() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(state.join("gradvol").join("session.json"))
}

/// The saved scene, or `None` when there is none; a damaged file is reported and ignored.
pub fn load(path: &Path) -> Option<Scene> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.len() > MAX_SESSION_BYTES {
        eprintln!(
            "gradvol: ignoring {}: too large for a session",
            path.display()
        );
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    match Scene::from_json(&text) {
        Ok(scene) => Some(scene),
        Err(e) => {
            eprintln!(
                "gradvol: ignoring the saved session {}: {e}",
                path.display()
            );
            None
        }
    }
}

/// Writes the session atomically, creating its folder.
pub fn save(path: &Path, scene: &Scene) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(scene)?;
    write_atomically(path, |out| std::io::Write::write_all(out, text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_round_trips_and_a_damaged_one_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/session.json");
        let mut scene = Scene::default();
        scene.camera.zoom = 1.7;
        scene.preset = Some("CT-AAA".into());
        save(&path, &scene).unwrap();
        assert_eq!(load(&path), Some(scene));
        std::fs::write(&path, b"{\"camera\": {\"zoom\": -3}}").unwrap();
        assert_eq!(load(&path), None);
        assert_eq!(load(&dir.path().join("missing.json")), None);
    }
}
