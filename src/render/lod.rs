//! Levels of detail for a pyramid (an OME-Zarr store): each brick of the finest level is drawn
//! from the level whose voxels are about a pixel on screen where it stands, and the whole set
//! fits a pool of a given number of slots, coarsening the bricks that look smallest first
//! rather than failing.
//!
//! The page table keeps one entry per brick of the finest level (level 0). An entry may name the
//! slot of a coarser level's brick and that level (see [`crate::render::page_table`]); the
//! raymarcher then samples at `u * scale + offset` in the level's voxels, where `u` is the
//! position in the finest level's voxels. A finest brick is served by the coarse brick that holds
//! the centre of its cells; a level is drawable when its voxels are a power of two of the
//! finest level's per axis and offset by at most half a voxel, so that every finest brick's
//! cells fall inside that brick's slot (borders included). Blocks, and so empty-space skipping,
//! stay those of the finest level; a block drawn from a coarse brick takes the range of the
//! whole coarse slot (wider than needed, never narrower).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use glam::DVec3;
use rayon::prelude::*;

use crate::camera::Camera;
use crate::gpu::{Gpu, GpuError};
use crate::gradient::Operator;
use crate::render::bricks::{BlockRanges, BrickSupply, Texel, brick_block_ranges, encode};
use crate::render::layout::BrickLayout;
use crate::render::page_table::{MAX_LEVELS, level_entry, pool_grid};
use crate::render::params::{Geometry, LevelParams};
use crate::render::quantise::PoolFormat;
use crate::render::renderer::{GradientReport, Pages, Renderer};
use crate::render::streamed::{LevelStats, StoreBricks};
use crate::scene::RenderSettings;
use crate::tf::{SCALAR_LUT_SIZE, TransferFunction};
use crate::volume::Space;
use crate::volume::zarr::Pyramid;

/// Blocks of the finest level beyond which skipping is decided per brick instead (16 Mi blocks:
/// 256 MB of ranges on the host).
pub const MAX_BLOCKS: usize = 1 << 24;

/// The finest level's bricks for levels of detail: the renderer's usual layout, with blocks the
/// size of bricks when a huge volume would have too many.
pub fn finest_layout(dims: [usize; 3], spacing: [f64; 3]) -> BrickLayout {
    let layout = BrickLayout::new(dims, spacing, None);
    if layout.block_count() <= MAX_BLOCKS {
        return layout;
    }
    BrickLayout {
        block: layout.brick,
        blocks: layout.bricks,
        ..layout
    }
}

/// One drawable level: its bricks and how the finest level's voxel coordinates map onto its own.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LevelMap {
    /// The pyramid's level (0: the finest).
    pub level: usize,
    pub layout: BrickLayout,
    /// Voxel size in mm (the smallest of the three axes: a level whose slices stay thick, as
    /// anisotropic pyramids keep them, still counts as coarser).
    pub voxel_mm: f64,
    pub scale: [f64; 3],
    pub offset: [f64; 3],
}

impl LevelMap {
    /// The raymarcher's view of this level.
    pub fn params(&self) -> LevelParams {
        let f = |v: [f64; 3]| [v[0] as f32, v[1] as f32, v[2] as f32, 0.0];
        let u = |v: [usize; 3]| v.map(|x| x as f64);
        LevelParams {
            scale: f(self.scale),
            offset: f(self.offset),
            brick_cells: f(u(self.layout.brick)),
            voxel_max: f(u(self.layout.dims).map(|d| d - 1.0)),
        }
    }

    /// The brick of this level whose slot serves finest brick `b0`: the one holding the centre
    /// of `b0`'s cells, computed in `f32` exactly as the raymarcher does.
    pub fn brick_for(&self, finest: &BrickLayout, b0: [usize; 3]) -> [usize; 3] {
        [0, 1, 2].map(|a| {
            let centre = (b0[a] as f32 + 0.5) * finest.brick[a] as f32 * self.scale[a] as f32
                + self.offset[a] as f32;
            let b = (centre / self.layout.brick[a] as f32).floor().max(0.0) as usize;
            b.min(self.layout.bricks[a] - 1)
        })
    }
}

/// The levels of `pyramid` a renderer whose finest bricks are `finest` can draw from, finest
/// first (level 0 always). Others are left out: their voxels are not a power of two of the
/// finest level's, or sit more than half a voxel off.
pub fn level_maps(pyramid: &Pyramid, finest: &BrickLayout) -> Vec<LevelMap> {
    let s0 = pyramid.level(0).spacing;
    let q0 = pyramid.level_offset(0);
    let mut maps = Vec::new();
    for level in 0..pyramid.level_count().min(MAX_LEVELS) {
        let s = pyramid.level(level);
        let q = pyramid.level_offset(level);
        let scale = [0, 1, 2].map(|a| s0[a] / s.spacing[a]);
        let offset = [0, 1, 2].map(|a| (q0[a] - q[a]) / s.spacing[a]);
        let power_of_two = scale.iter().all(|&f| {
            let k = -f.log2();
            k >= -1e-9 && (k - k.round()).abs() < 1e-6
        });
        if !power_of_two || offset.iter().any(|o| o.abs() > 0.5 + 1e-6) {
            continue;
        }
        maps.push(LevelMap {
            level,
            layout: if level == 0 {
                *finest
            } else {
                BrickLayout::coarse(s.dims, finest.brick)
            },
            voxel_mm: s.spacing.iter().copied().fold(f64::INFINITY, f64::min),
            scale,
            offset,
        });
    }
    maps
}

