//! OME-Zarr (NGFF) image metadata, versions 0.4 (Zarr v2 `.zattrs`) and 0.5 (Zarr v3 `zarr.json`
//! attributes under `"ome"`): the axes, the pyramid's datasets and their coordinate
//! transformations, read into the geometry of each level in millimetres.
//!
//! The fields are read with serde here rather than through `ome_zarr_metadata`, whose scales and
//! translations are `f32`: an origin of -250.1234 mm would not survive a round trip.

use serde::{Deserialize, Serialize};

use crate::volume::ErrorKind;

/// The `multiscales` entry of an OME-Zarr image (the fields gradvol uses; others are ignored).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Multiscale {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub axes: Vec<Axis>,
    pub datasets: Vec<Dataset>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coordinate_transformations: Vec<Transform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
}

/// One axis: OME-Zarr 0.4 and later write objects; 0.3 wrote bare names.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Axis {
    Full {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        r#type: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unit: Option<String>,
    },
    Name(String),
}

impl Axis {
    pub fn space(name: &str, unit: &str) -> Axis {
        Axis::Full {
            name: name.to_owned(),
            r#type: Some("space".to_owned()),
            unit: Some(unit.to_owned()),
        }
    }

    fn name(&self) -> &str {
        match self {
            Axis::Full { name, .. } | Axis::Name(name) => name,
        }
    }

    /// Whether this is a spatial axis: typed "space", or untyped and named x, y or z.
    fn is_space(&self) -> bool {
        match self {
            Axis::Full {
                r#type: Some(t), ..
            } => t == "space",
            _ => matches!(self.name().to_ascii_lowercase().as_str(), "x" | "y" | "z"),
        }
    }

    fn unit(&self) -> Option<&str> {
        match self {
            Axis::Full { unit, .. } => unit.as_deref(),
            Axis::Name(_) => None,
        }
    }
}

/// One level of the pyramid: an array at `path` (relative to the image group).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dataset {
    pub path: String,
    #[serde(default)]
    pub coordinate_transformations: Vec<Transform>,
}

/// A coordinate transformation; the spec allows a scale, then optionally a translation.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Transform {
    Scale { scale: Vec<f64> },
    Translation { translation: Vec<f64> },
    Identity {},
}

/// The attributes gradvol adds to a store it writes, so that a round trip through OME-Zarr
/// keeps the anatomical frame OME-Zarr has no place for.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Frame {
    /// "LPS" or "RAS".
    pub space: String,
    /// Unit direction of each voxel axis (x, y, z) in that space: `directions[axis][component]`.
    pub directions: [[f64; 3]; 3],
    /// World position of level 0's voxel (0, 0, 0), in mm.
    pub origin: [f64; 3],
    /// The format the volume was converted from.
    #[serde(default)]
    pub source_format: Option<String>,
    /// A |grad f| pyramid stored beside the image, if `convert` wrote one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gradient: Option<StoredGradient>,
}

/// |grad f| of level 0 by `operator`, in data units per mm, and for every coarser level the
/// largest of the 2 x 2 x 2 values below: float32 arrays `path/0`, `path/1`, ... on the image's
/// grids. Drawn from a coarse level, a boundary keeps the |grad f| it has at full resolution.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct StoredGradient {
    #[serde(flatten)]
    pub operator: crate::gradient::Operator,
    pub path: String,
}

/// Finds the multiscales list in a group's attributes: under "ome" (0.5) or at the top (0.4).
/// Returns the OME-Zarr version and the first multiscale image.
pub fn find_multiscale(
    attributes: &serde_json::Map<String, serde_json::Value>,
) -> Result<(String, Multiscale), ErrorKind> {
    let (version, list) = match attributes.get("ome") {
        Some(ome) => (
            ome.get("version")
                .and_then(|v| v.as_str())
                .unwrap_or("0.5")
                .to_owned(),
            ome.get("multiscales"),
        ),
        None => (String::new(), attributes.get("multiscales")),
    };
    let Some(list) = list else {
        return Err(ErrorKind::invalid(
            "no OME-Zarr multiscales metadata (a plain Zarr array or group, not an OME-Zarr image)",
        ));
    };
    let mut images: Vec<Multiscale> = serde_json::from_value(list.clone())
        .map_err(|e| ErrorKind::invalid(format!("malformed OME-Zarr multiscales metadata: {e}")))?;
    if images.is_empty() {
        return Err(ErrorKind::invalid("the OME-Zarr multiscales list is empty"));
    }
    let image = images.swap_remove(0);
    let version = if version.is_empty() {
        image.version.clone().unwrap_or_else(|| "0.4".to_owned())
    } else {
        version
    };
    Ok((version, image))
}

