//! The viewer window: the document drawn by the panels and the viewport, actions applied to
//! it, and background jobs for everything slow. State flows one way: input makes an
//! [`Action`], an action changes the [`Document`] (or starts a job whose result does), and the
//! document is drawn.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use egui::Ui;

use crate::gpu::Gpu;
use crate::render::renderer::PoolReport;
use crate::scene::{Blend, Scene};
use crate::tf::presets;
use crate::viewer::automation::{JobReport, Runner, Script, UiClock};
use crate::viewer::document::{Document, Source};
use crate::viewer::frames::Frames;
use crate::viewer::jobs::{FRAMES_NICE, Job, at_nice};
use crate::viewer::panels::{Action, Panels, menu_bar};
use crate::viewer::session;
use crate::viewer::viewport::Viewport;
use crate::viewer::work::Opened;
use crate::volume::RawSpec;

/// Seconds between a change and its autosave: a crash loses at most this much.
const AUTOSAVE_SECONDS: f64 = 2.0;

/// The window's frame rate during a drag on a software adapter (see [`Viewer::pace`]).
const SOFTWARE_DRAG_FPS: f64 = 15.0;

/// How `gradvol view` was started.
#[derive(Debug, Clone, Default)]
pub struct ViewOptions {
    /// The volume given on the command line; `None` restores the session's, else the demo.
    pub volume: Option<PathBuf>,
    /// How to read a headerless volume file.
    pub raw: Option<RawSpec>,
    /// The OME-Zarr level to read (`None`: the finest within the whole-read limit).
    pub level: Option<usize>,
    /// Where the session lives; `None` keeps no session.
    pub session: Option<PathBuf>,
    /// Save a screenshot of the whole window once `exit_after_frames` frames were shown.
    pub screenshot: Option<PathBuf>,
    /// Exit (printing a JSON summary) once this many full-quality frames of the volume were
    /// shown, the script is done and no job runs.
    pub exit_after_frames: Option<u32>,
    pub script: Option<Script>,
    /// The preview budget in ms; `None` is the default.
    pub budget_ms: Option<f64>,
    /// Window size in points.
    pub window: [f32; 2],
    /// Memory a streamed OME-Zarr store may take.
    pub budgets: crate::viewer::stream::Budgets,
}

/// What the window ends with: `Err` when automation could not do its job.
pub type Outcome = Arc<Mutex<Result<(), String>>>;

/// The viewer.
#[derive(Debug)]
pub struct Viewer {
    pub doc: Document,
    pub viewport: Viewport,
    pub(crate) panels: Panels,
    pub(crate) frames: Frames,
    /// Opening, reloading, recomputing |grad f|: a new one replaces the old.
    pub volume_job: Option<Job<Opened>>,
    /// The operator the last |grad f| job was started for.
    pub(crate) gradient_for: Option<crate::gradient::Operator>,
    /// A screenshot being written.
    pub export_job: Option<Job<f64>>,
    /// A streamed store's view being refined, and how long the view has rested.
    pub refinement: crate::viewer::stream::Refinement,
    pub(crate) budgets: crate::viewer::stream::Budgets,
    pub status: String,
    pub(crate) raw: Option<RawSpec>,
    pub(crate) level: Option<usize>,
    pub(crate) session: Option<PathBuf>,
    pub(crate) saved: Option<Scene>,
    pub(crate) changed_at: Option<Instant>,
    pub(crate) automation: crate::viewer::exit::Exit,
    pub(crate) clock: UiClock,
    pub(crate) jobs_done: Vec<JobReport>,
    pub(crate) runner: Option<Runner>,
    pub(crate) outcome: Outcome,
    /// The window's context, for repaints from other threads.
    pub(crate) ctx: Option<egui::Context>,
}

/// Opens the window and runs until it closes.
pub fn run(options: ViewOptions) -> Result<(), String> {
    crate::viewer::jobs::lower_rayon_priority();
    let outcome: Outcome = Arc::new(Mutex::new(Ok(())));
    let result = outcome.clone();
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("gradvol")
            .with_inner_size(options.window)
            .with_drag_and_drop(true),
        renderer: eframe::Renderer::Wgpu,
        // Dithering costs a noise function per pixel of every shape; software rasterisers
        // (lavapipe) pay for it in frame time, and the panels have no gradients to band.
        dithering: false,
        ..Default::default()
    };
    eframe::run_native(
        "gradvol",
        native,
        Box::new(move |cc| {
            // The volume's own device, created at a lower priority than the window so that
            // its driver threads (lavapipe's rasterisers) yield to the window's drawing.
            let gpu = at_nice(FRAMES_NICE, Gpu::new).map_err(|e| e.to_string())?;
            let mut viewer = Viewer::new(Arc::new(gpu), options, outcome)?;
            viewer.attach(&cc.egui_ctx);
            Ok(Box::new(viewer))
        }),
    )
    .map_err(|e| format!("the window could not be opened: {e}"))?;
    result.lock().map_err(|e| e.to_string())?.clone()
}