/// Which level (an index into the maps) draws each finest brick, x fastest.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub choice: Vec<usize>,
    /// The distinct bricks to load: (index into the maps, brick of that level).
    pub wanted: Vec<(usize, [usize; 3])>,
    /// Whether even the coarsest choice exceeds the slots.
    pub over_budget: bool,
    /// The wanted bricks known to be transparent: not read, no slot (sorted).
    pub empty: Vec<(usize, [usize; 3])>,
}

impl Plan {
    /// The bricks to read: those wanted and not known to be transparent.
    pub fn drawn(&self) -> impl Iterator<Item = Key> + '_ {
        let empty = &self.empty;
        self.wanted
            .iter()
            .copied()
            .filter(|k| empty.binary_search(k).is_err())
    }
}

/// Pixels a millimetre covers at `p` for a camera placed as `clip_from_world` says.
fn pixels_per_mm(clip_from_world: glam::DMat4, eye: DVec3, p: DVec3, size: [u32; 2]) -> f64 {
    let view = (p - eye).normalize_or(DVec3::Z);
    let side = view.any_orthonormal_vector();
    let ndc = |x: DVec3| {
        let c = clip_from_world * x.extend(1.0);
        DVec3::new(c.x / c.w, c.y / c.w, 0.0)
    };
    let d = ndc(p + side) - ndc(p);
    let px = DVec3::new(d.x * size[0] as f64 / 2.0, d.y * size[1] as f64 / 2.0, 0.0);
    px.length()
}

/// Whether any of finest brick `b0`'s cells (with a voxel of margin) can be in the image: not
/// all of its box's corners beyond one side of the view frustum (left, right, bottom, top, or
/// in front of the near plane). The planes are linear in homogeneous coordinates, so a box whose
/// corners all lie beyond one lies beyond it whole, even where corners are behind the eye.
fn in_view(
    clip_from_world: glam::DMat4,
    geometry: &Geometry,
    finest: &BrickLayout,
    b0: [usize; 3],
) -> bool {
    let lo = [0, 1, 2].map(|a| (b0[a] * finest.brick[a]) as f64 - 1.0);
    let hi = [0, 1, 2].map(|a| ((b0[a] + 1) * finest.brick[a]) as f64 + 1.0);
    let corners: Vec<glam::DVec4> = (0..8)
        .map(|k| {
            let v = DVec3::from([0, 1, 2].map(|a| if k >> a & 1 == 0 { lo[a] } else { hi[a] }));
            clip_from_world * geometry.world_from_voxel.transform_point3(v).extend(1.0)
        })
        .collect();
    let beyond: [fn(&glam::DVec4) -> bool; 5] = [
        |c| c.x < -c.w,
        |c| c.x > c.w,
        |c| c.y < -c.w,
        |c| c.y > c.w,
        |c| c.z < 0.0,
    ];
    !beyond.iter().any(|out| corners.iter().all(out))
}

/// Chooses a level for every finest brick: the coarsest whose voxel covers at most `pixel`
/// pixels where the brick's centre is seen (so the image loses nothing it could show), the
/// coarsest level for bricks outside the view (they cost a few coarse bricks, and the page
/// table stays whole for a camera that moves), then, while the distinct bricks exceed `slots`,
/// moves the bricks that look smallest one level coarser at a time.
pub fn plan(
    maps: &[LevelMap],
    geometry: &Geometry,
    camera: &Camera,
    size: [u32; 2],
    slots: usize,
    pixel: f64,
) -> Plan {
    plan_skipping(maps, geometry, camera, size, slots, pixel, &|_, _| false)
}

