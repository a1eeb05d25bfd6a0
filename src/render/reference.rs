//! The CPU reference of shaders/raymarch.wgsl: the same rays, samples, tables and compositing,
//! step for step in f32, with trilinear sampling done by hand. It samples the volume unbricked
//! (every voxel's normalised value and |grad f| in one array), so comparing the GPU's images
//! with it also checks that the bricks, their borders and the page table add nothing and lose
//! nothing; and it visits every sample, so it also checks that skipping empty blocks changes
//! nothing. Slow and simple.

use glam::{Mat3, Mat4, Vec2, Vec3, Vec4, Vec4Swizzles};

use crate::render::params::{FLAG_JITTER, FLAG_SHADING, FLAG_TRANSPARENT, RaymarchParams};
use crate::render::renderer::Image;
use crate::render::table::ClassTable;

const OPAQUE: f32 = 1.0 - 1.0 / 255.0;

/// A volume of normalised (value, |grad f|) pairs, x fastest, sampled like a clamp-to-edge
/// linear texture: what the brick pool holds, without the bricks.
#[derive(Debug, Clone, Copy)]
pub struct Field<'a> {
    pub dims: [usize; 3],
    pub texels: &'a [[f32; 2]],
}

impl Field<'_> {
    /// Trilinear interpolation of both channels at voxel coordinates `u`.
    pub fn sample(&self, u: Vec3) -> [f32; 2] {
        [0, 1].map(|c| trilinear(self.dims, u, |i| self.texels[i][c]))
    }
}

/// Trilinear interpolation of the voxels `at(index)` (x fastest) of a `dims` grid at voxel
/// coordinates `u` (voxel centres at integers), clamped to the grid like a texture.
pub fn trilinear(dims: [usize; 3], u: Vec3, at: impl Fn(usize) -> f32) -> f32 {
    let mut lo = [0usize; 3];
    let mut hi = [0usize; 3];
    let mut t = [0f32; 3];
    for a in 0..3 {
        let last = (dims[a] - 1) as f32;
        let x = u[a].clamp(0.0, last);
        let f = x.floor();
        t[a] = x - f;
        lo[a] = f as usize;
        hi[a] = (f + 1.0).min(last) as usize;
    }
    let mut sum = 0.0;
    for corner in 0..8 {
        let mut w = 1.0;
        let mut idx = [0; 3];
        for a in 0..3 {
            if corner >> a & 1 == 1 {
                w *= t[a];
                idx[a] = hi[a];
            } else {
                w *= 1.0 - t[a];
                idx[a] = lo[a];
            }
        }
        sum += w * at(idx[0] + dims[0] * (idx[1] + dims[1] * idx[2]));
    }
    sum
}

fn pixel_jitter(pixel: Vec2) -> f32 {
    let inner = (pixel.dot(Vec2::new(0.06711056, 0.00583715))).fract();
    (52.98292 * inner).fract()
}

/// Renders the pixels of the tile `params` describes (`width` x `height` of them).
pub fn render(
    params: &RaymarchParams,
    field: Field,
    table: &ClassTable,
    width: u32,
    height: u32,
) -> Image {
    let mut rgba = Vec::with_capacity(4 * (width * height) as usize);
    for y in 0..height {
        for x in 0..width {
            let c = pixel(params, field, table, x, y);
            rgba.extend(
                c.to_array()
                    .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8),
            );
        }
    }
    Image {
        width,
        height,
        rgba,
    }
}

/// The part of a pixel's ray inside the crop box, in voxel coordinates; `t` is in mm.
#[derive(Debug, Clone, Copy)]
pub struct Ray {
    pub origin: Vec3,
    /// Voxel coordinates per mm along the ray.
    pub direction: Vec3,
    /// Unit direction in world space (LPS mm).
    pub world_direction: Vec3,
    pub t_near: f32,
    pub t_far: f32,
}

/// The ray through image position `pixel` (in pixels from the image's top-left corner), clipped
/// to the crop box; `None` when it misses.
pub fn ray(p: &RaymarchParams, pixel: Vec2) -> Option<Ray> {
    let world_from_clip = Mat4::from_cols_array_2d(&p.world_from_clip);
    let voxel_from_world = Mat4::from_cols_array_2d(&p.voxel_from_world);
    let unproject = |depth: f32| {
        let ndc = Vec2::new(
            2.0 * pixel.x / p.image_size[0] - 1.0,
            1.0 - 2.0 * pixel.y / p.image_size[1],
        );
        world_from_clip.project_point3(ndc.extend(depth))
    };
    let near = unproject(0.0);
    let dir = (unproject(1.0) - near).normalize();
    let o = voxel_from_world.transform_point3(near);
    let d = voxel_from_world.transform_vector3(dir);
    let lo = Vec4::from_array(p.crop_min).xyz();
    let hi = Vec4::from_array(p.crop_max).xyz();
    let inv = d.recip();
    let (a, b) = ((lo - o) * inv, (hi - o) * inv);
    let t_near = a.min(b).max_element().max(0.0);
    let t_far = a.max(b).min_element();
    (t_far > t_near).then_some(Ray {
        origin: o,
        direction: d,
        world_direction: dir,
        t_near,
        t_far,
    })
}

