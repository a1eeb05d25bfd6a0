//! Levels of detail in the viewer. A store whose full resolution is too large to read whole
//! opens as a stand-in: a coarse level read whole, which the histograms, the statistics and
//! picking use and which is drawn whenever the view moves. Once the camera has rested for
//! [`REST`], a background job plans the levels this view wants within the budgets (each brick
//! from the level whose voxels are about a pixel there, as `gradvol render` does; bricks the
//! store's block ranges show transparent under the transfer function are left out), reads and
//! packs those bricks into a new renderer, and the viewer swaps it in. The pool holds a coarse
//! first stage ([`FIRST_STAGE_PIXELS`]), shown as soon as its bricks are in, then refines brick
//! by brick: the bricks of the last stage are published into the renderer on show as they
//! arrive (paced by [`PUBLISH_EVERY`]), each finest brick drawn from its first-stage brick
//! until its own is in (see [`crate::render::lod::Filling`]). That needs the normalisation
//! before any brick is read: a store without its ranges and |grad f| gets each stage as a
//! renderer of its own. Until the first stage is in, the stand-in stays on show, so the view is
//! never empty and never waits. The refined renderer stays on show only while it fits: moving
//! the camera, resizing the viewport, changing the operator or a transfer function that comes
//! to see a brick it left out puts the stand-in back (cheap to draw, so the view moves at its
//! pace) and cancels a refinement in flight (it stops at its next batch of bricks); a new one
//! starts when the view rests. The host caches of the bricks
//! last between refinements, so coming back to a view reads little.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::camera::Camera;
use crate::gradient::Operator;
use crate::render::lod::{LodReport, LodSource, Plan, Publish};
use crate::render::renderer::Renderer;
use crate::scene::{Blend, RenderSettings};
use crate::tf::TransferFunction;
use crate::viewer::app::Viewer;
use crate::viewer::jobs::{CANCELLED, Job, Poll, Progress};

/// A store whose finest level has more voxels than this is streamed rather than read whole
/// (128 Mi voxels: 512 x 512 x 512).
pub const STREAM_ABOVE_VOXELS: u64 = 1 << 27;

/// The stand-in of a streamed store: the finest level with at most this many voxels (16 Mi:
/// 256 x 256 x 256), read whole.
pub const STAND_IN_VOXELS: u64 = 1 << 24;

/// How long the camera must rest before the view is refined.
pub const REST: Duration = Duration::from_millis(300);

/// A view is refined in two stages: first with each brick from the level whose voxels are up
/// to this many pixels on screen (about a sixty-fourth of the bricks of the second), then one
/// pixel (what `render` draws), whose bricks replace the first's as they arrive.
pub const FIRST_STAGE_PIXELS: f64 = 4.0;

/// The least time a publication of the last stage's bricks stays on screen before the next
/// (three times its frame's time when that is longer): each is a redraw of the view, which on
/// a software rasteriser competes with the reading for the processor.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(1000);

/// Host memory for bricks, and GPU memory for the pool, by default (MiB).
pub const DEFAULT_CACHE_MIB: usize = 1024;
pub const DEFAULT_GPU_BUDGET_MIB: u64 = 1024;

/// The memory a streamed store may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budgets {
    /// Host memory for bricks read from the store.
    pub cache_bytes: usize,
    /// GPU memory for the refined renderer's pool (the stand-in's comes on top).
    pub gpu_bytes: u64,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets {
            cache_bytes: DEFAULT_CACHE_MIB << 20,
            gpu_bytes: DEFAULT_GPU_BUDGET_MIB << 20,
        }
    }
}

/// What a refinement is for: the camera, the viewport's size in pixels and the operator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewKey {
    pub camera: Camera,
    pub size: [u32; 2],
    pub operator: Operator,
}

/// A streamed store on show.
#[derive(Debug)]
pub struct Streaming {
    /// The pyramid at levels of detail (locked by the refinement in flight).
    pub source: Arc<Mutex<LodSource>>,
    /// The stand-in's level.
    pub stand_in: usize,
    /// The refined renderer on show; `None` while the stand-in is on show.
    pub refined: Option<RefinedView>,
    /// A view whose refinement failed or was cancelled by the user: not refined again until
    /// the view changes.
    pub failed: Option<ViewKey>,
}

