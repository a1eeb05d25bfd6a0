//! The viewer window: the volume drawn by the same [`Renderer`] as `gradvol render`, shown as a
//! native texture in egui, with the transfer-function editor, presets, histograms and render
//! settings beside it.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use egui::{Color32, ColorImage, Sense, TextureHandle, TextureOptions, Ui, Vec2, vec2};
use glam::Vec2 as GVec2;

use crate::camera::{Camera, View};
use crate::gpu::Gpu;
use crate::gradient::stats::GradientStats;
use crate::gradient::{Operator, cpu};
use crate::png_io::write_png;
use crate::render::params::{Geometry, Tile};
use crate::render::renderer::PoolReport;
use crate::render::renderer::{GradientReport, Image, Renderer, TILE_SIDE, fit_to_device};
use crate::scene::{Blend, MAX_IMAGE_SIDE, RenderSettings, Scene};
use crate::tf::{TransferFunction, presets};
use crate::viewer::editor::{ChartData, Histogram, TfEditor};
use crate::viewer::pick::{Pick, pick};
use crate::viewer::session;
use crate::volume::{self, LoadOptions, Volume, synthetic};

/// Seconds between a change and its autosave: a crash loses at most this much.
const AUTOSAVE_SECONDS: f64 = 2.0;

/// How `gradvol view` was started.
#[derive(Debug, Clone, Default)]
pub struct ViewOptions {
    /// The volume given on the command line; `None` restores the session's, else the demo.
    pub volume: Option<PathBuf>,
    /// Where the session lives; `None` keeps no session.
    pub session: Option<PathBuf>,
    /// Save a screenshot of the whole window here after `exit_after_frames` frames, then exit.
    pub screenshot: Option<PathBuf>,
    pub exit_after_frames: Option<u32>,
    /// Window size in points.
    pub window: [f32; 2],
}

/// What the window ends with: `Err` when automation could not do its job.
pub type Outcome = Arc<Mutex<Result<(), String>>>;

/// The demo volume: a CT-like chest phantom of 128^3 voxels, with noise.
pub fn demo_volume() -> Volume {
    synthetic::ct_phantom([128, 128, 128], [2.0, 1.6, 2.4], 25.0)
}

/// A volume and everything derived from it.
struct Loaded {
    volume: Volume,
    /// The file it came from; `None` for the demo.
    path: Option<PathBuf>,
    geometry: Geometry,
    renderer: Renderer,
    analysis: Analysis,
}

/// |grad f| of a volume, kept on the host for statistics and picking, and what the charts
/// draw from it.
struct Analysis {
    gradient: Vec<f32>,
    report: GradientReport,
    stats: GradientStats,
    chart: ChartData,
    /// The 2-D histogram as log-scaled grey levels, before the TF overlay.
    joint_grey: Vec<f32>,
}

impl Analysis {
    /// Computes |grad f| on the CPU (the statistics and picking need it on the host anyway),
    /// its statistics and histograms.
    fn of(volume: &Volume, operator: Operator) -> Result<Analysis, String> {
        if let Operator::Gaussian { sigma_mm } = operator {
            cpu::check_gaussian(volume.dims, volume.spacing, sigma_mm)?;
        }
        let start = Instant::now();
        let gradient = cpu::gradient_magnitude(volume, operator);
        let report = GradientReport {
            operator,
            device: format!("cpu ({} threads)", rayon::current_num_threads()),
            ms: start.elapsed().as_secs_f64() * 1e3,
        };
        let stats = GradientStats::compute(volume, &gradient);
        let j = &stats.joint_histogram;
        let n = j.bins;
        let mut values = vec![0u64; n];
        let mut gradients = vec![0u64; n];
        for (row, g) in j.counts.chunks_exact(n).zip(&mut gradients) {
            for (c, v) in row.iter().zip(&mut values) {
                *v += c;
                *g += c;
            }
        }
        let tallest = j.counts.iter().copied().max().unwrap_or(0).max(1) as f32;
        let joint_grey = j
            .counts
            .iter()
            .map(|&c| (1.0 + c as f32).ln() / (1.0 + tallest).ln())
            .collect();
        let chart = ChartData {
            values: Histogram {
                range: j.value_range,
                counts: values,
            },
            gradients: Histogram {
                range: j.gradient_range,
                counts: gradients,
            },
            unit: unit_of(volume).into(),
            hover: None,
            suggestion: (stats.suggested_gradient_opacity.len() > 1)
                .then(|| stats.suggested_gradient_opacity.clone()),
        };
        Ok(Analysis {
            gradient,
            report,
            stats,
            chart,
            joint_grey,
        })
    }
}

