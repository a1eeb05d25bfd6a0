//! Automation for tests and benchmarks: `--script FILE` (timed steps: open a volume, drag in the
//! window or a transfer-function point, press a key, wait), `--exit-after-frames N` (exit once
//! N full-quality frames of the volume were shown) and `--screenshot FILE.png`, with a JSON
//! summary line of what was measured: the longest gap between two window frames, the previews
//! drawn during each drag, the refinement reached and the background jobs.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui::{Event, Key, Modifiers, PointerButton, Pos2, pos2};
use serde::{Deserialize, Serialize};

use crate::viewer::editor::Point;

/// Largest script file read.
const MAX_SCRIPT_BYTES: u64 = 1 << 20;

/// A script: steps run one after another.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    pub steps: Vec<Step>,
}

/// One step of a script. Positions are in window points.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Open a volume file or DICOM folder (as File > Open does).
    Open(PathBuf),
    /// Wait until no job runs and a full-quality frame of the volume on show was drawn.
    WaitUntilReady,
    /// Wait until the still image has refined to the scene's frame count.
    WaitUntilRefined,
    WaitMs(u64),
    /// Press the left button at `from`, move to `to` over `ms`, release.
    Drag {
        from: [f32; 2],
        to: [f32; 2],
        ms: u64,
    },
    /// Drag a transfer-function point (its chart's `curve`: "opacity", "color" or "gradient",
    /// and its index) by `by` points over `ms`.
    DragPoint {
        curve: String,
        index: usize,
        by: [f32; 2],
        ms: u64,
    },
    /// Apply a preset by name (as the Preset menu does).
    Preset(String),
    /// Press and release a key ("Escape", "Z" with `command` for undo, ...).
    Key {
        key: String,
        #[serde(default)]
        command: bool,
    },
}

impl Script {
    pub fn load(path: &Path) -> Result<Script, String> {
        let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if meta.len() > MAX_SCRIPT_BYTES {
            return Err(format!("{}: too large for a script", path.display()));
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let script: Script =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        for step in &script.steps {
            if let Step::DragPoint { curve, .. } = step {
                point(curve, 0)?;
            }
            if let Step::Preset(name) = step {
                crate::tf::presets::preset(name, 1.0)?;
            }
            if let Step::Key { key, .. } = step {
                Key::from_name(key).ok_or_else(|| format!("unknown key {key:?}"))?;
            }
        }
        Ok(script)
    }
}

/// The point `index` of a chart named as in a script.
pub fn point(curve: &str, index: usize) -> Result<Point, String> {
    match curve {
        "opacity" => Ok(Point::opacity(index)),
        "color" => Ok(Point::color(index)),
        "gradient" => Ok(Point::gradient(index)),
        other => Err(format!(
            "unknown curve {other:?} (opacity, color or gradient)"
        )),
    }
}

/// What a drag measured.
#[derive(Debug, Clone, Serialize)]
pub struct DragReport {
    pub ms: f64,
    /// Previews shown while it ran, and their rate.
    pub previews: u32,
    pub previews_per_second: f64,
    /// The longest gap between two window frames while it ran.
    pub max_ui_frame_ms: f64,
}

/// A drag in progress.
#[derive(Debug)]
struct Dragging {
    from: Pos2,
    to: Pos2,
    ms: u64,
    started: Instant,
    pressed: bool,
    previews_at_start: u32,
    max_gap_ms: f64,
}

/// What the script asks of the app this frame.
#[derive(Debug, PartialEq)]
pub enum Request {
    Open(PathBuf),
    Preset(String),
}

/// The running script.
#[derive(Debug)]
pub struct Runner {
    steps: std::collections::VecDeque<Step>,
    waiting_since: Option<Instant>,
    dragging: Option<Dragging>,
    pub drags: Vec<DragReport>,
}

/// What the runner needs to know of the app.
#[derive(Debug, Clone, Copy)]
pub struct Situation {
    pub ready: bool,
    pub refined: bool,
    pub previews: u32,
    pub last_gap_ms: f64,
}

impl Runner {
    pub fn new(script: Script) -> Runner {
        Runner {
            steps: script.steps.into(),
            waiting_since: None,
            dragging: None,
            drags: Vec::new(),
        }
    }