/// Millimetres in one unit of an OME-Zarr space axis; `None` for a unit gradvol does not know.
/// Metric units are exact powers of ten (the nearest double to 10^k, not a product of two).
pub fn unit_to_mm(unit: &str) -> Option<f64> {
    let power_of_ten = |k: i32| format!("1e{k}").parse::<f64>().ok();
    let prefix = |p: &str| -> Option<i32> {
        Some(match p {
            "yotta" => 24,
            "zetta" => 21,
            "exa" => 18,
            "peta" => 15,
            "tera" => 12,
            "giga" => 9,
            "mega" => 6,
            "kilo" => 3,
            "hecto" => 2,
            "deca" => 1,
            "" => 0,
            "deci" => -1,
            "centi" => -2,
            "milli" => -3,
            "micro" => -6,
            "nano" => -9,
            "pico" => -12,
            "femto" => -15,
            "atto" => -18,
            "zepto" => -21,
            "yocto" => -24,
            _ => return None,
        })
    };
    let u = unit.trim().to_ascii_lowercase();
    match u.as_str() {
        "angstrom" => power_of_ten(-7),
        "inch" => Some(25.4),
        "foot" => Some(304.8),
        "yard" => Some(914.4),
        "mile" => Some(1_609_344.0),
        "parsec" => Some(3.0857e19),
        "mm" => Some(1.0),
        "um" | "µm" => power_of_ten(-3),
        "nm" => power_of_ten(-6),
        "cm" => Some(10.0),
        "m" => Some(1000.0),
        _ => {
            let stem = u
                .strip_suffix("meter")
                .or_else(|| u.strip_suffix("metre"))?;
            power_of_ten(prefix(stem)? + 3)
        }
    }
}

/// Where the axes of an array are: the indices of the non-spatial ones (time, channel) and of the
/// spatial ones, slowest first (z, y, x), and each spatial axis's unit in mm.
#[derive(Debug, Clone)]
pub struct AxisLayout {
    /// Total number of array dimensions.
    pub ndim: usize,
    /// Array dimensions of the spatial axes in voxel-axis order x, y, z (`None` for a missing z
    /// of a 2-D image).
    pub spatial: [Option<usize>; 3],
    /// Names of the other axes and their array dimensions.
    pub others: Vec<(String, usize)>,
    /// Millimetres per unit along x, y, z.
    pub mm_per_unit: [f64; 3],
    pub notes: Vec<String>,
}

impl AxisLayout {
    pub fn from_axes(axes: &[Axis]) -> Result<AxisLayout, ErrorKind> {
        if axes.is_empty() || axes.len() > 5 {
            return Err(ErrorKind::invalid(format!(
                "OME-Zarr images have 2 to 5 axes, this one has {}",
                axes.len()
            )));
        }
        let spatial: Vec<usize> = (0..axes.len()).filter(|&i| axes[i].is_space()).collect();
        if !(2..=3).contains(&spatial.len()) {
            return Err(ErrorKind::invalid(format!(
                "OME-Zarr images have 2 or 3 space axes, this one has {} ({})",
                spatial.len(),
                axes.iter().map(Axis::name).collect::<Vec<_>>().join(", ")
            )));
        }
        let mut notes = Vec::new();
        // The last spatial axis varies fastest: it is voxel axis x (i), then y, then z.
        let mut order = spatial.clone();
        order.reverse();
        let mut mm_per_unit = [1.0; 3];
        let mut missing_unit = false;
        for (voxel_axis, &dim) in order.iter().enumerate() {
            match axes[dim].unit() {
                None => missing_unit = true,
                Some(u) => match unit_to_mm(u) {
                    Some(mm) => mm_per_unit[voxel_axis] = mm,
                    None => {
                        return Err(ErrorKind::Unsupported(format!(
                            "the space unit {u:?} of axis {:?}",
                            axes[dim].name()
                        )));
                    }
                },
            }
        }
        if missing_unit {
            notes.push("a space axis has no unit: taken as millimetres".to_owned());
        }
        let others = (0..axes.len())
            .filter(|i| !spatial.contains(i))
            .map(|i| (axes[i].name().to_owned(), i))
            .collect();
        Ok(AxisLayout {
            ndim: axes.len(),
            spatial: [
                order.first().copied(),
                order.get(1).copied(),
                order.get(2).copied(),
            ],
            others,
            mm_per_unit,
            notes,
        })
    }

    /// Per-spatial-axis (x, y, z) scale and translation in mm from a list of transformations
    /// given per array dimension; `None` entries mean "not given".
    fn apply(
        &self,
        transforms: &[Transform],
        scale: &mut [f64; 3],
        offset: &mut [f64; 3],
        what: &str,
    ) -> Result<(), ErrorKind> {
        for t in transforms {
            let (values, is_scale) = match t {
                Transform::Scale { scale } => (scale, true),
                Transform::Translation { translation } => (translation, false),
                Transform::Identity {} => continue,
            };
            if values.len() != self.ndim {
                return Err(ErrorKind::invalid(format!(
                    "the {} of {what} has {} entries for {} axes",
                    if is_scale { "scale" } else { "translation" },
                    values.len(),
                    self.ndim
                )));
            }
            for a in 0..3 {
                let Some(dim) = self.spatial[a] else { continue };
                let v = values[dim];
                if !v.is_finite() {
                    return Err(ErrorKind::invalid(format!(
                        "{what} has a non-finite transform"
                    )));
                }
                if is_scale {
                    if v <= 0.0 {
                        return Err(ErrorKind::invalid(format!(
                            "{what} has a scale of {v}: voxel sizes must be positive"
                        )));
                    }
                    scale[a] *= v;
                    offset[a] *= v;
                } else {
                    offset[a] += v * self.mm_per_unit[a];
                }
            }
        }
        Ok(())
    }