/// [`plan`] where `empty(map, brick)` says which bricks are known to be transparent without
/// reading them: they take no slot, are never read, and are never coarsened (they cost
/// nothing), so the slots go to the bricks that show.
pub fn plan_skipping(
    maps: &[LevelMap],
    geometry: &Geometry,
    camera: &Camera,
    size: [u32; 2],
    slots: usize,
    pixel: f64,
    empty: &(dyn Fn(usize, [usize; 3]) -> bool + Sync),
) -> Plan {
    let finest = &maps[0].layout;
    let (centre, radius) = geometry.bounding_sphere();
    let placed = camera.place(centre, radius, size[0] as f64 / size[1] as f64);
    let b = finest.bricks;
    let bricks: Vec<[usize; 3]> = (0..finest.brick_count())
        .map(|i| [i % b[0], (i / b[0]) % b[1], i / (b[0] * b[1])])
        .collect();
    let last = maps.len() - 1;
    let visible: Vec<bool> = bricks
        .par_iter()
        .map(|&b0| in_view(placed.clip_from_world, geometry, finest, b0))
        .collect();
    let footprint: Vec<f64> = bricks
        .par_iter()
        .zip(visible.par_iter())
        .map(|(b0, &seen)| {
            if !seen {
                return 0.0;
            }
            let mid = DVec3::from([0, 1, 2].map(|a| {
                ((b0[a] as f64 + 0.5) * finest.brick[a] as f64).min(finest.dims[a] as f64 - 1.0)
            }));
            let p = geometry.world_from_voxel.transform_point3(mid);
            pixels_per_mm(placed.clip_from_world, placed.eye, p, size)
        })
        .collect();
    let mut choice: Vec<usize> = footprint
        .iter()
        .zip(&visible)
        .map(|(&px, &seen)| match seen {
            false => last,
            true => maps
                .iter()
                .rposition(|m| m.voxel_mm * px <= pixel)
                .unwrap_or(0),
        })
        .collect();
    let key = |i: usize, c: usize| (c, maps[c].brick_for(finest, bricks[i]));
    // How many finest bricks each (level, brick) serves, and which of those are empty.
    let mut uses: HashMap<(usize, [usize; 3]), usize> = HashMap::new();
    for (i, &c) in choice.iter().enumerate() {
        *uses.entry(key(i, c)).or_default() += 1;
    }
    let mut known: HashMap<(usize, [usize; 3]), bool> = uses
        .keys()
        .collect::<Vec<_>>()
        .par_iter()
        .map(|&&k| (k, empty(k.0, k.1)))
        .collect();
    let mut is_empty = |k: (usize, [usize; 3])| *known.entry(k).or_insert_with(|| empty(k.0, k.1));
    let mut occupied = uses.keys().filter(|&&k| !is_empty(k)).count();
    let mut order: Vec<usize> = (0..bricks.len()).collect();
    order.sort_by(|&x, &y| footprint[x].total_cmp(&footprint[y]));
    let mut moved = true;
    while occupied > slots && moved {
        moved = false;
        for &i in &order {
            if occupied <= slots {
                break;
            }
            let old = key(i, choice[i]);
            if choice[i] == last || is_empty(old) {
                continue;
            }
            moved = true;
            if let Some(n) = uses.get_mut(&old) {
                *n -= 1;
                if *n == 0 {
                    uses.remove(&old);
                    occupied -= 1;
                }
            }
            choice[i] += 1;
            let new = key(i, choice[i]);
            let n = uses.entry(new).or_default();
            *n += 1;
            if *n == 1 && !is_empty(new) {
                occupied += 1;
            }
        }
    }
    let mut wanted: Vec<(usize, [usize; 3])> = uses.into_keys().collect();
    wanted.sort();
    let empty: Vec<(usize, [usize; 3])> = wanted.iter().copied().filter(|&k| is_empty(k)).collect();
    Plan {
        over_budget: occupied > slots,
        choice,
        wanted,
        empty,
    }
}

/// What a level-of-detail renderer drew from.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LodReport {
    /// Finest bricks drawn from each pyramid level, by level.
    pub bricks_per_level: Vec<(usize, usize)>,
    /// Slots the pool has (the distinct bricks loaded).
    pub slots: usize,
    /// Bricks the plan wanted that the store's block ranges showed transparent: never read.
    pub bricks_skipped: usize,
    pub over_budget: bool,
    /// The default distance between samples: the finest drawn level's smallest spacing.
    pub sample_distance_mm: f64,
}

impl LodReport {
    /// "119 bricks from levels 4-5": for status lines.
    pub fn describe(&self) -> String {
        let levels: Vec<usize> = self.bricks_per_level.iter().map(|&(l, _)| l).collect();
        let span = match (levels.first(), levels.last()) {
            (Some(a), Some(b)) if a == b => format!("level {a}"),
            (Some(a), Some(b)) => format!("levels {a}-{b}"),
            _ => "no level".into(),
        };
        let over = if self.over_budget {
            " (over the GPU budget)"
        } else {
            ""
        };
        format!("{} bricks from {span}{over}", self.slots)
    }
}

/// Called after each batch of bricks loaded with (loaded, wanted); an error stops the build
/// (a cancelled job).
pub type Watch<'a> = dyn Fn(usize, usize) -> Result<(), String> + 'a;

/// The geometry of `level` of `pyramid` in LPS.
pub fn level_geometry(pyramid: &Pyramid, level: usize) -> Geometry {
    let s = pyramid.level(level);
    let (world_from_voxel, space) = pyramid.world_from_voxel(level);
    Geometry {
        dims: s.dims,
        spacing: s.spacing,
        world_from_voxel: space.to_space(Space::Lps) * world_from_voxel,
    }
}

/// A pyramid drawn at levels of detail: its drawable levels and one brick supply per level,
/// whose host caches last from one view to the next (a new view reads only the bricks it
/// lacks), within a host cache budget and a GPU budget of pool slots.
#[derive(Debug)]
pub struct LodSource {
    pyramid: Arc<Pyramid>,
    geometry: Geometry,
    maps: Vec<LevelMap>,
    supplies: Vec<StoreBricks>,
    operator: Operator,
    format: PoolFormat,
    cache_bytes: usize,
    gpu_budget: u64,
}

