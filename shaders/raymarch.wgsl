// Raymarching: one full-screen triangle; each fragment casts a ray through the volume and
// composites colour + scalar opacity x gradient opacity front to back.
//
// Rays are built from the full image's pixel position (tile offset added), so an image drawn in
// tiles is identical to one drawn whole. The CPU reference in src/render/reference.rs mirrors this
// file step for step.

// Keep in sync with RaymarchParams in src/render/params.rs.
struct Params {
    world_from_clip: mat4x4<f32>,
    tex_from_world: mat4x4<f32>,
    crop_min: vec4<f32>,
    crop_max: vec4<f32>,
    texel: vec4<f32>,
    background: vec4<f32>,
    bricks: vec4<f32>,
    image_size: vec2<f32>,
    tile_offset: vec2<f32>,
    scalar_lut: vec2<f32>,
    gradient_lut: vec2<f32>,
    sample_distance_mm: f32,
    unit_distance_mm: f32,
    blend: u32,
    flags: u32,
    ambient: f32,
    diffuse: f32,
    specular: f32,
    specular_power: f32,
    gradient_constant: f32,
    max_steps: u32,
    _pad0: u32,
    _pad1: u32,
}

const FLAG_SHADING: u32 = 1u;
const FLAG_GRADIENT_OPACITY: u32 = 2u;
const FLAG_JITTER: u32 = 4u;
const FLAG_TRANSPARENT: u32 = 8u;
const FLAG_SKIP_EMPTY: u32 = 16u;

const BLEND_COMPOSITE: u32 = 0u;
const BLEND_MAXIMUM: u32 = 1u;
const BLEND_MINIMUM: u32 = 2u;
const BLEND_AVERAGE: u32 = 3u;

// Accumulated opacity at which a ray stops: nothing behind can change the 8-bit result.
const OPAQUE: f32 = 0.99607843; // 1 - 1/255

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var scalar_volume: texture_3d<f32>;
@group(0) @binding(2) var gradient_volume: texture_3d<f32>;
@group(0) @binding(3) var volume_sampler: sampler;
@group(0) @binding(4) var scalar_lut: texture_2d<f32>;
@group(0) @binding(5) var gradient_lut: texture_2d<f32>;
@group(0) @binding(6) var occupancy: texture_3d<u32>;

// The brick holding the sample at texture coordinates p (see src/render/bricks.rs).
fn brick_of(p: vec3<f32>) -> vec3<f32> {
    let n = vec3<f32>(textureDimensions(scalar_volume));
    let cell = clamp(floor(p * n - 0.5), vec3<f32>(0.0), n - 1.0);
    return floor(cell / params.bricks.w);
}

// Where the ray leaves brick b, in mm along the ray; the outer bricks reach the volume's edge.
fn brick_exit(o: vec3<f32>, d: vec3<f32>, b: vec3<f32>) -> f32 {
    let n = vec3<f32>(textureDimensions(scalar_volume));
    let size = params.bricks.w;
    let lo_u = select(b * size, vec3<f32>(-0.5), b == vec3<f32>(0.0));
    let hi_u = select((b + 1.0) * size, n - 0.5, b == params.bricks.xyz - 1.0);
    return ray_box(o, d, (lo_u + 0.5) / n, (hi_u + 0.5) / n).y;
}

@vertex
fn vs_fullscreen(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
    let uv = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
    return vec4<f32>(uv * 2.0 - 1.0, 0.0, 1.0);
}

// Interleaved gradient noise (Jimenez 2014): a cheap per-pixel offset in [0, 1) whose pattern
// has little low-frequency energy, so jittered ray starts turn wood grain into fine noise.
fn pixel_jitter(pixel: vec2<f32>) -> f32 {
    return fract(52.98292 * fract(dot(pixel, vec2<f32>(0.06711056, 0.00583715))));
}

// Linear interpolation between the entries of a one-row table, clamped at its ends.
fn lut_lookup(lut: texture_2d<f32>, mapping: vec2<f32>, x: f32) -> vec4<f32> {
    let last = f32(textureDimensions(lut).x - 1u);
    let pos = clamp((x - mapping.x) * mapping.y, 0.0, last);
    let i = max(min(floor(pos), last - 1.0), 0.0);
    let t = pos - i;
    let a = textureLoad(lut, vec2<i32>(i32(i), 0), 0);
    let b = textureLoad(lut, vec2<i32>(min(i32(i) + 1, i32(last)), 0), 0);
    return a + (b - a) * t;
}

fn sample_scalar(p: vec3<f32>) -> f32 {
    return textureSampleLevel(scalar_volume, volume_sampler, p, 0.0).r;
}

// The gradient at p in world units, from central differences one voxel either way.
fn world_gradient(p: vec3<f32>) -> vec3<f32> {
    let dx = vec3<f32>(params.texel.x, 0.0, 0.0);
    let dy = vec3<f32>(0.0, params.texel.y, 0.0);
    let dz = vec3<f32>(0.0, 0.0, params.texel.z);
    let g_tex = vec3<f32>(
        sample_scalar(p + dx) - sample_scalar(p - dx),
        sample_scalar(p + dy) - sample_scalar(p - dy),
        sample_scalar(p + dz) - sample_scalar(p - dz),
    ) / (2.0 * params.texel.xyz);
    let a = mat3x3<f32>(
        params.tex_from_world[0].xyz,
        params.tex_from_world[1].xyz,
        params.tex_from_world[2].xyz,
    );
    return transpose(a) * g_tex;
}

