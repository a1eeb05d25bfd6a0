//! 16 bits of value and 16 bits of |grad f| per voxel: what the brick pool stores.
//!
//! The value is normalised to the volume's finite range and |grad f| to `[0, its maximum]`,
//! each rounded to the nearest of 65536 levels. The GPU reads a code back as `code / 65535`
//! (the unorm rule), filters it trilinearly, and looks it up in tables whose mapping is given
//! in the same normalised units, so the data's own units never reach the shader. On a CT of
//! -1024..3071 HU one level is 0.0625 HU.
//!
//! Voxels that are not numbers (NaN: "no data") are stored as the lowest value, with no
//! gradient; infinities are clamped to the range's ends.

/// The largest code.
pub const LEVELS: f64 = 65535.0;

/// How the pool stores a texel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolFormat {
    /// 16-bit codes (`rg16unorm`, 4 bytes a voxel): the default.
    Unorm16,
    /// The same normalised values unrounded (`rg32float`, 8 bytes a voxel): for adapters without
    /// 16-bit normalised textures, and the reference the 16-bit images are measured against.
    Float32,
}

impl PoolFormat {
    pub fn bytes_per_texel(self) -> u64 {
        match self {
            PoolFormat::Unorm16 => 4,
            PoolFormat::Float32 => 8,
        }
    }

    pub fn texture_format(self) -> wgpu::TextureFormat {
        match self {
            PoolFormat::Unorm16 => wgpu::TextureFormat::Rg16Unorm,
            PoolFormat::Float32 => wgpu::TextureFormat::Rg32Float,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PoolFormat::Unorm16 => "rg16unorm",
            PoolFormat::Float32 => "rg32float",
        }
    }
}

/// How one volume's values and gradient magnitudes become codes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantisation {
    /// The value of code 0 and of code 65535 (distinct even for a constant volume).
    pub value_range: [f64; 2],
    /// |grad f| of code 65535, in data units per mm (positive).
    pub gradient_max: f64,
}

impl Quantisation {
    /// For values in `range` (finite min and max) and gradients up to `gradient_max`.
    pub fn new(range: [f64; 2], gradient_max: f64) -> Quantisation {
        let [lo, mut hi] = range;
        let lo = if lo.is_finite() { lo } else { 0.0 };
        if !(hi.is_finite() && hi > lo) {
            hi = lo + 1.0;
        }
        let gradient_max = if gradient_max.is_finite() && gradient_max > 0.0 {
            gradient_max
        } else {
            1.0
        };
        Quantisation {
            value_range: [lo, hi],
            gradient_max,
        }
    }

    fn code(x: f64) -> u16 {
        if x.is_nan() {
            return 0;
        }
        (x.clamp(0.0, 1.0) * LEVELS).round() as u16
    }

    pub fn value_code(&self, v: f32) -> u16 {
        let [lo, hi] = self.value_range;
        Self::code((v as f64 - lo) / (hi - lo))
    }

    pub fn gradient_code(&self, g: f32) -> u16 {
        Self::code(g as f64 / self.gradient_max)
    }

    /// The normalised value the shader reads for `v` from a pool of `format`.
    pub fn value_texel(&self, v: f32, format: PoolFormat) -> f32 {
        let [lo, hi] = self.value_range;
        Self::texel((v as f64 - lo) / (hi - lo), format)
    }

    /// The normalised |grad f| the shader reads for `g` from a pool of `format`.
    pub fn gradient_texel(&self, g: f32, format: PoolFormat) -> f32 {
        Self::texel(g as f64 / self.gradient_max, format)
    }

    fn texel(x: f64, format: PoolFormat) -> f32 {
        match format {
            PoolFormat::Unorm16 => unorm(Self::code(x)),
            PoolFormat::Float32 if x.is_nan() => 0.0,
            PoolFormat::Float32 => x.clamp(0.0, 1.0) as f32,
        }
    }

    /// `[scale, offset]` turning a table's mapping in value units (entry position =
    /// (value - lo) * scale) into one in normalised units: position = x * scale' + offset'.
    pub fn value_mapping(&self, mapping: [f64; 2]) -> [f32; 2] {
        let [lo, hi] = self.value_range;
        let [table_lo, scale] = mapping;
        [((hi - lo) * scale) as f32, ((lo - table_lo) * scale) as f32]
    }
}

/// The normalised value the GPU reads for a code.
pub fn unorm(code: u16) -> f32 {
    code as f32 / LEVELS as f32
}

/// The code of a normalised value read from a 16-bit pool (the inverse of [`unorm`]).
pub fn code_of(x: f32) -> u16 {
    (x * LEVELS as f32).round() as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_to_the_nearest_level_and_survive_odd_input() {
        let q = Quantisation::new([-1024.0, 3071.0], 4000.0);
        assert_eq!(q.value_code(-1024.0), 0);
        assert_eq!(q.value_code(3071.0), 65535);
        let v = 40.0f32;
        let back = -1024.0 + 4095.0 * unorm(q.value_code(v)) as f64;
        assert!(
            (back - v as f64).abs() <= 4095.0 / 65535.0 / 2.0 + 1e-3,
            "{back}"
        );
        assert_eq!(q.value_code(f32::NAN), 0);
        assert_eq!(q.value_code(f32::INFINITY), 65535);
        assert_eq!(q.value_code(f32::NEG_INFINITY), 0);
        assert_eq!(q.gradient_code(f32::NAN), 0);
        assert_eq!(q.gradient_code(2000.0), 32768);
        // A constant volume and a volume without gradients still get a usable scale.
        let flat = Quantisation::new([5.0, 5.0], 0.0);
        assert_eq!(flat.value_code(5.0), 0);
        assert_eq!(flat.gradient_code(0.0), 0);
        // Texels read back to their codes exactly.
        for code in [0u16, 1, 2, 32767, 40000, 65534, 65535] {
            assert_eq!(code_of(unorm(code)), code);
        }
        assert_eq!(q.value_texel(f32::NAN, PoolFormat::Float32), 0.0);
        assert_eq!(q.value_texel(3071.0, PoolFormat::Float32), 1.0);
    }

    #[test]
    fn mappings_in_normalised_units_land_on_the_same_entry() {
        let q = Quantisation::new([-1024.0, 3071.0], 500.0);
        // A table from -3024 to 3071 with 4096 entries.
        let scale = 4095.0 / 6095.0;
        let [a, b] = q.value_mapping([-3024.0, scale]);
        for v in [-1024.0, 0.0, 250.5, 3071.0] {
            let x = (v - -1024.0) / 4095.0;
            let want = (v - -3024.0) * scale;
            let got = x * a as f64 + b as f64;
            assert!((got - want).abs() < 2e-3, "{v}: {got} vs {want}");
        }
    }
}