impl LodSource {
    /// Levels of detail over `pyramid` with |grad f| by `operator`, bricks encoded as
    /// `format`, `cache_bytes` of host cache shared by the levels and `gpu_budget` bytes of
    /// pool.
    pub fn new(
        pyramid: Arc<Pyramid>,
        operator: Operator,
        format: PoolFormat,
        cache_bytes: usize,
        gpu_budget: u64,
    ) -> Result<LodSource, String> {
        let geometry = level_geometry(&pyramid, 0);
        let finest = finest_layout(geometry.dims, geometry.spacing);
        let maps = level_maps(&pyramid, &finest);
        let supplies = supplies_of(&pyramid, &maps, operator, format, cache_bytes / maps.len())?;
        Ok(LodSource {
            pyramid,
            geometry,
            maps,
            supplies,
            operator,
            format,
            cache_bytes,
            gpu_budget,
        })
    }

    pub fn pyramid(&self) -> &Arc<Pyramid> {
        &self.pyramid
    }

    /// The finest level's geometry, in which the renderer works.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    pub fn maps(&self) -> &[LevelMap] {
        &self.maps
    }

    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// What a renderer built from `plan` would draw from, without building it.
    pub fn report(&self, plan: &Plan) -> LodReport {
        lod_report(&self.maps, plan)
    }

    /// Pool slots the GPU budget allows (at least one).
    pub fn slots(&self) -> usize {
        let slot_bytes = self.maps[0].layout.slot_voxels() as u64 * self.format.bytes_per_texel();
        (self.gpu_budget / slot_bytes).max(1) as usize
    }

    /// The levels `camera` at `size` pixels wants, within the budget.
    pub fn plan(&self, camera: &Camera, size: [u32; 2]) -> Plan {
        plan(&self.maps, &self.geometry, camera, size, self.slots(), 1.0)
    }

    /// [`LodSource::plan`], where the bricks the store's block ranges show transparent under
    /// `tf` are never read and take no slot (see [`plan_skipping`]); without `tf`, or for a
    /// store that keeps no ranges, the plain plan. Only for renderers that skip empty space
    /// and keep `tf`: a brick skipped has no slot.
    pub fn plan_for(&self, camera: &Camera, size: [u32; 2], tf: Option<&TransferFunction>) -> Plan {
        self.plan_at(camera, size, tf, 1.0)
    }

    /// [`LodSource::plan_for`] choosing each brick's level from voxels of up to `pixel` pixels
    /// on screen (1 draws what `render` draws; 2 and 4 are coarser, cheaper stages).
    pub fn plan_at(
        &self,
        camera: &Camera,
        size: [u32; 2],
        tf: Option<&TransferFunction>,
        pixel: f64,
    ) -> Plan {
        let judged = self.pyramid.known_range().and(tf);
        let empty = |m: usize, brick: [usize; 3]| {
            judged.is_some_and(|tf| {
                self.judged_range(m, brick)
                    .is_some_and(|r| tf.transparent_over(r))
            })
        };
        let (maps, geometry, slots) = (&self.maps, &self.geometry, self.slots());
        plan_skipping(maps, geometry, camera, size, slots, pixel, &empty)
    }

    /// A first plan for `last`, coarser: each brick from the level whose voxels are up to
    /// `pixel` pixels on screen, or coarser where the pool would not hold the bricks of both.
    /// It is drawn until the bricks of `last` arrive (see [`Filling`]). `None` when it would
    /// draw what `last` draws, or even the coarsest does not fit beside `last`.
    pub fn seed_for(
        &self,
        camera: &Camera,
        size: [u32; 2],
        tf: Option<&TransferFunction>,
        last: &Plan,
        pixel: f64,
    ) -> Option<Plan> {
        let last_keys: HashSet<Key> = last.drawn().collect();
        let mut pixel = pixel;
        for _ in 0..MAX_LEVELS {
            let seed = self.plan_at(camera, size, tf, pixel);
            if seed.choice == last.choice {
                return None;
            }
            let extra = seed.drawn().filter(|k| !last_keys.contains(k)).count();
            if last_keys.len() + extra <= self.slots() {
                return Some(seed);
            }
            pixel *= 2.0;
        }
        None
    }

    /// The value range the store's block ranges give brick `brick` of map `m`, widened by the
    /// margin a transfer function's test needs: the renderer's table spans at most the data's
    /// range in SCALAR_LUT_SIZE entries and its sampler blends neighbouring entries, so two
    /// entries of margin keep the test conservative.
    fn judged_range(&self, m: usize, brick: [usize; 3]) -> Option<[f64; 2]> {
        let whole = self.pyramid.known_range()?;
        let margin = 2.0 * (whole[1] - whole[0]).max(0.0) / (SCALAR_LUT_SIZE - 1) as f64;
        let [lo, hi] = self.supplies[m].known_range(brick)?;
        Some([lo - margin, hi + margin])
    }

    /// The ranges (as [`LodSource::plan_for`] judged them) of the bricks `plan` skipped: a
    /// renderer built from it stays right for a transfer function transparent over all of
    /// them, and only for such.
    pub fn skipped_ranges(&self, plan: &Plan) -> Vec<[f64; 2]> {
        plan.empty
            .iter()
            .filter_map(|&(m, brick)| self.judged_range(m, brick))
            .collect()
    }

    /// Level 0's value range when the store keeps its blocks' ranges (no voxel read).
    pub fn known_range(&self) -> Option<[f64; 2]> {
        self.pyramid.known_range()
    }

    /// Computes |grad f| by `operator` from now on (the caches start again).
    pub fn set_operator(&mut self, operator: Operator) -> Result<(), String> {
        if operator != self.operator {
            let cache = self.cache_bytes / self.maps.len();
            self.supplies = supplies_of(&self.pyramid, &self.maps, operator, self.format, cache)?;
            self.operator = operator;
        }
        Ok(())
    }

    /// The normalisation of renderers drawing `plans`: from what the store keeps of every
    /// drawable level (its blocks' ranges and its |grad f|'s, no voxel read), else measured
    /// over the bricks the plans draw. A store that keeps them gives every view the same
    /// normalisation, known before a brick is read.
    pub fn stats(&self, plans: &[&Plan]) -> Result<LevelStats, String> {
        if let Some(stats) = self.known_stats() {
            return Ok(stats);
        }
        let mut drawn: Vec<std::collections::BTreeSet<[usize; 3]>> =
            vec![Default::default(); self.maps.len()];
        for (m, brick) in plans.iter().flat_map(|p| p.drawn()) {
            drawn[m].insert(brick);
        }
        let mut stats = LevelStats {
            range: None,
            gradient_max: 0.0,
        };
        for (supply, bricks) in self.supplies.iter().zip(drawn) {
            let bricks: Vec<[usize; 3]> = bricks.into_iter().collect();
            stats = stats.merge(supply.measure_bricks(&bricks)?);
        }
        Ok(stats)
    }

    /// The normalisation of every view from what the store keeps of every drawable level
    /// (its blocks' ranges and its |grad f|'s by this operator); `None` when it does not keep
    /// them.
    pub fn known_stats(&self) -> Option<LevelStats> {
        self.supplies
            .iter()
            .map(|s| s.known_stats())
            .reduce(|a, b| Some(a?.merge(b?)))
            .flatten()
    }

    /// A renderer drawing each finest brick from the level `plan` chose: the normalisation
    /// from [`LodSource::stats`], `decide` choosing the transfer function from it (and whether
    /// the slots carry |grad f|), then the bricks loaded a few at a time, `watch` told after
    /// each batch.
    pub fn build(
        &mut self,
        gpu: &Gpu,
        plan: &Plan,
        settings: &RenderSettings,
        decide: impl FnOnce(LevelStats) -> Result<(TransferFunction, bool), String>,
        watch: &Watch,
    ) -> Result<(Renderer, TransferFunction, LodReport), GpuError> {
        let stats = self.stats(&[plan]).map_err(GpuError::Bricks)?;
        let (tf, with_gradient) = decide(stats).map_err(GpuError::Bricks)?;
        let (renderer, mut filling) =
            self.start(gpu, &[plan], settings, &tf, &stats, with_gradient)?;
        let renderer = Mutex::new(renderer);
        self.fill(gpu, &mut filling, 0, &renderer, watch, &Publish::AtTheEnd)?;
        let renderer = renderer
            .into_inner()
            .map_err(|_| GpuError::Bricks("a brick upload failed".into()))?;
        Ok((renderer, tf, self.report(plan)))
    }

    /// A renderer with a slot for every brick `plans` draw (a coarse first plan, then the
    /// last: the pool holds both) and none read yet, normalised for `stats`; the slots carry
    /// |grad f| when `with_gradient` says so. [`LodSource::fill`] reads the bricks.
    pub fn start(
        &mut self,
        gpu: &Gpu,
        plans: &[&Plan],
        settings: &RenderSettings,
        tf: &TransferFunction,
        stats: &LevelStats,
        with_gradient: bool,
    ) -> Result<(Renderer, Filling), GpuError> {
        for supply in self.supplies.iter_mut() {
            supply.normalise(stats, with_gradient);
        }
        let filling = Filling::new(&self.maps, plans);
        let finest = self.maps[0].layout;
        let max_side = gpu.device.limits().max_texture_dimension_3d as usize;
        let grid = pool_grid(
            [filling.order.len().max(1), 1, 1],
            finest.slot_side(),
            max_side,
        )
        .ok_or_else(|| {
            let [nx, ny, nz] = self.geometry.dims;
            GpuError::VolumeTooLarge(nx, ny, nz, max_side as u32)
        })?;
        let pages = Pages {
            layout: finest,
            grid,
            // Nothing resident yet: every brick is empty until its slot is published.
            entries: vec![0; finest.brick_count()],
            format: self.supplies[0].format(),
            quantisation: self.supplies[0].quantisation(),
        };
        let ratio = crate::render::params::correction_ratio(&self.geometry, settings, tf);
        let blocks = finest.block_count();
        let mut renderer = Renderer::build_with(gpu, self.geometry, pages, tf, ratio, |_, _| {
            Ok(BlockRanges {
                ranges: vec![NO_RANGE; blocks],
            })
        })?;
        renderer.set_coarse_levels(
            self.maps
                .iter()
                .filter(|m| m.level > 0)
                .map(|m| (m.level, m.params()))
                .collect(),
        );
        let operator = self.operator;
        let threads = rayon::current_num_threads();
        renderer.set_gradient_report(with_gradient.then(|| GradientReport {
            operator,
            device: format!("cpu, per brick ({threads} threads)"),
            ms: 0.0,
        }));
        // Samples a voxel apart at the finest level drawn: finer steps only resample coarse
        // bricks. Until the last plan's bricks are all in, the first plan's (the steps a
        // frame takes are what a software rasteriser pays for).
        let sample_mm: Vec<f64> = plans
            .iter()
            .map(|p| self.report(p).sample_distance_mm)
            .collect();
        renderer.set_default_sample_distance(sample_mm[0]);
        let pool = renderer.pool();
        Ok((
            renderer,
            Filling {
                grid,
                pool: Some(pool),
                sample_mm,
                ..filling
            },
        ))
    }

    /// Reads the bricks plan `rank` of `filling` needs that are not in yet, a few at a time,
    /// into their slots of `renderer` (through the pool's texture: the renderer stays free to
    /// draw); `watch` is told after each batch. What has arrived is published (the page table
    /// points the finest bricks at it, under the renderer's lock) when `publish` says so and
    /// at the end.
    pub fn fill(
        &self,
        gpu: &Gpu,
        filling: &mut Filling,
        rank: usize,
        renderer: &Mutex<Renderer>,
        watch: &Watch,
        publish: &Publish,
    ) -> Result<(), GpuError> {
        let end = filling.ends[rank];
        let batch = 2 * rayon::current_num_threads().max(1);
        let format = self.format;
        let pool = filling
            .pool
            .clone()
            .expect("a filling from LodSource::start");
        while filling.loaded < end {
            let first = filling.loaded;
            let keys = filling.order[first..(first + batch).min(end)].to_vec();
            let made: Vec<(Vec<Texel>, Vec<u8>)> = keys
                .par_iter()
                .map(|&(m, brick)| {
                    let texels = self.supplies[m].slot(&self.maps[m].layout, brick)?;
                    let bytes = encode(&texels, format);
                    Ok((texels, bytes))
                })
                .collect::<Result<_, String>>()
                .map_err(GpuError::Bricks)?;
            let writes: Vec<_> = keys
                .iter()
                .zip(&made)
                .enumerate()
                .map(|(j, (&(m, _), (_, bytes)))| {
                    let side = self.maps[m].layout.slot_side();
                    (filling.slot(first + j), side, bytes.as_slice())
                })
                .collect();
            pool.upload_slots(gpu, &writes);
            for (&key, (texels, _)) in keys.iter().zip(&made) {
                filling.arrived(&self.maps, key, texels);
            }
            if filling.loaded < end && publish.due() {
                filling.publish(gpu, &self.maps, renderer)?;
                publish.done();
            }
            watch(filling.loaded, end).map_err(GpuError::Bricks)?;
        }
        filling.publish(gpu, &self.maps, renderer)?;
        lock(renderer)?.set_default_sample_distance(filling.sample_mm[rank]);
        publish.done();
        Ok(())
    }

    /// Bricks the store did not deliver, over every level, and why the first did not.
    pub fn missing(&self) -> (usize, Option<String>) {
        let count = self.supplies.iter().map(|s| s.missing().0).sum();
        (count, self.supplies.iter().find_map(|s| s.missing().1))
    }
}

