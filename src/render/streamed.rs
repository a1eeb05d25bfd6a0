//! Bricks read from one level of an OME-Zarr pyramid as the pool needs them: the level is
//! never held whole on the host, only the bricks a host cache of a stated size keeps.
//!
//! Each brick's slot is read with a halo as wide as the gradient operator reaches (one voxel
//! for central differences and Sobel, the kernel's radius for the Gaussian), clamped to the
//! level's faces, and |grad f| is computed on that region with the same CPU code as the whole
//! volume: at the volume's faces the region's faces are the volume's, elsewhere the halo holds
//! every neighbour the operator reads, so each slot equals the one packed from the whole volume
//! and its whole-volume gradient, bit for bit (tests/streamed.rs).
//!
//! The normalisation of the pool (the value range and the largest |grad f|) must be known
//! before the first brick is encoded, so a statistics pass reads every brick first; the cache
//! keeps what it can of that pass for the packing pass that follows.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use crate::gradient::{Operator, cpu};
use crate::render::bricks::{BrickSupply, Texel, slot_positions, slot_span};
use crate::render::layout::BrickLayout;
use crate::render::quantise::{PoolFormat, Quantisation};
use crate::volume::zarr::Pyramid;
use crate::volume::{Decoded, ErrorKind, Format, Space, Volume, VoxelData};

/// A brick's voxels with their halo, and |grad f| over them.
#[derive(Debug)]
struct Region {
    /// First voxel (x, y, z) of the region in the level.
    first: [usize; 3],
    dims: [usize; 3],
    data: VoxelData,
    gradient: Option<Vec<f32>>,
}

impl Region {
    fn bytes(&self) -> usize {
        self.data.as_bytes().len() + self.gradient.as_ref().map_or(0, |g| 4 * g.len())
    }

    fn index(&self, v: [usize; 3]) -> usize {
        let [x, y, z] = [0, 1, 2].map(|a| v[a] - self.first[a]);
        x + self.dims[0] * (y + self.dims[1] * z)
    }
}

/// What the host cache did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheReport {
    pub budget_bytes: usize,
    pub peak_bytes: usize,
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
}

/// Regions by brick, least recently used evicted first, within a byte budget.
#[derive(Debug, Default)]
struct Cache {
    regions: HashMap<[usize; 3], (Arc<Region>, u64)>,
    bytes: usize,
    tick: u64,
    report: CacheReport,
}

impl Cache {
    fn get(&mut self, brick: [usize; 3]) -> Option<Arc<Region>> {
        self.tick += 1;
        let tick = self.tick;
        match self.regions.get_mut(&brick) {
            Some((region, used)) => {
                *used = tick;
                self.report.hits += 1;
                Some(region.clone())
            }
            None => {
                self.report.misses += 1;
                None
            }
        }
    }

    fn put(&mut self, brick: [usize; 3], region: Arc<Region>) {
        let size = region.bytes();
        if size > self.report.budget_bytes {
            return;
        }
        while self.bytes + size > self.report.budget_bytes {
            let Some((&oldest, _)) = self.regions.iter().min_by_key(|(_, (_, used))| *used) else {
                break;
            };
            if let Some((r, _)) = self.regions.remove(&oldest) {
                self.bytes -= r.bytes();
                self.report.evictions += 1;
            }
        }
        self.tick += 1;
        self.bytes += size;
        self.report.peak_bytes = self.report.peak_bytes.max(self.bytes);
        if let Some((old, _)) = self.regions.insert(brick, (region, self.tick)) {
            self.bytes -= old.bytes();
        }
    }
}

/// The exact value range and largest |grad f| of a level (or of some of its bricks), as the
/// whole volume would give them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LevelStats {
    /// Finite minimum and maximum (`None`: no finite value).
    pub range: Option<[f64; 2]>,
    /// Largest finite |grad f| (0 without an operator).
    pub gradient_max: f64,
}

/// One level of a store as a supply of bricks for the renderer.
pub struct StoreBricks {
    pyramid: Arc<Pyramid>,
    level: usize,
    layout: BrickLayout,
    spacing: [f64; 3],
    operator: Option<Operator>,
    /// Whether the slots carry |grad f| (else 0, as for a transfer function without gradient
    /// opacity).
    with_gradient: bool,
    quantisation: Quantisation,
    format: PoolFormat,
    cache: Mutex<Cache>,
    /// Bricks the store did not deliver (after its retries), and the first reason.
    missing: Mutex<(BTreeSet<[usize; 3]>, Option<String>)>,
}

impl std::fmt::Debug for StoreBricks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreBricks")
            .field("level", &self.level)
            .field("bricks", &self.layout.bricks)
            .field("operator", &self.operator)
            .finish()
    }
}

