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
use crate::tf::{Lut, TransferFunction};

/// Columns (values).
pub const VALUE_ENTRIES: usize = 2048;
/// Rows (|grad f|, square-root spaced).
pub const GRADIENT_ENTRIES: usize = 256;

/// A baked table and the axes it was baked on.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassTable {
    /// Colour and uncorrected scalar alpha of every column: the value axis.
    pub scalar: Lut,
    /// Gradient opacity of every row; a single row when the curve is flat (its constant).
    pub gradient: Vec<f32>,
    /// |grad f| of the last row, in data units per mm; row j is at hi * (j / (rows - 1))^2.
    pub gradient_hi: f64,
    /// The sample distance over the unit distance the alphas are corrected for.
    pub ratio: f64,
    /// `[r, g, b, alpha]` as half floats (what the GPU stores), value fastest.
    pub entries: Vec<[f16; 4]>,
}

impl ClassTable {
    /// Bakes `tf` for a volume normalised by `q`, with samples `ratio` unit distances apart.
    pub fn bake(tf: &TransferFunction, q: &Quantisation, ratio: f64) -> ClassTable {
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
            scalar,
            gradient,
            gradient_hi,
            ratio,
            entries,
        }
    }

    /// Whether the rows vary with |grad f| (gradient opacity in use).
    pub fn uses_gradient(&self) -> bool {
        self.gradient.len() > 1
    }

    /// `[scale, offset]` from a normalised value to a column position.
    pub fn value_mapping(&self, q: &Quantisation) -> [f32; 2] {
        q.value_mapping(self.scalar.mapping_f64())
    }

    /// The factor from the square root of a normalised |grad f| to a row position (0 for a
    /// flat curve: row 0 everywhere).
    pub fn gradient_scale(&self, q: &Quantisation) -> f32 {
        if !self.uses_gradient() {
            return 0.0;
        }
        ((GRADIENT_ENTRIES - 1) as f64 * (q.gradient_max / self.gradient_hi).sqrt()) as f32
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
        let (c0, c1, tc) = axis(column, VALUE_ENTRIES);
        let (r0, r1, tr) = axis(row, GRADIENT_ENTRIES);
        let at = |c: usize, r: usize| self.entries[r * VALUE_ENTRIES + c].map(f16::to_f32);
        let (a, b, c, d) = (at(c0, r0), at(c1, r0), at(c0, r1), at(c1, r1));
        [0, 1, 2, 3].map(|k| {
            let top = a[k] + (b[k] - a[k]) * tc;
            let bottom = c[k] + (d[k] - c[k]) * tc;
            top + (bottom - top) * tr
        })
    }
}

/// The table on the GPU: an `rgba16float` texture, sampled with bilinear filtering.
#[derive(Debug)]
pub struct ClassTableTexture {
    texture: wgpu::Texture,
    pub view: wgpu::TextureView,
}

impl ClassTableTexture {
    pub fn new(gpu: &Gpu) -> Result<ClassTableTexture, GpuError> {
        let (texture, view) = read_only_texture(
            gpu,
            "the classification table",
            "ClassTableTexture::entries",
            [VALUE_ENTRIES as u32, GRADIENT_ENTRIES as u32, 1],
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
                bytes_per_row: Some(8 * VALUE_ENTRIES as u32),
                rows_per_image: None,
            },
            self.texture.size(),
        );
    }

    pub fn bytes(&self) -> u64 {
        8 * (VALUE_ENTRIES * GRADIENT_ENTRIES) as u64
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
            let row_scale = table.gradient_scale(&q);
            for v in [0.0, 37.5, 100.0, 150.0, 200.0] {
                for g in [0.0, 3.0, 10.0, 20.0, 49.0, 50.0, 300.0] {
                    let x = (v / 200.0) as f32;
                    let y = ((g / 400.0) as f32).sqrt();
                    let got = table.lookup(x * scale + offset, y * row_scale);
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
        assert_eq!(table.gradient_scale(&q), 0.0);
        let [scale, offset] = table.value_mapping(&q);
        let got = table.lookup(0.75 * scale + offset, 0.0);
        assert!((got[3] - 0.25).abs() < 1e-3, "{got:?}");
    }
}
