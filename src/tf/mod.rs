//! Transfer functions: what colour and opacity each sample gets, as plain data.
//!
//! A [`TransferFunction`] is the JSON users edit and presets ship: piecewise-linear curves over
//! the data's values (colour, scalar opacity) and over |grad f| in data units per mm (gradient
//! opacity), shading parameters and the opacity unit distance. The renderer never sees the
//! curves: it sees [`Lut`]s baked from them, so a TF edit costs a small texture upload.

pub mod presets;
pub mod tf2d;

use serde::{Deserialize, Serialize};

use tf2d::Tf2d;

/// Entries in the baked colour / scalar-opacity table.
pub const SCALAR_LUT_SIZE: usize = 2048;
/// Entries in the baked gradient-opacity table.
pub const GRADIENT_LUT_SIZE: usize = 1024;

/// Why a transfer function was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TfError {
    #[error("{0} has no points")]
    Empty(&'static str),
    #[error("{curve} point {index} has a value that is not a finite number")]
    NotFinite { curve: &'static str, index: usize },
    #[error("{curve} points must be in increasing order of value, but point {index} goes back")]
    NotMonotone { curve: &'static str, index: usize },
    #[error("{curve} point {index} has {what} {value} outside 0..1")]
    OutOfRange {
        curve: &'static str,
        index: usize,
        what: &'static str,
        value: f64,
    },
    #[error("{0} must be a finite number >= 0")]
    BadShading(&'static str),
    #[error("unit_distance_mm must be a positive number, not {0}")]
    BadUnitDistance(f64),
    #[error("{0}")]
    Widgets(String),
}

/// Phong shading parameters, as in VTK's volume property.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Shading {
    /// Shading on or off (Slicer's presets write 0 or 1).
    #[serde(deserialize_with = "bool_or_number")]
    pub shade: bool,
    pub ambient: f64,
    pub diffuse: f64,
    pub specular: f64,
    pub specular_power: f64,
}

impl Default for Shading {
    fn default() -> Self {
        Shading {
            shade: true,
            ambient: 0.1,
            diffuse: 0.9,
            specular: 0.2,
            specular_power: 10.0,
        }
    }
}

fn bool_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Number(f64),
    }
    Ok(match Flag::deserialize(d)? {
        Flag::Bool(b) => b,
        Flag::Number(n) => n != 0.0,
    })
}

/// A transfer function in the JSON form of `assets/presets/slicer.json`, plus the opacity unit
/// distance. Opacities are per `unit_distance_mm` of ray (Slicer's presets mean per 1 mm).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferFunction {
    /// `[value, alpha]` points over the data's values.
    pub scalar_opacity: Vec<[f64; 2]>,
    /// `[value, r, g, b]` points, components in 0..1.
    pub color: Vec<[f64; 4]>,
    /// `[|grad f| in data units per mm, alpha]` points; `[[0, 1]]` turns gradient opacity off.
    #[serde(default = "flat_gradient")]
    pub gradient_opacity: Vec<[f64; 2]>,
    #[serde(default)]
    pub shading: Shading,
    #[serde(default = "one_mm")]
    pub unit_distance_mm: f64,
    /// Kept from Slicer's preset files; informational only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_range: Option<[f64; 2]>,
    /// Kept from Slicer's preset files; only linear interpolation exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpolation: Option<String>,
    /// Widgets on the value x |grad f| plane (see [`tf2d`]); with any, they decide what is
    /// drawn and the curves above are their base.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tf2d: Option<Tf2d>,
}

fn flat_gradient() -> Vec<[f64; 2]> {
    vec![[0.0, 1.0]]
}

fn one_mm() -> f64 {
    1.0
}

impl TransferFunction {
    /// Parses and validates a TF from JSON text.
    pub fn from_json(text: &str) -> Result<TransferFunction, String> {
        let tf: TransferFunction = serde_json::from_str(text).map_err(|e| e.to_string())?;
        tf.validate().map_err(|e| e.to_string())?;
        Ok(tf)
    }

