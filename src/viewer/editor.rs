//! The transfer-function editor: one chart for colour and scalar opacity over the data's values,
//! one for gradient opacity over |grad f| in data units per mm, each over its own histogram.
//!
//! Every point can be dragged (endpoints too), added with a double-click, deleted with a
//! right-click or Delete, and typed exactly in the fields under the charts. Each finished edit
//! (a whole drag, one typed value, one deletion) is one step of undo (Ctrl+Z) and redo
//! (Ctrl+Shift+Z or Ctrl+Y).

use egui::{
    Align2, Color32, CornerRadius, FontId, Key, KeyboardShortcut, Modifiers, Pos2, Rect, Sense,
    Shape, Stroke, StrokeKind, Ui, Vec2, pos2, vec2,
};

use crate::tf::TransferFunction;
pub use crate::viewer::points::{
    Curve, Point, gradient_range, insert_point, move_point, remove_point, value_range,
};
use crate::viewer::points::{len, x_of, y_of};

/// Counts in equal bins over `range`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Histogram {
    pub range: [f64; 2],
    pub counts: Vec<u64>,
}

impl Histogram {
    /// The bin's share of the tallest bin on a log scale, 0..1, so that rare values (a thin
    /// bone cortex among soft tissue) still show.
    fn log_height(&self, bin: usize, tallest: u64) -> f32 {
        let c = self.counts[bin] as f64;
        ((1.0 + c).ln() / (1.0 + tallest as f64).ln().max(1e-9)) as f32
    }
}

/// What the charts are drawn over.
#[derive(Debug, Clone, Default)]
pub struct ChartData {
    /// Histogram of the data's values.
    pub values: Histogram,
    /// Histogram of |grad f| in data units per mm.
    pub gradients: Histogram,
    /// The data's unit, for axis labels ("HU" for CT).
    pub unit: String,
    /// Value and |grad f| under the cursor in the viewport, marked on both charts.
    pub hover: Option<[f64; 2]>,
    /// A gradient-opacity curve the statistics suggest ("Suggest" applies it).
    pub suggestion: Option<Vec<[f64; 2]>>,
}

/// Height of a chart's plot area and of the colour strip, in points.
const PLOT_HEIGHT: f32 = 110.0;
const STRIP_HEIGHT: f32 = 18.0;
/// How near (in points) the pointer must be to grab a point.
const GRAB_RADIUS: f32 = 9.0;

/// The editor's own state: selection, drag and history. The transfer function lives outside.
#[derive(Debug, Default)]
pub struct TfEditor {
    pub selected: Option<Point>,
    dragging: Option<Point>,
    undo: Vec<TransferFunction>,
    redo: Vec<TransferFunction>,
    /// The function as it was when the edit in progress started.
    pending: Option<TransferFunction>,
    /// Where the last frame drew each chart: the opacity chart (with its colour strip) and the
    /// gradient chart.
    layout: [Option<ChartLayout>; 2],
}

/// Where a chart is on screen and what it spans.
#[derive(Debug, Clone, Copy)]
struct ChartLayout {
    plot: Rect,
    strip: Rect,
    range: [f64; 2],
}

impl TfEditor {
    /// Records an edit made outside the editor (a preset, a loaded file) for undo.
    pub fn record(&mut self, before: TransferFunction) {
        self.undo.push(before);
        self.redo.clear();
        self.selected = None;
    }

    /// Where the last frame showed data point (`x`, `y`) of `curve` (for colour points, `y` is
    /// ignored: they sit on the strip under the opacity chart).
    pub fn screen_position(&self, curve: Curve, x: f64, y: f64) -> Option<Pos2> {
        let slot = usize::from(curve == Curve::Gradient);
        let l = self.layout[slot]?;
        let map = Mapping {
            plot: l.plot,
            range: l.range,
        };
        Some(if curve == Curve::Color {
            pos2(map.x_to_screen(x), l.strip.center().y)
        } else {
            map.to_screen(x, y)
        })
    }

