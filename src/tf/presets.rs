//! Built-in transfer functions: 3D Slicer's 31 volume-rendering presets and gradvol's own.
//!
//! Slicer's gradient-opacity points are in VTK's units, |grad f| (per mm) times the volume's
//! mean spacing; [`preset`] converts them to data units per mm for the volume at hand
//! (x_mm = x_vtk / mean spacing). gradvol's presets are written in data units per mm already.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use super::TransferFunction;

static SLICER: LazyLock<BTreeMap<String, TransferFunction>> =
    LazyLock::new(|| parse(include_str!("../../assets/presets/slicer.json")));
static GRADVOL: LazyLock<BTreeMap<String, TransferFunction>> =
    LazyLock::new(|| parse(include_str!("../../assets/presets/gradvol.json")));

fn parse(text: &str) -> BTreeMap<String, TransferFunction> {
    let presets: BTreeMap<String, TransferFunction> =
        serde_json::from_str(text).expect("the built-in presets are valid JSON");
    for (name, tf) in &presets {
        if let Err(e) = tf.validate() {
            panic!("built-in preset {name} is invalid: {e}");
        }
    }
    presets
}

/// Where a preset comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// 3D Slicer's presets: gradient opacity in VTK's units.
    Slicer,
    /// gradvol's own: gradient opacity in data units per mm.
    Gradvol,
}

/// Every preset name, gradvol's first, each with its origin.
pub fn names() -> Vec<(&'static str, Origin)> {
    GRADVOL
        .keys()
        .map(|k| (k.as_str(), Origin::Gradvol))
        .chain(SLICER.keys().map(|k| (k.as_str(), Origin::Slicer)))
        .collect()
}

/// The preset called `name` (case-insensitive), its gradient opacity expressed in data units
/// per mm for a volume whose mean spacing is `mean_spacing_mm`.
pub fn preset(name: &str, mean_spacing_mm: f64) -> Result<TransferFunction, String> {
    let find = |set: &BTreeMap<String, TransferFunction>| {
        set.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, tf)| tf.clone())
    };
    if let Some(tf) = find(&GRADVOL) {
        return Ok(tf);
    }
    if let Some(mut tf) = find(&SLICER) {
        for p in &mut tf.gradient_opacity {
            p[0] /= mean_spacing_mm;
        }
        return Ok(tf);
    }
    let all: Vec<&str> = names().into_iter().map(|(n, _)| n).collect();
    Err(format!(
        "unknown preset '{name}'; the presets are: {}",
        all.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_31_slicer_presets_and_ours_load() {
        let names = names();
        assert_eq!(
            names.iter().filter(|(_, o)| *o == Origin::Slicer).count(),
            31
        );
        assert!(names.len() >= 34);
        for (name, _) in names {
            preset(name, 0.8).unwrap().validate().unwrap();
        }
    }

    #[test]
    fn slicer_gradient_points_are_converted_to_units_per_mm() {
        let skull = preset("uct-skull", 2.0).unwrap();
        assert_eq!(skull.gradient_opacity[2], [46.9644546508789 / 2.0, 0.1]);
        let ours = preset("gradvol-CT-Bone-Surface", 2.0).unwrap();
        assert_eq!(ours.gradient_opacity[2], [200.0, 1.0]);
        let err = preset("CT-Nothing", 1.0).unwrap_err();
        assert!(err.contains("unknown preset 'CT-Nothing'") && err.contains("CT-AAA"));
    }
}
