//! Background work: each job runs on its own thread and reports the step it is in and how far
//! it got; the window polls it once a frame and never waits for it. Cancelling is immediate for
//! the window (the job's result will be dropped), and the thread stops at its next checkpoint.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError, channel};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A job's shared state: the step's name, its fraction done, and the cancel flag.
#[derive(Debug, Default)]
pub struct Progress {
    step: Mutex<String>,
    /// The fraction of the step done, as f32 bits; NaN while unknown.
    fraction: AtomicU32,
    cancelled: AtomicBool,
}

/// What a job returns when it noticed it was cancelled.
pub const CANCELLED: &str = "cancelled";

impl Progress {
    /// Starts a step ("reading", "gradient (central)"), or fails when the job was cancelled.
    pub fn step(&self, name: impl Into<String>) -> Result<(), String> {
        self.check()?;
        if let Ok(mut step) = self.step.lock() {
            *step = name.into();
        }
        self.fraction.store(f32::NAN.to_bits(), Ordering::Relaxed);
        Ok(())
    }

    /// How far the current step got, 0..1.
    pub fn set_fraction(&self, fraction: f64) {
        let f = fraction.clamp(0.0, 1.0) as f32;
        self.fraction.store(f.to_bits(), Ordering::Relaxed);
    }

    /// `Err` once the job was cancelled: call between pieces of work.
    pub fn check(&self) -> Result<(), String> {
        if self.is_cancelled() {
            Err(CANCELLED.into())
        } else {
            Ok(())
        }
    }

    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    pub fn step_name(&self) -> String {
        self.step.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The fraction of the current step done, when the step knows it.
    pub fn fraction(&self) -> Option<f32> {
        let f = f32::from_bits(self.fraction.load(Ordering::Relaxed));
        (!f.is_nan()).then_some(f)
    }
}

/// A job in flight, producing a `T`.
#[derive(Debug)]
pub struct Job<T> {
    /// What the job does, for the status line ("opening lung1.nrrd").
    pub title: String,
    pub progress: Arc<Progress>,
    pub started: Instant,
    /// The window frame it started at (set by the window), to count the frames drawn while it
    /// ran.
    pub started_frame: u64,
    result: Receiver<Result<T, String>>,
}

/// How a poll found a job.
#[derive(Debug)]
pub enum Poll<T> {
    Running,
    Done(Result<T, String>),
}

impl<T: Send + 'static> Job<T> {
    /// Runs `work` on a new thread. `work` calls [`Progress::step`] between its steps, so that
    /// a cancelled job stops at the next one.
    pub fn spawn(
        title: impl Into<String>,
        work: impl FnOnce(&Progress) -> Result<T, String> + Send + 'static,
    ) -> Job<T> {
        let progress = Arc::new(Progress::default());
        let (send, result) = channel();
        let shared = progress.clone();
        let spawned = std::thread::Builder::new()
            .name("gradvol job".into())
            .spawn(move || {
                lower_priority();
                // A panic in a job is reported as its failure, not lost with the thread.
                let outcome =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&shared)))
                        .unwrap_or_else(|panic| Err(panic_message(panic.as_ref())));
                // The window may have dropped the job (cancelled or replaced): nothing to do.
                let _ = send.send(outcome);
            });
        if let Err(e) = spawned {
            let (send, failed) = channel();
            let _ = send.send(Err(format!("cannot start a thread: {e}")));
            return Job {
                title: title.into(),
                progress,
                started: Instant::now(),
                started_frame: 0,
                result: failed,
            };
        }
        Job {
            title: title.into(),
            progress,
            started: Instant::now(),
            started_frame: 0,
            result,
        }
    }

    /// The result once the job is done.
    pub fn poll(&self) -> Poll<T> {
        match self.result.try_recv() {
            Ok(result) => Poll::Done(result),
            Err(TryRecvError::Empty) => Poll::Running,
            Err(TryRecvError::Disconnected) => Poll::Done(Err("the job stopped".into())),
        }
    }

    /// Tells the thread to stop; the caller drops the job, and with it the result.
    pub fn cancel(&self) {
        self.progress.cancel();
    }

    /// "reading 43%": the step and its fraction.
    pub fn describe(&self) -> String {
        let step = self.progress.step_name();
        match self.progress.fraction() {
            Some(f) => format!("{step} {:.0}%", 100.0 * f),
            None => step,
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown".into());
    format!("internal error: {text}")
}

/// The nice value of background jobs: below the window and the frames.
pub const JOB_NICE: i32 = 10;

/// The nice value of the frame thread and of its GPU device's threads: below the window,
/// above background jobs.
pub const FRAMES_NICE: i32 = 5;

/// Background threads yield to the window's: on Linux a job thread takes the nice value
/// [`JOB_NICE`], so the window's thread gets the CPU when it needs it, even while a job keeps
/// every core busy. Rayon's pool, which the gradient and the statistics run on, gets the same
/// at start-up ([`lower_rayon_priority`]).
fn lower_priority() {
    set_nice(JOB_NICE);
}

/// Sets the calling thread's nice value (Linux; elsewhere nothing). Threads it starts inherit
/// it.
pub fn set_nice(nice: i32) {
    #[cfg(target_os = "linux")]
    {
        let me = rustix::thread::gettid();
        let _ = rustix::process::setpriority_process(Some(me), nice);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

/// Runs `f` on a new thread of nice value `nice` and returns its result: what it creates there
/// (a GPU device and the driver's threads) inherits the priority.
pub fn at_nice<T: Send>(nice: i32, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                set_nice(nice);
                f()
            })
            .join()
            .expect("the thread ran")
    })
}

/// Builds rayon's global pool with threads at a lower priority than the window's (see
/// [`lower_priority`]). Called once before any parallel work; a second call does nothing.
pub fn lower_rayon_priority() {
    let _ = rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("gradvol worker {i}"))
        .start_handler(|_| lower_priority())
        .build_global();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn wait<T: Send + 'static>(job: &Job<T>) -> Result<T, String> {
        loop {
            if let Poll::Done(r) = job.poll() {
                return r;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_job_reports_its_step_and_result() {
        let job = Job::spawn("adding", |p| {
            p.step("adding")?;
            p.set_fraction(0.5);
            Ok(2 + 2)
        });
        assert_eq!(wait(&job), Ok(4));
        assert_eq!(job.progress.step_name(), "adding");
        assert_eq!(job.progress.fraction(), Some(0.5));
    }

    #[test]
    fn a_cancelled_job_stops_at_its_next_step_and_a_panic_is_a_failure() {
        let (go, wait_for_go) = channel::<()>();
        let job = Job::spawn("slow", move |p| {
            p.step("first")?;
            wait_for_go.recv().unwrap();
            p.step("second")?;
            Ok("finished")
        });
        job.cancel();
        go.send(()).unwrap();
        assert_eq!(wait(&job), Err(CANCELLED.to_string()));

        let job: Job<()> = Job::spawn("broken", |_| panic!("a bug"));
        let err = wait(&job).unwrap_err();
        assert!(err.contains("a bug"), "{err}");
    }
}
