//! `gradvol view`: the desktop window (winit + egui + egui-wgpu, through eframe) where transfer
//! functions, gradient opacity first, are tuned by hand against the data's histograms.
//!
//! Where things are:
//! - [`app`]: the [`app::Viewer`], which applies [`panels::Action`]s to the
//!   [`document::Document`] and runs the slow work as [`jobs`];
//! - [`document`]: the volume on show, its analysis, the scene and the undo history;
//! - [`jobs`]: background threads with progress and cancel; [`work`]: the jobs the viewer
//!   starts and how their results reach the document; [`export`]: screenshots;
//! - [`frames`]: the frame thread, which draws the volume on its own GPU device (previews sized
//!   to a budget while the user drags, then refinement), so the window never waits;
//! - [`viewport`]: camera input, the image on screen, the hover readout ([`pick`]);
//! - [`panels`], [`settings`], [`editor`], [`files`]: the menus, the side panel, the
//!   transfer-function editor and the file dialogs;
//! - [`automation`], [`exit`]: scripts, `--exit-after-frames`, `--screenshot` and the JSON
//!   summary used by the tests and benchmarks;
//! - [`session`]: the autosaved scene;
//! - [`stream`]: OME-Zarr stores too large to read whole: a coarse stand-in, and views
//!   refined at levels of detail in the background when the camera rests.
//!
//! The viewport shows the images the [`crate::render::renderer::Renderer`] draws, so what it
//! shows is what `gradvol render` writes.

pub mod app;
pub mod automation;
pub mod document;
pub mod editor;
pub mod exit;
pub mod export;
pub mod files;
pub mod frames;
pub mod jobs;
pub mod panels;
pub mod pick;
pub mod plane;
pub mod points;
pub mod session;
pub mod settings;
pub mod stream;
pub mod viewport;
pub mod work;

pub use app::{ViewOptions, Viewer, run};
pub use document::demo_volume;
pub use export::export_screenshot;
