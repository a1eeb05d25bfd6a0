//! The render settings section of the side panel and the screenshot dialog.

use std::path::PathBuf;

use egui::Ui;

use crate::gradient::Operator;
use crate::scene::{Blend, MAX_ACCUMULATE, MAX_IMAGE_SIDE};
use crate::viewer::document::Document;
use crate::viewer::panels::{Action, Panels};
use crate::viewer::viewport::Viewport;

/// The screenshot dialog's fields.
#[derive(Debug)]
pub struct ExportDialog {
    pub open: bool,
    pub size: [u32; 2],
    pub transparent: bool,
    pub path: String,
}

impl Default for ExportDialog {
    fn default() -> Self {
        ExportDialog {
            open: false,
            size: [1920, 1080],
            transparent: false,
            path: "gradvol.png".into(),
        }
    }
}

impl ExportDialog {
    pub fn window(&mut self, ctx: &egui::Context, actions: &mut Vec<Action>) {
        if !self.open {
            return;
        }
        let mut open = true;
        let mut save = false;
        egui::Window::new("Screenshot")
            .open(&mut open)
            .resizable(false)
            .show(ctx, |ui| {
                ui.horizontal(|ui| {
                    ui.label("Size");
                    for side in &mut self.size {
                        ui.add(egui::DragValue::new(side).range(1..=MAX_IMAGE_SIDE));
                    }
                    ui.label("pixels");
                });
                ui.checkbox(&mut self.transparent, "Transparent background");
                ui.horizontal(|ui| {
                    ui.label("File");
                    ui.text_edit_singleline(&mut self.path);
                    if ui.button("Browse…").clicked()
                        && let Some(p) = rfd::FileDialog::new()
                            .add_filter("PNG", &["png"])
                            .set_file_name("gradvol.png")
                            .save_file()
                    {
                        self.path = p.display().to_string();
                    }
                });
                ui.weak(
                    "Drawn at full quality (refined as the viewport's still image is) in the \
                     background; the scene is stored in the PNG and saved beside it as .json.",
                );
                save = ui.button("Save").clicked();
            });
        self.open = open && !save;
        if save {
            actions.push(Action::Screenshot {
                path: PathBuf::from(&self.path),
                size: self.size,
                transparent: self.transparent,
            });
        }
    }
}

impl Panels {
    pub(crate) fn settings(
        &mut self,
        ui: &mut Ui,
        doc: &mut Document,
        viewport: &mut Viewport,
        actions: &mut Vec<Action>,
    ) {
        let Some(shown) = &doc.shown else {
            return;
        };
        let current = shown.analysis.report.operator;
        let mut operator = current;
        ui.horizontal(|ui| {
            let label = ui.label("Gradient operator:");
            egui::ComboBox::from_id_salt("operator")
                .selected_text(operator.name())
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut operator, Operator::Central, "central (VTK)");
                    ui.selectable_value(&mut operator, Operator::Sobel, "sobel (scipy / 32h)");
                    ui.selectable_value(
                        &mut operator,
                        Operator::Gaussian {
                            sigma_mm: self.sigma_mm,
                        },
                        "gaussian (noise-robust)",
                    );
                })
                .response
                .labelled_by(label.id);
            if matches!(operator, Operator::Gaussian { .. }) {
                ui.label("sigma mm");
                let r = ui.add(
                    egui::DragValue::new(&mut self.sigma_mm)
                        .range(0.1..=20.0)
                        .speed(0.05),
                );
                if r.drag_stopped() || r.lost_focus() {
                    operator = Operator::Gaussian {
                        sigma_mm: self.sigma_mm,
                    };
                }
            }
        });
        if operator != current {
            actions.push(Action::Operator(operator));
        }
        let smallest = shown.smallest_spacing();
        let render = &mut doc.scene.render;
        ui.horizontal(|ui| {
            let label = ui.label("Blend:");
            egui::ComboBox::from_id_salt("blend")
                .selected_text(format!("{:?}", render.blend))
                .show_ui(ui, |ui| {
                    for b in [
                        Blend::Composite,
                        Blend::Maximum,
                        Blend::Minimum,
                        Blend::Average,
                    ] {
                        ui.selectable_value(&mut render.blend, b, format!("{b:?}"));
                    }
                })
                .response
                .labelled_by(label.id);
        });
        ui.horizontal(|ui| {
            let mut auto = render.sample_distance_mm.is_none();
            if ui
                .checkbox(&mut auto, "Sample distance: one voxel")
                .changed()
            {
                render.sample_distance_mm = if auto { None } else { Some(smallest) };
            }
            if let Some(ds) = &mut render.sample_distance_mm {
                ui.add(
                    egui::DragValue::new(ds)
                        .range(smallest / 8.0..=smallest * 8.0)
                        .speed(0.01)
                        .suffix(" mm"),
                );
            }
        });
        ui.horizontal(|ui| {
            ui.checkbox(&mut render.jitter, "Jitter");
            ui.checkbox(&mut render.skip_empty_space, "Skip empty space");
        });
        ui.add_enabled(
            render.jitter,
            egui::Slider::new(&mut render.accumulate, 1..=MAX_ACCUMULATE.min(64))
                .text("frames refined when still"),
        )
        .on_hover_text(
            "When the view stops, jittered frames are averaged until this many: smooth images \
             at coarse sample distances. Screenshots average as many.",
        );
        ui.add(
            egui::Slider::new(&mut viewport.budget_ms, 10.0..=500.0)
                .logarithmic(true)
                .suffix(" ms")
                .text("preview budget"),
        )
        .on_hover_text(
            "While you drag, previews are drawn with fewer samples and pixels so that one \
             takes about this long",
        );
        ui.horizontal(|ui| {
            ui.label("Background");
            let mut bg = render.background.map(|c| c as f32);
            if ui.color_edit_button_rgb(&mut bg).changed() {
                render.background = bg.map(|c| c as f64);
            }
        });
        ui.label("Crop (fraction of each axis)");
        for (axis, name) in ["x (i)", "y (j)", "z (k)"].iter().enumerate() {
            ui.horizontal(|ui| {
                ui.label(*name);
                let [lo, hi] = &mut render.crop;
                let (l, h) = (&mut lo[axis], &mut hi[axis]);
                ui.add(egui::Slider::new(l, 0.0..=1.0).show_value(false));
                ui.add(egui::Slider::new(h, 0.0..=1.0).show_value(false));
                if *l > *h - 0.01 {
                    *l = (*h - 0.01).max(0.0);
                    *h = h.max(*l + 0.01);
                }
            });
        }
        ui.separator();
        let mut tf = doc.tf();
        ui.checkbox(&mut tf.shading.shade, "Shading (Phong, headlight)");
        if tf.shading.shade {
            let s = &mut tf.shading;
            ui.add(egui::Slider::new(&mut s.ambient, 0.0..=1.0).text("ambient"));
            ui.add(egui::Slider::new(&mut s.diffuse, 0.0..=1.0).text("diffuse"));
            ui.add(egui::Slider::new(&mut s.specular, 0.0..=1.0).text("specular"));
            ui.add(egui::Slider::new(&mut s.specular_power, 1.0..=100.0).text("specular power"));
        }
        ui.add(
            egui::Slider::new(&mut tf.unit_distance_mm, 0.05..=10.0)
                .logarithmic(true)
                .text("opacity unit distance (mm)"),
        )
        .on_hover_text("Opacities are per this length of ray (Slicer's presets: 1 mm)");
        if tf != doc.tf() {
            actions.push(Action::Tf { tf, record: false });
        }
    }
}
