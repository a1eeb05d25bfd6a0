//! The classification table: for every pair of (value, |grad f|), the colour and the
//! opacity-corrected alpha of a sample, baked from the transfer function so that a sample costs
//! one filtered fetch instead of three table lookups and a `pow`.
//!
//! Columns run over the values the data reaches (within the curves' points), rows over
//! |grad f| from 0 to the largest the data or the curve needs, spaced by its square root so that
//! the small gradients where gradient-opacity ramps live get most rows. Entry (i, j) holds the
//! colour of column i and 1 - (1 - a_s(v_i) a_g(g_j))^(ds / u): the combined alpha corrected
//! for the sample distance, as DOMAIN.md says is right. Bilinear filtering between entries is
//! exactly the product of the two curves' linear interpolations where the correction is
//! linear (small alphas), and within a few thousandths elsewhere. A flat gradient curve uses
//! row 0 only. The table is re-baked on a transfer-function edit and when the sample distance
//! changes: 2048 x 256 entries (4 MiB), a few milliseconds.

use half::f16;
use rayon::prelude::*;

use crate::gpu::{Gpu, GpuError, read_only_texture};
use crate::render::params::gradient_use;
use crate::render::quantise::Quantisation;
use crate::tf::tf2d::{Evaluator, LOG_WARP_K, Tf2d, Warp};
use crate::tf::{Lut, TransferFunction};

/// Columns (values) of a table baked from the 1-D curves.
pub const VALUE_ENTRIES: usize = 2048;
/// Rows (|grad f|, square-root spaced) of a table baked from the 1-D curves.
pub const GRADIENT_ENTRIES: usize = 256;

/// A baked table and the axes it was baked on.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassTable {
    /// Colour and uncorrected scalar alpha over value, from the 1-D curves: what maximum,
    /// minimum and average projections colour with (and the columns of a 1-D table).
    pub scalar: Lut,
    /// Columns and rows of `entries`.
    pub columns: usize,
    pub rows: usize,
    /// The values of the first and the last column.
    pub value_axis: [f64; 2],
    /// A 1-D table's gradient opacity of every row; a single row when the curve is flat (its
    /// constant); empty for a table of widgets.
    pub gradient: Vec<f32>,
    /// |grad f| of the last row, in data units per mm; row j is at
    /// `gradient_hi * warp.inverse(j / (rows - 1))`.
    pub gradient_hi: f64,
    pub warp: Warp,
    /// The sample distance over the unit distance the alphas are corrected for.
    pub ratio: f64,
    /// `[r, g, b, alpha]` as half floats (what the GPU stores), value fastest.
    pub entries: Vec<[f16; 4]>,
}

/// The position on a warped axis of `t` (|grad f| over the axis' top), computed as
/// `raymarch.wgsl` does.
pub fn warp_f32(warp: Warp, t: f32) -> f32 {
    match warp {
        Warp::Linear => t,
        Warp::Sqrt => t.sqrt(),
        Warp::Log => {
            let k = LOG_WARP_K as f32;
            (1.0 + k * t).ln() / (1.0 + k).ln()
        }
    }
}

impl ClassTable {
    /// Bakes `tf` for a volume normalised by `q`, with samples `ratio` unit distances apart:
    /// from its widgets when it has any, else from its curves.
    pub fn bake(tf: &TransferFunction, q: &Quantisation, ratio: f64) -> ClassTable {
        match tf.widgets() {
            Some(t) => Self::bake_widgets(tf, t, q, ratio),
            None => Self::bake_curves(tf, q, ratio),
        }
    }

    /// The widgets evaluated at the centres of a `t.raster` table: columns linear over the
    /// data's values, rows from |grad f| 0 to the data's largest through the axis warp.
    fn bake_widgets(tf: &TransferFunction, t: &Tf2d, q: &Quantisation, ratio: f64) -> ClassTable {
        let [columns, rows] = t.raster;
        let [lo, hi] = q.value_range;
        let gradient_hi = q.gradient_max;
        let values: Vec<f64> = (0..columns)
            .map(|i| lo + (hi - lo) * i as f64 / (columns - 1) as f64)
            .collect();
        let eval = Evaluator::new(tf);
        let mut entries = vec![[f16::ZERO; 4]; columns * rows];
        entries
            .par_chunks_mut(columns)
            .enumerate()
            .for_each(|(j, row)| {
                let g = gradient_hi * t.gradient_axis.inverse(j as f64 / (rows - 1) as f64);
                for (entry, &v) in row.iter_mut().zip(&values) {
                    let [r, gr, b, a] = eval.rgba_at(v, g);
                    *entry = [r, gr, b, correct(a, ratio)].map(f16::from_f64);
                }
            });
        ClassTable {
            scalar: tf.scalar_lut_within(q.value_range),
            columns,
            rows,
            value_axis: [lo, hi],
            gradient: Vec::new(),
            gradient_hi,
            warp: t.gradient_axis,
            ratio,
            entries,
        }
    }