    /// Checks every point: finite, in increasing order of value, alphas and colours in 0..1.
    pub fn validate(&self) -> Result<(), TfError> {
        check_curve("scalar_opacity", self.scalar_opacity.iter().map(|p| &p[..]))?;
        check_curve("color", self.color.iter().map(|p| &p[..]))?;
        check_curve(
            "gradient_opacity",
            self.gradient_opacity.iter().map(|p| &p[..]),
        )?;
        let s = &self.shading;
        for (name, v) in [
            ("shading.ambient", s.ambient),
            ("shading.diffuse", s.diffuse),
            ("shading.specular", s.specular),
            ("shading.specular_power", s.specular_power),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(TfError::BadShading(name));
            }
        }
        if !(self.unit_distance_mm.is_finite() && self.unit_distance_mm > 0.0) {
            return Err(TfError::BadUnitDistance(self.unit_distance_mm));
        }
        if let Some(t) = &self.tf2d {
            t.validate().map_err(TfError::Widgets)?;
        }
        Ok(())
    }

    /// True when gradient opacity has no effect: every point has alpha 1 and no widget is
    /// drawn on |grad f|.
    pub fn gradient_is_flat(&self) -> bool {
        self.widgets().is_none() && self.gradient_opacity.iter().all(|p| p[1] == 1.0)
    }

    /// The colour and scalar opacity at `value`: `[r, g, b, alpha]`.
    pub fn scalar_rgba(&self, value: f64) -> [f64; 4] {
        let alpha = piecewise(&self.scalar_opacity, value, |p| p[1]);
        let [r, g, b] = [1, 2, 3].map(|i| piecewise(&self.color, value, |p: &[f64; 4]| p[i]));
        [r, g, b, alpha]
    }

    /// Whether the scalar opacity is zero over all of `[a, b]`.
    pub fn scalar_transparent_over(&self, [a, b]: [f64; 2]) -> bool {
        let zero = |v: f64| piecewise(&self.scalar_opacity, v, |p| p[1]) == 0.0;
        zero(a)
            && zero(b)
            && self
                .scalar_opacity
                .iter()
                .all(|p| p[0] < a || p[0] > b || p[1] == 0.0)
    }

    /// The gradient opacity at |grad f| = `g` (data units per mm).
    pub fn gradient_alpha(&self, g: f64) -> f64 {
        piecewise(&self.gradient_opacity, g, |p| p[1])
    }

    /// Bakes the curves into tables the renderer samples, each over its curve's points.
    pub fn bake(&self) -> Luts {
        self.bake_within([f64::NEG_INFINITY, f64::INFINITY], [0.0, f64::INFINITY])
    }

    /// Bakes the curves over the part of their points' span that the data reaches (`values`
    /// and `gradients`, each `[min, max]`), so the entries are spent where samples fall; the
    /// curves are flat beyond their points and the data never goes beyond its range.
    pub fn bake_within(&self, values: [f64; 2], gradients: [f64; 2]) -> Luts {
        let scalar = self.scalar_lut_within(values);
        let g_lo = self.gradient_opacity[0][0];
        let g_hi = self.gradient_opacity[self.gradient_opacity.len() - 1][0];
        let [g_lo, g_hi] = within([g_lo, g_hi], gradients);
        let gradient = Lut::sample(g_lo, g_hi, GRADIENT_LUT_SIZE, |g| {
            [self.gradient_alpha(g) as f32, 0.0, 0.0, 0.0]
        });
        Luts { scalar, gradient }
    }

    /// The colour and scalar-opacity table of [`TransferFunction::bake_within`] alone.
    pub fn scalar_lut_within(&self, values: [f64; 2]) -> Lut {
        let lo = self.scalar_opacity[0][0].min(self.color[0][0]);
        let hi = self.scalar_opacity[self.scalar_opacity.len() - 1][0]
            .max(self.color[self.color.len() - 1][0]);
        let [lo, hi] = within([lo, hi], values);
        Lut::sample(lo, hi, SCALAR_LUT_SIZE, |v| {
            self.scalar_rgba(v).map(|c| c as f32)
        })
    }
}

/// The part of `span` inside `data`; `data` itself when they do not meet (the curve is flat
/// there), and `span` when `data` is not a finite range.
fn within(span: [f64; 2], data: [f64; 2]) -> [f64; 2] {
    let lo = span[0].max(data[0]);
    let hi = span[1].min(data[1]);
    if lo <= hi {
        [lo, hi]
    } else if data.iter().all(|d| d.is_finite()) {
        data
    } else {
        span
    }
}

