//! The 2-D transfer-function editor: widgets drawn on the joint histogram of value x |grad f|.
//!
//! The histogram (log grey) is drawn on the function's |grad f| axis warp, with what the
//! function keeps tinted over it in its colour, as opaque as its alpha: the raster the renderer
//! uses, evaluated at the chart's pixels. Dragging on empty histogram adds a widget of the
//! chosen kind spanning the drag; dragging a widget moves it, dragging the selected widget's
//! handle (its upper-right corner) resizes it; a click selects, a right-click deletes. Every
//! parameter can be typed under the chart. "From boundaries" adds triangles on the largest
//! boundaries the statistics find; "Around the picked sample" adds a box around the value and
//! |grad f| last hovered in the volume (marked on the chart while the pointer is there). Edits
//! join the 1-D editor's undo history ([`crate::viewer::editor::TfEditor::track`]).

use std::hash::{Hash, Hasher};

use egui::{
    Color32, ColorImage, CornerRadius, Pos2, Rect, Sense, Shape as Draw, Stroke, StrokeKind,
    TextureOptions, Ui, pos2, vec2,
};

use crate::gradient::Operator;
use crate::tf::TransferFunction;
use crate::tf::tf2d::{
    ColorSource, Curves, Evaluator, RASTER_SIDES, Shape, Tf2d, Warp, Widget, WidgetColor,
    boundary_triangles,
};
use crate::viewer::viewport::Texture;

/// What the chart is drawn over.
#[derive(Debug, Clone, Copy)]
pub struct PlaneData<'a> {
    /// Joint histogram counts, `bins` x `bins`, value fastest, |grad f| bins equal on the
    /// chart's axis (the function's warp) over `[0, gradient_top]`.
    pub counts: &'a [u64],
    pub bins: usize,
    pub value_range: [f64; 2],
    pub gradient_top: f64,
    /// The data's unit, for labels.
    pub unit: &'a str,
    /// Value and |grad f| under the pointer in the volume.
    pub hover: Option<[f64; 2]>,
    /// The operator |grad f| is computed with now: new widgets are drawn against it.
    pub operator: Operator,
    /// Kindlmann and Durkin's per-bin table and emphasis, for "From boundaries".
    pub boundaries: Option<Boundaries<'a>>,
    /// Changes when the volume changes (the cached image is rebuilt).
    pub generation: u64,
}

/// [`crate::gradient::boundary::BoundaryEmphasis`]'s table and scalar opacity.
pub type Boundaries<'a> = (&'a [[f64; 4]], &'a [[f64; 2]]);

/// Which widget a drag on empty histogram adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tool {
    #[default]
    Box,
    Triangle,
    Gaussian,
}

#[derive(Debug, Clone, Copy)]
enum Drag {
    Create { from: [f64; 2], to: [f64; 2] },
    Move { index: usize, last: [f64; 2] },
    Resize { index: usize },
}

/// The editor's own state; the transfer function lives outside.
#[derive(Debug, Default)]
pub struct PlaneEditor {
    pub selected: Option<usize>,
    pub tool: Tool,
    drag: Option<Drag>,
    /// The value and |grad f| last hovered in the volume.
    pub last_pick: Option<[f64; 2]>,
    image: Option<(Texture, u64)>,
    axes: Option<Axes>,
}

/// Where the last frame drew the chart and what it spans.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Axes {
    pub plot: Rect,
    pub values: [f64; 2],
    pub gradient_top: f64,
    pub warp: Warp,
}

impl Axes {
    pub fn to_screen(&self, [v, g]: [f64; 2]) -> Pos2 {
        let [lo, hi] = self.values;
        let x = ((v - lo) / (hi - lo)) as f32;
        let y = self.warp.forward(g / self.gradient_top) as f32;
        pos2(
            self.plot.left() + x * self.plot.width(),
            self.plot.bottom() - y * self.plot.height(),
        )
    }