    /// Whether the script waits for the still image to refine.
    pub fn waiting_still(&self) -> bool {
        self.dragging.is_none() && self.steps.front() == Some(&Step::WaitUntilRefined)
    }

    pub fn finished(&self) -> bool {
        self.steps.is_empty() && self.dragging.is_none()
    }

    /// Feeds this frame's input events for the current step; returns what the app must do.
    /// `locate` finds a transfer-function point on screen.
    pub fn input(
        &mut self,
        events: &mut Vec<Event>,
        now: Situation,
        locate: impl Fn(&str, usize) -> Option<Pos2>,
    ) -> Result<Option<Request>, String> {
        if let Some(d) = &mut self.dragging {
            d.max_gap_ms = d.max_gap_ms.max(now.last_gap_ms);
            return Ok(self.drag(events, now));
        }
        let Some(step) = self.steps.front().cloned() else {
            return Ok(None);
        };
        match step {
            Step::Open(path) => {
                self.steps.pop_front();
                Ok(Some(Request::Open(path)))
            }
            Step::Preset(name) => {
                self.steps.pop_front();
                Ok(Some(Request::Preset(name)))
            }
            Step::WaitUntilReady => {
                if now.ready {
                    self.steps.pop_front();
                }
                Ok(None)
            }
            Step::WaitUntilRefined => {
                if now.ready && now.refined {
                    self.steps.pop_front();
                }
                Ok(None)
            }
            Step::WaitMs(ms) => {
                let since = *self.waiting_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= Duration::from_millis(ms) {
                    self.waiting_since = None;
                    self.steps.pop_front();
                }
                Ok(None)
            }
            Step::Drag { from, to, ms } => {
                self.steps.pop_front();
                self.start_drag(pos2(from[0], from[1]), pos2(to[0], to[1]), ms, now);
                Ok(self.drag(events, now))
            }
            Step::DragPoint {
                curve,
                index,
                by,
                ms,
            } => {
                let from = locate(&curve, index)
                    .ok_or_else(|| format!("the {curve} point {index} is not on screen"))?;
                self.steps.pop_front();
                self.start_drag(from, from + egui::vec2(by[0], by[1]), ms, now);
                Ok(self.drag(events, now))
            }
            Step::Key { key, command } => {
                self.steps.pop_front();
                let key = Key::from_name(&key).expect("checked when loaded");
                let modifiers = if command {
                    Modifiers::COMMAND
                } else {
                    Modifiers::NONE
                };
                for pressed in [true, false] {
                    events.push(Event::Key {
                        key,
                        physical_key: None,
                        pressed,
                        repeat: false,
                        modifiers,
                    });
                }
                Ok(None)
            }
        }
    }

    fn start_drag(&mut self, from: Pos2, to: Pos2, ms: u64, now: Situation) {
        self.dragging = Some(Dragging {
            from,
            to,
            ms: ms.max(1),
            started: Instant::now(),
            pressed: false,
            previews_at_start: now.previews,
            max_gap_ms: 0.0,
        });
    }