    /// Where the last frame showed point `p` of `tf`.
    pub fn point_position(&self, tf: &TransferFunction, p: Point) -> Option<Pos2> {
        (p.index < len(tf, p.curve))
            .then(|| {
                self.screen_position(
                    p.curve,
                    x_of(tf, p.curve, p.index),
                    y_of(tf, p.curve, p.index),
                )
            })
            .flatten()
    }

    /// Shows both charts and the selected point's fields; returns true when `tf` changed.
    pub fn ui(&mut self, ui: &mut Ui, tf: &mut TransferFunction, data: &ChartData) -> bool {
        let entry = tf.clone();
        // Undo and redo change `tf` but are not edits themselves.
        self.history_keys(ui, tf);
        let before = tf.clone();
        if let Some(p) = self.selected
            && p.index >= len(tf, p.curve)
        {
            self.selected = None;
        }

        let value_range = value_range(tf, &data.values);
        ui.label(format!("Colour and opacity over value ({})", data.unit));
        self.chart(
            ui,
            tf,
            Curve::Opacity,
            value_range,
            &data.values,
            data.hover.map(|h| h[0]),
            &data.unit,
        );
        ui.add_space(6.0);
        ui.horizontal(|ui| {
            ui.label(format!("Gradient opacity over |grad f| ({}/mm)", data.unit));
            if let Some(s) = &data.suggestion
                && ui
                    .button("Suggest")
                    .on_hover_text("A ramp from the median |grad f| to its 95th percentile")
                    .clicked()
            {
                tf.gradient_opacity = s.clone();
                self.selected = None;
            }
            if ui
                .button("Off")
                .on_hover_text("Gradient opacity 1 everywhere")
                .clicked()
            {
                tf.gradient_opacity = vec![[0.0, 1.0]];
                self.selected = None;
            }
        });
        let gradient_range = gradient_range(tf, &data.gradients);
        self.chart(
            ui,
            tf,
            Curve::Gradient,
            gradient_range,
            &data.gradients,
            data.hover.map(|h| h[1]),
            &format!("{}/mm", data.unit),
        );
        self.fields(ui, tf, value_range, gradient_range);

        if let Some(p) = self.selected
            && !ui.ctx().egui_wants_keyboard_input()
            && ui.input(|i| i.key_pressed(Key::Delete) || i.key_pressed(Key::Backspace))
        {
            remove_point(tf, p);
            self.selected = None;
        }

        self.track(ui, before, tf);
        *tf != entry
    }

    /// Puts an edit on the undo history: `before` is the function before this frame's changes
    /// (a chart's, or the 2-D editor's); a drag's changes make one step, recorded when the
    /// pointer is released.
    pub fn track(&mut self, ui: &Ui, before: TransferFunction, tf: &TransferFunction) {
        if *tf != before && self.pending.is_none() {
            self.pending = Some(before);
        }
        let busy = self.dragging.is_some() || ui.input(|i| i.pointer.any_down());
        if !busy
            && let Some(start) = self.pending.take()
            && start != *tf
        {
            self.undo.push(start);
            self.redo.clear();
        }
    }

