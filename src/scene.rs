//! The scene: everything that decides an image, as one serde struct.
//!
//! `gradvol render --scene FILE` loads it, every PNG that gradvol writes carries it in its
//! metadata, and the viewer will save it as the session. Every field has a default, so older and
//! partial files keep loading.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::camera::Camera;
use crate::gradient::Operator;
use crate::tf::{TransferFunction, presets};

/// Largest image side `gradvol render` and the viewer's screenshots accept (PNG allows more;
/// beyond this an image is more than 17 GB).
pub const MAX_IMAGE_SIDE: u32 = 65535;

/// Most frames an image may average (`RenderSettings::accumulate`).
pub const MAX_ACCUMULATE: u32 = 256;

/// How samples along a ray combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Blend {
    /// Front-to-back compositing with colour, scalar and gradient opacity.
    #[default]
    Composite,
    /// Maximum intensity projection.
    Maximum,
    /// Minimum intensity projection.
    Minimum,
    /// The mean value along the ray.
    Average,
}

/// Render settings beyond the camera and the transfer function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RenderSettings {
    /// Image width and height in pixels.
    pub size: [u32; 2],
    /// Distance between samples along a ray in mm; `None` is the smallest voxel spacing.
    pub sample_distance_mm: Option<f64>,
    pub blend: Blend,
    /// How |grad f| is computed for gradient opacity.
    pub gradient: Operator,
    /// Overrides the transfer function's own shading switch.
    pub shading: Option<bool>,
    /// The visible part of the volume, as fractions of its extent per axis: `[min, max]`.
    pub crop: [[f64; 3]; 2],
    /// Background colour, components in 0..1 (ignored when `transparent`).
    pub background: [f64; 3],
    /// A real alpha channel instead of a background.
    pub transparent: bool,
    /// Jitter ray starts per pixel (off gives a deterministic, grainier image).
    pub jitter: bool,
    /// Step over bricks the transfer function makes fully transparent (same image, faster).
    pub skip_empty_space: bool,
    /// Frames averaged into the image, each with its rays' jitter shifted (with `jitter` on):
    /// coarse sample distances then give smooth images, without wood grain or noise. 1 draws a
    /// single frame; the viewer refines to this many when the view is still.
    pub accumulate: u32,
}

impl Default for RenderSettings {
    fn default() -> Self {
        RenderSettings {
            size: [512, 512],
            sample_distance_mm: None,
            blend: Blend::Composite,
            gradient: Operator::Central,
            shading: None,
            crop: [[0.0; 3], [1.0; 3]],
            background: [0.0; 3],
            transparent: false,
            jitter: true,
            skip_empty_space: true,
            accumulate: 1,
        }
    }
}

impl RenderSettings {
    pub fn validate(&self) -> Result<(), String> {
        let [w, h] = self.size;
        if w == 0 || h == 0 || w > MAX_IMAGE_SIDE || h > MAX_IMAGE_SIDE {
            return Err(format!(
                "image size {w}x{h} is outside 1..{MAX_IMAGE_SIDE} pixels per side"
            ));
        }
        if let Some(ds) = self.sample_distance_mm
            && !(ds.is_finite() && ds > 0.0)
        {
            return Err(format!(
                "sample distance must be a positive number of mm, not {ds}"
            ));
        }
        if !(1..=MAX_ACCUMULATE).contains(&self.accumulate) {
            return Err(format!(
                "accumulate must be 1..{MAX_ACCUMULATE} frames, not {}",
                self.accumulate
            ));
        }
        let [lo, hi] = self.crop;
        if (0..3).any(|i| !(0.0 <= lo[i] && lo[i] < hi[i] && hi[i] <= 1.0)) {
            return Err("crop must be fractions with 0 <= min < max <= 1 on every axis".into());
        }
        if self.background.iter().any(|c| !(0.0..=1.0).contains(c)) {
            return Err("background components must be in 0..1".into());
        }
        if let Operator::Gaussian { sigma_mm } = self.gradient
            && !(sigma_mm.is_finite() && sigma_mm > 0.0)
        {
            return Err(format!(
                "gradient sigma must be a positive number of mm, not {sigma_mm}"
            ));
        }
        Ok(())
    }
}