impl LevelStats {
    /// The statistics of both.
    pub fn merge(self, other: LevelStats) -> LevelStats {
        LevelStats {
            range: match (self.range, other.range) {
                (Some(a), Some(b)) => Some([a[0].min(b[0]), a[1].max(b[1])]),
                (a, b) => a.or(b),
            },
            gradient_max: self.gradient_max.max(other.gradient_max),
        }
    }
}

impl StoreBricks {
    /// Bricks of `layout` (over the level's dimensions) from `level` of `pyramid`, |grad f| by
    /// `operator` when given, with a host cache of `cache_bytes`. Normalised for the whole
    /// level only once [`StoreBricks::measure`] ran.
    pub fn new(
        pyramid: Arc<Pyramid>,
        level: usize,
        layout: BrickLayout,
        operator: Option<Operator>,
        format: PoolFormat,
        cache_bytes: usize,
    ) -> Result<StoreBricks, String> {
        let (dims, spacing) = (pyramid.level(level).dims, pyramid.level(level).spacing);
        assert_eq!(layout.dims, dims, "the layout is the level's");
        if let Some(Operator::Gaussian { sigma_mm }) = operator {
            cpu::check_gaussian(dims, spacing, sigma_mm)?;
        }
        Ok(StoreBricks {
            pyramid,
            level,
            layout,
            spacing,
            operator,
            with_gradient: operator.is_some(),
            quantisation: Quantisation::new([0.0, 1.0], 1.0),
            format,
            cache: Mutex::new(Cache {
                report: CacheReport {
                    budget_bytes: cache_bytes,
                    ..Default::default()
                },
                ..Default::default()
            }),
            missing: Mutex::new((BTreeSet::new(), None)),
        })
    }

    /// How many bricks the store did not deliver, and why the first did not. They are drawn
    /// empty (the lowest value, no gradient), as voxels without data are.
    pub fn missing(&self) -> (usize, Option<String>) {
        let m = self.missing.lock().expect("missing lock");
        (m.0.len(), m.1.clone())
    }

    pub fn layout(&self) -> &BrickLayout {
        &self.layout
    }

    /// The range of the values in `brick`'s slot, when the store keeps its blocks' ranges (no
    /// voxel is read).
    pub fn known_range(&self, brick: [usize; 3]) -> Option<[f64; 2]> {
        let span = slot_span(&self.layout, brick);
        let first = span.map(|s| s[0]);
        let last = span.map(|s| s[1]);
        self.pyramid.known_range_of(self.level, first, last)
    }

    /// Voxels the operator reads beyond a voxel along each axis.
    fn reach(&self) -> [usize; 3] {
        self.operator.map_or([0; 3], |op| op.reach(self.spacing))
    }

    /// The region behind `brick`'s slot: read (or taken from the cache) with its halo, and its
    /// gradient; `None` when the store did not deliver it (noted in [`StoreBricks::missing`]).
    /// A chunk that is there but cannot be decoded is an error.
    fn region(&self, brick: [usize; 3]) -> Result<Option<Arc<Region>>, String> {
        if self
            .missing
            .lock()
            .expect("missing lock")
            .0
            .contains(&brick)
        {
            return Ok(None);
        }
        if let Some(r) = self.cache.lock().expect("cache lock").get(brick) {
            return Ok(Some(r));
        }
        let span = slot_span(&self.layout, brick);
        let reach = self.reach();
        let dims = self.layout.dims;
        let first = [0, 1, 2].map(|a| span[a][0].saturating_sub(reach[a]));
        let end = [0, 1, 2].map(|a| (span[a][1] + 1 + reach[a]).min(dims[a]));
        let ranges = [0, 1, 2].map(|a| first[a] as u64..end[a] as u64);
        let data = match self.pyramid.read_region(self.level, ranges) {
            Ok(data) => data,
            Err(ErrorKind::Unavailable(why)) => {
                let mut m = self.missing.lock().expect("missing lock");
                m.0.insert(brick);
                m.1.get_or_insert(why);
                return Ok(None);
            }
            Err(e) => return Err(e.to_string()),
        };
        let rdims = [0, 1, 2].map(|a| end[a] - first[a]);
        let (data, gradient) = match self.operator {
            None => (data, None),
            // A coarse level of a store that keeps |grad f| max-pooled from full resolution:
            // a boundary keeps its gradient opacity however far it is drawn from.
            Some(op) if self.level > 0 && self.pyramid.stored_gradient() == Some(op) => {
                let ranges = [0, 1, 2].map(|a| first[a] as u64..end[a] as u64);
                let g = self
                    .pyramid
                    .read_gradient_region(self.level, ranges)
                    .map_err(|e| e.to_string())?;
                (data, Some(g))
            }
            Some(op) => {
                // The CPU path on the region as a volume of its own (no range scan: unused).
                let decoded = Decoded {
                    data,
                    range: Some([0.0, 0.0]),
                };
                let region = Volume::from_geometry(
                    rdims,
                    self.spacing,
                    glam::DMat3::IDENTITY,
                    glam::DVec3::ZERO,
                    Space::Lps,
                    decoded,
                    Format::OmeZarr,
                )
                .map_err(|e| e.to_string())?;
                let g = cpu::gradient_magnitude(&region, op);
                (region.data, Some(g))
            }
        };
        let region = Arc::new(Region {
            first,
            dims: rdims,
            data,
            gradient,
        });
        self.cache
            .lock()
            .expect("cache lock")
            .put(brick, region.clone());
        Ok(Some(region))
    }

