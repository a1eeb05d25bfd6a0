//! The orbit camera: a standard anatomical view, turned by azimuth and elevation about the
//! volume's centre, in LPS patient space (x left, y posterior, z superior; millimetres).

use glam::{DMat4, DVec3, DVec4};
use serde::{Deserialize, Serialize};

/// The six standard views, named by where the camera stands (as in 3D Slicer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum View {
    #[default]
    Anterior,
    Posterior,
    Left,
    Right,
    Superior,
    Inferior,
}

impl View {
    /// The unit vector from the volume's centre to the camera, and the screen's up, in LPS.
    pub fn eye_and_up(self) -> (DVec3, DVec3) {
        let superior = DVec3::Z;
        let anterior = DVec3::NEG_Y;
        match self {
            View::Anterior => (anterior, superior),
            View::Posterior => (-anterior, superior),
            View::Left => (DVec3::X, superior),
            View::Right => (DVec3::NEG_X, superior),
            View::Superior => (superior, anterior),
            View::Inferior => (-superior, anterior),
        }
    }
}

/// Where the camera looks from. Serialized in scene files.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Camera {
    pub view: View,
    /// Degrees about the view's up axis, counter-clockwise seen from above.
    pub azimuth_deg: f64,
    /// Degrees towards the view's up axis.
    pub elevation_deg: f64,
    /// 1 fits the volume's bounding sphere in the image; 2 shows it twice as large.
    pub zoom: f64,
    pub orthographic: bool,
    /// Vertical field of view of the perspective projection.
    pub fov_deg: f64,
    /// Shift of the looked-at point in the image plane, in mm (right, up).
    pub pan_mm: [f64; 2],
}

impl Default for Camera {
    fn default() -> Self {
        Camera {
            view: View::Anterior,
            azimuth_deg: 0.0,
            elevation_deg: 0.0,
            zoom: 1.0,
            orthographic: false,
            fov_deg: 30.0,
            pan_mm: [0.0, 0.0],
        }
    }
}

/// A camera placed for one image: where it is and its projection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placed {
    pub eye: DVec3,
    pub clip_from_world: DMat4,
}

impl Camera {
    /// Checks the numbers a scene file may get wrong.
    pub fn validate(&self) -> Result<(), String> {
        let finite = [
            self.azimuth_deg,
            self.elevation_deg,
            self.pan_mm[0],
            self.pan_mm[1],
        ]
        .iter()
        .all(|v| v.is_finite());
        if !finite {
            return Err("camera angles and pan must be finite numbers".into());
        }
        if !(self.zoom.is_finite() && self.zoom > 0.0) {
            return Err(format!("camera zoom must be positive, not {}", self.zoom));
        }
        if !(self.fov_deg > 0.0 && self.fov_deg < 180.0) {
            return Err(format!(
                "camera fov_deg must be between 0 and 180, not {}",
                self.fov_deg
            ));
        }
        Ok(())
    }

    /// The unit direction from the centre to the eye and the screen's up, after azimuth and
    /// elevation.
    pub fn orientation(&self) -> (DVec3, DVec3) {
        let (eye, up) = self.view.eye_and_up();
        let (sa, ca) = self.azimuth_deg.to_radians().sin_cos();
        let eye = eye * ca + up.cross(eye) * sa;
        let (se, ce) = self.elevation_deg.to_radians().sin_cos();
        (eye * ce + up * se, up * ce - eye * se)
    }

    /// Places the camera around a sphere (`center`, `radius` in mm) for an image of `aspect`
    /// (width / height), with clip space as wgpu defines it (depth 0..1).
    pub fn place(&self, center: DVec3, radius: f64, aspect: f64) -> Placed {
        let (to_eye, up) = self.orientation();
        let right = (-to_eye).cross(up).normalize();
        let target = center + right * self.pan_mm[0] + up * self.pan_mm[1];
        let half_fov = (self.fov_deg.to_radians() / 2.0).tan();
        // The sphere fills the shorter side of the image at zoom 1.
        let fit = if aspect < 1.0 { aspect } else { 1.0 };
        let (distance, projection) = if self.orthographic {
            let half_h = radius / (self.zoom * fit);
            let distance = 2.0 * radius + radius.max(1e-6);
            let (near, far) = (distance - 1.5 * radius, distance + 1.5 * radius);
            (distance, orthographic(half_h * aspect, half_h, near, far))
        } else {
            let distance = radius / (half_fov * fit).atan().sin() / self.zoom;
            let near = (distance - 1.5 * radius).max(distance * 1e-3);
            let far = distance + 1.5 * radius;
            (distance, perspective(half_fov, aspect, near, far))
        };
        let eye = target + to_eye * distance;
        let view = look_at(eye, target, up);
        Placed {
            eye,
            clip_from_world: projection * view,
        }
    }
}

