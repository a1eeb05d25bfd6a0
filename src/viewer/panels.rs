//! The menu bar and the side panel: presets, the transfer-function editor, the joint
//! histogram and the gradient statistics. They read the document and say what the user asked
//! for as [`Action`]s; the app applies them.

use std::path::PathBuf;

use egui::Ui;

use crate::camera::{Camera, View};
use crate::gradient::Operator;
use crate::tf::tf2d::Warp;
use crate::tf::{TransferFunction, presets};
use crate::viewer::document::{Document, Source};
use crate::viewer::plane::{PlaneData, PlaneEditor};
use crate::viewer::viewport::Viewport;

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
    /// The 2-D transfer-function editor on the joint histogram.
    pub plane: PlaneEditor,
    /// Sigma typed in the settings before it is applied.
    pub sigma_mm: f64,
    pub export: crate::viewer::settings::ExportDialog,
}

impl Default for Panels {
    fn default() -> Self {
        Panels {
            plane: PlaneEditor::default(),
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
        let entry = tf.clone();
        doc.editor.ui(ui, &mut tf, chart);
        ui.separator();
        egui::CollapsingHeader::new("2-D transfer function on value x |grad f|")
            .default_open(true)
            .show(ui, |ui| {
                let before = tf.clone();
                let stats = &shown.analysis.stats;
                let warp = tf.tf2d.as_ref().map_or(Warp::Sqrt, |t| t.gradient_axis);
                let j = shown.analysis.joint(warp);
                let data = PlaneData {
                    counts: &j.counts,
                    bins: j.bins,
                    value_range: j.value_range,
                    gradient_top: j.gradient_range[1],
                    unit: &shown.analysis.chart.unit,
                    hover,
                    operator: shown.analysis.report.operator,
                    boundaries: stats
                        .boundary_emphasis
                        .as_ref()
                        .map(|b| (&b.table[..], &b.scalar_opacity[..])),
                    generation: doc.volume_generation,
                };
                self.plane.ui(ui, &mut tf, &data);
                doc.editor.track(ui, before, &tf);
            });
        if tf != entry {
            actions.push(Action::Tf { tf, record: false });
        }
        egui::CollapsingHeader::new("Render settings")
            .default_open(true)
            .show(ui, |ui| self.settings(ui, doc, viewport, actions));
        egui::CollapsingHeader::new("Gradient statistics").show(ui, |ui| statistics(ui, doc));
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

const HELP: &str = "\
Left drag: orbit.  Shift+drag or middle drag: pan.  Wheel: zoom.  Double-click: reset.
Charts: drag a point (endpoints too), double-click to add one, right-click or Delete to remove
it, type exact values under the charts.  Ctrl+Z / Ctrl+Shift+Z: undo / redo.
2-D chart (value x |grad f|): drag on empty space to add a widget of the chosen kind, drag a
widget to move it or its corner handle to size it, right-click deletes, numbers underneath.
Escape cancels the background work (opening, |grad f|, a screenshot).

While you drag, the viewport draws previews sized to the frame budget (Render settings); when
you stop, it draws the full image and then refines it with jittered frames until the set count.

Gradient opacity multiplies the scalar opacity by a curve over |grad f|, the gradient magnitude
in data units per mm (VTK's central differences by default). Homogeneous regions have a small
|grad f|; boundaries between tissues have a large one. Ramp the curve up from the median to keep
boundaries and hide the inside of organs; 'Suggest' does exactly that from this volume's
statistics.";