/// Where sample `k` of a ray spanning `[t_near, t_far]` sits, in mm along it.
pub fn sample_t(ray: &Ray, k: u32, sample_distance: f32, jitter: f32) -> f32 {
    (ray.t_near + (k as f32 + jitter) * sample_distance).min(ray.t_far)
}

fn pixel(p: &RaymarchParams, field: Field, table: &ClassTable, x: u32, y: u32) -> Vec4 {
    let pixel = Vec2::new(x as f32 + 0.5, y as f32 + 0.5) + Vec2::from_array(p.tile_offset);
    let ray = ray(p, pixel);
    let voxel_from_world = Mat4::from_cols_array_2d(&p.voxel_from_world);
    let finish = |c: Vec4| {
        if p.flags & FLAG_TRANSPARENT != 0 {
            if c.w <= 0.0 {
                Vec4::ZERO
            } else {
                (c.xyz() / c.w).extend(c.w)
            }
        } else {
            (c.xyz() + (1.0 - c.w) * Vec4::from_array(p.background).xyz()).extend(1.0)
        }
    };
    let [scale, offset] = p.value_to_column;
    let colour = |v: f32| Vec4::from_array(table.scalar.lookup_mapped(v, p.value_to_column));
    let classify = |v: f32, g: f32| {
        Vec4::from_array(table.lookup(v * scale + offset, table.row_of(g, p.gradient_to_row)))
    };
    let Some(r) = ray else {
        return finish(Vec4::ZERO);
    };
    let jitter = if p.flags & FLAG_JITTER != 0 {
        (pixel_jitter(pixel.floor()) + p.jitter_offset).fract()
    } else {
        0.5
    };
    let ds = p.sample_distance_mm;
    let steps = (((r.t_far - r.t_near) / ds).ceil() as u32).min(p.max_steps);
    let view_dir = -r.world_direction;
    let a3 = Mat3::from_mat4(voxel_from_world);
    let shade = |color: Vec3, u: Vec3| {
        let g_voxel: Vec3 = [
            Vec3::new(1.0, 1.0, 1.0),
            Vec3::new(1.0, -1.0, -1.0),
            Vec3::new(-1.0, 1.0, -1.0),
            Vec3::new(-1.0, -1.0, 1.0),
        ]
        .into_iter()
        .map(|corner| field.sample(u + 0.5 * corner)[0] * corner)
        .sum();
        let g = a3.transpose() * g_voxel;
        let len = g.length();
        if len <= 1e-20 {
            return color * p.ambient;
        }
        let mut n = g / len;
        if n.dot(view_dir) < 0.0 {
            n = -n;
        }
        let diffuse = n.dot(view_dir);
        let rv = 2.0 * diffuse * n - view_dir;
        let specular = rv.dot(view_dir).max(0.0).powf(p.specular_power);
        color * (p.ambient + p.diffuse * diffuse) + Vec3::splat(p.specular * specular)
    };

    let mut acc = Vec4::ZERO;
    let mut extreme = if p.blend == 2 { 3.4e38f32 } else { -3.4e38 };
    let (mut sum, mut count) = (0.0f32, 0.0f32);
    for k in 0..steps {
        let u = r.origin + sample_t(&r, k, ds, jitter) * r.direction;
        let [v, g] = field.sample(u);
        match p.blend {
            1 => {
                extreme = extreme.max(v);
                continue;
            }
            2 => {
                extreme = extreme.min(v);
                continue;
            }
            3 => {
                sum += v;
                count += 1.0;
                continue;
            }
            _ => {}
        }
        let rgba = classify(v, g);
        let mut alpha = rgba.w;
        if alpha <= 0.0 {
            continue;
        }
        if k + 1 == steps {
            let segment = ds.min(r.t_far - (r.t_near + k as f32 * ds));
            alpha = 1.0 - (1.0 - alpha).max(0.0f32).powf(segment / ds);
        }
        let mut color = rgba.xyz();
        if p.flags & FLAG_SHADING != 0 {
            color = shade(color, u);
        }
        let w = (1.0 - acc.w) * alpha;
        acc += (color * w).extend(w);
        if acc.w >= OPAQUE {
            break;
        }
    }
    if p.blend == 0 {
        return finish(acc);
    }
    let value = if p.blend == 3 {
        sum / count.max(1.0)
    } else {
        extreme
    };
    let rgba = colour(value);
    finish((rgba.xyz() * rgba.w).extend(rgba.w))
}