impl Loaded {
    fn new(
        gpu: &Gpu,
        volume: Volume,
        path: Option<PathBuf>,
        scene: &Scene,
    ) -> Result<Loaded, String> {
        // Too large for a 3-D texture: everything (render, statistics, picking) uses the box
        // average, whose note the status line shows.
        let volume = fit_to_device(gpu, &volume).map_or(volume, |(small, _)| small);
        let geometry = Geometry::of(&volume);
        let tf = scene
            .transfer_function(geometry.mean_spacing(), volume.range)
            .map_err(|e| e.to_string())?;
        let analysis = Analysis::of(&volume, scene.render.gradient)?;
        let renderer = Renderer::with_gradient(
            gpu,
            &volume,
            &tf,
            &analysis.gradient,
            analysis.report.clone(),
        )
        .map_err(|e| e.to_string())?;
        Ok(Loaded {
            geometry,
            renderer,
            analysis,
            volume,
            path,
        })
    }

    /// Recomputes |grad f| and everything from it with another operator.
    fn compute_gradient(&mut self, gpu: &Gpu, operator: Operator) -> Result<(), String> {
        let analysis = Analysis::of(&self.volume, operator)?;
        self.renderer.set_gradient(
            gpu,
            &self.volume,
            &analysis.gradient,
            analysis.report.clone(),
        );
        self.analysis = analysis;
        Ok(())
    }

    fn name(&self) -> String {
        match &self.path {
            Some(p) => p
                .file_name()
                .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into()),
            None => "demo phantom".into(),
        }
    }
}

/// "HU" for data that looks like CT, else a neutral word.
fn unit_of(volume: &Volume) -> &'static str {
    if volume.range[0] <= -900.0 && volume.range[1] >= 300.0 && volume.range[1] <= 5000.0 {
        "HU"
    } else {
        "units"
    }
}

/// A first transfer function for a volume opened without one: our bone-surface preset for CT,
/// a neutral ramp otherwise.
fn first_scene(volume: &Volume, path: Option<PathBuf>) -> Scene {
    let mut scene = Scene {
        volume: path,
        ..Scene::default()
    };
    if unit_of(volume) == "HU" {
        scene.preset = Some("gradvol-CT-Bone-Surface".into());
    }
    if let Ok(tf) = scene.transfer_function(Geometry::of(volume).mean_spacing(), volume.range) {
        scene.transfer_function = Some(tf);
    }
    scene
}

/// The screenshot dialog's fields.
#[derive(Debug)]
struct Export {
    open: bool,
    size: [u32; 2],
    transparent: bool,
    path: String,
}

/// `--screenshot` / `--exit-after-frames`.
#[derive(Debug)]
struct Automation {
    path: PathBuf,
    after: u32,
    requested: bool,
    shot: Arc<Mutex<Option<Arc<ColorImage>>>>,
}

/// Everything that decides the viewport's pixels; a frame is drawn only when it changes.
#[derive(Debug, Clone, PartialEq)]
struct DrawKey {
    camera: Camera,
    settings: RenderSettings,
    tf_generation: u64,
}

pub struct Viewer {
    gpu: Gpu,
    render_state: egui_wgpu::RenderState,
    loaded: Loaded,
    scene: Scene,
    editor: TfEditor,
    /// Bumped on every transfer-function change.
    tf_generation: u64,
    texture: Option<egui::TextureId>,
    drawn: Option<DrawKey>,
    /// Frames drawn, for automation, and the times of the last few, for the fps readout.
    frames_drawn: u32,
    frame_times: VecDeque<Instant>,
    interacting: bool,
    hover: Option<Pick>,
    hover_pixel: Option<GVec2>,
    /// The joint-histogram image and the TF generation it shows; reset with the analysis.
    joint: Option<(TextureHandle, u64)>,
    session: Option<PathBuf>,
    saved: Option<Scene>,
    changed_at: Option<Instant>,
    export: Export,
    automation: Option<Automation>,
    outcome: Outcome,
    status: String,
    /// Sigma typed in the settings before it is applied.
    sigma_mm: f64,
    /// The viewport in window pixels: x, y, width, height.
    viewport_px: [u32; 4],
}

impl std::fmt::Debug for Viewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Viewer")
            .field("volume", &self.loaded.name())
            .field("scene", &self.scene)
            .finish_non_exhaustive()
    }
}

