//! GPU passes. Each owns its pipelines, built once; per-run values are small uniform writes.

pub mod bricks;
pub mod gaussian_pass;
pub mod gradient_pass;
pub mod params;
pub mod raymarch;
pub mod reference;
pub mod renderer;
pub mod slabs;
pub mod stats_pass;
pub mod volume_texture;