    fn drag(&mut self, events: &mut Vec<Event>, now: Situation) -> Option<Request> {
        let d = self.dragging.as_mut().expect("dragging");
        let button = |pos, pressed| Event::PointerButton {
            pos,
            button: PointerButton::Primary,
            pressed,
            modifiers: Modifiers::NONE,
        };
        if !d.pressed {
            d.pressed = true;
            d.started = Instant::now();
            events.push(Event::PointerMoved(d.from));
            events.push(button(d.from, true));
            return None;
        }
        let elapsed = d.started.elapsed().as_secs_f64() * 1e3;
        let t = (elapsed / d.ms as f64).min(1.0) as f32;
        let at = d.from + (d.to - d.from) * t;
        events.push(Event::PointerMoved(at));
        if t >= 1.0 {
            events.push(button(d.to, false));
            let previews = now.previews - d.previews_at_start;
            self.drags.push(DragReport {
                ms: elapsed,
                previews,
                previews_per_second: previews as f64 / (elapsed / 1e3).max(1e-9),
                max_ui_frame_ms: d.max_gap_ms,
            });
            self.dragging = None;
        }
        None
    }
}

/// The gaps between window frames.
#[derive(Debug, Default)]
pub struct UiClock {
    last: Option<Instant>,
    pub frames: u64,
    /// The longest gap from the third frame on (the first ones set up fonts and pipelines).
    pub max_gap_ms: f64,
    pub last_gap_ms: f64,
}

impl UiClock {
    /// Time since the last frame began.
    pub fn since_last(&self) -> Option<Duration> {
        self.last.map(|l| l.elapsed())
    }

    pub fn tick(&mut self) {
        let now = Instant::now();
        if let Some(last) = self.last {
            self.last_gap_ms = now.duration_since(last).as_secs_f64() * 1e3;
            if self.frames >= 3 {
                self.max_gap_ms = self.max_gap_ms.max(self.last_gap_ms);
            }
        }
        self.last = Some(now);
        self.frames += 1;
    }
}

/// A finished background job, for the summary.
#[derive(Debug, Clone, Serialize)]
pub struct JobReport {
    pub title: String,
    pub ms: f64,
    pub outcome: String,
    /// Window frames drawn while it ran.
    pub ui_frames: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_parse_and_bad_ones_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(
            &path,
            r#"{"steps": [{"open": "a.nrrd"}, "wait_until_ready", "wait_until_refined", {"wait_ms": 10},
                {"drag": {"from": [1, 2], "to": [3, 4], "ms": 100}},
                {"drag_point": {"curve": "gradient", "index": 1, "by": [0, -20], "ms": 50}},
                {"key": {"key": "Escape"}}]}"#,
        )
        .unwrap();
        let script = Script::load(&path).unwrap();
        assert_eq!(script.steps.len(), 7);
        assert_eq!(script.steps[1], Step::WaitUntilReady);
        for bad in [
            r#"{"steps": [{"jump": 1}]}"#,
            r#"{"steps": [{"drag_point": {"curve": "hue", "index": 0, "by": [0, 0], "ms": 1}}]}"#,
            r#"{"steps": [{"key": {"key": "NoSuchKey"}}]}"#,
        ] {
            std::fs::write(&path, bad).unwrap();
            let err = Script::load(&path).unwrap_err();
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn a_drag_presses_moves_and_releases_over_its_time() {
        let mut runner = Runner::new(Script {
            steps: vec![Step::Drag {
                from: [10.0, 10.0],
                to: [30.0, 10.0],
                ms: 30,
            }],
        });
        let now = Situation {
            ready: true,
            refined: true,
            previews: 0,
            last_gap_ms: 5.0,
        };
        let mut events = Vec::new();
        runner.input(&mut events, now, |_, _| None).unwrap();
        assert!(matches!(
            events[1],
            Event::PointerButton { pressed: true, .. }
        ));
        let mut all = Vec::new();
        let mut n = 0;
        while !runner.finished() {
            std::thread::sleep(Duration::from_millis(5));
            let later = Situation { previews: n, ..now };
            runner.input(&mut all, later, |_, _| None).unwrap();
            n += 1;
        }
        assert!(
            matches!(all.last(), Some(Event::PointerButton { pressed: false, pos, .. }) if *pos == pos2(30.0, 10.0))
        );
        let report = &runner.drags[0];
        assert!(report.ms >= 30.0 && report.previews > 0);
    }
}