impl Viewer {
    /// A viewer drawing on `gpu` (its own device: the window's never waits for it), which
    /// starts opening its first volume at once.
    pub fn new(gpu: Arc<Gpu>, options: ViewOptions, outcome: Outcome) -> Result<Viewer, String> {
        let saved = options.session.as_deref().and_then(session::load);
        let volume = options
            .volume
            .as_ref()
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()));
        // The session's scene carries over only to the same volume (or to the demo when the
        // session had none and none is named).
        let (source, template) = match (&volume, &saved) {
            (Some(path), Some(s)) if s.volume.as_ref() == Some(path) => {
                (file(path, &options.raw, options.level), Some(s.clone()))
            }
            (Some(path), _) => (file(path, &options.raw, options.level), None),
            (None, Some(s)) => match &s.volume {
                Some(path) => (file(path, &None, None), Some(s.clone())),
                None => (Source::Demo, Some(s.clone())),
            },
            (None, None) => (Source::Demo, None),
        };
        let frames = Frames::start(gpu);
        let mut viewer = Viewer {
            doc: Document::new(template.clone().unwrap_or_default()),
            viewport: Viewport::with_budget(
                options
                    .budget_ms
                    .unwrap_or(super::viewport::DEFAULT_BUDGET_MS),
            ),
            panels: Panels::default(),
            frames,
            volume_job: None,
            gradient_for: None,
            export_job: None,
            refinement: Default::default(),
            budgets: options.budgets,
            status: "starting".into(),
            raw: options.raw.clone(),
            level: options.level,
            session: options.session.clone(),
            saved,
            changed_at: None,
            automation: crate::viewer::exit::Exit::new(
                options.screenshot.clone(),
                options.exit_after_frames,
            ),
            clock: UiClock::default(),
            jobs_done: Vec::new(),
            runner: options.script.clone().map(Runner::new),
            outcome,
            ctx: None,
        };
        viewer.start_open(source, template, false);
        Ok(viewer)
    }

    /// Connects the viewer to its window: frames and jobs wake it when they finish.
    pub fn attach(&mut self, ctx: &egui::Context) {
        let wake = ctx.clone();
        self.frames.wake_with(move || wake.request_repaint());
        self.ctx = Some(ctx.clone());
    }

    /// The frame thread's device.
    pub fn gpu(&self) -> &Arc<Gpu> {
        &self.frames.gpu
    }

    /// Applies what the user (or the script) asked for.
    pub fn apply(&mut self, action: Action) {
        match action {
            Action::Open(source) => self.start_open(source, None, false),
            Action::OpenDialog { folder } => {
                if let Some(path) = open_dialog(folder) {
                    self.start_open(file(&path, &None, None), None, false);
                }
            }
            Action::Reload => {
                if let Some(path) = self.doc.shown.as_ref().and_then(|s| s.path.clone()) {
                    let mut scene = self.doc.scene.clone();
                    scene.transfer_function = Some(self.doc.tf());
                    let source = file(&path, &self.raw.clone(), self.level);
                    self.start_open(source, Some(scene), true);
                }
            }
            Action::Preset(name) => {
                let spacing = self
                    .doc
                    .shown
                    .as_ref()
                    .map_or(1.0, |s| s.geometry.mean_spacing());
                match presets::preset(&name, spacing) {
                    Ok(tf) => {
                        self.set_tf(tf, true);
                        self.doc.scene.preset = Some(name.clone());
                        self.status = format!("preset {name}");
                    }
                    Err(e) => self.status = e,
                }
            }
            Action::Tf { tf, record } => {
                self.set_tf(tf, record);
                self.doc.scene.preset = None;
            }
            Action::LoadTf => match crate::viewer::files::load_tf() {
                Some(Ok((tf, path))) => {
                    self.set_tf(tf, true);
                    self.doc.scene.preset = None;
                    self.status = format!("loaded {}", path.display());
                }
                Some(Err(e)) => self.status = e,
                None => {}
            },
            Action::SaveTf => {
                if let Some(message) = crate::viewer::files::save_tf(&self.doc.tf()) {
                    self.status = message;
                }
            }
            Action::Operator(op) => {
                // The widgets now read |grad f| by the operator chosen.
                let mut tf = self.doc.tf();
                if let Some(t) = tf.tf2d.as_mut().filter(|t| !t.widgets.is_empty()) {
                    t.gradient = op;
                    if self.doc.set_tf(tf, true) {
                        self.frames.set_tf(self.doc.tf());
                    }
                }
                self.start_gradient(op);
            }
            Action::ScreenshotDialog => self.panels.export.open = true,
            Action::Screenshot {
                path,
                size,
                transparent,
            } => self.start_screenshot(path, size, transparent),
            Action::Cancel => self.cancel(),
            Action::Quit => {
                if let Some(ctx) = &self.ctx {
                    ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                }
            }
        }
    }

    fn set_tf(&mut self, tf: crate::tf::TransferFunction, record: bool) {
        // Widgets are drawn on |grad f| by the operator stored with them.
        let wanted = tf.widgets().map(|t| t.gradient);
        if self.doc.set_tf(tf, record) {
            self.frames.set_tf(self.doc.tf());
            self.changed_at = Some(Instant::now());
        }
        let current = self.doc.shown.as_ref().map(|s| s.analysis.report.operator);
        // Not again while that job runs: edits during it would restart it.
        let running = self.volume_job.is_some() && self.gradient_for == wanted;
        if let (Some(wanted), Some(current)) = (wanted, current)
            && wanted != current
            && !running
        {
            self.status = format!("the widgets were drawn on |grad f| by {wanted}: computing it");
            self.start_gradient(wanted);
        }
    }

    /// One window frame: everything but the eframe plumbing, so tests can drive it.
    pub fn frame(&mut self, ui: &mut Ui) {
        self.pace();
        self.clock.tick();
        let ctx = ui.ctx().clone();
        if self.ctx.is_none() {
            self.attach(&ctx);
        }
        self.poll_jobs();
        self.drive_refinement();
        self.viewport.draft = self.refinement.job.is_some();
        match self.viewport.receive(&ctx, &self.frames, &self.doc) {
            // A frame of the volume as it is now: bricks published so far are on screen.
            Ok(true) => {
                let ms = self.viewport.shown.as_ref().map_or(0.0, |s| s.ms);
                self.refinement.drawn(ms);
            }
            Ok(false) => {}
            Err(e) => self.status = e,
        }
        let mut actions = Vec::new();
        shortcuts_and_drops(&ctx, &mut actions);
        // The panels leave their fill to the window's clear colour (the same colour): on a
        // software rasteriser every pixel drawn twice is paid for in frame time.
        let frame = egui::Frame::side_top_panel(ui.style()).fill(egui::Color32::TRANSPARENT);
        egui::Panel::top("menu")
            .frame(frame)
            .show(ui, |ui| menu_bar(ui, &mut self.doc, &mut actions));
        egui::Panel::bottom("status")
            .frame(frame)
            .show(ui, |ui| self.status_bar(ui, &mut actions));
        egui::Panel::left("editor")
            .frame(frame)
            .resizable(true)
            .default_size(430.0)
            .min_size(320.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    self.panels
                        .side_panel(ui, &mut self.doc, &mut self.viewport, &mut actions)
                });
            });
        // No fill under the viewport: the image covers it.
        egui::CentralPanel::default()
            .frame(egui::Frame::NONE)
            .show(ui, |ui| self.viewport.ui(ui, &mut self.doc, &self.frames));
        self.panels.export.window(&ctx, &mut actions);
        for action in actions {
            self.apply(action);
        }
        if self.volume_job.is_some() || self.export_job.is_some() || self.refine_job().is_some() {
            // Keep the progress bar moving.
            ctx.request_repaint_after(Duration::from_millis(50));
        }
        self.autosave();
        self.automate(&ctx);
    }

    /// On a software adapter (lavapipe) the window's own drawing keeps both cores' rasterisers
    /// busy (about 50 ms a frame at 900x640 here), and input during a drag asks for a frame
    /// per event: left alone, the window would take all the CPU and the previews none. While
    /// the user drags there, the window draws at most [`SOFTWARE_DRAG_FPS`] frames a second,
    /// resting (not working) in between. A hardware GPU draws the window in a millisecond or
    /// two and is never held back.
    fn pace(&self) {
        if !(self.frames.gpu.is_software() && self.viewport.interacting) {
            return;
        }
        let least = Duration::from_secs_f64(1.0 / SOFTWARE_DRAG_FPS);
        if let Some(since) = self.clock.since_last()
            && since < least
        {
            std::thread::sleep(least - since);
        }
    }

    fn status_bar(&mut self, ui: &mut Ui, actions: &mut Vec<Action>) {
        let jobs: Vec<_> = [
            self.volume_job
                .as_ref()
                .map(|j| (j.title.clone(), j.describe(), j.progress.fraction())),
            self.export_job
                .as_ref()
                .map(|j| (j.title.clone(), j.describe(), j.progress.fraction())),
            self.refine_job()
                .map(|j| (j.title.clone(), j.describe(), j.progress.fraction())),
        ]
        .into_iter()
        .flatten()
        .collect();
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            ui.label(self.viewport.describe());
            ui.separator();
            ui.label(self.memory_text());
            ui.separator();
            ui.with_layout(egui::Layout::left_to_right(egui::Align::Center), |ui| {
                for (title, step, fraction) in jobs {
                    let bar = egui::ProgressBar::new(fraction.unwrap_or(0.0))
                        .desired_width(220.0)
                        .text(format!("{title}: {step}"))
                        .animate(fraction.is_none());
                    ui.add(bar);
                    if ui.button("Cancel").on_hover_text("Escape").clicked() {
                        actions.push(Action::Cancel);
                    }
                    ui.separator();
                }
                ui.add(egui::Label::new(&self.status).truncate())
                    .on_hover_text(&self.status);
            });
        });
    }

    /// What the volume holds on the GPU and how much of it rays step over.
    fn memory_text(&self) -> String {
        let render = &self.doc.scene.render;
        let skipping = render.skip_empty_space && render.blend == Blend::Composite;
        match &self.viewport.pool {
            Some(report) => pool_summary(report, skipping),
            None => String::new(),
        }
    }

    fn save_session(&mut self) {
        let Some(path) = &self.session else {
            return;
        };
        if self.doc.shown.is_none() || self.saved.as_ref() == Some(&self.doc.scene) {
            return;
        }
        match session::save(path, &self.doc.scene) {
            Ok(()) => self.saved = Some(self.doc.scene.clone()),
            Err(e) => self.status = format!("cannot save the session to {}: {e}", path.display()),
        }
    }

    /// Saves the session a couple of seconds after the scene last changed.
    fn autosave(&mut self) {
        let dirty = self.saved.as_ref() != Some(&self.doc.scene);
        if !dirty {
            self.changed_at = None;
            return;
        }
        let since = *self.changed_at.get_or_insert_with(Instant::now);
        if since.elapsed().as_secs_f64() >= AUTOSAVE_SECONDS && !self.viewport.interacting {
            self.save_session();
            self.changed_at = None;
        }
    }

    pub(crate) fn outcome_slot(&self) -> &Outcome {
        &self.outcome
    }

    pub(crate) fn finish(&mut self, ctx: &egui::Context, result: Result<(), String>) {
        if let Ok(mut o) = self.outcome.lock() {
            *o = result;
        }
        self.save_session();
        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
    }
}