    fn bake_curves(tf: &TransferFunction, q: &Quantisation, ratio: f64) -> ClassTable {
        let scalar = tf.scalar_lut_within(q.value_range);
        debug_assert_eq!(scalar.entries.len(), VALUE_ENTRIES);
        let last_point = tf.gradient_opacity[tf.gradient_opacity.len() - 1][0];
        let gradient_hi = if last_point > 0.0 {
            last_point.min(q.gradient_max)
        } else {
            q.gradient_max
        };
        let gradient: Vec<f32> = match gradient_use(tf) {
            Some(constant) => vec![constant],
            None => (0..GRADIENT_ENTRIES)
                .map(|j| {
                    let f = j as f64 / (GRADIENT_ENTRIES - 1) as f64;
                    tf.gradient_alpha(gradient_hi * f * f) as f32
                })
                .collect(),
        };
        // Colours are the same in every row: converted once. Alphas in f32, ample for f16
        // entries (this runs on every transfer-function edit, so it must be quick).
        let colours: Vec<[f16; 3]> = scalar
            .entries
            .iter()
            .map(|c| [c[0], c[1], c[2]].map(|x| f16::from_f64(x as f64)))
            .collect();
        let ratio32 = ratio as f32;
        let mut entries = vec![[f16::ZERO; 4]; VALUE_ENTRIES * GRADIENT_ENTRIES];
        entries
            .par_chunks_mut(VALUE_ENTRIES)
            .enumerate()
            .for_each(|(j, row)| {
                let b = gradient[j.min(gradient.len() - 1)];
                for ((entry, c), rgb) in row.iter_mut().zip(&scalar.entries).zip(&colours) {
                    let a = (c[3] * b).clamp(0.0, 1.0);
                    let corrected = if a == 0.0 {
                        0.0
                    } else {
                        1.0 - (1.0 - a).powf(ratio32)
                    };
                    *entry = [rgb[0], rgb[1], rgb[2], f16::from_f32(corrected)];
                }
            });
        ClassTable {
            value_axis: [scalar.lo, scalar.hi],
            scalar,
            columns: VALUE_ENTRIES,
            rows: GRADIENT_ENTRIES,
            gradient,
            gradient_hi,
            warp: Warp::Sqrt,
            ratio,
            entries,
        }
    }

    /// Whether the rows vary with |grad f| (gradient opacity or widgets in use).
    pub fn uses_gradient(&self) -> bool {
        self.gradient.len() != 1
    }

    /// `[scale, offset]` from a normalised value to a column position.
    pub fn value_mapping(&self, q: &Quantisation) -> [f32; 2] {
        let [lo, hi] = self.value_axis;
        let scale = if hi > lo {
            (self.columns - 1) as f64 / (hi - lo)
        } else {
            0.0
        };
        q.value_mapping([lo, scale])
    }

    /// `[scale, offset]` from a normalised value to a position in [`ClassTable::scalar`].
    pub fn scalar_mapping(&self, q: &Quantisation) -> [f32; 2] {
        q.value_mapping(self.scalar.mapping_f64())
    }

    /// `[rows - 1 (0 for a flat curve: row 0 everywhere), to_t]`: a normalised |grad f| g is
    /// at row `warp(g * to_t) * (rows - 1)`.
    pub fn gradient_mapping(&self, q: &Quantisation) -> [f32; 2] {
        if !self.uses_gradient() {
            return [0.0, 0.0];
        }
        [
            (self.rows - 1) as f32,
            (q.gradient_max / self.gradient_hi) as f32,
        ]
    }

    /// The row position of a normalised |grad f| `g`, as the shader computes it.
    pub fn row_of(&self, g: f32, [scale, to_t]: [f32; 2]) -> f32 {
        warp_f32(self.warp, g * to_t) * scale
    }

    /// The bilinearly filtered entry at (column, row) positions, clamped to the table: what
    /// the GPU's sampler returns.
    pub fn lookup(&self, column: f32, row: f32) -> [f32; 4] {
        let axis = |pos: f32, n: usize| {
            let last = (n - 1) as f32;
            let p = pos.clamp(0.0, last);
            let i = p.floor().min((last - 1.0).max(0.0));
            (i as usize, (i as usize + 1).min(n - 1), p - i)
        };
        let (c0, c1, tc) = axis(column, self.columns);
        let (r0, r1, tr) = axis(row, self.rows);
        let at = |c: usize, r: usize| self.entries[r * self.columns + c].map(f16::to_f32);
        let (a, b, c, d) = (at(c0, r0), at(c1, r0), at(c0, r1), at(c1, r1));
        [0, 1, 2, 3].map(|k| {
            let top = a[k] + (b[k] - a[k]) * tc;
            let bottom = c[k] + (d[k] - c[k]) * tc;
            top + (bottom - top) * tr
        })
    }