    fn history_keys(&mut self, ui: &mut Ui, tf: &mut TransferFunction) {
        if ui.ctx().egui_wants_keyboard_input() {
            return;
        }
        let redo = KeyboardShortcut::new(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
        let redo_y = KeyboardShortcut::new(Modifiers::COMMAND, Key::Y);
        let undo = KeyboardShortcut::new(Modifiers::COMMAND, Key::Z);
        let (want_redo, want_undo) = ui.input_mut(|i| {
            let r = i.consume_shortcut(&redo) || i.consume_shortcut(&redo_y);
            (r, !r && i.consume_shortcut(&undo))
        });
        if want_undo && let Some(previous) = self.undo.pop() {
            self.redo.push(std::mem::replace(tf, previous));
            self.selected = None;
        }
        if want_redo && let Some(next) = self.redo.pop() {
            self.undo.push(std::mem::replace(tf, next));
            self.selected = None;
        }
    }

    /// One chart: `curve` (opacity or gradient) over `range`, with the colour strip under the
    /// opacity chart.
    #[allow(clippy::too_many_arguments)]
    fn chart(
        &mut self,
        ui: &mut Ui,
        tf: &mut TransferFunction,
        curve: Curve,
        range: [f64; 2],
        histogram: &Histogram,
        hover: Option<f64>,
        unit: &str,
    ) {
        let strip = if curve == Curve::Opacity {
            STRIP_HEIGHT + 4.0
        } else {
            0.0
        };
        let width = ui.available_width().max(120.0);
        let (response, painter) =
            ui.allocate_painter(vec2(width, PLOT_HEIGHT + strip), Sense::click_and_drag());
        let full = response.rect;
        let plot = Rect::from_min_size(full.min, vec2(full.width(), PLOT_HEIGHT));
        let strip_rect = Rect::from_min_max(pos2(full.left(), plot.bottom() + 4.0), full.max);
        let map = Mapping { plot, range };
        self.layout[usize::from(curve == Curve::Gradient)] = Some(ChartLayout {
            plot,
            strip: strip_rect,
            range,
        });

        // Background, histogram, hover marker.
        let visuals = ui.visuals();
        painter.rect_filled(plot, CornerRadius::ZERO, visuals.extreme_bg_color);
        draw_histogram(&painter, &map, histogram);
        if let Some(h) = hover {
            let x = map.x_to_screen(h);
            painter.line_segment(
                [pos2(x, plot.top()), pos2(x, plot.bottom())],
                Stroke::new(1.5, Color32::from_rgb(255, 200, 0)),
            );
        }
        painter.rect_stroke(
            plot,
            CornerRadius::ZERO,
            visuals.widgets.noninteractive.bg_stroke,
            StrokeKind::Inside,
        );

        // The curve and its points.
        let line = Color32::from_rgb(90, 170, 255);
        let points: Vec<Pos2> = (0..len(tf, curve))
            .map(|i| map.to_screen(x_of(tf, curve, i), y_of(tf, curve, i)))
            .collect();
        let mut polyline = Vec::with_capacity(points.len() + 2);
        polyline.push(pos2(plot.left(), points[0].y));
        polyline.extend(&points);
        polyline.push(pos2(plot.right(), points[points.len() - 1].y));
        painter.add(Shape::line(polyline, Stroke::new(1.5, line)));
        for (i, p) in points.iter().enumerate() {
            let selected = self.selected == Some(Point { curve, index: i });
            draw_handle(&painter, *p, Color32::WHITE, selected);
        }
        if curve == Curve::Opacity {
            draw_color_strip(&painter, tf, &map, strip_rect);
            for i in 0..tf.color.len() {
                let c = tf.color[i];
                let p = pos2(map.x_to_screen(c[0]), strip_rect.center().y);
                let selected = self.selected == Some(Point::color(i));
                draw_handle(&painter, p, rgb(&[c[1], c[2], c[3]]), selected);
            }
        }
        axis_labels(&painter, plot, range, unit, ui.visuals().text_color());

        // Interaction.
        let in_strip = |p: Pos2| curve == Curve::Opacity && p.y > plot.bottom();
        let nearest = |tf: &TransferFunction, p: Pos2| {
            let c = if in_strip(p) { Curve::Color } else { curve };
            (0..len(tf, c))
                .map(|i| {
                    let at = if c == Curve::Color {
                        pos2(map.x_to_screen(x_of(tf, c, i)), strip_rect.center().y)
                    } else {
                        map.to_screen(x_of(tf, c, i), y_of(tf, c, i))
                    };
                    (i, at.distance(p))
                })
                .filter(|&(_, d)| d <= GRAB_RADIUS)
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(index, _)| Point { curve: c, index })
        };
        if response.drag_started()
            && let Some(origin) = ui.input(|i| i.pointer.press_origin())
        {
            self.dragging = nearest(tf, origin);
            if self.dragging.is_some() {
                self.selected = self.dragging;
            }
        }
        if response.dragged()
            && let (Some(p), Some(pos)) = (self.dragging, response.interact_pointer_pos())
            && (p.curve == curve || p.curve == Curve::Color && curve == Curve::Opacity)
        {
            let (x, y) = map.to_data(pos);
            move_point(tf, p, x, y);
        }
        if response.drag_stopped() {
            self.dragging = None;
        }
        if response.clicked()
            && let Some(pos) = response.interact_pointer_pos()
        {
            self.selected = nearest(tf, pos);
        }
        if response.double_clicked()
            && let Some(pos) = response.interact_pointer_pos()
            && nearest(tf, pos).is_none()
        {
            let (x, y) = map.to_data(pos);
            let c = if in_strip(pos) { Curve::Color } else { curve };
            self.selected = Some(insert_point(tf, c, x, y));
        }
        if response.secondary_clicked()
            && let Some(pos) = response.interact_pointer_pos()
            && let Some(p) = nearest(tf, pos)
        {
            remove_point(tf, p);
            self.selected = None;
        }
    }

