//! Two-dimensional transfer functions: widgets drawn on the value x |grad f| plane.
//!
//! A boundary between two materials is an arch in the joint histogram of value and |grad f|
//! (Kindlmann and Durkin): its voxels have values between the two materials' and a |grad f|
//! that peaks half way. A 1-D scalar curve times a 1-D gradient curve can only keep a rectangle
//! aligned with the axes; widgets keep any region of the plane.
//!
//! Everything here is in physical units: values in the data's units, |grad f| in data units per
//! mm by the gradient definition stored with the widgets (`gradient`), so a file means the same
//! on any axis and at any raster size. The rules, stated once:
//!
//! - **Shapes.** A `box` is 1 inside `value` x `gradient` (edges included) and 0 outside; a
//!   `falloff` of `[dv, dg]` ramps it linearly from 0 at the edges to 1 at `dv` (`dg`) inside
//!   them, so the support never leaves the box. A `triangle` (Kniss et al. 2002) has its apex
//!   on the value axis at `apex` and opens upward: at |grad f| = g its half-width is
//!   `width / 2 * g / top`, its weight a tent across, 1 on the centre line, between `bottom`
//!   and `top`. A `gaussian` is `exp(-r^2 / 2)` over `center` and `sigma` (axis-aligned),
//!   lowered so that it reaches 0 at r = 3 and is 0 beyond: a bounded support, so empty-space
//!   skipping still works, and no step at the cut.
//! - **One widget.** Its alpha is `opacity x weight`, times the 1-D scalar and gradient
//!   opacities at the sample when `curves` is `multiply` (the default), not when `ignore`;
//!   its colour is `color`, or the 1-D colour map at the sample's value when `color` is `map`.
//! - **Several.** alpha = 1 - prod(1 - alpha_w) (independent absorbers in the same segment),
//!   colour = sum(alpha_w colour_w) / sum(alpha_w): symmetric in the widgets, so their order
//!   does not matter. Disabled widgets count for nothing; when any widget is soloed, only the
//!   soloed ones count. `base: true` adds the 1-D result (colour map, scalar x gradient
//!   opacity) as one more widget everywhere; by default only the widgets are drawn.
//! - **Opacities** are per `unit_distance_mm`, like the 1-D curves: the renderer corrects the
//!   final alpha for its sample distance.
//!
//! The renderer never evaluates widgets per sample: [`Tf2d::raster`] evaluates them at the
//! centres of a table's texels (value columns linear over the data's range, |grad f| rows
//! through the axis warp) and the GPU does one bilinear lookup per sample.

use serde::{Deserialize, Serialize};

use super::TransferFunction;
use crate::gradient::Operator;

/// Raster sides allowed (each), and the most entries in all (32 MiB of half floats).
pub const RASTER_SIDES: std::ops::RangeInclusive<usize> = 16..=4096;
pub const MAX_RASTER_ENTRIES: usize = 4 << 20;
/// The log warp's constant: u = ln(1 + K t) / ln(1 + K), t = |grad f| / its maximum.
pub const LOG_WARP_K: f64 = 100.0;
/// Most widgets in one function.
pub const MAX_WIDGETS: usize = 64;

/// How the |grad f| axis of the table (and of the editor's histogram) is spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Warp {
    Linear,
    /// Rows spaced by the square root: most rows at the small |grad f| of most voxels.
    #[default]
    Sqrt,
    /// ln(1 + 100 t) / ln(101): more still at the small end.
    Log,
}

impl Warp {
    /// Position 0..1 on the axis of t = |grad f| / the axis' top, 0..1.
    pub fn forward(self, t: f64) -> f64 {
        let t = t.clamp(0.0, 1.0);
        match self {
            Warp::Linear => t,
            Warp::Sqrt => t.sqrt(),
            Warp::Log => (LOG_WARP_K * t).ln_1p() / LOG_WARP_K.ln_1p(),
        }
    }

    /// The t at axis position u (the inverse of [`Warp::forward`]).
    pub fn inverse(self, u: f64) -> f64 {
        let u = u.clamp(0.0, 1.0);
        match self {
            Warp::Linear => u,
            Warp::Sqrt => u * u,
            Warp::Log => (u * LOG_WARP_K.ln_1p()).exp_m1() / LOG_WARP_K,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Warp::Linear => "linear",
            Warp::Sqrt => "sqrt",
            Warp::Log => "log",
        }
    }