/// Everything that decides an image.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scene {
    /// The volume file or DICOM folder.
    pub volume: Option<PathBuf>,
    /// A built-in preset, used when `transfer_function` is absent.
    pub preset: Option<String>,
    /// The transfer function itself; wins over `preset`.
    pub transfer_function: Option<TransferFunction>,
    pub camera: Camera,
    pub render: RenderSettings,
}

impl Scene {
    /// Parses and checks a scene from JSON text.
    pub fn from_json(text: &str) -> Result<Scene, String> {
        let scene: Scene = serde_json::from_str(text).map_err(|e| e.to_string())?;
        scene.validate()?;
        Ok(scene)
    }

    pub fn validate(&self) -> Result<(), String> {
        if let Some(tf) = &self.transfer_function {
            tf.validate()
                .map_err(|e| format!("transfer function: {e}"))?;
        }
        self.camera.validate()?;
        self.render.validate()
    }

    /// The transfer function to draw with: the scene's own, else its preset, else a default
    /// ramp over `range` (the data's values).
    pub fn transfer_function(
        &self,
        mean_spacing_mm: f64,
        range: [f64; 2],
    ) -> Result<TransferFunction, String> {
        if let Some(tf) = &self.transfer_function {
            return Ok(tf.clone());
        }
        match &self.preset {
            Some(name) => presets::preset(name, mean_spacing_mm),
            None => Ok(TransferFunction::default_for_range(range)),
        }
    }
}

impl TransferFunction {
    /// A neutral starting point for data of unknown kind: grey, transparent over the lowest
    /// fifth of `range` and rising to 0.5 per mm at its top, shaded, no gradient opacity.
    pub fn default_for_range(range: [f64; 2]) -> TransferFunction {
        let [lo, hi] = range;
        let hi = if hi > lo { hi } else { lo + 1.0 };
        let knee = lo + 0.2 * (hi - lo);
        TransferFunction {
            scalar_opacity: vec![[lo, 0.0], [knee, 0.0], [hi, 0.5]],
            color: vec![
                [lo, 0.0, 0.0, 0.0],
                [knee, 0.5, 0.5, 0.5],
                [hi, 1.0, 1.0, 1.0],
            ],
            gradient_opacity: vec![[0.0, 1.0]],
            shading: Default::default(),
            unit_distance_mm: 1.0,
            effective_range: None,
            interpolation: None,
            tf2d: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scene_round_trips_through_json_and_partial_files_load() {
        let mut scene = Scene {
            preset: Some("CT-Bone".into()),
            ..Scene::default()
        };
        scene.camera.azimuth_deg = 30.0;
        scene.render.gradient = Operator::Gaussian { sigma_mm: 1.5 };
        let text = serde_json::to_string(&scene).unwrap();
        assert_eq!(Scene::from_json(&text).unwrap(), scene);
        let partial = Scene::from_json(r#"{"camera": {"zoom": 2}}"#).unwrap();
        assert_eq!(partial.camera.zoom, 2.0);
        assert_eq!(partial.render, RenderSettings::default());
    }

    #[test]
    fn bad_scenes_are_refused() {
        for bad in [
            r#"{"render": {"size": [0, 10]}}"#,
            r#"{"render": {"size": [100000, 10]}}"#,
            r#"{"render": {"crop": [[0.5, 0, 0], [0.4, 1, 1]]}}"#,
            r#"{"camera": {"zoom": -1}}"#,
            r#"{"render": {"sample_distance_mm": 0}}"#,
            r#"{"camra": {}}"#,
        ] {
            assert!(Scene::from_json(bad).is_err(), "{bad}");
        }
    }
}
