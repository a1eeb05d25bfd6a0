//! The menu bar and the side panel: presets, the transfer-function editor, the joint
//! histogram and the gradient statistics. They read the document and say what the user asked
//! for as [`Action`]s; the app applies them.

use std::path::PathBuf;

use egui::{Color32, ColorImage, Sense, TextureOptions, Ui, vec2};

use crate::camera::{Camera, View};
use crate::gradient::Operator;
use crate::tf::{TransferFunction, presets};
use crate::viewer::document::{Document, Source};
use crate::viewer::viewport::{Texture, Viewport};

/// What the user asked for, applied by the app to the document.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Open a volume (replacing the one on show when it is ready).
    Open(Source),
    /// Ask for a file or a DICOM folder, then open it.
    OpenDialog {
        folder: bool,
    },
    /// Read the volume's file again, keeping the transfer function, camera and undo history.
    Reload,
    Preset(String),
    /// A new transfer function; `record` puts the old one on the undo history (the editor
    /// records its own edits).
    Tf {
        tf: TransferFunction,
        record: bool,
    },
    LoadTf,
    SaveTf,
    /// Recompute |grad f| with another operator.
    Operator(Operator),
    /// Open the screenshot dialog.
    ScreenshotDialog,
    /// Save a screenshot of the scene at this size.
    Screenshot {
        path: PathBuf,
        size: [u32; 2],
        transparent: bool,
    },
    /// Cancel the background work.
    Cancel,
    Quit,
}

/// The panels' own state.
#[derive(Debug)]
pub struct Panels {
    /// The joint-histogram image and the (volume, TF) generations it shows.
    joint: Option<(Texture, (u64, u64))>,
    /// Sigma typed in the settings before it is applied.
    pub sigma_mm: f64,
    pub export: crate::viewer::settings::ExportDialog,
}

impl Default for Panels {
    fn default() -> Self {
        Panels {
            joint: None,
            sigma_mm: 1.0,
            export: Default::default(),
        }
    }
}

pub fn menu_bar(ui: &mut Ui, doc: &mut Document, actions: &mut Vec<Action>) {
    egui::MenuBar::new().ui(ui, |ui| {
        ui.menu_button("File", |ui| {
            if ui.button("Open file…  (Ctrl+O)").clicked() {
                actions.push(Action::OpenDialog { folder: false });
            }
            if ui.button("Open DICOM folder…").clicked() {
                actions.push(Action::OpenDialog { folder: true });
            }
            if ui.button("Open demo phantom").clicked() {
                actions.push(Action::Open(Source::Demo));
            }
            let has_file = doc.shown.as_ref().is_some_and(|s| s.path.is_some());
            if ui
                .add_enabled(has_file, egui::Button::new("Reload  (Ctrl+R)"))
                .clicked()
            {
                actions.push(Action::Reload);
            }
            ui.separator();
            if ui.button("Load transfer function…").clicked() {
                actions.push(Action::LoadTf);
            }
            if ui.button("Save transfer function…").clicked() {
                actions.push(Action::SaveTf);
            }
            ui.separator();
            if ui.button("Screenshot…  (Ctrl+S)").clicked() {
                actions.push(Action::ScreenshotDialog);
            }
            ui.separator();
            if ui.button("Quit").clicked() {
                actions.push(Action::Quit);
            }
        });
        ui.menu_button("Presets", |ui| {
            egui::ScrollArea::vertical()
                .max_height(500.0)
                .show(ui, |ui| {
                    for (name, origin) in presets::names() {
                        let label = match origin {
                            presets::Origin::Gradvol => format!("{name}  (gradient opacity)"),
                            presets::Origin::Slicer => name.to_string(),
                        };
                        if ui.button(label).clicked() {
                            actions.push(Action::Preset(name.into()));
                            ui.close();
                        }
                    }
                });
        });
        ui.menu_button("View", |ui| view_menu(ui, &mut doc.scene.camera));
        ui.menu_button("Help", |ui| {
            ui.label(HELP);
        });
    });
}

fn view_menu(ui: &mut Ui, camera: &mut Camera) {
    for (view, label) in [
        (View::Anterior, "Anterior"),
        (View::Posterior, "Posterior"),
        (View::Left, "Left"),
        (View::Right, "Right"),
        (View::Superior, "Superior"),
        (View::Inferior, "Inferior"),
    ] {
        if ui.button(label).clicked() {
            *camera = Camera {
                view,
                azimuth_deg: 0.0,
                elevation_deg: 0.0,
                ..*camera
            };
        }
    }
    ui.separator();
    if ui.button("Reset camera").clicked() {
        *camera = Camera::default();
    }
    ui.checkbox(&mut camera.orthographic, "Orthographic");
}

impl Panels {
    pub fn side_panel(
        &mut self,
        ui: &mut Ui,
        doc: &mut Document,
        viewport: &mut Viewport,
        actions: &mut Vec<Action>,
    ) {
        ui.add_space(4.0);
        ui.horizontal(|ui| {
            let label = ui.label("Preset:");
            let current = doc
                .scene
                .preset
                .clone()
                .unwrap_or_else(|| "(edited)".into());
            egui::ComboBox::from_id_salt("preset")
                .selected_text(current)
                .width(240.0)
                .show_ui(ui, |ui| {
                    for (name, _) in presets::names() {
                        if ui.selectable_label(false, name).clicked() {
                            actions.push(Action::Preset(name.into()));
                        }
                    }
                })
                .response
                .labelled_by(label.id);
        });
        ui.separator();
        let mut tf = doc.tf();
        let hover = viewport.hover.map(|p| [p.value, p.gradient]);
        let Some(shown) = doc.shown.as_mut() else {
            ui.label("The charts appear when the volume is ready.");
            return;
        };
        let chart = &mut shown.analysis.chart;
        chart.hover = hover;
        if doc.editor.ui(ui, &mut tf, chart) {
            actions.push(Action::Tf { tf, record: false });
        }
        ui.separator();
        egui::CollapsingHeader::new("Value x |grad f| histogram")
            .default_open(true)
            .show(ui, |ui| self.joint_view(ui, doc, viewport));
        egui::CollapsingHeader::new("Render settings")
            .default_open(true)
            .show(ui, |ui| self.settings(ui, doc, viewport, actions));
        egui::CollapsingHeader::new("Gradient statistics").show(ui, |ui| statistics(ui, doc));
    }