fn look_at(eye: DVec3, target: DVec3, up: DVec3) -> DMat4 {
    let f = (target - eye).normalize();
    let s = f.cross(up).normalize();
    let u = s.cross(f);
    DMat4::from_cols(
        DVec4::new(s.x, u.x, -f.x, 0.0),
        DVec4::new(s.y, u.y, -f.y, 0.0),
        DVec4::new(s.z, u.z, -f.z, 0.0),
        DVec4::new(-s.dot(eye), -u.dot(eye), f.dot(eye), 1.0),
    )
}

/// Right-handed perspective with depth 0 at `near` and 1 at `far`.
fn perspective(tan_half_fov: f64, aspect: f64, near: f64, far: f64) -> DMat4 {
    let f = 1.0 / tan_half_fov;
    DMat4::from_cols(
        DVec4::new(f / aspect, 0.0, 0.0, 0.0),
        DVec4::new(0.0, f, 0.0, 0.0),
        DVec4::new(0.0, 0.0, far / (near - far), -1.0),
        DVec4::new(0.0, 0.0, near * far / (near - far), 0.0),
    )
}

/// Right-handed orthographic projection with depth 0 at `near` and 1 at `far`.
fn orthographic(half_w: f64, half_h: f64, near: f64, far: f64) -> DMat4 {
    DMat4::from_cols(
        DVec4::new(1.0 / half_w, 0.0, 0.0, 0.0),
        DVec4::new(0.0, 1.0 / half_h, 0.0, 0.0),
        DVec4::new(0.0, 0.0, 1.0 / (near - far), 0.0),
        DVec4::new(0.0, 0.0, near / (near - far), 1.0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(m: DMat4, p: DVec3) -> DVec3 {
        let c = m * p.extend(1.0);
        c.truncate() / c.w
    }

    #[test]
    fn anterior_view_sees_the_patients_left_on_the_right_of_the_image() {
        let cam = Camera::default();
        let placed = cam.place(DVec3::ZERO, 10.0, 1.0);
        assert!(placed.eye.y < -10.0, "anterior is -y in LPS");
        let left = project(placed.clip_from_world, DVec3::new(5.0, 0.0, 0.0));
        let head = project(placed.clip_from_world, DVec3::new(0.0, 0.0, 5.0));
        assert!(left.x > 0.0 && head.y > 0.0);
        let centre = project(placed.clip_from_world, DVec3::ZERO);
        assert!(centre.x.abs() < 1e-12 && centre.y.abs() < 1e-12);
        assert!((0.0..1.0).contains(&centre.z));
    }

    #[test]
    fn the_bounding_sphere_just_fits_at_zoom_one() {
        for orthographic in [false, true] {
            let cam = Camera {
                orthographic,
                ..Camera::default()
            };
            let placed = cam.place(DVec3::ZERO, 10.0, 2.0);
            // The sphere's silhouette touches the top of the image.
            let (to_eye, up) = cam.orientation();
            let d = (placed.eye).length();
            let tangent = if orthographic {
                up * 10.0
            } else {
                // The tangent point seen from the eye.
                let s = 10.0 / d;
                up * 10.0 * (1.0 - s * s).sqrt() + to_eye * 10.0 * s
            };
            let top = project(placed.clip_from_world, tangent);
            assert!((top.y - 1.0).abs() < 1e-9, "{orthographic}: {top}");
        }
    }

    #[test]
    fn azimuth_ninety_from_anterior_is_the_left_view() {
        let turned = Camera {
            azimuth_deg: 90.0,
            ..Camera::default()
        };
        let (eye, up) = turned.orientation();
        let (left, left_up) = View::Left.eye_and_up();
        assert!((eye - left).length() < 1e-12 && (up - left_up).length() < 1e-12);
        let raised = Camera {
            elevation_deg: 90.0,
            ..Camera::default()
        };
        assert!((raised.orientation().0 - DVec3::Z).length() < 1e-12);
    }
}