    /// Exact fields for the selected point.
    fn fields(
        &mut self,
        ui: &mut Ui,
        tf: &mut TransferFunction,
        value_range: [f64; 2],
        gradient_range: [f64; 2],
    ) {
        let Some(p) = self.selected else {
            ui.weak("Click a point to select it; double-click to add one; right-click or Delete removes it.");
            return;
        };
        let span = match p.curve {
            Curve::Gradient => gradient_range[1] - gradient_range[0],
            _ => value_range[1] - value_range[0],
        };
        let what = match p.curve {
            Curve::Opacity => "Opacity point",
            Curve::Color => "Colour point",
            Curve::Gradient => "Gradient point",
        };
        ui.horizontal(|ui| {
            ui.label(format!("{what} {}", p.index + 1));
            let label = ui.label(if p.curve == Curve::Gradient {
                "|grad f|"
            } else {
                "value"
            });
            let mut x = x_of(tf, p.curve, p.index);
            let r = ui
                .add(egui::DragValue::new(&mut x).speed(span / 500.0))
                .labelled_by(label.id);
            if r.changed() {
                move_point(tf, p, x, y_of(tf, p.curve, p.index));
            }
            if p.curve == Curve::Color {
                let c = &mut tf.color[p.index];
                let mut colour = [c[1] as f32, c[2] as f32, c[3] as f32];
                if ui.color_edit_button_rgb(&mut colour).changed() {
                    for k in 0..3 {
                        c[k + 1] = (colour[k] as f64).clamp(0.0, 1.0);
                    }
                }
            } else {
                let label = ui.label("opacity");
                let mut y = y_of(tf, p.curve, p.index);
                let r = ui
                    .add(
                        egui::DragValue::new(&mut y)
                            .speed(0.005)
                            .range(0.0..=1.0)
                            .max_decimals(4),
                    )
                    .labelled_by(label.id);
                if r.changed() {
                    move_point(tf, p, x_of(tf, p.curve, p.index), y);
                }
            }
        });
    }
}

/// Data coordinates of a chart to screen and back.
struct Mapping {
    plot: Rect,
    range: [f64; 2],
}

impl Mapping {
    fn x_to_screen(&self, x: f64) -> f32 {
        let [lo, hi] = self.range;
        self.plot.left() + ((x - lo) / (hi - lo)) as f32 * self.plot.width()
    }

    fn to_screen(&self, x: f64, y: f64) -> Pos2 {
        pos2(
            self.x_to_screen(x)
                .clamp(self.plot.left(), self.plot.right()),
            self.plot.bottom() - y as f32 * self.plot.height(),
        )
    }

    /// Data x (clamped to the range) and y (clamped to 0..1) at a screen position.
    fn to_data(&self, p: Pos2) -> (f64, f64) {
        let [lo, hi] = self.range;
        let t = ((p.x - self.plot.left()) / self.plot.width()).clamp(0.0, 1.0) as f64;
        let y = ((self.plot.bottom() - p.y) / self.plot.height()).clamp(0.0, 1.0) as f64;
        (lo + t * (hi - lo), y)
    }
}

