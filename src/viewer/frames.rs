//! The frame thread: it owns nothing of the window, draws the volume on its own GPU device and
//! hands finished images back, so the window (charts, panels, cursor readout) runs at the
//! display's rate whatever a volume frame costs.
//!
//! While the user drags, it draws previews sized to a time budget ([`PreviewModel`], after
//! VTK's desired update rate: fewer samples per ray first, then fewer pixels), measured from the
//! frames just drawn. When the input stops it draws the full image, then keeps adding frames
//! with shifted jitter to a running average ([`Accumulator`]) until the scene's `accumulate`
//! count, exactly as `gradvol render` averages them. Any new request interrupts it.

use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use crate::camera::Camera;
use crate::gpu::Gpu;
use crate::render::accumulate::Accumulator;
use crate::render::renderer::{Image, PoolReport, Renderer};
use crate::scene::RenderSettings;
use crate::tf::TransferFunction;

/// What the window asks for: the scene's camera and settings at the viewport's full size.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Numbers the requests, so the window knows which one an image answers.
    pub id: u64,
    pub volume_generation: u64,
    pub tf_generation: u64,
    pub camera: Camera,
    pub settings: RenderSettings,
    /// The user is dragging: draw a preview within the budget.
    pub moving: bool,
    pub budget_ms: f64,
}

/// What a finished image is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Quality {
    /// A preview: `scale` of the pixels per axis, the sample distance times `step`.
    Preview { scale: f64, step: f64 },
    /// Full resolution, the average of `samples` of `of` frames.
    Full { samples: u32, of: u32 },
}

/// A finished image.
#[derive(Debug)]
pub struct Frame {
    /// The request it answers.
    pub request: u64,
    pub volume_generation: u64,
    pub tf_generation: u64,
    pub image: Image,
    pub quality: Quality,
    /// Time to draw and read it back.
    pub ms: f64,
    pub pool: PoolReport,
}

enum Command {
    Show {
        renderer: Arc<Mutex<Renderer>>,
        generation: u64,
    },
    Tf(TransferFunction),
    Draw(Request),
}

/// What the frame thread calls when a frame is ready, set once the window exists.
#[derive(Clone, Default)]
struct Wake(Arc<OnceLock<Box<dyn Fn() + Send + Sync>>>);

impl Wake {
    fn call(&self) {
        if let Some(f) = self.0.get() {
            f();
        }
    }
}

impl std::fmt::Debug for Wake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Wake(set: {})", self.0.get().is_some())
    }
}

/// The window's handle on the frame thread; dropping it stops the thread.
#[derive(Debug)]
pub struct Frames {
    commands: Sender<Command>,
    frames: Receiver<Result<Frame, String>>,
    wake: Wake,
    pub gpu: Arc<Gpu>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Show { generation, .. } => write!(f, "Show({generation})"),
            Command::Tf(_) => write!(f, "Tf"),
            Command::Draw(r) => write!(f, "Draw({r:?})"),
        }
    }
}

impl Frames {
    /// Starts the thread on `gpu`; the function given to [`Frames::wake_with`] is called when
    /// a frame is ready (the window's repaint request).
    pub fn start(gpu: Arc<Gpu>) -> Frames {
        let wake = Wake::default();
        let worker_wake = wake.clone();
        let (commands, inbox) = channel();
        let (outbox, frames) = channel();
        let thread_gpu = gpu.clone();
        std::thread::Builder::new()
            .name("gradvol frames".into())
            .spawn(move || Worker::new(thread_gpu, inbox, outbox, worker_wake).run())
            .expect("a thread for the frames");
        Frames {
            commands,
            frames,
            wake,
            gpu,
        }
    }

    /// Calls `wake` whenever a frame is ready from now on (the window's repaint request); only
    /// the first call counts.
    pub fn wake_with(&self, wake: impl Fn() + Send + Sync + 'static) {
        let _ = self.wake.0.set(Box::new(wake));
    }

    /// Draws `renderer` from now on (the volume `generation`).
    pub fn show(&self, renderer: Arc<Mutex<Renderer>>, generation: u64) {
        let _ = self.commands.send(Command::Show {
            renderer,
            generation,
        });
    }

    pub fn set_tf(&self, tf: TransferFunction) {
        let _ = self.commands.send(Command::Tf(tf));
    }

    pub fn request(&self, request: Request) {
        let _ = self.commands.send(Command::Draw(request));
    }

