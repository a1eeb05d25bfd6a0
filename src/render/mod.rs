//! The raymarcher: the volume packed into a brick pool with a page table ([`bricks`],
//! [`pool`], [`page_table`]), the blocks empty-space skipping decides on ([`layout`],
//! [`classify`]), the transfer function's tables ([`table`], [`luts`]), the raymarch pass and its uniforms
//! ([`raymarch`], [`params`]), the [`renderer`] that ties them together and draws images, and
//! the CPU [`reference`] every GPU image is tested against.

pub mod accumulate;
pub mod bricks;
pub mod classify;
pub mod layout;
pub mod lod;
pub mod luts;
pub mod page_table;
pub mod params;
pub mod pool;
pub mod quantise;
pub mod raymarch;
pub mod reference;
pub mod renderer;
pub mod streamed;
pub mod table;