/// What a refined renderer on show was made for.
#[derive(Debug, Clone)]
pub struct RefinedView {
    pub view: ViewKey,
    pub report: LodReport,
    /// The value ranges of the bricks it skipped as transparent under the transfer function
    /// of the day (they have no slot).
    pub skipped: Vec<[f64; 2]>,
    /// The stage: voxels of up to this many pixels on screen (1: the last, which may still be
    /// arriving brick by brick while a refinement is in flight).
    pub pixels: f64,
}

impl RefinedView {
    /// Whether this renderer draws `view` as a renderer of the whole volume would under
    /// `tf` and `render`: the same view, and every brick it skipped still transparent (and
    /// composited: maximum intensity sees every value).
    pub fn fits(&self, view: &ViewKey, tf: &TransferFunction, render: &RenderSettings) -> bool {
        self.view == *view
            && (self.skipped.is_empty()
                || (skips(render) && self.skipped.iter().all(|&r| tf.transparent_over(r))))
    }
}

/// Whether a refinement for `render` may leave out the bricks its transfer function makes
/// transparent.
fn skips(render: &RenderSettings) -> bool {
    render.skip_empty_space && render.blend == Blend::Composite
}

/// A refinement stage whose bricks are in: the first, sent while the refinement goes on, or
/// the last, its result. Both stages fill the same renderer.
#[derive(Debug)]
pub struct Refined {
    pub renderer: Arc<Mutex<Renderer>>,
    pub report: LodReport,
    pub view: ViewKey,
    /// The value ranges of the bricks left out as transparent, over both stages.
    pub skipped: Vec<[f64; 2]>,
    /// Bricks the store did not deliver (drawn empty).
    pub missing: usize,
    pub ms: f64,
    pub pixels: f64,
}

/// The refinement in flight and how long the view has rested.
#[derive(Debug, Default)]
pub struct Refinement {
    pub job: Option<(Job<Refined>, ViewKey)>,
    /// The view last seen and when it became so.
    rest: Option<(ViewKey, Instant)>,
    /// Refinements shown since the viewer started.
    pub shown: u64,
    /// Each stage shown: its pixels, its slots, and the time since its view came to rest (ms).
    pub stages: Vec<(f64, usize, f64)>,
    /// The first stage of the refinement in flight, once its bricks are in.
    first: Option<Receiver<Refined>>,
    /// How many times the refinement in flight published bricks into the renderer on show,
    /// and how many of those the window has drawn.
    published: Arc<AtomicU64>,
    seen: u64,
    /// The publications the refinement may make before waiting: the window lets it publish
    /// again once the last publication has been drawn and rested (see [`Refinement::drawn`]).
    drawn: Arc<AtomicU64>,
    /// When the last publication was drawn, and in how long (ms).
    drawn_at: Option<(Instant, f64)>,
    /// Publications drawn since the viewer started: the view redrawn with more of the last
    /// stage's bricks.
    pub updates: u64,
}

impl Refinement {
    /// Notes that the window shows a frame of the renderer as it is now, drawn in `ms`.
    pub(crate) fn drawn(&mut self, ms: f64) {
        if self.drawn_at.is_none() {
            self.drawn_at = Some((Instant::now(), ms));
        }
    }

    /// Lets the refinement in flight publish again once the last publication has been on
    /// screen for [`PUBLISH_EVERY`], or three times its frame's time when that is longer: on a
    /// software rasteriser, where a frame of a large view takes seconds, drawing then takes at
    /// most a quarter of the processor from the reading.
    fn pace(&mut self) {
        if let Some((at, ms)) = self.drawn_at
            && at.elapsed() >= PUBLISH_EVERY.max(Duration::from_secs_f64(3.0 * ms / 1e3))
        {
            self.drawn.store(self.seen, Ordering::Release);
        }
    }
}

