//! The viewport: camera input, the request sent to the frame thread, the newest image shown as
//! a texture, and the hover readout. It only reads finished frames; it never draws a volume
//! frame itself, so the window never waits for one.

use egui::{Color32, ColorImage, Sense, TextureHandle, TextureOptions, Ui, Vec2, vec2};
use glam::Vec2 as GVec2;

use crate::camera::Camera;
use crate::render::renderer::{PoolReport, TILE_SIDE};
use crate::scene::RenderSettings;
use crate::viewer::document::Document;
use crate::viewer::frames::{Frame, Frames, Quality, Request};
use crate::viewer::pick::{Pick, pick};

/// A preview frame's default budget in milliseconds.
pub const DEFAULT_BUDGET_MS: f64 = 50.0;

/// A texture handle that prints as its id.
pub struct Texture(pub TextureHandle);

impl std::fmt::Debug for Texture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Texture({:?})", self.0.id())
    }
}

/// The viewport's state.
#[derive(Debug)]
pub struct Viewport {
    texture: Option<Texture>,
    /// The last request sent (its id zeroed), so an unchanged view sends nothing, and the
    /// number of requests sent.
    sent: Option<Request>,
    requests: u64,
    /// The request the image on screen answers.
    shown_request: u64,
    /// What the texture shows.
    pub shown: Option<Shown>,
    pub budget_ms: f64,
    pub interacting: bool,
    pub hover: Option<Pick>,
    hover_pixel: Option<GVec2>,
    /// The viewport in window pixels: x, y, width, height.
    pub rect_px: [u32; 4],
    /// Full-quality frames and previews received, for automation and the status line.
    pub full_frames: u32,
    pub previews: u32,
    pub pool: Option<PoolReport>,
    /// Take no new frames (a screenshot of the window is on its way).
    pub freeze: bool,
    /// The image is about to be replaced (a streamed store's view is being refined): one
    /// frame, not an accumulation, so the refinement has the processor.
    pub draft: bool,
    /// When the first full-resolution frame of the current view came, and how long after it
    /// the refinement finished.
    refine_started: Option<std::time::Instant>,
    pub refined_ms: Option<f64>,
}

/// The image on screen and how it was made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shown {
    pub quality: Quality,
    pub ms: f64,
    pub size: [u32; 2],
}

impl Default for Viewport {
    fn default() -> Self {
        Viewport {
            texture: None,
            sent: None,
            requests: 0,
            shown_request: 0,
            shown: None,
            budget_ms: DEFAULT_BUDGET_MS,
            interacting: false,
            hover: None,
            hover_pixel: None,
            rect_px: [0; 4],
            full_frames: 0,
            previews: 0,
            pool: None,
            freeze: false,
            draft: false,
            refine_started: None,
            refined_ms: None,
        }
    }
}

impl Viewport {
    pub fn with_budget(budget_ms: f64) -> Viewport {
        Viewport {
            budget_ms,
            ..Viewport::default()
        }
    }

    /// Forgets the image's provenance after the volume changed (the old image stays until the
    /// new one comes).
    pub fn volume_changed(&mut self) {
        self.sent = None;
        self.hover = None;
        self.hover_pixel = None;
    }

    /// Takes the newest finished frame into the texture. Returns whether one came.
    pub fn receive(
        &mut self,
        ctx: &egui::Context,
        frames: &Frames,
        doc: &Document,
    ) -> Result<bool, String> {
        if self.freeze {
            return Ok(false);
        }
        let (frame, _) = frames.latest();
        let Some(frame) = frame else {
            return Ok(false);
        };
        let frame: Frame = frame?;
        if frame.volume_generation != doc.volume_generation {
            return Ok(false);
        }
        let [w, h] = [frame.image.width as usize, frame.image.height as usize];
        let image = ColorImage::from_rgba_premultiplied([w, h], &frame.image.rgba);
        match &mut self.texture {
            Some(t) => t.0.set(image, TextureOptions::LINEAR),
            None => {
                let handle = ctx.load_texture("volume", image, TextureOptions::LINEAR);
                self.texture = Some(Texture(handle));
            }
        }
        match frame.quality {
            Quality::Preview { .. } => self.previews += 1,
            Quality::Full { samples, of } => {
                self.full_frames += 1;
                if samples == 1 {
                    self.refine_started = Some(std::time::Instant::now());
                    self.refined_ms = None;
                }
                if samples == of
                    && let Some(start) = self.refine_started
                {
                    self.refined_ms = Some(start.elapsed().as_secs_f64() * 1e3);
                }
            }
        }
        self.shown = Some(Shown {
            quality: frame.quality,
            ms: frame.ms,
            size: [frame.image.width, frame.image.height],
        });
        self.pool = Some(frame.pool);
        self.shown_request = frame.request;
        Ok(true)
    }