    pub fn to_data(&self, p: Pos2) -> [f64; 2] {
        let [lo, hi] = self.values;
        let x = ((p.x - self.plot.left()) / self.plot.width()).clamp(0.0, 1.0) as f64;
        let y = ((self.plot.bottom() - p.y) / self.plot.height()).clamp(0.0, 1.0) as f64;
        [lo + x * (hi - lo), self.gradient_top * self.warp.inverse(y)]
    }
}

const HEIGHT: f32 = 200.0;
const GRAB: f32 = 8.0;

impl PlaneEditor {
    /// Where the last frame drew the chart.
    pub fn axes(&self) -> Option<Axes> {
        self.axes
    }

    /// The chart, its tools and the selected widget's fields; `tf` is edited in place.
    pub fn ui(&mut self, ui: &mut Ui, tf: &mut TransferFunction, data: &PlaneData) {
        if let Some(h) = data.hover {
            self.last_pick = Some(h);
        }
        let count = tf.tf2d.as_ref().map_or(0, |t| t.widgets.len());
        if self.selected.is_some_and(|i| i >= count) {
            self.selected = None;
        }
        if self.selected.is_none() && count > 0 && self.drag.is_none() {
            self.selected = Some(0);
        }
        let warp = tf.tf2d.as_ref().map_or(Warp::Sqrt, |t| t.gradient_axis);
        let width = ui.available_width().max(160.0);
        let (response, painter) = ui.allocate_painter(vec2(width, HEIGHT), Sense::click_and_drag());
        let axes = Axes {
            plot: response.rect,
            values: data.value_range,
            gradient_top: data.gradient_top.max(1e-12),
            warp,
        };
        self.axes = Some(axes);

        // The histogram with the function's colour and alpha over it.
        let key = image_key(tf, data);
        if !matches!(&self.image, Some((_, k)) if *k == key) {
            let image = plane_image(tf, data, warp);
            let texture = ui
                .ctx()
                .load_texture("tf2d-plane", image, TextureOptions::NEAREST);
            self.image = Some((Texture(texture), key));
        }
        if let Some((texture, _)) = &self.image {
            painter.image(
                texture.0.id(),
                axes.plot,
                Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0)),
                Color32::WHITE,
            );
        }
        painter.rect_stroke(
            axes.plot,
            CornerRadius::ZERO,
            ui.visuals().widgets.noninteractive.bg_stroke,
            StrokeKind::Inside,
        );
        if let Some(t) = &tf.tf2d {
            for (i, w) in t.widgets.iter().enumerate() {
                draw_widget(&painter, &axes, w, self.selected == Some(i));
            }
        }
        if let Some(Drag::Create { from, to }) = self.drag {
            painter.rect_stroke(
                Rect::from_two_pos(axes.to_screen(from), axes.to_screen(to)),
                CornerRadius::ZERO,
                Stroke::new(1.0, Color32::WHITE),
                StrokeKind::Inside,
            );
        }
        if let Some(h) = data.hover {
            painter.circle_stroke(
                axes.to_screen(h),
                5.0,
                Stroke::new(2.0, Color32::from_rgb(255, 200, 0)),
            );
        }

        self.interact(ui, &response, tf, &axes, data.operator);

        // Hover readout.
        let unit = data.unit;
        match response.hover_pos() {
            Some(p) if axes.plot.contains(p) => {
                let [v, g] = axes.to_data(p);
                let n = data.bins;
                let column = (((v - axes.values[0]) / (axes.values[1] - axes.values[0])) * n as f64)
                    as usize;
                let row = (warp.forward(g / axes.gradient_top) * n as f64) as usize;
                let count = data
                    .counts
                    .get(row.min(n - 1) * n + column.min(n - 1))
                    .copied()
                    .unwrap_or(0);
                let alpha = tf.rgba_at(v, g)[3];
                ui.label(format!(
                    "value {v:.4} {unit}, |grad f| {g:.4} {unit}/mm, {count} voxels, alpha {alpha:.3} per {} mm",
                    tf.unit_distance_mm
                ));
            }
            _ => {
                ui.weak(format!(
                    "x: value {:.0}..{:.0} {unit}; y: |grad f| 0..{:.4} {unit}/mm on a {} axis. \
                     Drag on empty space to add a widget; drag one to move it, its corner to size it; \
                     right-click deletes.",
                    axes.values[0],
                    axes.values[1],
                    axes.gradient_top,
                    warp.name()
                ));
            }
        }
        self.tools(ui, tf, data);
        self.fields(ui, tf, data);
    }

    fn interact(
        &mut self,
        ui: &Ui,
        response: &egui::Response,
        tf: &mut TransferFunction,
        axes: &Axes,
        operator: Operator,
    ) {
        let widget_at = |tf: &TransferFunction, p: Pos2| {
            let t = tf.tf2d.as_ref()?;
            let [v, g] = axes.to_data(p);
            // The last drawn (on top) whose support holds the point.
            t.widgets.iter().rposition(|w| {
                let [[v0, v1], [g0, g1]] = w.shape.support();
                (v0..=v1).contains(&v) && (g0..=g1).contains(&g)
            })
        };
        let handle_at = |tf: &TransferFunction, p: Pos2, selected: Option<usize>| {
            let w = tf.tf2d.as_ref()?.widgets.get(selected?)?;
            (axes.to_screen(handle(&w.shape)).distance(p) <= GRAB).then_some(selected?)
        };
        if response.drag_started()
            && let Some(origin) = ui.input(|i| i.pointer.press_origin())
        {
            self.drag = Some(if let Some(i) = handle_at(tf, origin, self.selected) {
                Drag::Resize { index: i }
            } else if let Some(i) = widget_at(tf, origin) {
                self.selected = Some(i);
                Drag::Move {
                    index: i,
                    last: axes.to_data(origin),
                }
            } else {
                let at = axes.to_data(origin);
                Drag::Create { from: at, to: at }
            });
        }
        if response.dragged()
            && let Some(pos) = response.interact_pointer_pos()
        {
            let here = axes.to_data(pos);
            match &mut self.drag {
                Some(Drag::Create { to, .. }) => *to = here,
                Some(Drag::Move { index, last }) => {
                    if let Some(w) = widget_mut(tf, *index) {
                        w.shape.translate(here[0] - last[0], here[1] - last[1]);
                    }
                    *last = here;
                }
                Some(Drag::Resize { index }) => {
                    if let Some(w) = widget_mut(tf, *index) {
                        resize(&mut w.shape, here);
                    }
                }
                None => {}
            }
        }
        if response.drag_stopped() {
            if let Some(Drag::Create { from, to }) = self.drag {
                let (a, b) = (axes.to_screen(from), axes.to_screen(to));
                if (a.x - b.x).abs() >= 4.0 && (a.y - b.y).abs() >= 4.0 {
                    let w = Widget::new(shape_spanning(self.tool, from, to));
                    self.selected = Some(add_widget(tf, w, operator));
                }
            }
            self.drag = None;
        }
        if response.clicked()
            && let Some(p) = response.interact_pointer_pos()
        {
            self.selected = widget_at(tf, p);
        }
        if response.secondary_clicked()
            && let Some(p) = response.interact_pointer_pos()
            && let Some(i) = widget_at(tf, p)
        {
            remove_widget(tf, i);
            self.selected = None;
        }
    }

    /// The tool, the axis, the raster and the commands that add widgets.
    fn tools(&mut self, ui: &mut Ui, tf: &mut TransferFunction, data: &PlaneData) {
        ui.horizontal_wrapped(|ui| {
            ui.label("Drag adds:");
            ui.selectable_value(&mut self.tool, Tool::Box, "box");
            ui.selectable_value(&mut self.tool, Tool::Triangle, "triangle");
            ui.selectable_value(&mut self.tool, Tool::Gaussian, "gaussian");
            let mut warp = tf.tf2d.as_ref().map_or(Warp::Sqrt, |t| t.gradient_axis);
            let label = ui.label("|grad f| axis");
            egui::ComboBox::from_id_salt("tf2d-warp")
                .selected_text(warp.name())
                .show_ui(ui, |ui| {
                    for w in Warp::ALL {
                        ui.selectable_value(&mut warp, w, w.name());
                    }
                })
                .response
                .labelled_by(label.id);
            if let Some(t) = &mut tf.tf2d {
                t.gradient_axis = warp;
            }
        });
        ui.horizontal_wrapped(|ui| {
            if let Some((table, emphasis)) = data.boundaries
                && ui
                    .button("From boundaries")
                    .on_hover_text(
                        "Triangles on the three largest boundaries that Kindlmann and Durkin's \
                         statistics find (the arches of this histogram)",
                    )
                    .clicked()
            {
                for w in boundary_triangles(table, emphasis, 3) {
                    self.selected = Some(add_widget(tf, w, data.operator));
                }
            }
            if let Some([v, g]) = self.last_pick
                && ui
                    .button("Around the picked sample")
                    .on_hover_text(format!(
                        "A box around value {v:.4}, |grad f| {g:.4}: the sample last under the pointer in the volume"
                    ))
                    .clicked()
            {
                let dv = 0.03 * (data.value_range[1] - data.value_range[0]);
                let dg = 0.25 * g.max(0.02 * data.gradient_top);
                let w = Widget::new(Shape::Box {
                    value: [v - dv, v + dv],
                    gradient: [(g - dg).max(0.0), g + dg],
                    falloff: [0.0, 0.0],
                });
                self.selected = Some(add_widget(tf, w, data.operator));
            }
            if tf.widgets().is_some() && ui.button("Clear").on_hover_text("Back to the 1-D curves").clicked() {
                tf.tf2d = None;
                self.selected = None;
            }
        });
        let Some(t) = &mut tf.tf2d else {
            return;
        };
        ui.horizontal_wrapped(|ui| {
            let label = ui.label("raster");
            let sides = *RASTER_SIDES.start()..=*RASTER_SIDES.end();
            ui.add(egui::DragValue::new(&mut t.raster[0]).range(sides.clone()))
                .labelled_by(label.id);
            let by = ui.label("x");
            ui.add(egui::DragValue::new(&mut t.raster[1]).range(sides))
                .labelled_by(by.id);
            ui.checkbox(&mut t.base, "1-D result as a base layer")
                .on_hover_text("Draw the 1-D curves' result everywhere too, as one more widget");
            ui.weak(format!("|grad f| by {}", t.gradient));
        });
    }

    /// Exact fields for the selected widget.
    fn fields(&mut self, ui: &mut Ui, tf: &mut TransferFunction, data: &PlaneData) {
        let Some(i) = self.selected else {
            return;
        };
        let span_v = (data.value_range[1] - data.value_range[0]) / 1000.0;
        let span_g = data.gradient_top / 1000.0;
        let mut delete = false;
        let Some(w) = widget_mut(tf, i) else {
            return;
        };
        ui.separator();
        ui.horizontal(|ui| {
            ui.label(format!("Widget {} ({})", i + 1, w.shape.kind()));
            ui.add(
                egui::TextEdit::singleline(&mut w.name)
                    .hint_text("name")
                    .desired_width(120.0),
            );
            ui.checkbox(&mut w.enabled, "on");
            ui.checkbox(&mut w.solo, "solo");
            delete = ui.button("Delete").clicked();
        });
        let number = |ui: &mut Ui, name: &str, x: &mut f64, speed: f64, min: f64| {
            let label = ui.label(name);
            ui.add(
                egui::DragValue::new(x)
                    .speed(speed)
                    .range(min..=f64::MAX)
                    .max_decimals(4),
            )
            .labelled_by(label.id);
        };
        ui.horizontal_wrapped(|ui| match &mut w.shape {
            Shape::Box {
                value,
                gradient,
                falloff,
            } => {
                number(ui, "value", &mut value[0], span_v, f64::MIN);
                let min = value[0];
                number(ui, "to", &mut value[1], span_v, min);
                number(ui, "|grad f|", &mut gradient[0], span_g, 0.0);
                let min = gradient[0];
                number(ui, "to", &mut gradient[1], span_g, min);
                number(ui, "falloff v", &mut falloff[0], span_v, 0.0);
                number(ui, "g", &mut falloff[1], span_g, 0.0);
            }
            Shape::Triangle {
                apex,
                top,
                width,
                bottom,
            } => {
                number(ui, "apex", apex, span_v, f64::MIN);
                number(ui, "top", top, span_g, 1e-9);
                number(ui, "width", width, span_v, 1e-9);
                number(ui, "bottom", bottom, span_g, 0.0);
                *bottom = bottom.min(*top * 0.999);
            }
            Shape::Gaussian { center, sigma } => {
                number(ui, "centre v", &mut center[0], span_v, f64::MIN);
                number(ui, "g", &mut center[1], span_g, 0.0);
                number(ui, "sigma v", &mut sigma[0], span_v, 1e-9);
                number(ui, "g", &mut sigma[1], span_g, 1e-9);
            }
        });
        ui.horizontal_wrapped(|ui| {
            let label = ui.label("opacity");
            ui.add(
                egui::DragValue::new(&mut w.opacity)
                    .speed(0.005)
                    .range(0.0..=1.0)
                    .max_decimals(4),
            )
            .labelled_by(label.id);
            let mut map = w.color == WidgetColor::Named(ColorSource::Map);
            if ui.checkbox(&mut map, "colour from the 1-D map").changed() {
                w.color = if map {
                    WidgetColor::Named(ColorSource::Map)
                } else {
                    WidgetColor::Rgb([1.0, 1.0, 1.0])
                };
            }
            if let WidgetColor::Rgb(c) = &mut w.color {
                let mut colour = c.map(|x| x as f32);
                if ui.color_edit_button_rgb(&mut colour).changed() {
                    *c = colour.map(|x| (x as f64).clamp(0.0, 1.0));
                }
            }
            let mut multiply = w.curves == Curves::Multiply;
            if ui
                .checkbox(&mut multiply, "times the 1-D opacities")
                .changed()
            {
                w.curves = if multiply {
                    Curves::Multiply
                } else {
                    Curves::Ignore
                };
            }
        });
        if delete {
            remove_widget(tf, i);
            self.selected = None;
        }
    }
}