impl Viewer {
    /// Once a frame: takes a finished refinement, cancels one the view moved away from, and
    /// starts one when the view has rested and differs from the one on show.
    pub(crate) fn drive_refinement(&mut self) {
        if self.refinement.job.is_some()
            && let Some(first) = self
                .refinement
                .first
                .as_ref()
                .and_then(|r| r.try_recv().ok())
        {
            self.refinement.first = None;
            self.show_refined(first);
        }
        if self.refinement.job.is_some() {
            let published = self.refinement.published.load(Ordering::Acquire);
            if published != self.refinement.seen {
                self.refinement.seen = published;
                self.refinement.drawn_at = None;
                self.draw_published();
            }
            self.refinement.pace();
        }
        if let Some((job, _)) = &self.refinement.job
            && let Poll::Done(result) = job.poll()
        {
            let (job, view) = self.refinement.job.take().expect("polled");
            match result {
                Ok(refined) => {
                    self.report_job(&job, "done");
                    self.show_refined(refined);
                }
                Err(e) => {
                    self.report_job(&job, &e);
                    if e != CANCELLED {
                        self.status = format!("{} failed: {e}", job.title);
                        if let Some(s) = self.doc.shown.as_mut().and_then(|s| s.streaming.as_mut())
                        {
                            s.failed = Some(view);
                        }
                    }
                }
            }
        }
        if self
            .doc
            .shown
            .as_ref()
            .and_then(|s| s.streaming.as_ref())
            .is_none()
        {
            return;
        }
        let Some(view) = self.view_now() else {
            return;
        };
        self.show_stand_in_unless_refined_fits(&view);
        let size = view.size;
        let now = Instant::now();
        let since = match &self.refinement.rest {
            Some((v, at)) if *v == view => *at,
            _ => {
                self.refinement.rest = Some((view, now));
                now
            }
        };
        let moving = self.viewport.interacting || self.volume_job.is_some();
        if let Some((job, for_view)) = &self.refinement.job {
            if moving || *for_view != view {
                job.cancel();
                let (job, _) = self.refinement.job.take().expect("checked");
                self.report_job(&job, CANCELLED);
            } else {
                return;
            }
        }
        let Some(streaming) = self.doc.shown.as_ref().and_then(|s| s.streaming.as_ref()) else {
            return;
        };
        // A first stage on show whose refinement stopped (the window was busy): the next goes
        // straight to the last.
        let previous = streaming.refined.as_ref().map(|r| r.pixels);
        let done = previous.is_some_and(|p| p <= 1.0) || streaming.failed == Some(view);
        if moving || done {
            return;
        }
        let seeded = previous.is_none();
        let rested = now.duration_since(since);
        if rested < REST {
            if let Some(ctx) = &self.ctx {
                ctx.request_repaint_after(REST - rested);
            }
            return;
        }
        let source = streaming.source.clone();
        let gpu = self.frames.gpu.clone();
        let tf = self.doc.tf();
        let mut settings = self.doc.scene.render.clone();
        settings.size = size;
        let name = self
            .doc
            .shown
            .as_ref()
            .map(|s| s.name())
            .unwrap_or_default();
        let title = format!("refining {name}");
        let (send_first, first) = channel();
        let published = Arc::new(AtomicU64::new(0));
        let publications = published.clone();
        let drawn = Arc::new(AtomicU64::new(0));
        let on_screen = drawn.clone();
        let mut job = Job::spawn(title, move |p: &Progress| {
            let start = Instant::now();
            p.step("waiting for the store")?;
            let mut source = source.lock().map_err(|e| e.to_string())?;
            p.check()?;
            source.set_operator(view.operator)?;
            // Bricks the store's ranges show transparent are left out while skipping; the
            // viewer shows the stand-in again if the transfer function comes to see them.
            let tf_skips = skips(&settings).then_some(&tf);
            p.step("planning")?;
            let last = source.plan_at(&view.camera, view.size, tf_skips, 1.0);
            let first = match seeded {
                true => {
                    source.seed_for(&view.camera, view.size, tf_skips, &last, FIRST_STAGE_PIXELS)
                }
                false => None,
            };
            let plans: Vec<&Plan> = first.iter().chain([&last]).collect();
            let skipped: Vec<[f64; 2]> = plans
                .iter()
                .flat_map(|p| source.skipped_ranges(p))
                .collect();
            let watch = |done: usize, total: usize| {
                p.set_fraction(done as f64 / total.max(1) as f64);
                p.check()
            };
            let stage =
                |renderer: &Arc<Mutex<Renderer>>, plan: &Plan, pixels, source: &LodSource| {
                    Refined {
                        renderer: renderer.clone(),
                        report: source.report(plan),
                        view,
                        skipped: skipped.clone(),
                        missing: source.missing().0,
                        ms: start.elapsed().as_secs_f64() * 1e3,
                        pixels,
                    }
                };
            let text = |e: crate::gpu::GpuError| e.to_string();
            // With the normalisation known from the store, one renderer holds both stages and
            // the last refines it brick by brick. Without, each stage's normalisation comes
            // from a pass over its own bricks, and the last is a renderer of its own, shown
            // when its bricks are in (its statistics pass has read them all anyway).
            // The slots always carry |grad f|: the transfer function may gain gradient
            // opacity while the renderer is on show.
            let mut shared = match source.known_stats() {
                Some(stats) => {
                    let (renderer, filling) = source
                        .start(&gpu, &plans, &settings, &tf, &stats, true)
                        .map_err(text)?;
                    Some((Arc::new(Mutex::new(renderer)), filling))
                }
                None => None,
            };
            // A stage as a renderer of its own (`render`'s way): statistics over its bricks,
            // then the bricks.
            let alone = |plan: &Plan, source: &mut LodSource, what: String| {
                p.step(what)?;
                let decide = |_| Ok((tf.clone(), true));
                let (renderer, _, _) = source
                    .build(&gpu, plan, &settings, decide, &watch)
                    .map_err(text)?;
                Ok::<_, String>(Arc::new(Mutex::new(renderer)))
            };
            if let Some(plan) = &first {
                let what = |n: usize| {
                    format!("reading {n} bricks (voxels up to {FIRST_STAGE_PIXELS} pixels)")
                };
                let renderer = match &mut shared {
                    Some((renderer, filling)) => {
                        p.step(what(filling.progress(0).1))?;
                        source
                            .fill(&gpu, filling, 0, renderer, &watch, &Publish::AtTheEnd)
                            .map_err(text)?;
                        renderer.clone()
                    }
                    None => alone(plan, &mut source, what(plan.wanted.len()))?,
                };
                // The window may have dropped the refinement: nothing to do.
                let _ = send_first.send(stage(&renderer, plan, FIRST_STAGE_PIXELS, &source));
            }
            let renderer = match &mut shared {
                Some((renderer, filling)) => {
                    let rank = plans.len() - 1;
                    let (have, n) = filling.progress(rank);
                    p.step(format!("reading {} bricks", n - have))?;
                    // Bricks are published once the window has drawn the last publication and
                    // let it rest (see `Refinement::drawn`).
                    let due = || {
                        on_screen.load(Ordering::Acquire) >= publications.load(Ordering::Acquire)
                    };
                    let done = || {
                        publications.fetch_add(1, Ordering::Release);
                    };
                    let publish = Publish::When {
                        due: &due,
                        done: &done,
                    };
                    source
                        .fill(&gpu, filling, rank, renderer, &watch, &publish)
                        .map_err(text)?;
                    renderer.clone()
                }
                None => alone(
                    &last,
                    &mut source,
                    format!("reading {} bricks", last.wanted.len()),
                )?,
            };
            Ok(stage(&renderer, &last, 1.0, &source))
        });
        self.refinement.first = Some(first);
        self.refinement.published = published;
        self.refinement.seen = 0;
        self.refinement.drawn = drawn;
        self.refinement.drawn_at = None;
        job.started_frame = self.clock.frames;
        self.refinement.job = Some((job, view));
    }

