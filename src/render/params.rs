//! The raymarch pass's per-frame uniforms, computed in plain Rust from the volume's geometry,
//! the camera, the render settings and the transfer function. The GPU pass and the CPU reference
//! read the same struct, so they cannot disagree about the setup.

use bytemuck::{Pod, Zeroable};
use glam::{DMat4, DVec3, DVec4};

use crate::camera::Camera;
use crate::render::layout::BrickLayout;
use crate::render::page_table::MAX_LEVELS;
use crate::render::quantise::Quantisation;
use crate::render::table::ClassTable;
use crate::scene::{Blend, RenderSettings};
use crate::tf::TransferFunction;
use crate::tf::tf2d::Warp;
use crate::volume::{Space, Volume};

pub const FLAG_SHADING: u32 = 1;
pub const FLAG_JITTER: u32 = 4;
pub const FLAG_TRANSPARENT: u32 = 8;
pub const FLAG_SKIP_EMPTY: u32 = 16;
/// The classification table's |grad f| rows are spaced linearly (else by the square root).
pub const FLAG_WARP_LINEAR: u32 = 32;
/// ... or by ln(1 + 100 t) / ln(101).
pub const FLAG_WARP_LOG: u32 = 64;

/// Upper bound on samples per ray, whatever the sample distance.
pub const MAX_STEPS: u32 = 1 << 16;

/// Keep in sync with `Params` in shaders/raymarch.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct RaymarchParams {
    pub world_from_clip: [[f32; 4]; 4],
    /// LPS millimetres to voxel coordinates (voxel centres at integers).
    pub voxel_from_world: [[f32; 4]; 4],
    /// The crop box in voxel coordinates.
    pub crop_min: [f32; 4],
    pub crop_max: [f32; 4],
    /// The last voxel's coordinates, `n - 1` per axis: samples clamp to `[0, n - 1]`.
    pub voxel_max: [f32; 4],
    pub background: [f32; 4],
    /// Cells per block along each axis.
    pub block_cells: [f32; 4],
    /// Blocks per axis.
    pub blocks: [f32; 4],
    /// Cells per brick along each axis.
    pub brick_cells: [f32; 4],
    /// One over the pool's texels per axis.
    pub pool_scale: [f32; 4],
    pub image_size: [f32; 2],
    pub tile_offset: [f32; 2],
    /// Scale and offset from a normalised value to a table column.
    pub value_to_column: [f32; 2],
    /// Scale from the square root of a normalised |grad f| to a table row (second unused).
    pub gradient_to_row: [f32; 2],
    pub sample_distance_mm: f32,
    pub unit_distance_mm: f32,
    pub blend: u32,
    pub flags: u32,
    pub ambient: f32,
    pub diffuse: f32,
    pub specular: f32,
    pub specular_power: f32,
    pub max_steps: u32,
    /// Added to each pixel's jitter (modulo 1): frame k of an accumulation shifts every ray
    /// start by [`jitter_offset`]`(k)` of a sample.
    pub jitter_offset: f32,
    pub _pad: [u32; 2],
    /// How samples reach each pyramid level a page-table entry may name (level 0: the volume).
    pub levels: [LevelParams; MAX_LEVELS],
}

/// How the raymarcher samples a brick of one pyramid level: a sample at voxel coordinates `u`
/// of the volume is at `u * scale + offset` in the level's voxels.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct LevelParams {
    pub scale: [f32; 4],
    pub offset: [f32; 4],
    /// Cells per brick of the level along each axis.
    pub brick_cells: [f32; 4],
    /// The level's last voxel, `n - 1` per axis.
    pub voxel_max: [f32; 4],
}

/// What the raymarcher needs to know of the pool a volume was packed into.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolParams {
    pub layout: BrickLayout,
    pub quantisation: Quantisation,
    /// The pool texture's size in texels.
    pub pool_texels: [usize; 3],
}

/// Where a volume sits in LPS space: what the camera and the rays need of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Geometry {
    pub dims: [usize; 3],
    pub spacing: [f64; 3],
    /// Voxel indices to LPS millimetres.
    pub world_from_voxel: DMat4,
}

impl Geometry {
    pub fn of(volume: &Volume) -> Geometry {
        Geometry {
            dims: volume.dims,
            spacing: volume.spacing,
            world_from_voxel: volume.world_from_voxel_in(Space::Lps),
        }
    }