    /// Draws the viewport, handles the camera, and sends a request when the view changed.
    pub fn ui(&mut self, ui: &mut Ui, doc: &mut Document, frames: &Frames) {
        let size = ui.available_size().max(Vec2::splat(16.0));
        let (rect, response) = ui.allocate_exact_size(size, Sense::click_and_drag());
        let Some(shown) = &doc.shown else {
            ui.painter_at(rect).text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                "no volume yet",
                egui::FontId::proportional(16.0),
                Color32::GRAY,
            );
            return;
        };
        let (_, radius) = shown.geometry.bounding_sphere();
        let scroll = camera_input(ui, &response, rect, radius, &mut doc.scene.camera);
        // Any drag (the camera, a point in the charts, a slider) draws previews.
        self.interacting = ui.ctx().dragged_id().is_some() || scroll;

        let ppp = ui.ctx().pixels_per_point();
        self.rect_px = [
            (rect.left() * ppp).round() as u32,
            (rect.top() * ppp).round() as u32,
            (rect.width() * ppp).round() as u32,
            (rect.height() * ppp).round() as u32,
        ];
        let mut settings = doc.scene.render.clone();
        settings.size = [
            ((rect.width() * ppp).round() as u32).clamp(1, TILE_SIDE),
            ((rect.height() * ppp).round() as u32).clamp(1, TILE_SIDE),
        ];
        settings.transparent = false;
        if self.draft {
            settings.accumulate = 1;
        }
        let request = Request {
            id: 0,
            volume_generation: doc.volume_generation,
            tf_generation: doc.tf_generation,
            camera: doc.scene.camera,
            settings: settings.clone(),
            moving: self.interacting,
            budget_ms: self.budget_ms,
        };
        if self.sent.as_ref() != Some(&request) {
            self.requests += 1;
            frames.request(Request {
                id: self.requests,
                ..request.clone()
            });
            self.sent = Some(request);
        }

        if let Some(texture) = &self.texture {
            ui.painter_at(rect).image(
                texture.0.id(),
                rect,
                egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
                Color32::WHITE,
            );
        }
        self.hover_pick(&response, rect, ppp, doc, &settings);
        if let Some(p) = self.hover {
            let unit = &shown.analysis.chart.unit;
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

    /// The size in pixels of the images the viewport last asked for.
    pub fn request_size(&self) -> Option<[u32; 2]> {
        self.sent.as_ref().map(|r| r.settings.size)
    }

    /// Whether the image on screen is a full-resolution frame of the latest request.
    pub fn current_full(&self) -> bool {
        matches!(
            self.shown,
            Some(Shown {
                quality: Quality::Full { .. },
                ..
            })
        ) && self.shown_request == self.requests
    }

    /// Whether the image on screen is the last refinement step of the latest request.
    pub fn converged(&self) -> bool {
        matches!(
            self.shown,
            Some(Shown { quality: Quality::Full { samples, of }, .. }) if samples >= of
        ) && self.shown_request == self.requests
            && self.sent.as_ref().is_some_and(|r| !r.moving)
    }

    /// "preview 1/2 pixels, 2.0x step, 41 ms (budget 50 ms)" or "refined 7/16 frames".
    pub fn describe(&self) -> String {
        match self.shown {
            None => String::new(),
            Some(Shown {
                quality: Quality::Preview { scale, step },
                ms,
                size,
            }) => format!(
                "preview {}x{} ({:.0}% of the pixels per axis), {step:.1}x the step, {ms:.0} ms \
                 (budget {:.0} ms)",
                size[0],
                size[1],
                100.0 * scale,
                self.budget_ms
            ),
            Some(Shown {
                quality: Quality::Full { samples, of },
                ms,
                size,
            }) if of > 1 => format!(
                "{}x{}, refined {samples}/{of} frames, {ms:.0} ms a frame",
                size[0], size[1]
            ),
            Some(Shown { ms, size, .. }) => format!("{}x{}, {ms:.0} ms", size[0], size[1]),
        }
    }

    fn hover_pick(
        &mut self,
        response: &egui::Response,
        rect: egui::Rect,
        ppp: f32,
        doc: &Document,
        settings: &RenderSettings,
    ) {
        let shown = doc.shown.as_ref().expect("drawn with a volume");
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
        let tf = doc.tf();
        let params = shown.params(&doc.scene.camera, settings, &tf);
        self.hover = pick(
            &params,
            &shown.volume,
            &shown.analysis.gradient,
            &tf,
            settings.blend,
            pixel,
        );
    }
}

/// Orbit (left drag), pan (shift or middle drag), zoom (wheel), reset (double-click). Returns
/// whether the wheel turned.
fn camera_input(
    ui: &Ui,
    response: &egui::Response,
    rect: egui::Rect,
    radius: f64,
    camera: &mut Camera,
) -> bool {
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
    scroll != 0.0
}