    /// The newest finished frame, if any came since the last call (older ones are dropped),
    /// with how many came.
    pub fn latest(&self) -> (Option<Result<Frame, String>>, u32) {
        let mut newest = None;
        let mut count = 0;
        while let Ok(frame) = self.frames.try_recv() {
            newest = Some(frame);
            count += 1;
        }
        (newest, count)
    }
}

/// Full-resolution frame time, estimated from the frames drawn, and the preview it allows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PreviewModel {
    /// Milliseconds a full-resolution frame at the user's sample distance takes.
    full_ms: Option<f64>,
}

impl Default for PreviewModel {
    fn default() -> Self {
        Self::new()
    }
}

impl PreviewModel {
    /// The coarsest preview: an eighth of the pixels per axis, four times the sample distance.
    pub const MIN_SCALE: f64 = 0.125;
    pub const MAX_STEP: f64 = 4.0;

    pub fn new() -> PreviewModel {
        PreviewModel { full_ms: None }
    }

    /// Learns from a frame that took `ms` at `scale` of the pixels per axis and `step` times
    /// the sample distance: its cost scales with pixels times samples per ray. A running
    /// average, so one slow frame does not throw the preview off.
    pub fn observe(&mut self, ms: f64, scale: f64, step: f64) {
        let full = ms * step / (scale * scale);
        self.full_ms = Some(match self.full_ms {
            Some(old) => 0.5 * old + 0.5 * full,
            None => full,
        });
    }

    /// The preview for a budget: longer steps first (up to twice the distance, which costs
    /// little detail), then fewer pixels (down to an eighth per axis), then longer steps again.
    /// Steps come from a few values, so that the renderer's tables for them stay baked.
    pub fn choose(&self, budget_ms: f64) -> (f64, f64) {
        let Some(full) = self.full_ms else {
            // Nothing measured yet: a safe first guess.
            return (0.5, 2.0);
        };
        let ratio = budget_ms / full.max(1e-3);
        if ratio >= 1.0 {
            return (1.0, 1.0);
        }
        let mut step = step_up((1.0 / ratio).min(2.0));
        let scale = (ratio * step).sqrt().clamp(Self::MIN_SCALE, 1.0);
        // The coarsest pixels still over the budget: longer steps again.
        if scale * scale / step > ratio {
            step = step_up((scale * scale / ratio).min(Self::MAX_STEP));
        }
        (scale, step)
    }

    pub fn full_ms(&self) -> Option<f64> {
        self.full_ms
    }
}

/// The smallest of 1, 1.5, 2, 3, 4 at least `step`.
fn step_up(step: f64) -> f64 {
    [1.0, 1.5, 2.0, 3.0, PreviewModel::MAX_STEP]
        .into_iter()
        .find(|&s| s >= step - 1e-9)
        .unwrap_or(PreviewModel::MAX_STEP)
}

/// A full frame expected to take longer than `BANDS_ABOVE_MS` (from the frames drawn) is
/// drawn in bands of about `BAND_MS` each. Every band costs a draw and a readback more, so
/// frames that take less are drawn whole.
const BANDS_ABOVE_MS: f64 = 1000.0;
const BAND_MS: f64 = 250.0;

/// An accumulation in progress.
struct Refining {
    request: Request,
    sum: Accumulator,
    of: u32,
}

struct Worker {
    gpu: Arc<Gpu>,
    inbox: Receiver<Command>,
    outbox: Sender<Result<Frame, String>>,
    wake: Wake,
    renderer: Option<(Arc<Mutex<Renderer>>, u64)>,
    tf: Option<TransferFunction>,
    next_tf: Option<TransferFunction>,
    /// Time spent applying transfer functions since the last frame: part of the next frame's
    /// cost, as the user sees it.
    tf_ms: f64,
    pending: Option<Request>,
    refining: Option<Refining>,
    model: PreviewModel,
}

impl Worker {
    fn new(
        gpu: Arc<Gpu>,
        inbox: Receiver<Command>,
        outbox: Sender<Result<Frame, String>>,
        wake: Wake,
    ) -> Self {
        Worker {
            gpu,
            inbox,
            outbox,
            wake,
            renderer: None,
            tf: None,
            next_tf: None,
            tf_ms: 0.0,
            pending: None,
            refining: None,
            model: PreviewModel::new(),
        }
    }