    /// The volume's box in voxel indices: from the first voxel centre to the last (VTK's
    /// bounds), or one voxel thick on an axis with a single voxel.
    pub fn voxel_box(&self) -> [DVec3; 2] {
        let lo = self.dims.map(|n| if n == 1 { -0.5 } else { 0.0 });
        let hi = self.dims.map(|n| if n == 1 { 0.5 } else { n as f64 - 1.0 });
        [DVec3::from(lo), DVec3::from(hi)]
    }

    /// The centre and radius of the sphere around the box, in mm.
    pub fn bounding_sphere(&self) -> (DVec3, f64) {
        let [lo, hi] = self.voxel_box();
        let centre = self.world_from_voxel.transform_point3((lo + hi) / 2.0);
        let corner = self.world_from_voxel.transform_point3(lo);
        (centre, (corner - centre).length().max(1e-6))
    }

    /// Voxel coordinates (voxel centres at integers) from LPS millimetres.
    pub fn voxel_from_world(&self) -> DMat4 {
        self.world_from_voxel.inverse()
    }

    pub fn mean_spacing(&self) -> f64 {
        self.spacing.iter().sum::<f64>() / 3.0
    }
}

/// Which part of the image a draw covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    pub image_size: [u32; 2],
    pub offset: [u32; 2],
}

/// Whether the gradient-opacity curve needs |grad f| per sample, and if not, its constant value
/// (never for a function of widgets: they are drawn on |grad f|).
pub fn gradient_use(tf: &TransferFunction) -> Option<f32> {
    if tf.widgets().is_some() {
        return None;
    }
    let first = tf.gradient_opacity[0][1];
    tf.gradient_opacity
        .iter()
        .all(|p| p[1] == first)
        .then_some(first as f32)
}

/// The jitter shift of frame `k` of an accumulation: the golden-ratio sequence, whose first N
/// terms spread over [0, 1) about evenly for every N, so each pixel's ray starts cover the
/// sample interval however many frames are averaged. Frame 0 is unshifted.
pub fn jitter_offset(k: u32) -> f32 {
    (k as f64 * 0.618_033_988_749_894_9).fract() as f32
}

/// The uniforms for one draw.
pub fn raymarch_params(
    geometry: &Geometry,
    pool: &PoolParams,
    camera: &Camera,
    settings: &RenderSettings,
    tf: &TransferFunction,
    table: &ClassTable,
    tile: Tile,
) -> RaymarchParams {
    let [w, h] = tile.image_size;
    let (centre, radius) = geometry.bounding_sphere();
    let placed = camera.place(centre, radius, w as f64 / h as f64);
    let [box_lo, box_hi] = geometry.voxel_box();
    let [crop_lo, crop_hi] = settings.crop.map(DVec3::from);
    let to_voxel = |f: DVec3| box_lo + (box_hi - box_lo) * f;
    let sample_distance = sample_distance(geometry, settings);
    let shading = settings.shading.unwrap_or(tf.shading.shade);
    let mut flags = 0;
    if shading {
        flags |= FLAG_SHADING;
    }
    if settings.jitter {
        flags |= FLAG_JITTER;
    }
    if settings.transparent {
        flags |= FLAG_TRANSPARENT;
    }
    if settings.skip_empty_space && settings.blend == Blend::Composite {
        flags |= FLAG_SKIP_EMPTY;
    }
    flags |= match table.warp {
        Warp::Linear => FLAG_WARP_LINEAR,
        Warp::Sqrt => 0,
        Warp::Log => FLAG_WARP_LOG,
    };
    let f32x4 = |v: DVec3, w: f64| DVec4::new(v.x, v.y, v.z, w).as_vec4().to_array();
    let mat = |m: DMat4| m.as_mat4().to_cols_array_2d();
    let [b0, b1, b2] = settings.background;
    let layout = &pool.layout;
    let usize3 = |v: [usize; 3]| DVec3::from(v.map(|x| x as f64));
    RaymarchParams {
        world_from_clip: mat(placed.clip_from_world.inverse()),
        voxel_from_world: mat(geometry.voxel_from_world()),
        crop_min: f32x4(to_voxel(crop_lo), 0.0),
        crop_max: f32x4(to_voxel(crop_hi), 0.0),
        voxel_max: f32x4(usize3(geometry.dims) - 1.0, 0.0),
        background: [b0 as f32, b1 as f32, b2 as f32, 1.0],
        block_cells: f32x4(usize3(layout.block), 0.0),
        blocks: f32x4(usize3(layout.blocks), 0.0),
        brick_cells: f32x4(usize3(layout.brick), 0.0),
        pool_scale: f32x4(1.0 / usize3(pool.pool_texels), 0.0),
        image_size: [w as f32, h as f32],
        tile_offset: tile.offset.map(|o| o as f32),
        // Projections colour by the one-row colour table; compositing reads the 2-D one.
        value_to_column: if settings.blend == Blend::Composite {
            table.value_mapping(&pool.quantisation)
        } else {
            table.scalar_mapping(&pool.quantisation)
        },
        gradient_to_row: table.gradient_mapping(&pool.quantisation),
        sample_distance_mm: sample_distance as f32,
        unit_distance_mm: tf.unit_distance_mm as f32,
        blend: match settings.blend {
            Blend::Composite => 0,
            Blend::Maximum => 1,
            Blend::Minimum => 2,
            Blend::Average => 3,
        },
        flags,
        ambient: tf.shading.ambient as f32,
        diffuse: tf.shading.diffuse as f32,
        specular: tf.shading.specular as f32,
        specular_power: tf.shading.specular_power as f32,
        max_steps: MAX_STEPS,
        jitter_offset: 0.0,
        _pad: [0; 2],
        levels: {
            let mut levels = [LevelParams::zeroed(); MAX_LEVELS];
            levels[0] = LevelParams {
                scale: [1.0; 4],
                offset: [0.0; 4],
                brick_cells: f32x4(usize3(layout.brick), 0.0),
                voxel_max: f32x4(usize3(geometry.dims) - 1.0, 0.0),
            };
            levels
        },
    }
}