fn check_curve<'a>(
    curve: &'static str,
    points: impl Iterator<Item = &'a [f64]>,
) -> Result<(), TfError> {
    let mut previous = f64::NEG_INFINITY;
    let mut count = 0;
    for (index, p) in points.enumerate() {
        count += 1;
        if p.iter().any(|v| !v.is_finite()) {
            return Err(TfError::NotFinite { curve, index });
        }
        if p[0] < previous {
            return Err(TfError::NotMonotone { curve, index });
        }
        previous = p[0];
        let what = if curve == "color" {
            "a colour"
        } else {
            "alpha"
        };
        if let Some(&value) = p[1..].iter().find(|v| !(0.0..=1.0).contains(*v)) {
            return Err(TfError::OutOfRange {
                curve,
                index,
                what,
                value,
            });
        }
    }
    if count == 0 {
        return Err(TfError::Empty(curve));
    }
    Ok(())
}

/// Linear interpolation between `points` (sorted by their first component), held flat beyond
/// the ends. Where two points share a value the curve steps there; the later point wins at it.
fn piecewise<P>(points: &[P], x: f64, y: impl Fn(&P) -> f64) -> f64
where
    P: AsRef<[f64]>,
{
    let key = |p: &P| p.as_ref()[0];
    let after = points.partition_point(|p| key(p) <= x);
    if after == 0 {
        return y(&points[0]);
    }
    if after == points.len() {
        return y(&points[points.len() - 1]);
    }
    let (a, b) = (&points[after - 1], &points[after]);
    let t = (x - key(a)) / (key(b) - key(a));
    y(a) + t * (y(b) - y(a))
}

/// A table of `[f32; 4]` entries sampled evenly from `lo` (entry 0) to `hi` (the last entry);
/// lookups interpolate linearly between entries and clamp beyond the ends.
#[derive(Debug, Clone, PartialEq)]
pub struct Lut {
    pub lo: f64,
    pub hi: f64,
    pub entries: Vec<[f32; 4]>,
}

impl Lut {
    fn sample(lo: f64, hi: f64, size: usize, f: impl Fn(f64) -> [f32; 4]) -> Lut {
        let entries = (0..size)
            .map(|i| f(lo + (hi - lo) * i as f64 / (size - 1) as f64))
            .collect();
        Lut { lo, hi, entries }
    }

    /// `(lo, scale)` with entry position = (x - lo) * scale.
    pub fn mapping_f64(&self) -> [f64; 2] {
        let span = self.hi - self.lo;
        let scale = if span > 0.0 {
            (self.entries.len() - 1) as f64 / span
        } else {
            0.0
        };
        [self.lo, scale]
    }

    /// The interpolated entry at `x`, in the table's own units.
    pub fn lookup(&self, x: f32) -> [f32; 4] {
        let [lo, scale] = self.mapping_f64();
        self.lookup_mapped(x, [scale as f32, (-lo * scale) as f32])
    }

    /// The interpolated entry at position `x * scale + offset`, clamped to the table, computed
    /// exactly as `raymarch.wgsl` does.
    pub fn lookup_mapped(&self, x: f32, [scale, offset]: [f32; 2]) -> [f32; 4] {
        let last = (self.entries.len() - 1) as f32;
        let pos = (x * scale + offset).clamp(0.0, last);
        let i = pos.floor().min(last - 1.0).max(0.0);
        let t = pos - i;
        let a = self.entries[i as usize];
        let b = self.entries[(i as usize + 1).min(self.entries.len() - 1)];
        [0, 1, 2, 3].map(|k| a[k] + (b[k] - a[k]) * t)
    }
}

/// The tables baked from one transfer function.
#[derive(Debug, Clone, PartialEq)]
pub struct Luts {
    /// `[r, g, b, alpha]` over the data's values.
    pub scalar: Lut,
    /// Gradient opacity in the first component, over |grad f|.
    pub gradient: Lut,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tf() -> TransferFunction {
        TransferFunction {
            scalar_opacity: vec![[0.0, 0.0], [100.0, 1.0]],
            color: vec![[0.0, 1.0, 0.0, 0.0], [100.0, 0.0, 0.0, 1.0]],
            gradient_opacity: vec![[0.0, 0.0], [10.0, 1.0]],
            shading: Shading::default(),
            unit_distance_mm: 1.0,
            effective_range: None,
            interpolation: None,
            tf2d: None,
        }
    }

