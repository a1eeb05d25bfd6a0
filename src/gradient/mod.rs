//! The gradient magnitude |grad f| of a volume, in data units per mm.
//!
//! Three operators, each defined to match a reference users already know:
//!
//! - [`Operator::Central`]: central differences with clamp-to-edge borders, exactly VTK's
//!   `vtkImageGradient` (and so what 3D Slicer's gradient opacity means, up to VTK's axis scale).
//! - [`Operator::Sobel`]: scipy's `ndimage.sobel` (derivative [-1, 0, 1], smoothing [1, 2, 1] on
//!   the other axes, 'reflect' borders) divided by 32 x spacing, so a ramp of 1 unit/mm gives 1.
//! - [`Operator::Gaussian`]: the derivative of a Gaussian whose sigma is given in mm, so
//!   anisotropic voxels are smoothed evenly in space; scipy's `gaussian_filter` kernels
//!   (truncate 4.0, 'reflect' borders) divided by spacing. The noise-robust choice.
//!
//! [`cpu`] holds the reference implementation every other path (the GPU pass) is tested against.

pub mod boundary;
pub mod cpu;
pub mod stats;

use serde::{Deserialize, Serialize};

/// How the gradient is estimated.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "operator", rename_all = "lowercase")]
pub enum Operator {
    #[default]
    Central,
    Sobel,
    Gaussian {
        sigma_mm: f64,
    },
}

impl Operator {
    /// Voxels the operator reads beyond a voxel along each axis, for voxels `spacing` mm apart.
    pub fn reach(self, spacing: [f64; 3]) -> [usize; 3] {
        match self {
            Operator::Central | Operator::Sobel => [1; 3],
            Operator::Gaussian { sigma_mm } => {
                spacing.map(|s| cpu::gaussian_radius(sigma_mm / s).min(cpu::MAX_GAUSSIAN_RADIUS))
            }
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Operator::Central => "central",
            Operator::Sobel => "sobel",
            Operator::Gaussian { .. } => "gaussian",
        }
    }
}

impl std::fmt::Display for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Operator::Gaussian { sigma_mm } => write!(f, "gaussian (sigma {sigma_mm} mm)"),
            other => f.write_str(other.name()),
        }
    }
}

/// scipy's `truncate`: Gaussian kernels reach this many sigmas out.
pub const GAUSSIAN_TRUNCATE: f64 = 4.0;