    /// The voxel size and the position of voxel (0, 0, 0) in mm (x, y, z) of one dataset, with
    /// the image-wide transformations applied after the dataset's own.
    pub fn geometry(
        &self,
        dataset: &Dataset,
        global: &[Transform],
    ) -> Result<([f64; 3], [f64; 3]), ErrorKind> {
        let mut scale = [1.0; 3];
        let mut offset = [0.0; 3];
        let what = format!("level {:?}", dataset.path);
        self.apply(
            &dataset.coordinate_transformations,
            &mut scale,
            &mut offset,
            &what,
        )?;
        self.apply(global, &mut scale, &mut offset, "the image")?;
        let spacing = std::array::from_fn(|a| scale[a] * self.mm_per_unit[a]);
        Ok((spacing, offset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_convert_to_millimetres() {
        assert_eq!(unit_to_mm("millimeter"), Some(1.0));
        assert_eq!(unit_to_mm("micrometer"), Some(1e-3));
        assert_eq!(unit_to_mm("nanometer"), Some(1e-6));
        assert_eq!(unit_to_mm("centimeter"), Some(10.0));
        assert_eq!(unit_to_mm("meter"), Some(1000.0));
        assert_eq!(unit_to_mm("angstrom"), Some(1e-7));
        assert_eq!(unit_to_mm("kilometer"), Some(1e6));
        assert!((unit_to_mm("inch").unwrap() - 25.4).abs() < 1e-12);
        assert_eq!(unit_to_mm("furlong"), None);
    }

    fn axes(json: &str) -> Vec<Axis> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn axes_find_space_and_order_xyz() {
        let a = axes(
            r#"[{"name":"t","type":"time"},{"name":"c","type":"channel"},
                {"name":"z","type":"space","unit":"micrometer"},
                {"name":"y","type":"space","unit":"micrometer"},
                {"name":"x","type":"space","unit":"micrometer"}]"#,
        );
        let l = AxisLayout::from_axes(&a).unwrap();
        assert_eq!(l.spatial, [Some(4), Some(3), Some(2)]);
        assert_eq!(l.others.len(), 2);
        assert_eq!(l.mm_per_unit, [1e-3; 3]);
        let bare = AxisLayout::from_axes(&axes(r#"["z","y","x"]"#)).unwrap();
        assert_eq!(bare.spatial, [Some(2), Some(1), Some(0)]);
        assert_eq!(bare.notes.len(), 1, "no unit is worth a note");
        let two_d = AxisLayout::from_axes(&axes(r#"["c","y","x"]"#)).unwrap();
        assert_eq!(two_d.spatial, [Some(2), Some(1), None]);
        assert!(AxisLayout::from_axes(&axes(r#"["c","t"]"#)).is_err());
    }

    #[test]
    fn transforms_compose_dataset_then_image() {
        let l = AxisLayout::from_axes(&axes(
            r#"[{"name":"c","type":"channel"},
                {"name":"z","type":"space","unit":"micrometer"},
                {"name":"y","type":"space","unit":"micrometer"},
                {"name":"x","type":"space","unit":"micrometer"}]"#,
        ))
        .unwrap();
        let ds: Dataset = serde_json::from_str(
            r#"{"path":"1","coordinateTransformations":[
                {"type":"scale","scale":[1,4,2,2]},
                {"type":"translation","translation":[0,1.5,0.5,0.5]}]}"#,
        )
        .unwrap();
        let global = vec![Transform::Scale {
            scale: vec![1.0, 2.0, 1.0, 1.0],
        }];
        let (spacing, origin) = l.geometry(&ds, &global).unwrap();
        // z: scale 4 um then 2x globally = 8 um; translation 1.5 um doubled = 3 um.
        assert_eq!(spacing, [2e-3, 2e-3, 8e-3]);
        assert_eq!(origin, [0.5e-3, 0.5e-3, 3e-3]);
        let bad: Dataset = serde_json::from_str(
            r#"{"path":"0","coordinateTransformations":[{"type":"scale","scale":[1,0,1,1]}]}"#,
        )
        .unwrap();
        assert!(l.geometry(&bad, &[]).is_err());
        let short: Dataset = serde_json::from_str(
            r#"{"path":"0","coordinateTransformations":[{"type":"scale","scale":[1,1]}]}"#,
        )
        .unwrap();
        assert!(l.geometry(&short, &[]).is_err());
    }
}
