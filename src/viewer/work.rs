//! The viewer's background work: starting jobs (open, reload, a new gradient, a screenshot),
//! taking their results into the document, and cancelling them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::gradient::Operator;
use crate::scene::Scene;
use crate::viewer::app::Viewer;
use crate::viewer::automation::JobReport;
use crate::viewer::document::{Shown, Source, first_scene, read, viewer_settings};
use crate::viewer::export::export_watched;
use crate::viewer::jobs::{CANCELLED, Job, Poll, Progress};
use crate::viewer::stream::{Budgets, Streaming};

/// A volume ready to be shown, from a job.
#[derive(Debug)]
pub struct Opened {
    pub shown: Shown,
    pub scene: Scene,
    /// A reload or a new gradient: the undo history stays.
    pub keep_history: bool,
}

impl Viewer {
    /// Starts opening `source`; the scene is `template` when given, else a first scene for the
    /// volume. Replaces a volume job in flight.
    pub(crate) fn start_open(
        &mut self,
        source: Source,
        template: Option<Scene>,
        keep_history: bool,
    ) {
        self.gradient_for = None;
        let gpu = self.frames.gpu.clone();
        let render = self.doc.scene.render.clone();
        let budgets = self.budgets;
        let title = format!("opening {}", source.name());
        let job = Job::spawn(title, move |p: &Progress| {
            let read = read(&source, p)?;
            let volume = Arc::new(read.volume);
            let path = match &source {
                Source::File { path, .. } => Some(path.clone()),
                Source::Demo => None,
            };
            let mut scene = template.unwrap_or_else(|| {
                let mut scene = first_scene(&volume, path.clone(), &render);
                scene.render.accumulate = viewer_settings().accumulate.max(render.accumulate);
                scene
            });
            scene.volume = path.clone();
            let spacing = crate::render::params::Geometry::of(&volume).mean_spacing();
            let tf = scene.transfer_function(spacing, volume.range)?;
            scene.transfer_function = Some(tf.clone());
            let operator = scene.render.gradient;
            let mut shown = Shown::build(&gpu, volume, path, operator, &tf, p)?;
            if let Some(pyramid) = read.store {
                let stand_in = shown.volume.pyramid.as_ref().map_or(0, |p| p.level);
                shown.streaming = Some(streaming(&gpu, pyramid, stand_in, operator, budgets)?);
            }
            Ok(Opened {
                shown,
                scene,
                keep_history,
            })
        });
        self.replace_volume_job(job);
    }

    pub(crate) fn start_gradient(&mut self, operator: Operator) {
        let Some(shown) = &self.doc.shown else {
            return;
        };
        let (volume, path) = (shown.volume.clone(), shown.path.clone());
        // A streamed store keeps its source: the next refinement uses the new operator.
        let stand_in = shown.streaming.as_ref().map(|s| Streaming {
            source: s.source.clone(),
            stand_in: s.stand_in,
            refined: None,
            failed: None,
        });
        let gpu = self.frames.gpu.clone();
        let mut scene = self.doc.scene.clone();
        let tf = self.doc.tf();
        self.gradient_for = Some(operator);
        let title = format!("|grad f| by {}", operator.name());
        let job = Job::spawn(title, move |p: &Progress| {
            scene.render.gradient = operator;
            let mut shown = Shown::build(&gpu, volume, path, operator, &tf, p)?;
            shown.streaming = stand_in;
            Ok(Opened {
                shown,
                scene,
                keep_history: true,
            })
        });
        self.replace_volume_job(job);
    }

    pub(crate) fn replace_volume_job(&mut self, mut job: Job<Opened>) {
        job.started_frame = self.clock.frames;
        if let Some(old) = self.volume_job.take() {
            old.cancel();
            self.report_job(&old, "replaced");
        }
        self.volume_job = Some(job);
    }

    pub(crate) fn start_screenshot(&mut self, path: PathBuf, size: [u32; 2], transparent: bool) {
        let Some(shown) = &self.doc.shown else {
            self.status = "no volume to save yet".into();
            return;
        };
        let mut scene = self.doc.scene.clone();
        scene.transfer_function = Some(self.doc.tf());
        scene.render.size = size;
        scene.render.transparent = transparent;
        let renderer = shown.renderer.clone();
        let gpu = self.frames.gpu.clone();
        if let Some(old) = self.export_job.take() {
            old.cancel();
        }
        let title = format!("saving {}", path.display());
        let mut job = Job::spawn(title, move |p: &Progress| {
            let start = Instant::now();
            p.step("waiting for the renderer")?;
            let mut r = renderer.lock().map_err(|e| e.to_string())?;
            p.step(format!("drawing {}x{}", size[0], size[1]))?;
            export_watched(&gpu, &mut r, &scene, &path, p)?;
            Ok(start.elapsed().as_secs_f64() * 1e3)
        });
        job.started_frame = self.clock.frames;
        self.export_job = Some(job);
    }