/// The sample distance over the transfer function's unit distance: what the table's alphas are
/// corrected for.
pub fn correction_ratio(
    geometry: &Geometry,
    settings: &RenderSettings,
    tf: &TransferFunction,
) -> f64 {
    sample_distance(geometry, settings) / tf.unit_distance_mm
}

/// The distance between samples in mm: the setting's, else the smallest voxel spacing.
pub fn sample_distance(geometry: &Geometry, settings: &RenderSettings) -> f64 {
    settings.sample_distance_mm.unwrap_or_else(|| {
        geometry
            .spacing
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_laid_out_as_the_shader_expects() {
        // 2 matrices, 8 vec4s, 2 rows of vec2 pairs, 3 rows of scalars, 16 levels of 4 vec4s.
        let size = std::mem::size_of::<RaymarchParams>();
        assert_eq!(size, 2 * 64 + 8 * 16 + 2 * 16 + 3 * 16 + 16 * 64);
        assert_eq!(std::mem::offset_of!(RaymarchParams, levels), 336);
        let offsets = [
            std::mem::offset_of!(RaymarchParams, voxel_max),
            std::mem::offset_of!(RaymarchParams, pool_scale),
            std::mem::offset_of!(RaymarchParams, image_size),
            std::mem::offset_of!(RaymarchParams, sample_distance_mm),
            std::mem::offset_of!(RaymarchParams, ambient),
            std::mem::offset_of!(RaymarchParams, max_steps),
        ];
        assert_eq!(offsets, [160, 240, 256, 288, 304, 320]);
    }

    #[test]
    fn voxel_centres_map_to_integer_coordinates() {
        let g = Geometry {
            dims: [4, 5, 6],
            spacing: [0.5, 1.0, 2.0],
            world_from_voxel: DMat4::from_scale(DVec3::new(0.5, 1.0, 2.0)),
        };
        let t = g.voxel_from_world();
        let p = t.transform_point3(DVec3::new(0.5 * 3.0, 4.0, 2.0 * 5.0));
        assert!((p - DVec3::new(3.0, 4.0, 5.0)).length() < 1e-12);
        let (c, r) = g.bounding_sphere();
        assert!((c - DVec3::new(0.75, 2.0, 5.0)).length() < 1e-12);
        assert!((r - DVec3::new(0.75, 2.0, 5.0).length()).abs() < 1e-12);
    }
}