// Phong with a headlight and two-sided normals, as VTK shades volumes.
fn shade(color: vec3<f32>, p: vec3<f32>, view_dir: vec3<f32>) -> vec3<f32> {
    let g = world_gradient(p);
    let len = length(g);
    if len <= 1e-20 {
        return color * params.ambient;
    }
    var n = g / len;
    if dot(n, view_dir) < 0.0 {
        n = -n;
    }
    let diffuse = dot(n, view_dir);
    let r = 2.0 * diffuse * n - view_dir;
    let specular = pow(max(dot(r, view_dir), 0.0), params.specular_power);
    return color * (params.ambient + params.diffuse * diffuse) + vec3<f32>(params.specular * specular);
}

// Where the ray o + t d (t >= 0) enters and leaves the box [lo, hi]; empty when t_far <= t_near.
fn ray_box(o: vec3<f32>, d: vec3<f32>, lo: vec3<f32>, hi: vec3<f32>) -> vec2<f32> {
    let inv = 1.0 / d;
    let a = (lo - o) * inv;
    let b = (hi - o) * inv;
    let near = min(a, b);
    let far = max(a, b);
    let t_near = max(max(max(near.x, near.y), near.z), 0.0);
    let t_far = min(min(far.x, far.y), far.z);
    return vec2<f32>(t_near, t_far);
}

fn unproject(pixel: vec2<f32>, depth: f32) -> vec3<f32> {
    let ndc = vec2<f32>(
        2.0 * pixel.x / params.image_size.x - 1.0,
        1.0 - 2.0 * pixel.y / params.image_size.y,
    );
    let p = params.world_from_clip * vec4<f32>(ndc, depth, 1.0);
    return p.xyz / p.w;
}

fn finish(premultiplied: vec4<f32>) -> vec4<f32> {
    if (params.flags & FLAG_TRANSPARENT) != 0u {
        if premultiplied.a <= 0.0 {
            return vec4<f32>(0.0);
        }
        return vec4<f32>(premultiplied.rgb / premultiplied.a, premultiplied.a);
    }
    let rgb = premultiplied.rgb + (1.0 - premultiplied.a) * params.background.rgb;
    return vec4<f32>(rgb, 1.0);
}

@fragment
fn fs_raymarch(@builtin(position) frag: vec4<f32>) -> @location(0) vec4<f32> {
    let pixel = frag.xy + params.tile_offset;
    let near = unproject(pixel, 0.0);
    let far = unproject(pixel, 1.0);
    let dir = normalize(far - near);
    let o = (params.tex_from_world * vec4<f32>(near, 1.0)).xyz;
    let d = (params.tex_from_world * vec4<f32>(dir, 0.0)).xyz;
    let span = ray_box(o, d, params.crop_min.xyz, params.crop_max.xyz);
    if span.y <= span.x {
        return finish(vec4<f32>(0.0));
    }
    var jitter = 0.5;
    if (params.flags & FLAG_JITTER) != 0u {
        jitter = pixel_jitter(floor(pixel));
    }
    let ds = params.sample_distance_mm;
    let steps = min(u32(ceil((span.y - span.x) / ds)), params.max_steps);
    let view_dir = -dir;

    var acc = vec4<f32>(0.0);
    var extreme = select(-3.4e38, 3.4e38, params.blend == BLEND_MINIMUM);
    var sum = 0.0;
    var count = 0.0;
    var k = 0u;
    loop {
        if k >= steps {
            break;
        }
        // Segment k covers [start, end]; its sample sits a jittered fraction into it.
        let start = span.x + f32(k) * ds;
        let end = min(start + ds, span.y);
        let segment = end - start;
        let p = o + (start + jitter * segment) * d;
        k += 1u;
        if (params.flags & FLAG_SKIP_EMPTY) != 0u {
            let b = brick_of(p);
            if textureLoad(occupancy, vec3<i32>(b), 0).r == 0u {
                // Every sample up to the brick's exit is transparent: jump to the first segment
                // whose start is past it (one earlier, to stay clear of rounding).
                let exit = brick_exit(o, d, b);
                k = max(k, u32(max(floor((exit - span.x) / ds), 0.0)));
                continue;
            }
        }
        let v = sample_scalar(p);
        if params.blend == BLEND_MAXIMUM {
            extreme = max(extreme, v);
            continue;
        }
        if params.blend == BLEND_MINIMUM {
            extreme = min(extreme, v);
            continue;
        }
        if params.blend == BLEND_AVERAGE {
            sum += v;
            count += 1.0;
            continue;
        }
        let rgba = lut_lookup(scalar_lut, params.scalar_lut, v);
        var alpha = rgba.a * params.gradient_constant;
        if alpha <= 0.0 {
            continue;
        }
        if (params.flags & FLAG_GRADIENT_OPACITY) != 0u {
            let g = textureSampleLevel(gradient_volume, volume_sampler, p, 0.0).r;
            alpha *= lut_lookup(gradient_lut, params.gradient_lut, g).r;
            if alpha <= 0.0 {
                continue;
            }
        }
        // Opacity correction: alpha is per unit distance; this segment is `segment` long.
        alpha = 1.0 - pow(max(1.0 - alpha, 0.0), segment / params.unit_distance_mm);
        var color = rgba.rgb;
        if (params.flags & FLAG_SHADING) != 0u {
            color = shade(color, p, view_dir);
        }
        let w = (1.0 - acc.a) * alpha;
        acc += vec4<f32>(color * w, w);
        if acc.a >= OPAQUE {
            break;
        }
    }
    if params.blend == BLEND_COMPOSITE {
        return finish(acc);
    }
    var value = extreme;
    if params.blend == BLEND_AVERAGE {
        value = sum / max(count, 1.0);
    }
    let rgba = lut_lookup(scalar_lut, params.scalar_lut, value);
    return finish(vec4<f32>(rgba.rgb * rgba.a, rgba.a));
}