impl eframe::App for Viewer {
    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        self.frame(ui);
    }

    fn raw_input_hook(&mut self, _ctx: &egui::Context, raw_input: &mut egui::RawInput) {
        self.script_input(&mut raw_input.events);
    }

    fn on_exit(&mut self) {
        self.save_session();
    }
}

fn file(path: &Path, raw: &Option<RawSpec>, level: Option<usize>) -> Source {
    let remote = matches!(
        crate::volume::zarr::Location::of(path),
        Some(crate::volume::zarr::Location::Http(_))
    );
    Source::File {
        path: if remote {
            path.to_path_buf()
        } else {
            std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
        },
        raw: raw.clone(),
        level,
    }
}

fn shortcuts_and_drops(ctx: &egui::Context, actions: &mut Vec<Action>) {
    let shortcut = |key| egui::KeyboardShortcut::new(egui::Modifiers::COMMAND, key);
    for (key, action) in [
        (egui::Key::S, Action::ScreenshotDialog),
        (egui::Key::O, Action::OpenDialog { folder: false }),
        (egui::Key::R, Action::Reload),
    ] {
        if ctx.input_mut(|i| i.consume_shortcut(&shortcut(key))) {
            actions.push(action);
        }
    }
    if ctx.input_mut(|i| i.consume_key(egui::Modifiers::NONE, egui::Key::Escape)) {
        actions.push(Action::Cancel);
    }
    let dropped: Option<PathBuf> = ctx.input(|i| {
        i.raw
            .dropped_files
            .iter()
            .map(|f| f.path().to_path_buf())
            .find(|p| !p.as_os_str().is_empty())
    });
    if let Some(path) = dropped {
        actions.push(Action::Open(file(&path, &None, None)));
    }
}

fn open_dialog(folder: bool) -> Option<PathBuf> {
    let dialog = rfd::FileDialog::new().set_title("Open a volume");
    if folder {
        dialog.pick_folder()
    } else {
        dialog
            .add_filter(
                "volumes",
                &["nrrd", "nhdr", "nii", "gz", "mha", "mhd", "dcm", "raw"],
            )
            .pick_file()
    }
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