fn widget_mut(tf: &mut TransferFunction, i: usize) -> Option<&mut Widget> {
    tf.tf2d.as_mut()?.widgets.get_mut(i)
}

/// Adds `w` (the widgets drawn against `operator` when they are the first); returns its index.
pub fn add_widget(tf: &mut TransferFunction, w: Widget, operator: Operator) -> usize {
    let t = tf.tf2d.get_or_insert_with(|| Tf2d {
        gradient: operator,
        ..Tf2d::default()
    });
    if t.widgets.is_empty() {
        t.gradient = operator;
    }
    t.widgets.push(w);
    t.widgets.len() - 1
}

fn remove_widget(tf: &mut TransferFunction, i: usize) {
    if let Some(t) = &mut tf.tf2d
        && i < t.widgets.len()
    {
        t.widgets.remove(i);
    }
}

/// The widget of `tool` spanning the drag from `a` to `b`: a box is the rectangle; a triangle
/// has its apex under the rectangle's centre and reaches its top, as wide as the rectangle
/// there; a Gaussian has the rectangle as its three-sigma extent.
pub fn shape_spanning(tool: Tool, a: [f64; 2], b: [f64; 2]) -> Shape {
    let value = [a[0].min(b[0]), a[0].max(b[0])];
    let gradient = [a[1].min(b[1]).max(0.0), a[1].max(b[1])];
    match tool {
        Tool::Box => Shape::Box {
            value,
            gradient,
            falloff: [0.0, 0.0],
        },
        Tool::Triangle => Shape::Triangle {
            apex: 0.5 * (value[0] + value[1]),
            top: gradient[1].max(1e-9),
            width: (value[1] - value[0]).max(1e-9),
            bottom: gradient[0].min(0.999 * gradient[1]),
        },
        Tool::Gaussian => Shape::Gaussian {
            center: [
                0.5 * (value[0] + value[1]),
                0.5 * (gradient[0] + gradient[1]),
            ],
            sigma: [
                ((value[1] - value[0]) / 6.0).max(1e-9),
                ((gradient[1] - gradient[0]) / 6.0).max(1e-9),
            ],
        },
    }
}

