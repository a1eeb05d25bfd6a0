//! `--exit-after-frames` and `--screenshot`: once the script is done, no job runs and enough
//! full-quality frames of the volume were shown, the window takes a screenshot of itself (if
//! asked), prints a JSON summary of what it measured, and closes. The script's input goes in
//! through [`Viewer::script_input`].

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use egui::{ColorImage, Event};

use crate::png_io::write_png;
use crate::render::renderer::Image;
use crate::viewer::app::Viewer;
use crate::viewer::automation::{Request, Situation};
use crate::viewer::document::Source;
use crate::viewer::frames::Quality;
use crate::viewer::panels::Action;
use crate::viewer::viewport::Viewport;

/// The exit condition and the screenshot in flight.
#[derive(Debug)]
pub struct Exit {
    screenshot: Option<PathBuf>,
    after: Option<u32>,
    /// Full-quality frames counted at the moment the current volume was shown.
    frames_at_show: u32,
    requested: bool,
    shot: Arc<Mutex<Option<Arc<ColorImage>>>>,
    /// The summary is printed and the window asked to close.
    done: bool,
}

impl Exit {
    pub fn new(screenshot: Option<PathBuf>, after: Option<u32>) -> Exit {
        Exit {
            after: after.or(screenshot.as_ref().map(|_| 3)),
            screenshot,
            frames_at_show: 0,
            requested: false,
            shot: Arc::default(),
            done: false,
        }
    }

    /// Starts counting frames for a newly shown volume.
    pub fn volume_shown(&mut self, viewport: &Viewport) {
        self.frames_at_show = viewport.full_frames;
    }

    fn active(&self) -> bool {
        self.after.is_some()
    }
}

impl Viewer {
    /// Whether no job runs and a full-quality frame of the volume on show, for the view as it
    /// is now, is on screen.
    fn ready(&self) -> bool {
        self.volume_job.is_none()
            && self.export_job.is_none()
            && self.doc.shown.is_some()
            && self.viewport.full_frames > self.automation.frames_at_show
            && self.viewport.current_full()
            && self.view_settled()
    }

    /// The script's events for this frame, before egui sees the input.
    pub fn script_input(&mut self, events: &mut Vec<Event>) {
        let situation = Situation {
            ready: self.ready(),
            refined: self.viewport.converged(),
            previews: self.viewport.previews,
            last_gap_ms: self.clock.last_gap_ms,
        };
        let Some(runner) = &mut self.runner else {
            return;
        };
        let tf = self.doc.tf();
        let editor = &self.doc.editor;
        let located = runner.input(events, situation, |curve, index| {
            let point = crate::viewer::automation::point(curve, index).ok()?;
            editor.point_position(&tf, point)
        });
        match located {
            Ok(Some(Request::Open(path))) => self.apply(Action::Open(Source::File {
                path: std::path::absolute(&path).unwrap_or(path),
                raw: None,
                level: None,
            })),
            Ok(Some(Request::Preset(name))) => self.apply(Action::Preset(name)),
            Ok(None) => {}
            Err(e) => {
                eprintln!("gradvol: the script failed: {e}");
                self.runner = None;
                if let Ok(mut o) = self.outcome_slot().lock() {
                    *o = Err(format!("the script failed: {e}"));
                }
            }
        }
    }

    /// Exits when the automation's conditions hold.
    pub(crate) fn automate(&mut self, ctx: &egui::Context) {
        if self.automation.done || (!self.automation.active() && self.runner.is_none()) {
            return;
        }
        // Keep frames coming (about 60 a second) so that the gaps measured are the window's, as
        // a hand on the mouse would; while the script waits for the still image to refine, a
        // slow tick only, as a window nobody touches redraws just for the frames that arrive.
        let still = self.runner.as_ref().is_some_and(|r| r.waiting_still());
        let tick = if still { 250 } else { 16 };
        ctx.request_repaint_after(Duration::from_millis(tick));
        let Some(after) = self.automation.after else {
            return;
        };
        let script_done = self.runner.as_ref().is_none_or(|r| r.finished());
        let shown = self.viewport.full_frames - self.automation.frames_at_show;
        if !(script_done && self.ready() && shown >= after) {
            return;
        }
        let Some(path) = self.automation.screenshot.clone() else {
            println!("{}", self.summary(None));
            self.automation.done = true;
            self.finish(ctx, Ok(()));
            return;
        };
        if !self.automation.requested {
            self.automation.requested = true;
            self.viewport.freeze = true;
            let slot = self.automation.shot.clone();
            ctx.request_screenshot(move |image| {
                if let Ok(mut s) = slot.lock() {
                    *s = Some(image);
                }
            });
            return;
        }
        let shot = self.automation.shot.lock().ok().and_then(|mut s| s.take());
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
        let mut scene = self.doc.scene.clone();
        scene.transfer_function = Some(self.doc.tf());
        let text = serde_json::to_string(&scene).unwrap_or_default();
        let result = write_png(&path, &image, &text).map_err(|e| e.to_string());
        match &result {
            Ok(()) => println!("{}", self.summary(Some((&path, [w, h])))),
            Err(e) => eprintln!("gradvol: cannot write the screenshot: {e}"),
        }
        self.automation.done = true;
        self.finish(ctx, result);
    }

    /// The JSON summary line.
    fn summary(&self, screenshot: Option<(&PathBuf, [usize; 2])>) -> serde_json::Value {
        let refinement = match self.viewport.shown.map(|s| s.quality) {
            Some(Quality::Full { samples, of }) => {
                serde_json::json!({"samples": samples, "of": of})
            }
            _ => serde_json::Value::Null,
        };
        let drags = self
            .runner
            .as_ref()
            .map(|r| r.drags.clone())
            .unwrap_or_default();
        serde_json::json!({
            "screenshot": screenshot.map(|(p, _)| p.display().to_string()),
            "window": screenshot.map(|(_, s)| s),
            "frames": self.viewport.full_frames - self.automation.frames_at_show,
            "previews": self.viewport.previews,
            "refinement": refinement,
            "refined_ms": self.viewport.refined_ms,
            "viewport": self.viewport.rect_px,
            "adapter": self.gpu().describe(),
            "ui_frames": self.clock.frames,
            "max_ui_frame_ms": self.clock.max_gap_ms,
            "drags": drags,
            "jobs": self.jobs_done,
            "volume": self.doc.shown.as_ref().map(|s| s.name()),
            "streaming": self.streaming_summary(),
        })
    }
}