fn rgb(c: &[f64; 3]) -> Color32 {
    let u = |v: f64| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    Color32::from_rgb(u(c[0]), u(c[1]), u(c[2]))
}

fn draw_handle(painter: &egui::Painter, at: Pos2, fill: Color32, selected: bool) {
    let (radius, stroke) = if selected {
        (6.0, Stroke::new(2.0, Color32::from_rgb(255, 200, 0)))
    } else {
        (4.5, Stroke::new(1.0, Color32::BLACK))
    };
    painter.circle(at, radius, fill, stroke);
}

fn draw_histogram(painter: &egui::Painter, map: &Mapping, histogram: &Histogram) {
    let n = histogram.counts.len();
    let Some(&tallest) = histogram.counts.iter().max() else {
        return;
    };
    if tallest == 0 {
        return;
    }
    let [lo, hi] = histogram.range;
    let fill = Color32::from_gray(85);
    for bin in 0..n {
        if histogram.counts[bin] == 0 {
            continue;
        }
        let x0 = map.x_to_screen(lo + (hi - lo) * bin as f64 / n as f64);
        let x1 = map.x_to_screen(lo + (hi - lo) * (bin + 1) as f64 / n as f64);
        let h = histogram.log_height(bin, tallest) * map.plot.height();
        let rect = Rect::from_min_max(
            pos2(x0, map.plot.bottom() - h),
            pos2(x1.max(x0 + 1.0), map.plot.bottom()),
        )
        .intersect(map.plot);
        painter.rect_filled(rect, CornerRadius::ZERO, fill);
    }
}

/// The colour curve, with its opacity shown as a checker-free darkening: what a ray sees.
fn draw_color_strip(painter: &egui::Painter, tf: &TransferFunction, map: &Mapping, rect: Rect) {
    let steps = (rect.width() / 2.0).max(1.0) as usize;
    let [lo, hi] = map.range;
    for s in 0..steps {
        let t0 = s as f32 / steps as f32;
        let t1 = (s + 1) as f32 / steps as f32;
        let v = lo + (hi - lo) * ((t0 + t1) as f64 / 2.0);
        let [r, g, b, _] = tf.scalar_rgba(v);
        let x0 = rect.left() + t0 * rect.width();
        let x1 = rect.left() + t1 * rect.width();
        painter.rect_filled(
            Rect::from_min_max(pos2(x0, rect.top()), pos2(x1 + 0.5, rect.bottom())),
            CornerRadius::ZERO,
            rgb(&[r, g, b]),
        );
    }
}

fn axis_labels(painter: &egui::Painter, plot: Rect, range: [f64; 2], unit: &str, color: Color32) {
    let font = FontId::proportional(11.0);
    let pad = Vec2::new(3.0, 2.0);
    painter.text(
        plot.left_top() + pad,
        Align2::LEFT_TOP,
        "1",
        font.clone(),
        color,
    );
    painter.text(
        plot.left_bottom() + vec2(pad.x, -pad.y),
        Align2::LEFT_BOTTOM,
        format!("{} {unit}", short(range[0])),
        font.clone(),
        color,
    );
    painter.text(
        plot.right_bottom() - pad,
        Align2::RIGHT_BOTTOM,
        format!("{} {unit}", short(range[1])),
        font,
        color,
    );
}

/// A number in at most four significant digits.
fn short(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if v.abs() >= 0.01 && v.abs() < 1e5 {
        let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 4) as usize;
        let text = format!("{v:.digits$}");
        if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            text
        }
    } else {
        format!("{v:.2e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_short() {
        assert_eq!(short(-1024.0), "-1024");
        assert_eq!(short(100.0), "100");
        assert_eq!(short(0.0), "0");
        assert_eq!(short(0.5), "0.5");
        assert_eq!(short(123.456), "123.5");
        assert_eq!(short(2.5e6), "2.50e6");
    }
}