/// The selected widget's handle: the upper-right corner of its support (a triangle's top
/// right).
fn handle(shape: &Shape) -> [f64; 2] {
    let [[_, v1], [_, g1]] = shape.support();
    [v1, g1]
}

/// Moves the handle to `to`.
fn resize(shape: &mut Shape, [v, g]: [f64; 2]) {
    match shape {
        Shape::Box {
            value, gradient, ..
        } => {
            value[1] = v.max(value[0]);
            gradient[1] = g.max(gradient[0]);
        }
        Shape::Triangle {
            apex,
            top,
            width,
            bottom,
        } => {
            *width = (2.0 * (v - *apex)).max(1e-9);
            *top = g.max(*bottom * 1.001).max(1e-9);
        }
        Shape::Gaussian { center, sigma } => {
            sigma[0] = ((v - center[0]) / 3.0).max(1e-9);
            sigma[1] = ((g - center[1]) / 3.0).max(1e-9);
        }
    }
}

fn draw_widget(painter: &egui::Painter, axes: &Axes, w: &Widget, selected: bool) {
    let colour = match w.color {
        WidgetColor::Rgb(c) => {
            let u = |x: f64| (x.clamp(0.0, 1.0) * 255.0) as u8;
            Color32::from_rgb(u(c[0]), u(c[1]), u(c[2]))
        }
        WidgetColor::Named(_) => Color32::from_rgb(120, 200, 255),
    };
    let colour = if w.enabled {
        colour
    } else {
        colour.gamma_multiply(0.4)
    };
    let stroke = Stroke::new(if selected { 2.5 } else { 1.2 }, colour);
    let outline: Vec<Pos2> = match w.shape {
        Shape::Box {
            value, gradient, ..
        } => [
            [value[0], gradient[0]],
            [value[1], gradient[0]],
            [value[1], gradient[1]],
            [value[0], gradient[1]],
            [value[0], gradient[0]],
        ]
        .iter()
        .map(|&p| axes.to_screen(p))
        .collect(),
        Shape::Triangle {
            apex,
            top,
            width,
            bottom,
        } => {
            // Straight in value x |grad f|, curved on a warped axis: sampled.
            let steps = 24;
            let g_at = |k: usize| bottom + (top - bottom) * k as f64 / steps as f64;
            let half = |g: f64| 0.5 * width * g / top;
            let left = (0..=steps).map(|k| [apex - half(g_at(k)), g_at(k)]);
            let right = (0..=steps).rev().map(|k| [apex + half(g_at(k)), g_at(k)]);
            left.chain(right)
                .chain(std::iter::once([apex - half(bottom), bottom]))
                .map(|p| axes.to_screen(p))
                .collect()
        }
        Shape::Gaussian { center, sigma } => (0..=48)
            .map(|k| {
                let a = std::f64::consts::TAU * k as f64 / 48.0;
                axes.to_screen([
                    center[0] + 3.0 * sigma[0] * a.cos(),
                    (center[1] + 3.0 * sigma[1] * a.sin()).max(0.0),
                ])
            })
            .collect(),
    };
    let clip = axes.plot;
    let painter = painter.with_clip_rect(clip);
    painter.add(Draw::line(outline, stroke));
    if selected {
        let at = axes.to_screen(handle(&w.shape));
        painter.circle(at, 4.5, Color32::WHITE, Stroke::new(1.5, Color32::BLACK));
    }
}