fn supplies_of(
    pyramid: &Arc<Pyramid>,
    maps: &[LevelMap],
    operator: Operator,
    format: PoolFormat,
    cache_bytes: usize,
) -> Result<Vec<StoreBricks>, String> {
    maps.iter()
        .map(|m| {
            StoreBricks::new(
                pyramid.clone(),
                m.level,
                m.layout,
                Some(operator),
                format,
                cache_bytes,
            )
        })
        .collect()
}

/// When [`LodSource::fill`] publishes the bricks read so far, besides at the end.
pub enum Publish<'a> {
    /// Only at the end (a renderer not yet on show).
    AtTheEnd,
    /// When `due` says so; `done` is told after each publication, the last included.
    When {
        due: &'a (dyn Fn() -> bool + Sync),
        done: &'a (dyn Fn() + Sync),
    },
}

impl std::fmt::Debug for Publish<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Publish::AtTheEnd => "Publish::AtTheEnd",
            Publish::When { .. } => "Publish::When",
        })
    }
}

impl Publish<'_> {
    fn due(&self) -> bool {
        match self {
            Publish::AtTheEnd => false,
            Publish::When { due, .. } => due(),
        }
    }

    fn done(&self) {
        if let Publish::When { done, .. } = self {
            done();
        }
    }
}

