//! What is under the cursor: the ray of a viewport pixel marched on the CPU through the same
//! samples as the shader, stopping where the composited opacity first reaches one half (the
//! surface a user sees), or at the brightest or darkest sample for MIP and MinIP.

use glam::{DVec3, Vec2};

use crate::render::params::RaymarchParams;
use crate::render::reference::{ray, sample_t, trilinear};
use crate::scene::Blend;
use crate::tf::TransferFunction;
use crate::volume::Volume;

/// The sample a pixel shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pick {
    pub value: f64,
    /// |grad f| in data units per mm.
    pub gradient: f64,
    /// Continuous voxel coordinates (i, j, k).
    pub voxel: DVec3,
}

/// The sample under image position `pixel` (pixels from the top-left corner of the image
/// `params` describes), or `None` when the ray misses the volume or stays transparent.
pub fn pick(
    params: &RaymarchParams,
    volume: &Volume,
    gradient: &[f32],
    tf: &TransferFunction,
    blend: Blend,
    pixel: Vec2,
) -> Option<Pick> {
    let r = ray(params, pixel)?;
    let dims = volume.dims;
    let value_at = |q| trilinear(dims, q, |i| volume.data.get_f64(i) as f32);
    let gradient_at = |q| trilinear(dims, q, |i| gradient[i]);
    let ds = params.sample_distance_mm;
    let steps = (((r.t_far - r.t_near) / ds).ceil() as u32).min(params.max_steps);
    let sample = |k: u32| r.origin + sample_t(&r, k, ds, 0.5) * r.direction;
    let found = |q: glam::Vec3, v: f32| Pick {
        value: v as f64,
        gradient: gradient_at(q) as f64,
        voxel: q.as_dvec3(),
    };
    match blend {
        Blend::Composite => {
            let mut acc = 0.0f64;
            for k in 0..steps {
                let q = sample(k);
                let v = value_at(q);
                let alpha = if tf.gradient_is_flat() {
                    tf.scalar_rgba(v as f64)[3]
                } else {
                    tf.rgba_at(v as f64, gradient_at(q) as f64)[3]
                };
                if alpha <= 0.0 {
                    continue;
                }
                let a = 1.0 - (1.0 - alpha.min(1.0)).powf(ds as f64 / tf.unit_distance_mm);
                acc += (1.0 - acc) * a;
                if acc >= 0.5 {
                    return Some(found(q, v));
                }
            }
            None
        }
        Blend::Maximum | Blend::Minimum => {
            // Of equal extremes, the one nearest the camera.
            let sign = if blend == Blend::Maximum { 1.0 } else { -1.0 };
            let mut best: Option<(glam::Vec3, f32)> = None;
            for k in 0..steps {
                let q = sample(k);
                let v = value_at(q);
                if best.is_none_or(|(_, b)| sign * v > sign * b) {
                    best = Some((q, v));
                }
            }
            best.map(|(q, v)| found(q, v))
        }
        // An average has no one sample; report the first one inside the volume.
        Blend::Average => {
            let q = sample(0);
            Some(found(q, value_at(q)))
        }
    }
}