    /// Puts a refinement stage on show: its renderer in place of the one drawn so far, or, for
    /// the last stage filled into the renderer of the first, that renderer drawn again.
    fn show_refined(&mut self, refined: Refined) {
        let Some(shown) = self.doc.shown.as_mut() else {
            return;
        };
        let name = shown.name();
        let Some(streaming) = shown.streaming.as_mut() else {
            return;
        };
        let missing = match refined.missing {
            0 => String::new(),
            n => format!("; {n} bricks could not be read and are drawn empty"),
        };
        let more = if refined.pixels > 1.0 {
            ", refining brick by brick"
        } else {
            ""
        };
        self.status = format!(
            "{name}: this view drawn from {} in {:.1} s{missing}{more}",
            refined.report.describe(),
            refined.ms / 1e3
        );
        let since_rest = self
            .refinement
            .rest
            .map_or(f64::NAN, |(_, at)| at.elapsed().as_secs_f64() * 1e3);
        self.refinement
            .stages
            .push((refined.pixels, refined.report.slots, since_rest));
        streaming.refined = Some(RefinedView {
            view: refined.view,
            report: refined.report,
            skipped: refined.skipped,
            pixels: refined.pixels,
        });
        streaming.failed = None;
        shown.renderer = refined.renderer;
        self.refinement.shown += 1;
        self.refinement.seen = self.refinement.published.load(Ordering::Acquire);
        self.doc.volume_generation += 1;
        self.frames
            .show(shown.renderer.clone(), self.doc.volume_generation);
        self.frames.set_tf(self.doc.tf());
        self.viewport.volume_changed();
    }