/// A brick of some level: (index into the maps, brick of that level).
pub type Key = (usize, [usize; 3]);

/// The range of a block with no voxel yet (classified empty).
const NO_RANGE: [f32; 4] = [f32::INFINITY, 0.0, f32::INFINITY, 0.0];

/// No plan's brick draws this finest brick yet.
const NOT_DRAWN: u8 = u8::MAX;

fn lock(renderer: &Mutex<Renderer>) -> Result<std::sync::MutexGuard<'_, Renderer>, GpuError> {
    renderer
        .lock()
        .map_err(|_| GpuError::Bricks("the renderer was poisoned by a failed draw".into()))
}

/// A level-of-detail renderer's pool being filled: a slot for every brick some plan draws
/// (a coarse first plan, shown until the bricks of the last arrive, then the last), the bricks
/// read so far, and which plan draws each finest brick now. Each publication points the finest
/// bricks served by the bricks just read at their slots, so the image refines brick by brick
/// and has no hole: until its brick of the last plan is in, a finest brick is drawn from its
/// brick of the first plan, coarser. A finest brick the last plan leaves out (transparent) is
/// empty from the start. Once every brick is in, the page table and block ranges are those a
/// renderer built from the last plan alone has.
#[derive(Debug)]
pub struct Filling {
    grid: [usize; 3],
    /// The renderer's pool (a shared handle), once the renderer is made.
    pool: Option<crate::render::pool::BrickPool>,
    /// The default distance between samples once each plan's bricks are in (mm).
    sample_mm: Vec<f64>,
    /// The bricks to read, in order; a brick's slot is its position here.
    order: Vec<Key>,
    index: HashMap<Key, usize>,
    /// Where each plan's bricks end in `order`: plan `k` draws from `order[..ends[k]]`.
    ends: Vec<usize>,
    /// Bricks read so far: `order[..loaded]`.
    loaded: usize,
    /// The finest bricks each brick serves, with the rank of the plan drawing them from it (a
    /// finest brick both plans draw from the same brick is listed once, for the last).
    served: HashMap<Key, Vec<(u8, u32)>>,
    /// The rank of the plan whose brick draws each finest brick now.
    drawn: Vec<u8>,
    /// The ranges of the blocks of each finest-level brick read (block index and range).
    fine_ranges: HashMap<[usize; 3], Vec<(usize, [f32; 4])>>,
    /// Each coarse brick's whole range (for every finest block it serves: wider than needed,
    /// never narrower).
    coarse_ranges: HashMap<Key, [f32; 4]>,
    /// Bricks read and not yet published.
    pending: Vec<Key>,
}

