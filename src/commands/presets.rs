//! `gradvol presets`: the built-in transfer functions.

use anyhow::Result;
use gradvol::tf::presets::{self, Origin};

/// Lists the presets, or prints one as JSON.
pub fn run(show: Option<&str>) -> Result<()> {
    if let Some(name) = show {
        // Gradient points of Slicer's presets are printed in VTK's units (mean spacing 1).
        let tf = presets::preset(name, 1.0).map_err(anyhow::Error::msg)?;
        println!("{}", serde_json::to_string_pretty(&tf)?);
        return Ok(());
    }
    for (name, origin) in presets::names() {
        let tf = presets::preset(name, 1.0).map_err(anyhow::Error::msg)?;
        let from = match origin {
            Origin::Gradvol => "gradvol",
            Origin::Slicer => "3D Slicer",
        };
        let gradient = if let Some(t) = tf.widgets() {
            format!(", 2-D: {} widget(s) on value x |grad f|", t.widgets.len())
        } else if tf.gradient_is_flat() {
            String::new()
        } else {
            ", gradient opacity".into()
        };
        println!("{name:28} {from}{gradient}");
    }
    Ok(())
}