    /// The level's exact value range and largest |grad f| from what the store keeps (its
    /// blocks' ranges, and those of a stored |grad f| by the same operator), reading no voxel;
    /// `None` when it does not keep them.
    pub fn known_stats(&self) -> Option<LevelStats> {
        let range = self.pyramid.known_level_range(self.level)?;
        let gradient_max = match self.operator {
            None => 0.0,
            Some(op) if self.pyramid.stored_gradient() == Some(op) => {
                self.pyramid.known_gradient_max(self.level)?
            }
            Some(_) => return None,
        };
        Some(LevelStats {
            range: (range[0] <= range[1]).then_some(range),
            gradient_max,
        })
    }

    /// Reads every brick once for the level's exact value range and largest |grad f|.
    pub fn measure(&self) -> Result<LevelStats, String> {
        let b = self.layout.bricks;
        let all: Vec<[usize; 3]> = (0..self.layout.brick_count())
            .map(|i| [i % b[0], (i / b[0]) % b[1], i / (b[0] * b[1])])
            .collect();
        self.measure_bricks(&all)
    }

    /// The value range and largest |grad f| over the cells of `bricks`.
    pub fn measure_bricks(&self, bricks: &[[usize; 3]]) -> Result<LevelStats, String> {
        let per = |&brick: &[usize; 3]| -> Result<(Option<[f64; 2]>, f64), String> {
            let Some(region) = self.region(brick)? else {
                return Ok((None, 0.0));
            };
            let span = slot_span(&self.layout, brick);
            let (mut lo, mut hi, mut g) = (f64::INFINITY, f64::NEG_INFINITY, 0f32);
            for z in span[2][0]..=span[2][1] {
                for y in span[1][0]..=span[1][1] {
                    for x in span[0][0]..=span[0][1] {
                        let i = region.index([x, y, z]);
                        let v = region.data.get_f64(i);
                        if v.is_finite() {
                            lo = lo.min(v);
                            hi = hi.max(v);
                        }
                        if let Some(grad) = &region.gradient
                            && grad[i].is_finite()
                        {
                            g = g.max(grad[i]);
                        }
                    }
                }
            }
            Ok(((lo <= hi).then_some([lo, hi]), g as f64))
        };
        let parts: Vec<(Option<[f64; 2]>, f64)> =
            bricks.par_iter().map(per).collect::<Result<_, String>>()?;
        let none = LevelStats {
            range: None,
            gradient_max: 0.0,
        };
        Ok(parts.into_iter().fold(none, |acc, (range, g)| {
            acc.merge(LevelStats {
                range,
                gradient_max: g,
            })
        }))
    }

    /// Normalises the pool for `stats` (from [`StoreBricks::measure`]). `with_gradient` false
    /// leaves |grad f| out of the slots (a transfer function without gradient opacity), as the
    /// in-memory path does.
    pub fn normalise(&mut self, stats: &LevelStats, with_gradient: bool) {
        self.with_gradient = with_gradient && self.operator.is_some();
        let gmax = if self.with_gradient {
            stats.gradient_max
        } else {
            0.0
        };
        self.quantisation = Quantisation::new(stats.range.unwrap_or([0.0, 0.0]), gmax);
    }

    pub fn operator(&self) -> Option<Operator> {
        self.operator
    }

    pub fn cache_report(&self) -> CacheReport {
        self.cache.lock().expect("cache lock").report
    }
}

impl BrickSupply for StoreBricks {
    fn quantisation(&self) -> Quantisation {
        self.quantisation
    }

    fn format(&self) -> PoolFormat {
        self.format
    }

    fn slot(&self, layout: &BrickLayout, brick: [usize; 3]) -> Result<Vec<Texel>, String> {
        debug_assert_eq!(layout, &self.layout);
        let Some(region) = self.region(brick)? else {
            return Ok(vec![[0.0, 0.0]; layout.slot_voxels()]);
        };
        let q = &self.quantisation;
        let mut texels = Vec::with_capacity(layout.slot_voxels());
        slot_positions(layout, brick, |v| {
            let i = region.index(v);
            let value = region.data.get_f64(i) as f32;
            let gradient = match (&region.gradient, self.with_gradient) {
                (Some(g), true) => q.gradient_texel(g[i], self.format),
                _ => 0.0,
            };
            texels.push([q.value_texel(value, self.format), gradient]);
        });
        Ok(texels)
    }
}
