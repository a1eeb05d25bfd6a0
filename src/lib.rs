//! gradvol: a volume renderer for CT, MRI and microscopy data, built around gradient opacity.
//!
//! The crate is layered so that dependencies point one way:
//!
//! ```text
//! viewer                             the egui window: TF editor, histograms, session
//! cli (src/main.rs, src/commands/)   parses arguments, prints results; anyhow only here
//! render                             wgpu: the raymarcher and the bricked volume it reads
//! gpu                                wgpu: adapter and device, the gradient and statistics
//!                                    compute passes
//! domain (volume/, gradient/)        plain Rust: volumes and their formats, gradient operators
//!                                    and statistics (the CPU references every pass is tested
//!                                    against)
//! ```
//!
//! Every command opens its input through [`volume::load`], which returns a [`volume::Volume`]:
//! the voxels in their own type, their spacing, and `world_from_voxel`, the affine map from voxel
//! indices to millimetres in LPS or RAS patient space.
//!
//! One frame, walked through: [`render::renderer::Renderer::new`] packs the volume into a brick
//! pool on the GPU (16-bit value and |grad f| per voxel, a page table giving each brick's slot)
//! and classifies its blocks against the transfer function; a frame is one uniform write and one
//! full-screen draw whose fragment shader walks each ray through the blocks, stepping over the
//! empty ones and sampling the pool and the classification table in the others; the image is
//! shown by the viewer, or read back and streamed into a PNG by `gradvol render`.

pub mod atomic;
pub mod camera;
pub mod gpu;
pub mod gradient;
pub mod png_io;
pub mod render;
pub mod scene;
pub mod tf;
#[cfg(feature = "viewer")]
pub mod viewer;
pub mod volume;