impl Filling {
    fn new(maps: &[LevelMap], plans: &[&Plan]) -> Filling {
        assert!(!plans.is_empty() && plans.len() < NOT_DRAWN as usize);
        let finest = maps[0].layout;
        let b = finest.bricks;
        let last = plans.len() - 1;
        let mut drawn = vec![NOT_DRAWN; finest.brick_count()];
        let key = |rank: usize, i: usize| {
            let m = plans[rank].choice[i];
            let b0 = [i % b[0], (i / b[0]) % b[1], i / (b[0] * b[1])];
            (m, maps[m].brick_for(&finest, b0))
        };
        let skipped: Vec<HashSet<Key>> = plans
            .iter()
            .map(|p| p.empty.iter().copied().collect())
            .collect();
        // Neighbouring finest bricks (x fastest) mostly share their coarse brick: a run of
        // them costs one lookup and one insertion, not one each (a 4 TiB store has 8 Mi
        // finest bricks).
        let mut served: HashMap<Key, Vec<(u8, u32)>> = HashMap::new();
        // Per plan: the key of the current run, whether it is transparent, its finest bricks.
        type Run = (Key, bool, Vec<(u8, u32)>);
        let mut runs: Vec<Option<Run>> = vec![None; plans.len()];
        let flush = |served: &mut HashMap<Key, Vec<(u8, u32)>>, run| {
            if let Some((k, false, list)) = run {
                served.entry(k).or_default().extend(list);
            }
        };
        for (i, drawn_now) in drawn.iter_mut().enumerate() {
            let last_key = key(last, i);
            for rank in 0..plans.len() {
                let k = if rank == last { last_key } else { key(rank, i) };
                if !matches!(&runs[rank], Some((rk, _, _)) if *rk == k) {
                    let empty = skipped[rank].contains(&k);
                    let old = runs[rank].replace((k, empty, Vec::new()));
                    flush(&mut served, old);
                }
                let Some((_, empty, list)) = runs[rank].as_mut() else {
                    unreachable!("just set");
                };
                if *empty {
                    if rank == last {
                        *drawn_now = last as u8; // transparent: empty for good
                    }
                    continue;
                }
                if rank < last && k == last_key {
                    continue; // listed for the last plan
                }
                list.push((rank as u8, i as u32));
            }
        }
        for run in runs {
            flush(&mut served, run);
        }
        // Each plan's bricks not read for an earlier one; those serving the most finest
        // bricks (the coarse ones, which cover most of the image) first.
        let mut order: Vec<Key> = Vec::new();
        let mut index: HashMap<Key, usize> = HashMap::new();
        let mut ends = Vec::new();
        for plan in plans {
            let mut mine: Vec<Key> = plan.drawn().filter(|k| !index.contains_key(k)).collect();
            mine.sort_by_key(|k| std::cmp::Reverse(served.get(k).map_or(0, Vec::len)));
            for key in mine {
                index.insert(key, order.len());
                order.push(key);
            }
            ends.push(order.len());
        }
        Filling {
            grid: [order.len().max(1), 1, 1],
            pool: None,
            sample_mm: Vec::new(),
            order,
            index,
            ends,
            loaded: 0,
            served,
            drawn,
            fine_ranges: HashMap::new(),
            coarse_ranges: HashMap::new(),
            pending: Vec::new(),
        }
    }