    pub const ALL: [Warp; 3] = [Warp::Linear, Warp::Sqrt, Warp::Log];
}

/// A widget's shape, in data units (value) and data units per mm (|grad f|).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Shape {
    Box {
        value: [f64; 2],
        gradient: [f64; 2],
        #[serde(default, skip_serializing_if = "is_zero2")]
        falloff: [f64; 2],
    },
    Triangle {
        apex: f64,
        top: f64,
        width: f64,
        #[serde(default, skip_serializing_if = "is_zero")]
        bottom: f64,
    },
    Gaussian {
        center: [f64; 2],
        sigma: [f64; 2],
    },
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

fn is_zero2(x: &[f64; 2]) -> bool {
    *x == [0.0, 0.0]
}

/// Where a widget takes its colour.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WidgetColor {
    Rgb([f64; 3]),
    /// `"map"`: the 1-D colour map at the sample's value.
    Named(ColorSource),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColorSource {
    Map,
}

impl Default for WidgetColor {
    fn default() -> Self {
        WidgetColor::Named(ColorSource::Map)
    }
}

/// Whether the 1-D opacities multiply a widget's alpha.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Curves {
    #[default]
    Multiply,
    Ignore,
}

/// One widget: a shape with an opacity and a colour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Widget {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub shape: Shape,
    #[serde(default = "one")]
    pub opacity: f64,
    #[serde(default)]
    pub color: WidgetColor,
    #[serde(default)]
    pub curves: Curves,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub solo: bool,
}

fn one() -> f64 {
    1.0
}

fn yes() -> bool {
    true
}

/// The widgets of a transfer function and what they were drawn against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawTf2d")]
pub struct Tf2d {
    /// The gradient definition whose |grad f| the widgets' coordinates are in.
    pub gradient: Operator,
    pub gradient_axis: Warp,
    /// `[value columns, |grad f| rows]` of the table the widgets are rasterised into.
    pub raster: [usize; 2],
    /// Draw the 1-D result everywhere as well, as one more widget.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub base: bool,
    pub widgets: Vec<Widget>,
}

/// The file's form: widgets kept as JSON until each is read, so an error can name its widget.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTf2d {
    #[serde(default)]
    gradient: Operator,
    #[serde(default)]
    gradient_axis: Warp,
    #[serde(default = "default_raster")]
    raster: [usize; 2],
    #[serde(default)]
    base: bool,
    #[serde(default)]
    widgets: Vec<serde_json::Value>,
}

pub fn default_raster() -> [usize; 2] {
    [512, 256]
}

impl TryFrom<RawTf2d> for Tf2d {
    type Error = String;

    fn try_from(raw: RawTf2d) -> Result<Tf2d, String> {
        if raw.widgets.len() > MAX_WIDGETS {
            return Err(format!(
                "tf2d has {} widgets; at most {MAX_WIDGETS} are allowed",
                raw.widgets.len()
            ));
        }
        let widgets = raw
            .widgets
            .into_iter()
            .enumerate()
            .map(|(i, w)| {
                let name = w.get("name").and_then(|n| n.as_str()).map(str::to_owned);
                serde_json::from_value::<Widget>(w)
                    .map_err(|e| format!("{}: {e}", label(i, name.as_deref().unwrap_or(""))))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Tf2d {
            gradient: raw.gradient,
            gradient_axis: raw.gradient_axis,
            raster: raw.raster,
            base: raw.base,
            widgets,
        })
    }
}

fn label(index: usize, name: &str) -> String {
    if name.is_empty() {
        format!("widget {index}")
    } else {
        format!("widget {index} ({name:?})")
    }
}

impl Default for Tf2d {
    fn default() -> Self {
        Tf2d {
            gradient: Operator::Central,
            gradient_axis: Warp::Sqrt,
            raster: default_raster(),
            base: false,
            widgets: Vec::new(),
        }
    }
}

/// Shrinks the Gaussian so that it is 0 at three sigmas.
const GAUSSIAN_CUT: f64 = 3.0;

impl Shape {
    /// The weight 0..1 at (value v, |grad f| g).
    pub fn weight(&self, v: f64, g: f64) -> f64 {
        match *self {
            Shape::Box {
                value,
                gradient,
                falloff,
            } => {
                let axis = |x: f64, [lo, hi]: [f64; 2], ramp: f64| {
                    if x < lo || x > hi {
                        0.0
                    } else if ramp > 0.0 {
                        ((x - lo).min(hi - x) / ramp).min(1.0)
                    } else {
                        1.0
                    }
                };
                axis(v, value, falloff[0]) * axis(g, gradient, falloff[1])
            }
            Shape::Triangle {
                apex,
                top,
                width,
                bottom,
            } => {
                if g < bottom || g > top {
                    return 0.0;
                }
                let half = 0.5 * width * g / top;
                if half <= 0.0 {
                    return 0.0;
                }
                (1.0 - (v - apex).abs() / half).max(0.0)
            }
            Shape::Gaussian { center, sigma } => {
                let r2 =
                    ((v - center[0]) / sigma[0]).powi(2) + ((g - center[1]) / sigma[1]).powi(2);
                let cut = (-0.5 * GAUSSIAN_CUT * GAUSSIAN_CUT).exp();
                if r2 >= GAUSSIAN_CUT * GAUSSIAN_CUT {
                    0.0
                } else {
                    ((-0.5 * r2).exp() - cut) / (1.0 - cut)
                }
            }
        }
    }

