//! gradvol: a volume renderer for CT, MRI and microscopy data, built around gradient opacity.
//!
//! The crate is layered so that dependencies point one way:
//!
//! ```text
//! cli (src/main.rs)    parses arguments, prints results; the only place anyhow is used
//! domain (volume/)     plain Rust: the volume model and its file formats, no GPU code
//! ```
//!
//! Every command opens its input through [`volume::load`], which returns a [`volume::Volume`]:
//! the voxels in their own type, their spacing, and `world_from_voxel`, the affine map from voxel
//! indices to millimetres in LPS or RAS patient space.

pub mod gradient;
pub mod volume;