    /// The joint histogram (log grey) with what the transfer functions keep drawn over it: each
    /// cell tinted by the TF's colour times alpha_scalar(value) x alpha_gradient(|grad f|).
    fn joint_view(&mut self, ui: &mut Ui, doc: &Document, viewport: &Viewport) {
        let Some(shown) = &doc.shown else {
            return;
        };
        let generations = (doc.volume_generation, doc.tf_generation);
        if !matches!(&self.joint, Some((_, g)) if *g == generations) {
            let image = joint_image(doc);
            let texture = ui
                .ctx()
                .load_texture("joint-histogram", image, TextureOptions::NEAREST);
            self.joint = Some((Texture(texture), generations));
        }
        let Some((texture, ..)) = &self.joint else {
            return;
        };
        let width = ui.available_width().min(400.0);
        let (rect, response) = ui.allocate_exact_size(vec2(width, 180.0), Sense::hover());
        let painter = ui.painter_at(rect);
        painter.image(
            texture.0.id(),
            rect,
            egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
            Color32::WHITE,
        );
        let j = &shown.analysis.stats.joint_histogram;
        if let Some(p) = viewport.hover {
            let tx = ((p.value - j.value_range[0]) / (j.value_range[1] - j.value_range[0])) as f32;
            let ty = (p.gradient / j.gradient_range[1].max(1e-12)) as f32;
            let at = egui::pos2(
                rect.left() + tx.clamp(0.0, 1.0) * rect.width(),
                rect.bottom() - ty.clamp(0.0, 1.0) * rect.height(),
            );
            painter.circle_stroke(
                at,
                5.0,
                egui::Stroke::new(2.0, Color32::from_rgb(255, 200, 0)),
            );
        }
        let unit = &shown.analysis.chart.unit;
        response.on_hover_text(format!(
            "x: value {:.0}..{:.0} {unit}; y: |grad f| 0..{:.3} {unit}/mm (99.9th percentile); \
             grey: log count; colour: what the transfer functions keep",
            j.value_range[0], j.value_range[1], j.gradient_range[1]
        ));
    }
}

fn statistics(ui: &mut Ui, doc: &Document) {
    let Some(shown) = &doc.shown else {
        return;
    };
    let s = &shown.analysis.stats;
    let unit = &shown.analysis.chart.unit;
    ui.label(format!(
        "|grad f| by {} ({unit}/mm): min {:.3}, mean {:.3}, max {:.3}\n\
         percentiles 50: {:.3}  90: {:.3}  95: {:.3}  99: {:.3}  99.9: {:.3}",
        shown.analysis.report.operator.name(),
        s.min,
        s.mean,
        s.max,
        s.percentiles.p50,
        s.percentiles.p90,
        s.percentiles.p95,
        s.percentiles.p99,
        s.percentiles.p99_9
    ));
}

fn joint_image(doc: &Document) -> ColorImage {
    let shown = doc.shown.as_ref().expect("a volume");
    let j = &shown.analysis.stats.joint_histogram;
    let n = j.bins;
    let tf = doc.tf();
    let [v0, v1] = j.value_range;
    let g1 = j.gradient_range[1];
    let columns: Vec<[f64; 4]> = (0..n)
        .map(|v| tf.scalar_rgba(v0 + (v1 - v0) * (v as f64 + 0.5) / n as f64))
        .collect();
    let rows: Vec<f64> = (0..n)
        .map(|g| tf.gradient_alpha(g1 * (g as f64 + 0.5) / n as f64))
        .collect();
    let mut pixels = Vec::with_capacity(n * n);
    for row in 0..n {
        let g = n - 1 - row;
        for (v, c) in columns.iter().enumerate() {
            let grey = shown.analysis.joint_grey[g * n + v] as f64;
            let keep = (c[3] * rows[g]).clamp(0.0, 1.0).sqrt();
            let mix = |k: usize| {
                let base = 0.15 + 0.85 * grey;
                ((base * (1.0 - keep) + c[k] * keep * (0.35 + 0.65 * grey)) * 255.0) as u8
            };
            pixels.push(Color32::from_rgb(mix(0), mix(1), mix(2)));
        }
    }
    ColorImage::new([n, n], pixels)
}

const HELP: &str = "\
Left drag: orbit.  Shift+drag or middle drag: pan.  Wheel: zoom.  Double-click: reset.
Charts: drag a point (endpoints too), double-click to add one, right-click or Delete to remove
it, type exact values under the charts.  Ctrl+Z / Ctrl+Shift+Z: undo / redo.
Escape cancels the background work (opening, |grad f|, a screenshot).

While you drag, the viewport draws previews sized to the frame budget (Render settings); when
you stop, it draws the full image and then refines it with jittered frames until the set count.

Gradient opacity multiplies the scalar opacity by a curve over |grad f|, the gradient magnitude
in data units per mm (VTK's central differences by default). Homogeneous regions have a small
|grad f|; boundaries between tissues have a large one. Ramp the curve up from the median to keep
boundaries and hide the inside of organs; 'Suggest' does exactly that from this volume's
statistics.";
