//! gradvol: a volume renderer for CT, MRI and microscopy data, built around gradient opacity.
//!
//! The crate is layered so that dependencies point one way:
//!
//! ```text
//! viewer                             the egui window: TF editor, histograms, session
//! cli (src/main.rs, src/commands/)   parses arguments, prints results; anyhow only here
//! gpu, render                        wgpu: adapter and device, the compute and render passes
//! domain (volume/, gradient/)        plain Rust: volumes and their formats, gradient operators
//!                                    and statistics (the CPU references every pass is tested
//!                                    against)
//! ```
//!
//! Every command opens its input through [`volume::load`], which returns a [`volume::Volume`]:
//! the voxels in their own type, their spacing, and `world_from_voxel`, the affine map from voxel
//! indices to millimetres in LPS or RAS patient space.

pub mod atomic;
pub mod camera;
pub mod gpu;
pub mod gradient;
pub mod png_io;
pub mod render;
pub mod scene;
pub mod tf;
pub mod viewer;
pub mod volume;