    fn run(self) {
        super::jobs::set_nice(super::jobs::FRAMES_NICE);
        // The table bakes and classifications run on rayon: a pool of the window's priority,
        // not the global one that background jobs share at a lower priority.
        match rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("gradvol frames {i}"))
            .build()
        {
            Ok(pool) => pool.install(|| self.serve()),
            Err(_) => self.serve(),
        }
    }

    fn serve(mut self) {
        loop {
            // Wait for work when there is none; otherwise take whatever came meanwhile.
            let idle = self.pending.is_none() && self.refining.is_none();
            if idle {
                match self.inbox.recv() {
                    Ok(c) => self.take(c),
                    Err(_) => return,
                }
            }
            loop {
                match self.inbox.try_recv() {
                    Ok(c) => self.take(c),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                }
            }
            if let Some(tf) = self.next_tf.take() {
                self.apply_tf(tf);
            }
            let outcome = self.step();
            let stop = match outcome {
                Ok(Some(frame)) => self.outbox.send(Ok(frame)).is_err(),
                Ok(None) => false,
                Err(e) => {
                    self.pending = None;
                    self.refining = None;
                    self.outbox.send(Err(e)).is_err()
                }
            };
            if stop {
                return;
            }
            self.wake.call();
        }
    }

    fn take(&mut self, command: Command) {
        match command {
            Command::Show {
                renderer,
                generation,
            } => {
                self.renderer = Some((renderer, generation));
                self.refining = None;
                self.model = PreviewModel::new();
                if let Some(tf) = self.next_tf.take().or(self.tf.take()) {
                    self.apply_tf(tf);
                }
            }
            // Applied once after the inbox is drained: a drag sends one per window frame.
            Command::Tf(tf) => self.next_tf = Some(tf),
            Command::Draw(request) => {
                self.refining = None;
                self.pending = Some(request);
            }
        }
    }

    fn apply_tf(&mut self, tf: TransferFunction) {
        let start = Instant::now();
        if let Some((renderer, _)) = &self.renderer
            && let Ok(mut r) = renderer.lock()
            && r.transfer_function() != &tf
        {
            r.set_transfer_function(&self.gpu, &tf);
        }
        self.tf = Some(tf);
        self.tf_ms += start.elapsed().as_secs_f64() * 1e3;
    }

    /// Draws what is due: a requested frame, else the next refinement frame.
    fn step(&mut self) -> Result<Option<Frame>, String> {
        let Some((renderer, generation)) = self.renderer.clone() else {
            self.pending = None;
            return Ok(None);
        };
        if let Some(request) = self.pending.take() {
            if request.volume_generation != generation {
                return Ok(None);
            }
            return if request.moving {
                self.preview(&renderer, request).map(Some)
            } else {
                self.refine_first(&renderer, request)
            };
        }
        if self.refining.is_some() {
            return self.refine_next(&renderer);
        }
        Ok(None)
    }

    fn preview(&mut self, renderer: &Mutex<Renderer>, request: Request) -> Result<Frame, String> {
        let (scale, step) = self.model.choose(request.budget_ms);
        let mut settings = request.settings.clone();
        settings.size = settings
            .size
            .map(|s| ((s as f64 * scale).round() as u32).max(1));
        let base = {
            let r = renderer.lock().map_err(|e| e.to_string())?;
            r.sample_distance(&request.settings)
        };
        settings.sample_distance_mm = Some(base * step);
        let (image, draw_ms, pool) = self
            .draw(renderer, &request.camera, &settings, 0, false)?
            .expect("a preview is drawn whole");
        let ms = draw_ms + std::mem::take(&mut self.tf_ms);
        self.model.observe(ms, scale, step);
        Ok(Frame {
            request: request.id,
            volume_generation: request.volume_generation,
            tf_generation: request.tf_generation,
            image,
            quality: Quality::Preview { scale, step },
            ms,
            pool,
        })
    }

    fn refine_first(
        &mut self,
        renderer: &Mutex<Renderer>,
        request: Request,
    ) -> Result<Option<Frame>, String> {
        let Some((image, ms, pool)) =
            self.draw(renderer, &request.camera, &request.settings, 0, true)?
        else {
            return Ok(None);
        };
        self.tf_ms = 0.0;
        self.model.observe(ms, 1.0, 1.0);
        let of = crate::render::renderer::frames_of(&request.settings);
        if of > 1 {
            let mut sum = Accumulator::new(image.width, image.height, request.settings.transparent);
            sum.add(&image.rgba);
            self.refining = Some(Refining {
                request: request.clone(),
                sum,
                of,
            });
        }
        Ok(Some(Frame {
            request: request.id,
            volume_generation: request.volume_generation,
            tf_generation: request.tf_generation,
            image,
            quality: Quality::Full { samples: 1, of },
            ms,
            pool,
        }))
    }

    fn refine_next(&mut self, renderer: &Mutex<Renderer>) -> Result<Option<Frame>, String> {
        let mut refining = self.refining.take().expect("refining");
        let k = refining.sum.frames();
        let Some((image, ms, pool)) = self.draw(
            renderer,
            &refining.request.camera,
            &refining.request.settings,
            k,
            true,
        )?
        else {
            return Ok(None);
        };
        refining.sum.add(&image.rgba);
        let samples = refining.sum.frames();
        let frame = Frame {
            request: refining.request.id,
            volume_generation: refining.request.volume_generation,
            tf_generation: refining.request.tf_generation,
            image: Image {
                width: image.width,
                height: image.height,
                rgba: refining.sum.average(),
            },
            quality: Quality::Full {
                samples,
                of: refining.of,
            },
            ms,
            pool,
        };
        if samples < refining.of {
            self.refining = Some(refining);
        }
        Ok(Some(frame))
    }

    /// Draws frame `frame` of `settings` and reads it back, with the time it took. A full
    /// frame (`banded`) expected to take longer than [`BANDS_ABOVE_MS`] is drawn in bands of
    /// rows, and a new request or volume arriving between two bands abandons it (`None`): a
    /// slow renderer holds a new request up by a band, not by a frame.
    fn draw(
        &mut self,
        renderer: &Mutex<Renderer>,
        camera: &Camera,
        settings: &RenderSettings,
        frame: u32,
        banded: bool,
    ) -> Result<Option<(Image, f64, PoolReport)>, String> {
        let start = Instant::now();
        let [width, height] = settings.size;
        let bands = match (banded, self.model.full_ms()) {
            (true, Some(ms)) if ms > BANDS_ABOVE_MS => (ms / BAND_MS).ceil().min(16.0) as u32,
            _ => 1,
        }
        .min(height);
        // An export holds the lock while it draws: frames wait here, the window does not.
        let mut r = renderer.lock().map_err(|e| e.to_string())?;
        let failed = |e| format!("render failed: {e}");
        let image = if bands <= 1 {
            r.render_frame(&self.gpu, camera, settings, frame)
                .map_err(failed)?
        } else {
            let rows = height.div_ceil(bands);
            let mut rgba = Vec::with_capacity(4 * width as usize * height as usize);
            for first in (0..height).step_by(rows as usize) {
                let count = rows.min(height - first);
                let band = r
                    .render_frame_rows(&self.gpu, camera, settings, frame, first, count)
                    .map_err(failed)?;
                rgba.extend_from_slice(&band);
                if first + count < height && self.interrupted() {
                    return Ok(None);
                }
            }
            Image {
                width,
                height,
                rgba,
            }
        };
        let ms = start.elapsed().as_secs_f64() * 1e3;
        Ok(Some((image, ms, r.report())))
    }

    /// Takes the commands that came meanwhile; whether one of them makes the frame in hand
    /// pointless (a new request or a new volume; a transfer function comes with a request).
    fn interrupted(&mut self) -> bool {
        let generation = self.renderer.as_ref().map(|(_, g)| *g);
        while let Ok(command) = self.inbox.try_recv() {
            self.take(command);
        }
        self.pending.is_some() || self.renderer.as_ref().map(|(_, g)| *g) != generation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preview_fits_the_budget_by_steps_then_pixels() {
        let mut model = PreviewModel::new();
        model.observe(40.0, 1.0, 1.0);
        assert_eq!(model.choose(50.0), (1.0, 1.0));
        let mut model = PreviewModel::new();
        model.observe(80.0, 1.0, 1.0);
        // Within twice the budget: longer steps only (1.6 rounds up to 2).
        let (scale, step) = model.choose(50.0);
        assert_eq!((scale, step), (1.0, 2.0));
        // Eight times the budget: twice the step and half the pixels per axis.
        let mut model = PreviewModel::new();
        model.observe(400.0, 1.0, 1.0);
        let (scale, step) = model.choose(50.0);
        assert!((scale - 0.5).abs() < 1e-9 && (step - 2.0).abs() < 1e-9);
        let predicted = 400.0 * scale * scale / step;
        assert!((predicted - 50.0).abs() < 1e-6);
        // Far over: the coarsest pixels, then longer steps up to four times.
        let mut model = PreviewModel::new();
        model.observe(100_000.0, 1.0, 1.0);
        assert_eq!(
            model.choose(50.0),
            (PreviewModel::MIN_SCALE, PreviewModel::MAX_STEP)
        );
        // A preview's cost is scaled back to the full frame's.
        let mut model = PreviewModel::new();
        model.observe(25.0, 0.5, 2.0);
        assert_eq!(model.full_ms(), Some(200.0));
    }
}