    /// The value and |grad f| of the centre of entry (column, row).
    pub fn texel_centre(&self, column: usize, row: usize) -> [f64; 2] {
        let [lo, hi] = self.value_axis;
        [
            lo + (hi - lo) * column as f64 / (self.columns - 1) as f64,
            self.gradient_hi * self.warp.inverse(row as f64 / (self.rows - 1) as f64),
        ]
    }
}

/// An alpha per unit distance corrected for samples `ratio` unit distances apart.
fn correct(a: f64, ratio: f64) -> f64 {
    let a = a.clamp(0.0, 1.0);
    if a == 0.0 {
        0.0
    } else {
        1.0 - (1.0 - a).powf(ratio)
    }
}

/// The table on the GPU: an `rgba16float` texture, sampled with bilinear filtering.
#[derive(Debug)]
pub struct ClassTableTexture {
    texture: wgpu::Texture,
    pub view: wgpu::TextureView,
}

impl ClassTableTexture {
    /// A texture for tables of `[columns, rows]`.
    pub fn new(gpu: &Gpu, [columns, rows]: [usize; 2]) -> Result<ClassTableTexture, GpuError> {
        let (texture, view) = read_only_texture(
            gpu,
            "the classification table",
            "ClassTableTexture::entries",
            [columns as u32, rows as u32, 1],
            wgpu::TextureDimension::D2,
            wgpu::TextureFormat::Rgba16Float,
        )?;
        Ok(ClassTableTexture { texture, view })
    }

    pub fn write(&self, gpu: &Gpu, table: &ClassTable) {
        gpu.queue.write_texture(
            self.texture.as_image_copy(),
            bytemuck::cast_slice(&table.entries),
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(8 * table.columns as u32),
                rows_per_image: None,
            },
            self.texture.size(),
        );
    }

    /// `[columns, rows]` of the tables it holds.
    pub fn size(&self) -> [usize; 2] {
        let s = self.texture.size();
        [s.width as usize, s.height as usize]
    }

    pub fn bytes(&self) -> u64 {
        let [c, r] = self.size();
        8 * (c * r) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tf::Shading;

    fn tf() -> TransferFunction {
        TransferFunction {
            scalar_opacity: vec![[0.0, 0.0], [100.0, 0.5], [200.0, 0.5]],
            color: vec![[0.0, 1.0, 0.0, 0.0], [200.0, 0.0, 0.0, 1.0]],
            gradient_opacity: vec![[0.0, 0.0], [10.0, 0.2], [50.0, 1.0]],
            shading: Shading::default(),
            unit_distance_mm: 1.0,
            effective_range: None,
            interpolation: None,
            tf2d: None,
        }
    }

    #[test]
    fn entries_are_the_corrected_product_of_both_curves() {
        let tf = tf();
        let q = Quantisation::new([0.0, 200.0], 400.0);
        for ratio in [0.5, 1.0, 2.0] {
            let table = ClassTable::bake(&tf, &q, ratio);
            assert_eq!(table.gradient_hi, 50.0);
            let [scale, offset] = table.value_mapping(&q);
            let rows = table.gradient_mapping(&q);
            for v in [0.0, 37.5, 100.0, 150.0, 200.0] {
                for g in [0.0, 3.0, 10.0, 20.0, 49.0, 50.0, 300.0] {
                    let x = (v / 200.0) as f32;
                    let y = (g / 400.0) as f32;
                    let got = table.lookup(x * scale + offset, table.row_of(y, rows));
                    let a = tf.scalar_rgba(v)[3] * tf.gradient_alpha(g);
                    let want = 1.0 - (1.0 - a).powf(ratio);
                    // Bilinear between rows interpolates in sqrt(|grad f|); the rows near 10
                    // (the ramp's knee) are 0.2 apart in |grad f|.
                    assert!(
                        (got[3] as f64 - want).abs() < 4e-3,
                        "v {v} g {g} ratio {ratio}: {} vs {want}",
                        got[3]
                    );
                    let [r, _, b, _] = tf.scalar_rgba(v);
                    assert!((got[0] as f64 - r).abs() < 2e-3 && (got[2] as f64 - b).abs() < 2e-3);
                }
            }
        }
    }

    #[test]
    fn a_flat_gradient_curve_uses_one_row() {
        let mut tf = tf();
        tf.gradient_opacity = vec![[0.0, 0.5]];
        let q = Quantisation::new([0.0, 200.0], 400.0);
        let table = ClassTable::bake(&tf, &q, 1.0);
        assert!(!table.uses_gradient());
        assert_eq!(table.gradient_mapping(&q), [0.0, 0.0]);
        let [scale, offset] = table.value_mapping(&q);
        let got = table.lookup(0.75 * scale + offset, 0.0);
        assert!((got[3] - 0.25).abs() < 1e-3, "{got:?}");
    }
}
