//! `gradvol view`: the desktop window (winit + egui + egui-wgpu, through eframe) where transfer
//! functions, gradient opacity first, are tuned by hand against the data's histograms.
//!
//! The window shows the texture the [`crate::render::renderer::Renderer`] draws, so what it
//! shows is what `gradvol render` writes. [`editor`] is plain egui and is tested headlessly.

pub mod app;
pub mod editor;
pub mod pick;
pub mod session;

pub use app::{ViewOptions, demo_volume, export_screenshot, run};