/// A key of what the chart's image shows.
fn image_key(tf: &TransferFunction, data: &PlaneData) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(tf).unwrap_or_default().hash(&mut h);
    data.generation.hash(&mut h);
    data.bins.hash(&mut h);
    data.gradient_top.to_bits().hash(&mut h);
    h.finish()
}

/// The joint histogram (log grey) on the warped axis, tinted by what `tf` keeps.
fn plane_image(tf: &TransferFunction, data: &PlaneData, warp: Warp) -> ColorImage {
    let n = data.bins.max(1);
    let (width, height) = (n, 200usize);
    let [v0, v1] = data.value_range;
    let tallest = data.counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let eval = Evaluator::new(tf);
    let mut pixels = Vec::with_capacity(width * height);
    for y in 0..height {
        let u = 1.0 - (y as f64 + 0.5) / height as f64;
        let g = data.gradient_top * warp.inverse(u);
        let row = ((u * n as f64) as usize).min(n - 1);
        for x in 0..width {
            let v = v0 + (v1 - v0) * (x as f64 + 0.5) / width as f64;
            let count = data.counts.get(row * n + x).copied().unwrap_or(0) as f64;
            let grey = (1.0 + count).ln() / (1.0 + tallest).ln();
            let c = eval.rgba_at(v, g);
            let keep = c[3].clamp(0.0, 1.0).sqrt();
            let mix = |k: usize| {
                let base = 0.15 + 0.85 * grey;
                ((base * (1.0 - keep) + c[k] * keep * (0.35 + 0.65 * grey)) * 255.0) as u8
            };
            pixels.push(Color32::from_rgb(mix(0), mix(1), mix(2)));
        }
    }
    ColorImage::new([width, height], pixels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drag_spans_each_kind_of_widget() {
        let (a, b) = ([100.0, 50.0], [300.0, 10.0]);
        assert_eq!(
            shape_spanning(Tool::Box, a, b),
            Shape::Box {
                value: [100.0, 300.0],
                gradient: [10.0, 50.0],
                falloff: [0.0, 0.0]
            }
        );
        let t = shape_spanning(Tool::Triangle, a, b);
        assert_eq!(t.support(), [[100.0, 300.0], [10.0, 50.0]]);
        let g = shape_spanning(Tool::Gaussian, a, b);
        let [[v0, v1], [g0, g1]] = g.support();
        assert!((v0 - 100.0).abs() < 1e-9 && (v1 - 300.0).abs() < 1e-9);
        assert!((g0 - 10.0).abs() < 1e-9 && (g1 - 50.0).abs() < 1e-9);
    }

    #[test]
    fn the_handle_resizes_to_where_it_is_dropped() {
        for tool in [Tool::Box, Tool::Triangle, Tool::Gaussian] {
            let mut s = shape_spanning(tool, [100.0, 10.0], [300.0, 50.0]);
            resize(&mut s, [400.0, 80.0]);
            let h = handle(&s);
            assert!(
                (h[0] - 400.0).abs() < 1e-9 && (h[1] - 80.0).abs() < 1e-9,
                "{tool:?}: {h:?}"
            );
        }
    }

    #[test]
    fn axes_map_both_ways_on_every_warp() {
        for warp in Warp::ALL {
            let axes = Axes {
                plot: Rect::from_min_size(pos2(10.0, 20.0), vec2(400.0, 200.0)),
                values: [-1000.0, 3000.0],
                gradient_top: 800.0,
                warp,
            };
            for p in [[-1000.0, 0.0], [0.0, 100.0], [2500.0, 799.0]] {
                let back = axes.to_data(axes.to_screen(p));
                assert!(
                    (back[0] - p[0]).abs() < 0.5 && (back[1] - p[1]).abs() < 0.5,
                    "{warp:?} {p:?} {back:?}"
                );
            }
        }
    }
}
