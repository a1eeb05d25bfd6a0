//! The points of a transfer function's three curves as the editor sees them: which curve and
//! index, the charts' ranges, and moving, inserting and removing points so that the curves
//! stay valid (a point stays between its neighbours; the last one of a curve stays).

use crate::tf::TransferFunction;
use crate::viewer::editor::Histogram;

/// One of the three curves of a transfer function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    Opacity,
    Color,
    Gradient,
}

/// A point of one curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    pub curve: Curve,
    pub index: usize,
}

impl Point {
    pub fn opacity(index: usize) -> Point {
        Point {
            curve: Curve::Opacity,
            index,
        }
    }

    pub fn color(index: usize) -> Point {
        Point {
            curve: Curve::Color,
            index,
        }
    }

    pub fn gradient(index: usize) -> Point {
        Point {
            curve: Curve::Gradient,
            index,
        }
    }
}

/// The value chart spans the data's values and every point of the curves.
pub fn value_range(tf: &TransferFunction, values: &Histogram) -> [f64; 2] {
    let xs = tf
        .scalar_opacity
        .iter()
        .map(|p| p[0])
        .chain(tf.color.iter().map(|p| p[0]));
    widen(values.range, xs)
}

/// The gradient chart starts at 0 and spans the histogram (which ends at the 99.9th
/// percentile) with some room, and the curve's points up to four times that: presets often end
/// with a point far beyond any real gradient, which would squash the chart. Such points are
/// drawn at the right edge and can still be typed.
pub fn gradient_range(tf: &TransferFunction, gradients: &Histogram) -> [f64; 2] {
    let top = gradients.range[1] * 1.25;
    let near = tf
        .gradient_opacity
        .iter()
        .map(|p| p[0])
        .filter(|&x| top <= 0.0 || x <= 4.0 * top);
    widen([0.0, top], near)
}

pub(crate) fn widen(range: [f64; 2], xs: impl Iterator<Item = f64>) -> [f64; 2] {
    let (mut lo, mut hi) = (range[0], range[1]);
    for x in xs {
        lo = lo.min(x);
        hi = hi.max(x);
    }
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        hi = lo + 1.0;
    }
    [lo, hi]
}

pub(crate) fn len(tf: &TransferFunction, curve: Curve) -> usize {
    match curve {
        Curve::Opacity => tf.scalar_opacity.len(),
        Curve::Color => tf.color.len(),
        Curve::Gradient => tf.gradient_opacity.len(),
    }
}

pub(crate) fn x_of(tf: &TransferFunction, curve: Curve, i: usize) -> f64 {
    match curve {
        Curve::Opacity => tf.scalar_opacity[i][0],
        Curve::Color => tf.color[i][0],
        Curve::Gradient => tf.gradient_opacity[i][0],
    }
}

/// The point's opacity; colour points sit at the middle of their strip.
pub(crate) fn y_of(tf: &TransferFunction, curve: Curve, i: usize) -> f64 {
    match curve {
        Curve::Opacity => tf.scalar_opacity[i][1],
        Curve::Color => 0.5,
        Curve::Gradient => tf.gradient_opacity[i][1],
    }
}

/// Moves a point to (`x`, `y`), keeping the curve in order: `x` stays between the neighbours'
/// values and `y` in 0..1. Colour points move along x only.
pub fn move_point(tf: &mut TransferFunction, p: Point, x: f64, y: f64) {
    let xs: Vec<f64> = (0..len(tf, p.curve))
        .map(|i| x_of(tf, p.curve, i))
        .collect();
    let lo = if p.index > 0 {
        xs[p.index - 1]
    } else {
        f64::NEG_INFINITY
    };
    let hi = xs.get(p.index + 1).copied().unwrap_or(f64::INFINITY);
    if !x.is_finite() || !y.is_finite() {
        return;
    }
    let x = x.clamp(lo, hi);
    let y = y.clamp(0.0, 1.0);
    match p.curve {
        Curve::Opacity => tf.scalar_opacity[p.index] = [x, y],
        Curve::Color => tf.color[p.index][0] = x,
        Curve::Gradient => tf.gradient_opacity[p.index] = [x, y],
    }
}

/// Adds a point at value `x`: with opacity `y`, or, on the colour curve, with the colour the
/// curve has there. Returns where it went.
pub fn insert_point(tf: &mut TransferFunction, curve: Curve, x: f64, y: f64) -> Point {
    let y = y.clamp(0.0, 1.0);
    let index = match curve {
        Curve::Opacity => {
            let i = tf.scalar_opacity.partition_point(|p| p[0] <= x);
            tf.scalar_opacity.insert(i, [x, y]);
            i
        }
        Curve::Color => {
            let [r, g, b, _] = tf.scalar_rgba(x);
            let i = tf.color.partition_point(|p| p[0] <= x);
            tf.color.insert(i, [x, r, g, b]);
            i
        }
        Curve::Gradient => {
            let i = tf.gradient_opacity.partition_point(|p| p[0] <= x);
            tf.gradient_opacity.insert(i, [x, y]);
            i
        }
    };
    Point { curve, index }
}

/// Removes a point, unless it is its curve's last one (a curve needs at least one).
pub fn remove_point(tf: &mut TransferFunction, p: Point) {
    if len(tf, p.curve) <= 1 {
        return;
    }
    match p.curve {
        Curve::Opacity => {
            tf.scalar_opacity.remove(p.index);
        }
        Curve::Color => {
            tf.color.remove(p.index);
        }
        Curve::Gradient => {
            tf.gradient_opacity.remove(p.index);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tf() -> TransferFunction {
        TransferFunction::default_for_range([0.0, 100.0])
    }

    #[test]
    fn points_move_only_between_their_neighbours() {
        let mut t = tf();
        move_point(&mut t, Point::opacity(1), 500.0, 2.0);
        assert_eq!(t.scalar_opacity[1], [100.0, 1.0]);
        move_point(&mut t, Point::opacity(0), -50.0, -1.0);
        assert_eq!(t.scalar_opacity[0], [-50.0, 0.0]);
        move_point(&mut t, Point::color(2), -10.0, 0.9);
        assert_eq!(t.color[2], [20.0, 1.0, 1.0, 1.0]);
        t.validate().unwrap();
    }

    #[test]
    fn inserted_colours_continue_the_curve_and_the_last_point_stays() {
        let mut t = tf();
        let p = insert_point(&mut t, Curve::Color, 60.0, 0.2);
        assert_eq!(p, Point::color(2));
        assert_eq!(t.color[2], [60.0, 0.75, 0.75, 0.75]);
        t.gradient_opacity = vec![[0.0, 1.0]];
        remove_point(&mut t, Point::gradient(0));
        assert_eq!(t.gradient_opacity, vec![[0.0, 1.0]]);
        t.validate().unwrap();
    }
}