    /// `[[value min, max], [|grad f| min, max]]` outside which the weight is 0.
    pub fn support(&self) -> [[f64; 2]; 2] {
        match *self {
            Shape::Box {
                value, gradient, ..
            } => [value, gradient],
            Shape::Triangle {
                apex,
                top,
                width,
                bottom,
            } => [[apex - 0.5 * width, apex + 0.5 * width], [bottom, top]],
            Shape::Gaussian { center, sigma } => {
                let r = sigma.map(|s| GAUSSIAN_CUT * s);
                [
                    [center[0] - r[0], center[0] + r[0]],
                    [center[1] - r[1], center[1] + r[1]],
                ]
            }
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Shape::Box { .. } => "box",
            Shape::Triangle { .. } => "triangle",
            Shape::Gaussian { .. } => "gaussian",
        }
    }

    /// Moves the shape by `dv` in value and `dg` in |grad f| (a triangle's apex stays on the
    /// value axis: it moves along it and grows or shrinks with `dg`).
    pub fn translate(&mut self, dv: f64, dg: f64) {
        match self {
            Shape::Box {
                value, gradient, ..
            } => {
                let dg = dg.max(-gradient[0]);
                *value = value.map(|x| x + dv);
                *gradient = gradient.map(|x| x + dg);
            }
            Shape::Triangle { apex, top, .. } => {
                *apex += dv;
                *top = (*top + dg).max(1e-9);
            }
            Shape::Gaussian { center, .. } => {
                center[0] += dv;
                center[1] = (center[1] + dg).max(0.0);
            }
        }
    }