    /// Slots in the pool: every brick of every plan, once.
    pub fn slots(&self) -> usize {
        self.order.len()
    }

    /// Bricks read so far, and those plan `rank` needs in all.
    pub fn progress(&self, rank: usize) -> (usize, usize) {
        (self.loaded.min(self.ends[rank]), self.ends[rank])
    }

    /// The bricks read so far, in the order they were read.
    pub fn read(&self) -> &[Key] {
        &self.order[..self.loaded]
    }

    /// The pool position of the `i`-th brick to read.
    fn slot(&self, i: usize) -> [usize; 3] {
        let g = self.grid;
        [i % g[0], (i / g[0]) % g[1], i / (g[0] * g[1])]
    }

    /// Notes brick `key` read, with its slot's texels.
    fn arrived(&mut self, maps: &[LevelMap], key: Key, texels: &[Texel]) {
        let (m, brick) = key;
        if m == 0 {
            let ranges = brick_block_ranges(&maps[0].layout, brick, texels);
            self.fine_ranges.insert(brick, ranges);
        } else {
            let r = texels.iter().fold(NO_RANGE, |r, &[v, g]| {
                [r[0].min(v), r[1].max(v), r[2].min(g), r[3].max(g)]
            });
            self.coarse_ranges.insert(key, r);
        }
        self.loaded += 1;
        self.pending.push(key);
    }

    /// Points the finest bricks served by the bricks read since the last publication at their
    /// slots (unless a later plan's brick draws them already), with their blocks' ranges.
    fn publish(
        &mut self,
        gpu: &Gpu,
        maps: &[LevelMap],
        renderer: &Mutex<Renderer>,
    ) -> Result<(), GpuError> {
        let finest = maps[0].layout;
        let (b, per) = (finest.bricks, finest.blocks_per_brick());
        let mut entries = Vec::new();
        let mut blocks = Vec::new();
        for key in std::mem::take(&mut self.pending) {
            let entry = level_entry(self.slot(self.index[&key]), maps[key.0].level);
            let coarse = self.coarse_ranges.get(&key).copied();
            for &(rank, i) in self.served.get(&key).map_or(&[][..], Vec::as_slice) {
                let i = i as usize;
                if self.drawn[i] != NOT_DRAWN && self.drawn[i] > rank {
                    continue;
                }
                self.drawn[i] = rank;
                entries.push((i, entry));
                let b0 = [i % b[0], (i / b[0]) % b[1], i / (b[0] * b[1])];
                match coarse {
                    // A finest brick drawn from a level-0 brick: that brick, its own blocks.
                    None => blocks.extend_from_slice(&self.fine_ranges[&b0]),
                    Some(r) => {
                        for z in 0..per[2] {
                            for y in 0..per[1] {
                                for x in 0..per[0] {
                                    let m = [x, y, z];
                                    let block = [0, 1, 2].map(|a| b0[a] * per[a] + m[a]);
                                    if (0..3).all(|a| block[a] < finest.blocks[a]) {
                                        blocks.push((finest.block_index(block), r));
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        lock(renderer)?.update_pages(gpu, &entries, &blocks);
        Ok(())
    }
}

/// What a renderer built from `plan` draws from.
fn lod_report(maps: &[LevelMap], plan: &Plan) -> LodReport {
    let finest_drawn = plan.choice.iter().copied().min().unwrap_or(0);
    let mut per_level: HashMap<usize, usize> = HashMap::new();
    for &m in &plan.choice {
        *per_level.entry(maps[m].level).or_default() += 1;
    }
    let mut bricks_per_level: Vec<(usize, usize)> = per_level.into_iter().collect();
    bricks_per_level.sort();
    LodReport {
        bricks_per_level,
        slots: plan.wanted.len() - plan.empty.len(),
        bricks_skipped: plan.empty.len(),
        over_budget: plan.over_budget,
        sample_distance_mm: maps[finest_drawn].voxel_mm,
    }
}