    /// Draws the renderer on show again after the refinement in flight published more bricks
    /// into it (when it is the refinement's: the stand-in may be back).
    fn draw_published(&mut self) {
        let Some(shown) = self.doc.shown.as_mut() else {
            return;
        };
        let refined_on_show = shown
            .streaming
            .as_ref()
            .is_some_and(|s| s.refined.is_some());
        if !refined_on_show || Arc::ptr_eq(&shown.renderer, &shown.own) {
            return;
        }
        self.refinement.updates += 1;
        self.doc.volume_generation += 1;
        self.frames
            .show(shown.renderer.clone(), self.doc.volume_generation);
        self.viewport.volume_changed();
    }

    /// Puts the stand-in back on show when the refined renderer no longer fits: the camera,
    /// the viewport or the operator changed, or the transfer function came to see a brick it
    /// skipped. The stand-in is cheap to draw, so the view moves at its pace, and the view is
    /// refined again once it rests.
    fn show_stand_in_unless_refined_fits(&mut self, view: &ViewKey) {
        let tf = self.doc.tf();
        let Some(shown) = self.doc.shown.as_mut() else {
            return;
        };
        let Some(streaming) = shown.streaming.as_mut() else {
            return;
        };
        match &streaming.refined {
            Some(refined) if !refined.fits(view, &tf, &self.doc.scene.render) => {}
            _ => return,
        }
        streaming.refined = None;
        shown.renderer = shown.own.clone();
        self.doc.volume_generation += 1;
        self.frames
            .show(shown.renderer.clone(), self.doc.volume_generation);
        self.frames.set_tf(tf);
        self.viewport.volume_changed();
        if let Some(ctx) = &self.ctx {
            ctx.request_repaint();
        }
    }

    /// The view as a refinement would see it now (`None` before the viewport asked for a
    /// frame).
    fn view_now(&self) -> Option<ViewKey> {
        Some(ViewKey {
            camera: self.doc.scene.camera,
            size: self.viewport.request_size()?,
            operator: self.doc.scene.render.gradient,
        })
    }

    /// Whether the renderer on show is final for this view: not a streamed store, or one
    /// refined for this view (or whose refinement for it failed), with none in flight.
    pub fn view_settled(&self) -> bool {
        let Some(streaming) = self.doc.shown.as_ref().and_then(|s| s.streaming.as_ref()) else {
            return true;
        };
        let view = self.view_now();
        let tf = self.doc.tf();
        let render = &self.doc.scene.render;
        self.refinement.job.is_none()
            && view.is_some_and(|view| {
                streaming
                    .refined
                    .as_ref()
                    .is_some_and(|r| r.pixels <= 1.0 && r.fits(&view, &tf, render))
                    || streaming.failed == Some(view)
            })
    }

    /// What `--exit-after-frames` reports of a streamed store.
    pub(crate) fn streaming_summary(&self) -> serde_json::Value {
        let Some(streaming) = self.doc.shown.as_ref().and_then(|s| s.streaming.as_ref()) else {
            return serde_json::Value::Null;
        };
        serde_json::json!({
            "stand_in_level": streaming.stand_in,
            "refinements_shown": self.refinement.shown,
            "updates_drawn": self.refinement.updates,
            "stages": self.refinement.stages.iter().map(|&(pixels, slots, ms)| {
                serde_json::json!({"pixels": pixels, "slots": slots, "since_rest_ms": ms})
            }).collect::<Vec<_>>(),
            "lod": streaming.refined.as_ref().map(|r| &r.report),
        })
    }

    /// The refinement in flight, for the status bar.
    pub(crate) fn refine_job(&self) -> Option<&Job<Refined>> {
        self.refinement.job.as_ref().map(|(j, _)| j)
    }
}