/// Opens the window and runs until it closes.
pub fn run(options: ViewOptions, initial: Option<Volume>) -> Result<(), String> {
    let outcome: Outcome = Arc::new(Mutex::new(Ok(())));
    let result = outcome.clone();
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("gradvol")
            .with_inner_size(options.window)
            .with_drag_and_drop(true),
        renderer: eframe::Renderer::Wgpu,
        wgpu_options: egui_wgpu::WgpuConfiguration {
            wgpu_setup: egui_wgpu::WgpuSetup::CreateNew(egui_wgpu::WgpuSetupCreateNew {
                // The raymarcher filters float32 volumes and may need large 3-D textures:
                // ask for what the adapter has, not egui's defaults.
                device_descriptor: Arc::new(|adapter| wgpu::DeviceDescriptor {
                    label: Some("gradvol viewer"),
                    required_features: adapter.features() & crate::gpu::WANTED_FEATURES,
                    required_limits: adapter.limits(),
                    memory_hints: wgpu::MemoryHints::Performance,
                    ..Default::default()
                }),
                ..egui_wgpu::WgpuSetupCreateNew::without_display_handle()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    eframe::run_native(
        "gradvol",
        native,
        Box::new(move |cc| {
            let viewer = Viewer::new(cc, options, initial, outcome)?;
            Ok(Box::new(viewer))
        }),
    )
    .map_err(|e| format!("the window could not be opened: {e}"))?;
    result.lock().map_err(|e| e.to_string())?.clone()
}

impl Viewer {
    fn new(
        cc: &eframe::CreationContext<'_>,
        options: ViewOptions,
        initial: Option<Volume>,
        outcome: Outcome,
    ) -> Result<Viewer, String> {
        let rs = cc
            .wgpu_render_state
            .as_ref()
            .ok_or("the viewer needs the wgpu renderer")?;
        let gpu = Gpu {
            adapter: rs.adapter.clone(),
            device: rs.device.clone(),
            queue: rs.queue.clone(),
            info: rs.adapter.get_info(),
        };
        let saved = options.session.as_deref().and_then(session::load);
        let (volume, path, mut scene) = match (initial, options.volume.clone()) {
            (Some(v), path) => {
                let path = path.map(|p| std::path::absolute(&p).unwrap_or(p));
                // The session's TF and camera carry over only to the same volume.
                let scene = match &saved {
                    Some(s) if s.volume.is_some() && s.volume == path => s.clone(),
                    _ => first_scene(&v, path.clone()),
                };
                (v, path, scene)
            }
            (None, _) => restore(saved.as_ref()),
        };
        scene.volume = path.clone();
        let loaded = Loaded::new(&gpu, volume, path, &scene)?;
        scene.transfer_function = Some(loaded.renderer.transfer_function().clone());
        let automation = options.screenshot.map(|path| Automation {
            path,
            after: options.exit_after_frames.unwrap_or(3).max(1),
            requested: false,
            shot: Arc::new(Mutex::new(None)),
        });
        let sigma_mm = match scene.render.gradient {
            Operator::Gaussian { sigma_mm } => sigma_mm,
            _ => 1.0,
        };
        let mut viewer = Viewer {
            gpu,
            render_state: rs.clone(),
            loaded,
            editor: TfEditor::default(),
            tf_generation: 0,
            texture: None,
            drawn: None,
            frames_drawn: 0,
            frame_times: VecDeque::new(),
            interacting: false,
            hover: None,
            hover_pixel: None,
            joint: None,
            session: options.session,
            saved: None,
            changed_at: Some(Instant::now()),
            export: Export {
                open: false,
                size: [1920, 1080],
                transparent: false,
                path: "gradvol.png".into(),
            },
            automation,
            outcome,
            status: String::new(),
            sigma_mm,
            viewport_px: [0; 4],
            scene,
        };
        viewer.status = viewer.describe_volume();
        Ok(viewer)
    }

    fn tf(&self) -> &TransferFunction {
        self.scene
            .transfer_function
            .as_ref()
            .expect("the viewer always holds a transfer function")
    }

    fn describe_volume(&self) -> String {
        let v = &self.loaded.volume;
        let notes = v.notes.iter().map(|n| format!("; {n}")).collect::<String>();
        format!(
            "{}: {}x{}x{} voxels of {:.3}x{:.3}x{:.3} mm, values {}..{}{notes}",
            self.loaded.name(),
            v.dims[0],
            v.dims[1],
            v.dims[2],
            v.spacing[0],
            v.spacing[1],
            v.spacing[2],
            v.range[0],
            v.range[1],
        )
    }

    /// Sends a changed transfer function to the renderer (two table uploads).
    fn tf_changed(&mut self) {
        let tf = self.tf().clone();
        self.loaded.renderer.set_transfer_function(&self.gpu, &tf);
        self.tf_generation += 1;
        self.changed_at = Some(Instant::now());
    }

    fn apply_tf(&mut self, tf: TransferFunction) {
        let before = self.tf().clone();
        if before != tf {
            self.editor.record(before);
            self.scene.transfer_function = Some(tf);
            self.tf_changed();
        }
    }

    fn apply_preset(&mut self, name: &str) {
        match presets::preset(name, self.loaded.geometry.mean_spacing()) {
            Ok(tf) => {
                self.scene.preset = Some(name.into());
                self.apply_tf(tf);
                self.status = format!("preset {name}");
            }
            Err(e) => self.status = e,
        }
    }

    /// Opens a volume file or DICOM folder in place of the current one.
    fn open(&mut self, path: &Path) {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let volume = match volume::load(&path, &LoadOptions::default()) {
            Ok(v) => v,
            Err(e) => {
                self.status = format!("cannot open {}: {e}", path.display());
                return;
            }
        };
        let mut scene = first_scene(&volume, Some(path.clone()));
        scene.render = RenderSettings {
            crop: [[0.0; 3], [1.0; 3]],
            ..self.scene.render.clone()
        };
        if let Err(e) = self.show(volume, Some(path.clone()), scene) {
            self.status = format!("cannot show {}: {e}", path.display());
        }
    }

    /// Replaces the volume and scene; the editor's history belongs to the old volume.
    fn show(
        &mut self,
        volume: Volume,
        path: Option<PathBuf>,
        mut scene: Scene,
    ) -> Result<(), String> {
        let loaded = Loaded::new(&self.gpu, volume, path, &scene)?;
        scene.transfer_function = Some(loaded.renderer.transfer_function().clone());
        self.loaded = loaded;
        self.scene = scene;
        self.editor = TfEditor::default();
        self.tf_generation += 1;
        self.drawn = None;
        self.hover = None;
        self.hover_pixel = None;
        self.joint = None;
        self.changed_at = Some(Instant::now());
        self.status = self.describe_volume();
        Ok(())
    }

    fn set_operator(&mut self, operator: Operator) {
        if operator == self.loaded.analysis.report.operator {
            return;
        }
        let start = Instant::now();
        match self.loaded.compute_gradient(&self.gpu, operator) {
            Ok(()) => {
                self.scene.render.gradient = operator;
                self.joint = None;
                self.changed_at = Some(Instant::now());
                self.status = format!(
                    "|grad f| by {} in {:.0} ms",
                    operator.name(),
                    start.elapsed().as_secs_f64() * 1e3
                );
            }
            Err(e) => self.status = e,
        }
    }
}

/// Renders `scene` (at its own size, in tiles when large, streamed into the file band by band)
/// through the same path as `gradvol render`, and writes the PNG, with the scene in its
/// metadata, and the scene as JSON beside it (`path` with the extension `.json`), each
/// atomically.
pub fn export_screenshot(
    gpu: &Gpu,
    renderer: &mut Renderer,
    scene: &Scene,
    path: &Path,
) -> Result<(), String> {
    if !path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"))
    {
        return Err(format!("{} does not end in .png", path.display()));
    }
    scene.validate()?;
    let text = serde_json::to_string(scene).map_err(|e| e.to_string())?;
    renderer
        .write_png(gpu, &scene.camera, &scene.render, path, &text)
        .map_err(|e| e.to_string())?;
    let pretty = serde_json::to_string_pretty(scene).map_err(|e| e.to_string())?;
    crate::atomic::write_atomically(&path.with_extension("json"), |out| {
        out.write_all(pretty.as_bytes())
    })
    .map_err(|e| e.to_string())
}

/// "GPU 41.2 MB · 63% of blocks skipped": the status line's account of the pool.
pub fn pool_summary(report: &PoolReport, skipping: bool) -> String {
    let mb = report.gpu_bytes as f64 / 1e6;
    if !skipping {
        return format!("GPU {mb:.1} MB  ·  skipping off");
    }
    let share = 100.0 * report.blocks_empty as f64 / report.blocks.max(1) as f64;
    format!("GPU {mb:.1} MB  ·  {share:.0}% of blocks skipped")
}

/// The volume and scene to start with when none is named: the session's, else the demo.
fn restore(saved: Option<&Scene>) -> (Volume, Option<PathBuf>, Scene) {
    if let Some(scene) = saved {
        match &scene.volume {
            Some(path) => match volume::load(path, &LoadOptions::default()) {
                Ok(v) => return (v, Some(path.clone()), scene.clone()),
                Err(e) => eprintln!(
                    "gradvol: the last session's volume {} cannot be opened ({e}); showing the demo",
                    path.display()
                ),
            },
            None => return (demo_volume(), None, scene.clone()),
        }
    }
    let volume = demo_volume();
    let scene = first_scene(&volume, None);
    (volume, None, scene)
}

impl eframe::App for Viewer {
    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        self.shortcuts_and_drops(&ctx);
        egui::Panel::top("menu").show(ui, |ui| self.menu_bar(ui));
        egui::Panel::bottom("status").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.label(&self.status);
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    ui.label(self.fps_text());
                    ui.separator();
                    ui.label(self.memory_text());
                });
            });
        });
        egui::Panel::left("editor")
            .resizable(true)
            .default_size(430.0)
            .min_size(320.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.side_panel(ui));
            });
        egui::CentralPanel::default().show(ui, |ui| self.viewport(ui));
        self.export_window(&ctx);
        self.autosave();
        self.automate(&ctx);
    }

    fn on_exit(&mut self) {
        self.save_session();
    }
}