    pub(crate) fn report_job<T>(&mut self, job: &Job<T>, outcome: &str) {
        self.jobs_done.push(JobReport {
            title: job.title.clone(),
            ms: job.started.elapsed().as_secs_f64() * 1e3,
            outcome: outcome.into(),
            ui_frames: self.clock.frames - job.started_frame,
        });
    }

    /// Cancels every job: the document stays as it was.
    pub fn cancel(&mut self) {
        let mut names = Vec::new();
        if let Some(job) = self.volume_job.take() {
            job.cancel();
            names.push(job.title.clone());
            self.report_job(&job, CANCELLED);
        }
        if let Some(job) = self.export_job.take() {
            job.cancel();
            names.push(job.title.clone());
            self.report_job(&job, CANCELLED);
        }
        if let Some((job, view)) = self.refinement.job.take() {
            job.cancel();
            names.push(job.title.clone());
            self.report_job(&job, CANCELLED);
            // Not refined again until the view changes.
            if let Some(s) = self.doc.shown.as_mut().and_then(|s| s.streaming.as_mut()) {
                s.failed = Some(view);
            }
        }
        if !names.is_empty() {
            self.status = format!("cancelled: {}", names.join(", "));
        }
    }

    /// Takes finished jobs' results into the document.
    pub(crate) fn poll_jobs(&mut self) {
        if let Some(job) = &self.volume_job
            && let Poll::Done(result) = job.poll()
        {
            let job = self.volume_job.take().expect("polled");
            match result {
                Ok(opened) => {
                    self.report_job(&job, "done");
                    self.show(opened);
                }
                Err(e) => {
                    self.report_job(&job, &e);
                    self.status = format!("{} failed: {e}", job.title);
                    if self.doc.shown.is_none() {
                        // Nothing on show yet (the session's volume is gone): the demo.
                        self.start_open(Source::Demo, None, false);
                        self.status = format!("{} failed: {e}; showing the demo", job.title);
                    }
                }
            }
        }
        if let Some(job) = &self.export_job
            && let Poll::Done(result) = job.poll()
        {
            let job = self.export_job.take().expect("polled");
            self.report_job(&job, result.as_ref().err().map_or("done", |e| e.as_str()));
            self.status = match result {
                Ok(ms) => format!("{} done in {ms:.0} ms", job.title),
                Err(e) => format!("{} failed: {e}", job.title),
            };
        }
    }

    pub(crate) fn show(&mut self, opened: Opened) {
        let Opened {
            shown,
            scene,
            keep_history,
        } = opened;
        let tf = scene.transfer_function.clone();
        let mut scene = scene;
        if keep_history {
            // A reload or a new gradient: the TF, camera and settings as they are now.
            let operator = scene.render.gradient;
            scene = Scene {
                volume: scene.volume,
                ..self.doc.scene.clone()
            };
            scene.render.gradient = operator;
        }
        if let Operator::Gaussian { sigma_mm } = scene.render.gradient {
            self.panels.sigma_mm = sigma_mm;
        }
        self.doc.show(shown, scene, keep_history);
        if self.doc.scene.transfer_function.is_none() {
            self.doc.scene.transfer_function = tf;
        }
        let shown = self.doc.shown.as_ref().expect("shown");
        self.frames
            .show(shown.renderer.clone(), self.doc.volume_generation);
        self.frames.set_tf(self.doc.tf());
        self.viewport.volume_changed();
        self.automation.volume_shown(&self.viewport);
        self.status = shown.describe();
        self.changed_at = Some(Instant::now());
    }
}

/// A store's levels of detail for the viewer (its level `stand_in` on show), within `budgets`, its bricks encoded as the pool
/// of `gpu` wants them.
fn streaming(
    gpu: &crate::gpu::Gpu,
    pyramid: Arc<crate::volume::zarr::Pyramid>,
    stand_in: usize,
    operator: Operator,
    budgets: Budgets,
) -> Result<Streaming, String> {
    let format = crate::render::renderer::pool_format(gpu, None).map_err(|e| e.to_string())?;
    let source = crate::render::lod::LodSource::new(
        pyramid,
        operator,
        format,
        budgets.cache_bytes,
        budgets.gpu_bytes,
    )?;
    Ok(Streaming {
        source: Arc::new(std::sync::Mutex::new(source)),
        stand_in,
        refined: None,
        failed: None,
    })
}