    #[test]
    fn piecewise_curves_interpolate_and_hold_their_ends() {
        let tf = tf();
        assert_eq!(tf.scalar_rgba(50.0), [0.5, 0.0, 0.5, 0.5]);
        assert_eq!(tf.scalar_rgba(-5.0), [1.0, 0.0, 0.0, 0.0]);
        assert_eq!(tf.scalar_rgba(500.0), [0.0, 0.0, 1.0, 1.0]);
        assert_eq!(tf.gradient_alpha(2.5), 0.25);
        let step = vec![[0.0, 0.0], [5.0, 0.0], [5.0, 1.0], [9.0, 1.0]];
        assert_eq!(piecewise(&step, 4.999, |p| p[1]), 0.0);
        assert_eq!(piecewise(&step, 5.0, |p| p[1]), 1.0);
    }

    #[test]
    fn transparency_over_a_range_sees_every_point_inside_it() {
        let tf = TransferFunction {
            scalar_opacity: vec![[0.0, 0.0], [100.0, 0.0], [150.0, 0.6], [200.0, 0.0]],
            ..tf()
        };
        assert!(tf.transparent_over([-50.0, 100.0]));
        assert!(!tf.transparent_over([-50.0, 100.5]));
        assert!(!tf.transparent_over([140.0, 160.0]), "a peak inside");
        assert!(!tf.transparent_over([120.0, 180.0]));
        assert!(tf.transparent_over([200.0, 1e9]));
        assert!(
            !tf.transparent_over([10.0, 300.0]),
            "a peak between the ends"
        );
    }

    #[test]
    fn baked_tables_match_the_curves_between_entries() {
        let tf = tf();
        let luts = tf.bake();
        for v in [0.0f32, 12.3, 50.0, 99.9, 100.0, -7.0, 1e6] {
            let got = luts.scalar.lookup(v);
            let want = tf.scalar_rgba(v as f64);
            for k in 0..4 {
                assert!(
                    (got[k] as f64 - want[k]).abs() < 1e-5,
                    "{v}: {got:?} vs {want:?}"
                );
            }
        }
        assert!((luts.gradient.lookup(2.5)[0] - 0.25).abs() < 1e-6);
    }

    #[test]
    fn tables_baked_within_the_data_keep_the_curves_and_gain_resolution() {
        let tf = tf();
        let luts = tf.bake_within([40.0, 60.0], [0.0, 5.0]);
        assert_eq!([luts.scalar.lo, luts.scalar.hi], [40.0, 60.0]);
        assert_eq!([luts.gradient.lo, luts.gradient.hi], [0.0, 5.0]);
        assert!((luts.scalar.lookup(50.0)[3] - 0.5).abs() < 1e-6);
        // Data outside the curve's points: a flat table over the data.
        let outside = tf.bake_within([200.0, 300.0], [20.0, 30.0]);
        assert_eq!(outside.scalar.lookup(250.0), [0.0, 0.0, 1.0, 1.0]);
        assert_eq!(outside.gradient.lookup(25.0)[0], 1.0);
    }

    #[test]
    fn bad_curves_are_refused_with_the_point_named() {
        let mut t = tf();
        t.scalar_opacity = vec![[10.0, 0.0], [5.0, 1.0]];
        assert_eq!(
            t.validate(),
            Err(TfError::NotMonotone {
                curve: "scalar_opacity",
                index: 1
            })
        );
        let mut t = tf();
        t.gradient_opacity[1][1] = 1.5;
        assert!(matches!(t.validate(), Err(TfError::OutOfRange { .. })));
        let mut t = tf();
        t.color[0][2] = f64::NAN;
        assert!(matches!(t.validate(), Err(TfError::NotFinite { .. })));
        let mut t = tf();
        t.scalar_opacity.clear();
        assert_eq!(t.validate(), Err(TfError::Empty("scalar_opacity")));
        assert!(TransferFunction::from_json(r#"{"scalar_opacity": [[0, NaN]]}"#).is_err());
        assert!(
            TransferFunction::from_json(
                "{\"scalar_opacity\": [[0, 1]], \"color\": [[0, 1, 1, 1]], \"unit_distance_mm\": 0}"
            )
            .is_err()
        );
    }

    #[test]
    fn slicer_shading_flags_read_as_numbers_or_booleans() {
        let a: Shading = serde_json::from_str(r#"{"shade": 0}"#).unwrap();
        let b: Shading = serde_json::from_str(r#"{"shade": true, "ambient": 0.3}"#).unwrap();
        assert!(!a.shade);
        assert!(b.shade && b.ambient == 0.3 && b.diffuse == 0.9);
    }
}