impl Viewer {
    fn shortcuts_and_drops(&mut self, ctx: &egui::Context) {
        let save = egui::KeyboardShortcut::new(egui::Modifiers::COMMAND, egui::Key::S);
        let open = egui::KeyboardShortcut::new(egui::Modifiers::COMMAND, egui::Key::O);
        if ctx.input_mut(|i| i.consume_shortcut(&save)) {
            self.export.open = true;
        }
        if ctx.input_mut(|i| i.consume_shortcut(&open)) {
            self.open_dialog(false);
        }
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        if let Some(path) = dropped.first() {
            self.open(path);
        }
    }

    fn open_dialog(&mut self, folder: bool) {
        let dialog = rfd::FileDialog::new().set_title("Open a volume");
        let picked = if folder {
            dialog.pick_folder()
        } else {
            dialog
                .add_filter(
                    "volumes",
                    &["nrrd", "nhdr", "nii", "gz", "mha", "mhd", "dcm", "raw"],
                )
                .pick_file()
        };
        if let Some(path) = picked {
            self.open(&path);
        }
    }

    fn menu_bar(&mut self, ui: &mut Ui) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui.button("Open file…  (Ctrl+O)").clicked() {
                    self.open_dialog(false);
                }
                if ui.button("Open DICOM folder…").clicked() {
                    self.open_dialog(true);
                }
                if ui.button("Open demo phantom").clicked() {
                    let volume = demo_volume();
                    let scene = first_scene(&volume, None);
                    if let Err(e) = self.show(volume, None, scene) {
                        self.status = e;
                    }
                }
                ui.separator();
                if ui.button("Load transfer function…").clicked() {
                    self.load_tf_dialog();
                }
                if ui.button("Save transfer function…").clicked() {
                    self.save_tf_dialog();
                }
                ui.separator();
                if ui.button("Screenshot…  (Ctrl+S)").clicked() {
                    self.export.open = true;
                }
                ui.separator();
                if ui.button("Quit").clicked() {
                    ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
                }
            });
            ui.menu_button("Presets", |ui| {
                egui::ScrollArea::vertical()
                    .max_height(500.0)
                    .show(ui, |ui| {
                        let mut chosen = None;
                        for (name, origin) in presets::names() {
                            let label = match origin {
                                presets::Origin::Gradvol => format!("{name}  (gradient opacity)"),
                                presets::Origin::Slicer => name.to_string(),
                            };
                            if ui.button(label).clicked() {
                                chosen = Some(name);
                            }
                        }
                        if let Some(name) = chosen {
                            self.apply_preset(name);
                            ui.close();
                        }
                    });
            });
            ui.menu_button("View", |ui| {
                for (view, label) in [
                    (View::Anterior, "Anterior"),
                    (View::Posterior, "Posterior"),
                    (View::Left, "Left"),
                    (View::Right, "Right"),
                    (View::Superior, "Superior"),
                    (View::Inferior, "Inferior"),
                ] {
                    if ui.button(label).clicked() {
                        self.scene.camera = Camera {
                            view,
                            ..self.scene.camera
                        };
                        self.scene.camera.azimuth_deg = 0.0;
                        self.scene.camera.elevation_deg = 0.0;
                    }
                }
                ui.separator();
                if ui.button("Reset camera").clicked() {
                    self.scene.camera = Camera::default();
                }
                ui.checkbox(&mut self.scene.camera.orthographic, "Orthographic");
            });
            ui.menu_button("Help", |ui| {
                ui.label(HELP);
            });
        });
    }

    fn load_tf_dialog(&mut self) {
        let Some(path) = rfd::FileDialog::new()
            .add_filter("transfer function", &["json"])
            .pick_file()
        else {
            return;
        };
        match std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| TransferFunction::from_json(&t))
        {
            Ok(tf) => {
                self.scene.preset = None;
                self.apply_tf(tf);
                self.status = format!("loaded {}", path.display());
            }
            Err(e) => self.status = format!("cannot load {}: {e}", path.display()),
        }
    }

    fn save_tf_dialog(&mut self) {
        let Some(path) = rfd::FileDialog::new()
            .add_filter("transfer function", &["json"])
            .set_file_name("transfer-function.json")
            .save_file()
        else {
            return;
        };
        let text = serde_json::to_string_pretty(self.tf()).expect("a TF serializes");
        self.status =
            match crate::atomic::write_atomically(&path, |out| out.write_all(text.as_bytes())) {
                Ok(()) => format!("saved {}", path.display()),
                Err(e) => format!("cannot save {}: {e}", path.display()),
            };
    }

    fn side_panel(&mut self, ui: &mut Ui) {
        ui.add_space(4.0);
        ui.horizontal(|ui| {
            ui.label("Preset:");
            let current = self
                .scene
                .preset
                .clone()
                .unwrap_or_else(|| "(edited)".into());
            let mut chosen = None;
            egui::ComboBox::from_id_salt("preset")
                .selected_text(current)
                .width(240.0)
                .show_ui(ui, |ui| {
                    for (name, _) in presets::names() {
                        if ui.selectable_label(false, name).clicked() {
                            chosen = Some(name);
                        }
                    }
                });
            if let Some(name) = chosen {
                self.apply_preset(name);
            }
        });
        ui.separator();
        let mut tf = self.tf().clone();
        let chart = &mut self.loaded.analysis.chart;
        chart.hover = self.hover.map(|p| [p.value, p.gradient]);
        if self.editor.ui(ui, &mut tf, chart) {
            self.scene.transfer_function = Some(tf);
            self.scene.preset = None;
            self.tf_changed();
        }
        ui.separator();
        egui::CollapsingHeader::new("Value x |grad f| histogram")
            .default_open(true)
            .show(ui, |ui| self.joint_view(ui));
        egui::CollapsingHeader::new("Render settings")
            .default_open(true)
            .show(ui, |ui| self.settings(ui));
        egui::CollapsingHeader::new("Gradient statistics").show(ui, |ui| {
            let s = &self.loaded.analysis.stats;
            let unit = &self.loaded.analysis.chart.unit;
            ui.label(format!(
                "|grad f| by {} ({unit}/mm): min {:.3}, mean {:.3}, max {:.3}\n\
                 percentiles 50: {:.3}  90: {:.3}  95: {:.3}  99: {:.3}  99.9: {:.3}",
                self.loaded.analysis.report.operator.name(),
                s.min,
                s.mean,
                s.max,
                s.percentiles.p50,
                s.percentiles.p90,
                s.percentiles.p95,
                s.percentiles.p99,
                s.percentiles.p99_9
            ));
        });
    }

    /// The joint histogram (log grey) with what the transfer functions keep drawn over it: each
    /// cell tinted by the TF's colour times alpha_scalar(value) x alpha_gradient(|grad f|).
    fn joint_view(&mut self, ui: &mut Ui) {
        let stale = !matches!(&self.joint, Some((_, g)) if *g == self.tf_generation);
        if stale {
            let image = self.joint_image();
            let texture = ui
                .ctx()
                .load_texture("joint-histogram", image, TextureOptions::NEAREST);
            self.joint = Some((texture, self.tf_generation));
        }
        let Some((texture, ..)) = &self.joint else {
            return;
        };
        let width = ui.available_width().min(400.0);
        let (rect, response) = ui.allocate_exact_size(vec2(width, 180.0), Sense::hover());
        let painter = ui.painter_at(rect);
        painter.image(
            texture.id(),
            rect,
            egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
            Color32::WHITE,
        );
        let j = &self.loaded.analysis.stats.joint_histogram;
        if let Some(p) = self.hover {
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
        let unit = &self.loaded.analysis.chart.unit;
        response.on_hover_text(format!(
            "x: value {:.0}..{:.0} {unit}; y: |grad f| 0..{:.3} {unit}/mm (99.9th percentile); \
             grey: log count; colour: what the transfer functions keep",
            j.value_range[0], j.value_range[1], j.gradient_range[1]
        ));
    }

    fn joint_image(&self) -> ColorImage {
        let j = &self.loaded.analysis.stats.joint_histogram;
        let n = j.bins;
        let tf = self.tf();
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
                let grey = self.loaded.analysis.joint_grey[g * n + v] as f64;
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

    fn settings(&mut self, ui: &mut Ui) {
        let mut tf = self.tf().clone();
        let mut operator = self.loaded.analysis.report.operator;
        ui.horizontal(|ui| {
            ui.label("Gradient operator:");
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
                });
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
        if operator != self.loaded.analysis.report.operator {
            self.set_operator(operator);
        }
        let render = &mut self.scene.render;
        ui.horizontal(|ui| {
            ui.label("Blend:");
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
                });
        });
        ui.horizontal(|ui| {
            let mut auto = render.sample_distance_mm.is_none();
            let smallest = self
                .loaded
                .volume
                .spacing
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min);
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
        if tf != *self.tf() {
            self.scene.transfer_function = Some(tf);
            self.tf_changed();
        }
    }

    fn viewport(&mut self, ui: &mut Ui) {
        let size = ui.available_size().max(Vec2::splat(16.0));
        let (rect, response) = ui.allocate_exact_size(size, Sense::click_and_drag());
        let (_, radius) = self.loaded.geometry.bounding_sphere();
        let camera = &mut self.scene.camera;
        let shift = ui.input(|i| i.modifiers.shift);
        let pan = response.dragged_by(egui::PointerButton::Middle)
            || (shift && response.dragged_by(egui::PointerButton::Primary));
        let d = response.drag_delta();
        if pan {
            let mm_per_point = 2.0 * radius / camera.zoom / rect.height().max(1.0) as f64;
            camera.pan_mm[0] -= d.x as f64 * mm_per_point;
            camera.pan_mm[1] += d.y as f64 * mm_per_point;
        } else if response.dragged_by(egui::PointerButton::Primary) {
            camera.azimuth_deg = (camera.azimuth_deg - d.x as f64 * 0.4).rem_euclid(360.0);
            camera.elevation_deg = (camera.elevation_deg + d.y as f64 * 0.4).clamp(-89.0, 89.0);
        }
        let scroll = if response.hovered() {
            ui.input(|i| i.smooth_scroll_delta.y)
        } else {
            0.0
        };
        if scroll != 0.0 {
            camera.zoom = (camera.zoom * (scroll as f64 * 0.003).exp()).clamp(0.05, 50.0);
        }
        if response.double_clicked() {
            *camera = Camera {
                view: camera.view,
                ..Camera::default()
            };
        }
        let was_interacting = self.interacting;
        // Any drag (the camera, or a point in the charts) draws the faster preview.
        self.interacting = ui.ctx().dragged_id().is_some() || scroll != 0.0;
        if was_interacting && !self.interacting {
            ui.ctx().request_repaint();
        }

        let ppp = ui.ctx().pixels_per_point();
        self.viewport_px = [
            (rect.left() * ppp).round() as u32,
            (rect.top() * ppp).round() as u32,
            (rect.width() * ppp).round() as u32,
            (rect.height() * ppp).round() as u32,
        ];
        let full = [
            ((rect.width() * ppp).round() as u32).clamp(1, TILE_SIDE),
            ((rect.height() * ppp).round() as u32).clamp(1, TILE_SIDE),
        ];
        let mut settings = self.scene.render.clone();
        settings.size = full;
        settings.transparent = false;
        let full_settings = settings.clone();
        if self.interacting {
            // A faster preview while the camera moves: half the pixels each way and twice the
            // sample distance.
            settings.size = full.map(|s| (s / 2).max(1));
            let base = settings.sample_distance_mm.unwrap_or_else(|| {
                self.loaded
                    .volume
                    .spacing
                    .iter()
                    .copied()
                    .fold(f64::INFINITY, f64::min)
            });
            settings.sample_distance_mm = Some(base * 2.0);
        }
        self.draw(&settings);

        if let Some(texture) = self.texture {
            ui.painter_at(rect).image(
                texture,
                rect,
                egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
                Color32::WHITE,
            );
        }
        self.hover_pick(&response, rect, ppp, &full_settings);
        if let Some(p) = self.hover {
            let unit = &self.loaded.analysis.chart.unit;
            let text = format!(
                "value {:.1} {unit}   |grad f| {:.2} {unit}/mm   voxel ({:.0}, {:.0}, {:.0})",
                p.value, p.gradient, p.voxel.x, p.voxel.y, p.voxel.z
            );
            let at = rect.left_top() + vec2(8.0, 8.0);
            let painter = ui.painter_at(rect);
            let galley =
                painter.layout_no_wrap(text, egui::FontId::monospace(13.0), Color32::WHITE);
            painter.rect_filled(
                egui::Rect::from_min_size(at, galley.size()).expand(4.0),
                3.0,
                Color32::from_black_alpha(170),
            );
            painter.galley(at, galley, Color32::WHITE);
        }
    }

    /// Draws a frame when anything that decides it changed.
    fn draw(&mut self, settings: &RenderSettings) {
        let key = DrawKey {
            camera: self.scene.camera,
            settings: settings.clone(),
            tf_generation: self.tf_generation,
        };
        if self.drawn.as_ref() == Some(&key) && self.texture.is_some() {
            return;
        }
        let renderer = &mut self.loaded.renderer;
        let view = match renderer.draw(&self.gpu, &self.scene.camera, settings) {
            Ok(view) => view,
            Err(e) => {
                self.status = format!("render failed: {e}");
                return;
            }
        };
        let mut egui_renderer = self.render_state.renderer.write();
        match self.texture {
            Some(id) => egui_renderer.update_egui_texture_from_wgpu_texture(
                &self.gpu.device,
                view,
                wgpu::FilterMode::Linear,
                id,
            ),
            None => {
                self.texture = Some(egui_renderer.register_native_texture(
                    &self.gpu.device,
                    view,
                    wgpu::FilterMode::Linear,
                ))
            }
        }
        drop(egui_renderer);
        self.drawn = Some(key);
        self.frames_drawn += 1;
        self.frame_times.push_back(Instant::now());
        while self.frame_times.len() > 10 {
            self.frame_times.pop_front();
        }
    }

    /// Frames drawn per second over the last few frames.
    fn fps(&self) -> Option<f64> {
        let n = self.frame_times.len();
        if n < 2 {
            return None;
        }
        let span = self.frame_times[n - 1].duration_since(self.frame_times[0]);
        Some((n - 1) as f64 / span.as_secs_f64().max(1e-9))
    }

    fn fps_text(&self) -> String {
        match self.fps() {
            Some(fps) => format!("{fps:.1} frames/s  ·  {}", self.gpu.info.name),
            None => String::new(),
        }
    }

    /// What the volume holds on the GPU and how much of it rays step over.
    fn memory_text(&self) -> String {
        let render = &self.scene.render;
        let skipping = render.skip_empty_space && render.blend == Blend::Composite;
        pool_summary(&self.loaded.renderer.report(), skipping)
    }

    fn hover_pick(
        &mut self,
        response: &egui::Response,
        rect: egui::Rect,
        ppp: f32,
        settings: &RenderSettings,
    ) {
        let Some(pos) = response.hover_pos().filter(|_| !self.interacting) else {
            self.hover = None;
            self.hover_pixel = None;
            return;
        };
        let pixel = GVec2::new((pos.x - rect.left()) * ppp, (pos.y - rect.top()) * ppp);
        if self.hover_pixel == Some(pixel) {
            return;
        }
        self.hover_pixel = Some(pixel);
        let params = self.loaded.renderer.params(
            &self.scene.camera,
            settings,
            Tile {
                image_size: settings.size,
                offset: [0, 0],
            },
        );
        self.hover = pick(
            &params,
            &self.loaded.volume,
            &self.loaded.analysis.gradient,
            self.tf(),
            settings.blend,
            pixel,
        );
    }

    fn export_window(&mut self, ctx: &egui::Context) {
        if !self.export.open {
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
                    for side in &mut self.export.size {
                        ui.add(egui::DragValue::new(side).range(1..=MAX_IMAGE_SIDE));
                    }
                    ui.label("pixels");
                });
                ui.checkbox(&mut self.export.transparent, "Transparent background");
                ui.horizontal(|ui| {
                    ui.label("File");
                    ui.text_edit_singleline(&mut self.export.path);
                    if ui.button("Browse…").clicked()
                        && let Some(p) = rfd::FileDialog::new()
                            .add_filter("PNG", &["png"])
                            .set_file_name("gradvol.png")
                            .save_file()
                    {
                        self.export.path = p.display().to_string();
                    }
                });
                ui.weak("The scene is stored in the PNG and saved beside it as .json.");
                save = ui.button("Save").clicked();
            });
        self.export.open = open;
        if save {
            let path = PathBuf::from(&self.export.path);
            self.status = match self.export_image(&path) {
                Ok(ms) => format!("saved {} in {ms:.0} ms", path.display()),
                Err(e) => format!("screenshot failed: {e}"),
            };
            self.export.open = false;
        }
    }

    fn export_image(&mut self, path: &Path) -> Result<f64, String> {
        let start = Instant::now();
        let mut scene = self.scene.clone();
        scene.render.size = self.export.size;
        scene.render.transparent = self.export.transparent;
        let result = export_screenshot(&self.gpu, &mut self.loaded.renderer, &scene, path);
        // The viewport's target was replaced by the export's tiles: draw it again.
        self.drawn = None;
        result.map(|()| start.elapsed().as_secs_f64() * 1e3)
    }

    fn save_session(&mut self) {
        let Some(path) = &self.session else {
            return;
        };
        if self.saved.as_ref() == Some(&self.scene) {
            return;
        }
        match session::save(path, &self.scene) {
            Ok(()) => self.saved = Some(self.scene.clone()),
            Err(e) => self.status = format!("cannot save the session to {}: {e}", path.display()),
        }
    }

    /// Saves the session a couple of seconds after the scene last changed.
    fn autosave(&mut self) {
        let dirty = self.saved.as_ref() != Some(&self.scene);
        if !dirty {
            self.changed_at = None;
            return;
        }
        let since = *self.changed_at.get_or_insert_with(Instant::now);
        if since.elapsed().as_secs_f64() >= AUTOSAVE_SECONDS && !self.interacting {
            self.save_session();
            self.changed_at = None;
        }
    }

    fn automate(&mut self, ctx: &egui::Context) {
        let fps = self.fps();
        let viewport = self.viewport_px;
        let Some(auto) = &mut self.automation else {
            return;
        };
        ctx.request_repaint();
        if self.frames_drawn < auto.after {
            // Keep drawing real frames: each one is a full render of the viewport.
            self.drawn = None;
            return;
        }
        if !auto.requested {
            auto.requested = true;
            let slot = auto.shot.clone();
            ctx.request_screenshot(move |image| {
                if let Ok(mut s) = slot.lock() {
                    *s = Some(image);
                }
            });
            return;
        }
        let shot = auto.shot.lock().ok().and_then(|mut s| s.take());
        let Some(shot) = shot else {
            return;
        };
        let [w, h] = shot.size;
        let image = Image {
            width: w as u32,
            height: h as u32,
            rgba: shot
                .pixels
                .iter()
                .flat_map(|p| p.to_srgba_unmultiplied())
                .collect(),
        };
        let text = serde_json::to_string(&self.scene).unwrap_or_default();
        let result = write_png(&auto.path, &image, &text).map_err(|e| e.to_string());
        match &result {
            Ok(()) => println!(
                "{}",
                serde_json::json!({
                    "screenshot": auto.path.display().to_string(),
                    "window": [w, h],
                    "frames": self.frames_drawn,
                    "viewport": viewport,
                    "adapter": self.gpu.describe(),
                    "fps": fps,
                })
            ),
            Err(e) => eprintln!("gradvol: cannot write the screenshot: {e}"),
        }
        if let Ok(mut o) = self.outcome.lock() {
            *o = result;
        }
        self.save_session();
        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
    }
}

const HELP: &str = "\
Left drag: orbit.  Shift+drag or middle drag: pan.  Wheel: zoom.  Double-click: reset.
Charts: drag a point (endpoints too), double-click to add one, right-click or Delete to remove
it, type exact values under the charts.  Ctrl+Z / Ctrl+Shift+Z: undo / redo.

Gradient opacity multiplies the scalar opacity by a curve over |grad f|, the gradient magnitude
in data units per mm (VTK's central differences by default). Homogeneous regions have a small
|grad f|; boundaries between tissues have a large one. Ramp the curve up from the median to keep
boundaries and hide the inside of organs; 'Suggest' does exactly that from this volume's
statistics.";