    fn check(&self) -> Result<(), String> {
        let numbers: Vec<f64> = match *self {
            Shape::Box {
                value,
                gradient,
                falloff,
            } => [value, gradient, falloff].concat(),
            Shape::Triangle {
                apex,
                top,
                width,
                bottom,
            } => vec![apex, top, width, bottom],
            Shape::Gaussian { center, sigma } => [center, sigma].concat(),
        };
        if numbers.iter().any(|x| !x.is_finite()) {
            return Err(format!("{} has a number that is not finite", self.kind()));
        }
        match *self {
            Shape::Box {
                value,
                gradient,
                falloff,
            } => {
                if value[0] > value[1] {
                    return Err(format!("box value min {} > max {}", value[0], value[1]));
                }
                if gradient[0] > gradient[1] {
                    return Err(format!(
                        "box |grad f| min {} > max {}",
                        gradient[0], gradient[1]
                    ));
                }
                if gradient[0] < 0.0 {
                    return Err(format!("box |grad f| min {} < 0", gradient[0]));
                }
                if falloff.iter().any(|f| *f < 0.0) {
                    return Err("box falloff must be >= 0".into());
                }
            }
            Shape::Triangle {
                top, width, bottom, ..
            } => {
                if top <= 0.0 || width <= 0.0 {
                    return Err(format!(
                        "triangle top ({top}) and width ({width}) must be > 0"
                    ));
                }
                if !(0.0..top).contains(&bottom) {
                    return Err(format!(
                        "triangle bottom {bottom} must be in 0..top ({top})"
                    ));
                }
            }
            Shape::Gaussian { sigma, .. } => {
                if sigma.iter().any(|s| *s <= 0.0) {
                    return Err(format!(
                        "gaussian sigma [{}, {}] must be > 0",
                        sigma[0], sigma[1]
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Widget {
    /// A new widget of `shape`: opacity 1, colour from the map, the curves multiplied in.
    pub fn new(shape: Shape) -> Widget {
        Widget {
            name: String::new(),
            shape,
            opacity: 1.0,
            color: WidgetColor::default(),
            curves: Curves::Multiply,
            enabled: true,
            solo: false,
        }
    }

    fn check(&self) -> Result<(), String> {
        self.shape.check()?;
        if !(0.0..=1.0).contains(&self.opacity) {
            return Err(format!("opacity {} outside 0..1", self.opacity));
        }
        if let WidgetColor::Rgb(c) = self.color
            && c.iter().any(|x| !(0.0..=1.0).contains(x))
        {
            return Err("colour components must be in 0..1".into());
        }
        Ok(())
    }
}

impl Tf2d {
    /// Checks the raster and every widget; the error names the widget.
    pub fn validate(&self) -> Result<(), String> {
        let [c, r] = self.raster;
        if !RASTER_SIDES.contains(&c) || !RASTER_SIDES.contains(&r) || c * r > MAX_RASTER_ENTRIES {
            return Err(format!(
                "tf2d raster {c}x{r}: each side must be {}..{} and the whole at most {} entries",
                RASTER_SIDES.start(),
                RASTER_SIDES.end(),
                MAX_RASTER_ENTRIES
            ));
        }
        if let Operator::Gaussian { sigma_mm } = self.gradient
            && !(sigma_mm.is_finite() && sigma_mm > 0.0)
        {
            return Err(format!("tf2d gradient sigma_mm {sigma_mm} must be > 0"));
        }
        if self.widgets.len() > MAX_WIDGETS {
            return Err(format!("at most {MAX_WIDGETS} widgets are allowed"));
        }
        for (i, w) in self.widgets.iter().enumerate() {
            w.check()
                .map_err(|e| format!("{}: {e}", label(i, &w.name)))?;
        }
        Ok(())
    }

    /// The widgets that count: the enabled ones, or the soloed ones when any is soloed; in a
    /// fixed order whatever the file's, so that sums round the same way.
    pub fn active(&self) -> Vec<&Widget> {
        let solo = self.widgets.iter().any(|w| w.enabled && w.solo);
        let mut active: Vec<&Widget> = self
            .widgets
            .iter()
            .filter(|w| w.enabled && (!solo || w.solo))
            .collect();
        active.sort_by_cached_key(|w| serde_json::to_string(w).unwrap_or_default());
        active
    }
}

/// [`TransferFunction::rgba_at`] with the active widgets found once, for evaluating many
/// samples (a table's texels, a chart's pixels).
#[derive(Debug)]
pub struct Evaluator<'a> {
    tf: &'a TransferFunction,
    /// `None` for a function without widgets (its curves alone).
    widgets: Option<(bool, Vec<&'a Widget>)>,
}

impl<'a> Evaluator<'a> {
    pub fn new(tf: &'a TransferFunction) -> Evaluator<'a> {
        Evaluator {
            tf,
            widgets: tf.widgets().map(|t| (t.base, t.active())),
        }
    }

    /// See [`TransferFunction::rgba_at`].
    pub fn rgba_at(&self, v: f64, g: f64) -> [f64; 4] {
        let base = self.tf.scalar_rgba(v);
        let curves = base[3] * self.tf.gradient_alpha(g);
        let Some((with_base, active)) = &self.widgets else {
            return [base[0], base[1], base[2], curves];
        };
        let mut transmitted = 1.0;
        let mut weight = 0.0;
        let mut colour = [0.0; 3];
        let mut add = |alpha: f64, c: [f64; 3]| {
            if alpha > 0.0 {
                transmitted *= 1.0 - alpha;
                weight += alpha;
                for k in 0..3 {
                    colour[k] += alpha * c[k];
                }
            }
        };
        if *with_base {
            add(curves, [base[0], base[1], base[2]]);
        }
        for w in active {
            let mut alpha = w.opacity * w.shape.weight(v, g);
            if alpha <= 0.0 {
                continue;
            }
            if w.curves == Curves::Multiply {
                alpha *= curves;
            }
            let c = match w.color {
                WidgetColor::Rgb(c) => c,
                WidgetColor::Named(ColorSource::Map) => [base[0], base[1], base[2]],
            };
            add(alpha.clamp(0.0, 1.0), c);
        }
        if weight <= 0.0 {
            return [0.0; 4];
        }
        let [r, gr, b] = colour.map(|c| c / weight);
        [r, gr, b, 1.0 - transmitted]
    }
}

impl TransferFunction {
    /// The widgets, when the function has any: then it is drawn by them (see the module
    /// docs), else by the 1-D curves alone.
    pub fn widgets(&self) -> Option<&Tf2d> {
        self.tf2d.as_ref().filter(|t| !t.widgets.is_empty())
    }

    /// `[r, g, b, alpha]` of a sample of value `v` and |grad f| `g` (data units per mm), alpha
    /// per unit distance: the oracle the tables are checked against.
    pub fn rgba_at(&self, v: f64, g: f64) -> [f64; 4] {
        Evaluator::new(self).rgba_at(v, g)
    }

    /// Whether every sample with a value in `[a, b]` is transparent, whatever its |grad f|
    /// (conservative: `false` when unsure).
    pub fn transparent_over(&self, range: [f64; 2]) -> bool {
        let Some(t) = self.widgets() else {
            return self.scalar_transparent_over(range);
        };
        if t.base && !self.scalar_transparent_over(range) {
            return false;
        }
        t.active().iter().all(|w| {
            let [[lo, hi], _] = w.shape.support();
            let (a, b) = (range[0].max(lo), range[1].min(hi));
            a > b
                || w.opacity == 0.0
                || (w.curves == Curves::Multiply && self.scalar_transparent_over([a, b]))
        })
    }
}

/// Triangles on the largest boundaries Kindlmann and Durkin's statistics find (at most
/// `count`): `table` is [`crate::gradient::boundary::BoundaryEmphasis::table`] (per value bin:
/// centre value, mean |grad f|, mean second derivative, voxel count) and `emphasis` its
/// `scalar_opacity` (1 at a boundary's centre, 0 away from boundaries). Each run of bins with
/// emphasis is one boundary, ranked by its voxels times their mean |grad f|; its triangle has
/// its apex at the run's peak, reaches to 1.5 x the peak's mean |grad f| and, at that mean, is
/// as wide as the run; below a fifth of the mean it keeps nothing (noise in uniform regions).
pub fn boundary_triangles(table: &[[f64; 4]], emphasis: &[[f64; 2]], count: usize) -> Vec<Widget> {
    let mut runs: Vec<(f64, usize, usize)> = Vec::new(); // (score, first, last)
    let mut k = 0;
    while k < emphasis.len().min(table.len()) {
        if emphasis[k][1] <= 0.0 {
            k += 1;
            continue;
        }
        let first = k;
        let mut score = 0.0;
        while k < emphasis.len().min(table.len()) && emphasis[k][1] > 0.0 {
            score += table[k][3] * table[k][1];
            k += 1;
        }
        runs.push((score, first, k - 1));
    }
    runs.sort_by(|a, b| b.0.total_cmp(&a.0));
    runs.iter()
        .take(count)
        .filter_map(|&(_, first, last)| {
            let peak = (first..=last).max_by(|&a, &b| emphasis[a][1].total_cmp(&emphasis[b][1]))?;
            let apex = table[peak][0];
            let g = table[peak][1];
            if g <= 0.0 {
                return None;
            }
            let half = (table[last][0] - apex).max(apex - table[first][0]);
            let bin = if table.len() > 1 {
                table[1][0] - table[0][0]
            } else {
                1.0
            };
            let top = 1.5 * g;
            let mut w = Widget::new(Shape::Triangle {
                apex,
                top,
                width: 2.0 * half.max(bin) * top / g,
                bottom: 0.2 * g,
            });
            w.name = format!("boundary at {apex:.4}");
            Some(w)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tf(widgets: Vec<Widget>) -> TransferFunction {
        let mut tf = TransferFunction::from_json(
            r#"{"scalar_opacity": [[0, 0], [100, 1]], "color": [[0, 1, 0, 0], [100, 0, 0, 1]],
                "gradient_opacity": [[0, 0], [10, 1]]}"#,
        )
        .unwrap();
        tf.tf2d = Some(Tf2d {
            widgets,
            ..Tf2d::default()
        });
        tf
    }

    fn boxed(value: [f64; 2], gradient: [f64; 2]) -> Widget {
        Widget::new(Shape::Box {
            value,
            gradient,
            falloff: [0.0; 2],
        })
    }

    #[test]
    fn a_hard_box_is_one_inside_with_its_edges_and_zero_outside() {
        let b = boxed([10.0, 20.0], [1.0, 2.0]).shape;
        assert_eq!(b.weight(10.0, 1.0), 1.0);
        assert_eq!(b.weight(20.0, 2.0), 1.0);
        assert_eq!(b.weight(9.999, 1.5), 0.0);
        assert_eq!(b.weight(15.0, 2.001), 0.0);
        let soft = Shape::Box {
            value: [10.0, 20.0],
            gradient: [0.0, 100.0],
            falloff: [2.0, 0.0],
        };
        assert_eq!(soft.weight(11.0, 5.0), 0.5);
        assert_eq!(soft.weight(15.0, 5.0), 1.0);
        assert_eq!(soft.weight(10.0, 5.0), 0.0);
    }

    #[test]
    fn a_triangle_opens_upward_from_its_apex_with_a_tent_across() {
        let t = Shape::Triangle {
            apex: 50.0,
            top: 10.0,
            width: 20.0,
            bottom: 1.0,
        };
        assert_eq!(t.weight(50.0, 5.0), 1.0);
        // Half-width 5 at g = 5: 2.5 from the centre is half way.
        assert_eq!(t.weight(52.5, 5.0), 0.5);
        assert_eq!(t.weight(55.0, 5.0), 0.0);
        assert_eq!(t.weight(50.0, 0.5), 0.0, "below bottom");
        assert_eq!(t.weight(50.0, 10.5), 0.0, "above top");
        assert_eq!(t.support(), [[40.0, 60.0], [1.0, 10.0]]);
    }

    #[test]
    fn a_gaussian_reaches_zero_at_three_sigmas_without_a_step() {
        let g = Shape::Gaussian {
            center: [0.0, 5.0],
            sigma: [2.0, 1.0],
        };
        assert_eq!(g.weight(0.0, 5.0), 1.0);
        assert_eq!(g.weight(6.0, 5.0), 0.0);
        assert!(g.weight(5.99, 5.0) < 1e-3);
        let one_sigma = ((-0.5f64).exp() - (-4.5f64).exp()) / (1.0 - (-4.5f64).exp());
        assert!((g.weight(2.0, 5.0) - one_sigma).abs() < 1e-12);
    }

    #[test]
    fn widgets_combine_the_same_in_any_order() {
        let mut a = boxed([0.0, 60.0], [0.0, 100.0]);
        a.color = WidgetColor::Rgb([1.0, 0.0, 0.0]);
        a.opacity = 0.5;
        a.curves = Curves::Ignore;
        let mut b = boxed([40.0, 100.0], [5.0, 100.0]);
        b.color = WidgetColor::Rgb([0.0, 0.0, 1.0]);
        b.opacity = 0.25;
        b.curves = Curves::Ignore;
        let ab = tf(vec![a.clone(), b.clone()]);
        let ba = tf(vec![b, a]);
        let got = ab.rgba_at(50.0, 10.0);
        assert_eq!(got, ba.rgba_at(50.0, 10.0));
        // 1 - 0.5 x 0.75; colour weighted 0.5 : 0.25.
        assert_eq!(got, [2.0 / 3.0, 0.0, 1.0 / 3.0, 0.625]);
        assert_eq!(ab.rgba_at(20.0, 10.0), [1.0, 0.0, 0.0, 0.5]);
        assert_eq!(ab.rgba_at(20.0, 200.0), [0.0; 4]);
    }

    #[test]
    fn the_curves_multiply_in_and_the_map_colours_by_default() {
        let t = tf(vec![boxed([-1e9, 1e9], [0.0, 1e9])]);
        for (v, g) in [(50.0, 5.0), (80.0, 20.0), (10.0, 0.0)] {
            let mut one_d = t.clone();
            one_d.tf2d = None;
            let want = one_d.rgba_at(v, g);
            let got = t.rgba_at(v, g);
            if want[3] > 0.0 {
                assert!(
                    (0..4).all(|k| (got[k] - want[k]).abs() < 1e-12),
                    "{got:?} {want:?}"
                );
            } else {
                assert_eq!(got[3], 0.0);
            }
        }
    }

    #[test]
    fn solo_and_disabled_widgets_and_the_base_layer() {
        let mut a = boxed([0.0, 30.0], [0.0, 100.0]);
        a.curves = Curves::Ignore;
        let mut b = boxed([70.0, 100.0], [0.0, 100.0]);
        b.curves = Curves::Ignore;
        b.solo = true;
        let t = tf(vec![a.clone(), b.clone()]);
        assert_eq!(t.rgba_at(20.0, 1.0)[3], 0.0, "a is not soloed");
        assert_eq!(t.rgba_at(80.0, 1.0)[3], 1.0);
        b.solo = false;
        b.enabled = false;
        let mut t = tf(vec![a, b]);
        assert_eq!(t.rgba_at(80.0, 1.0)[3], 0.0, "b is disabled");
        assert!(t.transparent_over([40.0, 100.0]));
        assert!(!t.transparent_over([20.0, 40.0]));
        t.tf2d.as_mut().unwrap().base = true;
        // The 1-D result at (50, 20): alpha 0.5 x 1.
        assert_eq!(t.rgba_at(50.0, 20.0)[3], 0.5);
        assert!(!t.transparent_over([40.0, 60.0]));
    }

    #[test]
    fn warps_invert() {
        for w in Warp::ALL {
            for t in [0.0, 0.001, 0.25, 0.5, 1.0] {
                assert!((w.inverse(w.forward(t)) - t).abs() < 1e-12, "{w:?} {t}");
            }
        }
        assert!(Warp::Log.forward(0.01) > Warp::Sqrt.forward(0.01) * 0.9);
    }

    #[test]
    fn bad_widgets_are_refused_by_name() {
        let text = |w: &str| {
            format!(
                r#"{{"scalar_opacity": [[0, 1]], "color": [[0, 1, 1, 1]], "tf2d": {{"widgets": [{w}]}}}}"#
            )
        };
        let err = |w: &str| TransferFunction::from_json(&text(w)).unwrap_err();
        let e = err(r#"{"name": "x", "shape": {"kind": "blob"}}"#);
        assert!(e.contains("widget 0 (\"x\")") && e.contains("blob"), "{e}");
        let e = err(r#"{"shape": {"kind": "box", "value": [5, 1], "gradient": [0, 1]}}"#);
        assert!(e.contains("widget 0") && e.contains("min 5 > max 1"), "{e}");
        let e = err(r#"{"shape": {"kind": "triangle", "apex": 1, "top": 0, "width": 3}}"#);
        assert!(e.contains("top"), "{e}");
        let e =
            err(r#"{"shape": {"kind": "box", "value": [0, 1], "gradient": [0, 1]}, "opacity": 2}"#);
        assert!(e.contains("opacity"), "{e}");
        // NaN is not JSON; a huge number is finite but the raster sizes are bounded.
        assert!(
            TransferFunction::from_json(&text(
                r#"{"shape": {"kind": "box", "value": [0, NaN], "gradient": [0, 1]}}"#
            ))
            .is_err()
        );
        for raster in ["[0, 256]", "[1000000, 256]", "[4096, 4096]"] {
            let t = format!(
                r#"{{"scalar_opacity": [[0, 1]], "color": [[0, 1, 1, 1]], "tf2d": {{"raster": {raster}, "widgets": []}}}}"#
            );
            let e = TransferFunction::from_json(&t).unwrap_err();
            assert!(e.contains("raster"), "{e}");
        }
    }

    #[test]
    fn files_round_trip() {
        let mut w = Widget::new(Shape::Triangle {
            apex: 300.0,
            top: 400.0,
            width: 600.0,
            bottom: 20.0,
        });
        w.name = "bone".into();
        w.color = WidgetColor::Rgb([1.0, 0.9, 0.8]);
        let t = tf(vec![w, boxed([0.0, 1.0], [0.0, 2.0])]);
        let text = serde_json::to_string_pretty(&t).unwrap();
        assert_eq!(TransferFunction::from_json(&text).unwrap(), t);
        assert!(text.contains("\"kind\": \"triangle\""), "{text}");
    }
}
