//! Screenshots: the scene drawn at any size through the same tiled path as `gradvol render`.

use std::path::Path;

use crate::gpu::Gpu;
use crate::render::renderer::Renderer;
use crate::scene::Scene;
use crate::viewer::jobs::Progress;

/// Renders `scene` (at its own size, in tiles when large, streamed into the file band by band,
/// averaging `scene.render.accumulate` frames as the viewer's refinement does) through the same
/// path as `gradvol render`, and writes the PNG, with the scene in its metadata, and the scene
/// as JSON beside it (`path` with the extension `.json`), each atomically.
pub fn export_screenshot(
    gpu: &Gpu,
    renderer: &mut Renderer,
    scene: &Scene,
    path: &Path,
) -> Result<(), String> {
    export_watched(gpu, renderer, scene, path, &Progress::default())
}

/// [`export_screenshot`] reporting to `progress` and stopping when it is cancelled, leaving no
/// file.
pub(crate) fn export_watched(
    gpu: &Gpu,
    renderer: &mut Renderer,
    scene: &Scene,
    path: &Path,
    progress: &Progress,
) -> Result<(), String> {
    if !path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"))
    {
        return Err(format!("{} does not end in .png", path.display()));
    }
    scene.validate()?;
    let text = serde_json::to_string(scene).map_err(|e| e.to_string())?;
    if let Some(tf) = &scene.transfer_function
        && renderer.transfer_function() != tf
    {
        renderer.set_transfer_function(gpu, tf);
    }
    renderer
        .write_png_watched(gpu, &scene.camera, &scene.render, path, &text, |f| {
            progress.set_fraction(f);
            progress.check()
        })
        .map_err(|e| e.to_string())?;
    let pretty = serde_json::to_string_pretty(scene).map_err(|e| e.to_string())?;
    crate::atomic::write_atomically(&path.with_extension("json"), |out| {
        out.write_all(pretty.as_bytes())
    })
    .map_err(|e| e.to_string())
}
