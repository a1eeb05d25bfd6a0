// Raymarching: one full-screen triangle; each fragment casts a ray through the volume and
// composites colour + scalar opacity x gradient opacity front to back.
//
// The volume lives in a brick pool (src/render/pool.rs): each brick of C cells a side has a slot
// of C + 3 texels (a voxel of border before its cells, two after) holding value and |grad f|
// (normalised to 0..1), and the page table gives a brick's slot. A ray walks the blocks it crosses (the smaller boxes empty-space skipping is
// decided on, src/render/classify.rs): an empty block costs one texture load and one jump; in an
// occupied block the page table is read once and every sample reads the brick's slot directly:
// one filtered fetch for value and |grad f|, one from the classification table for colour and
// opacity-corrected alpha (src/render/table.rs), and four more for the shading normal, all
// inside the slot. Rays are built from the full image's pixel position (tile offset added), so
// an image drawn in tiles is identical to one drawn whole. The CPU reference in
// src/render/reference.rs mirrors this file step for step.
//
// The blend mode and shading are pipeline constants (one pipeline per combination, built when
// first used), so a pipeline holds only the code its frames run: a software rasteriser such as
// lavapipe executes both sides of every branch its lanes disagree on.

override BLEND: u32 = 0u;
override SHADING: bool = true;

// Keep in sync with RaymarchParams in src/render/params.rs.
struct Params {
    world_from_clip: mat4x4<f32>,
    voxel_from_world: mat4x4<f32>,
    crop_min: vec4<f32>,
    crop_max: vec4<f32>,
    voxel_max: vec4<f32>,
    background: vec4<f32>,
    block_cells: vec4<f32>,
    blocks: vec4<f32>,
    brick_cells: vec4<f32>,
    pool_scale: vec4<f32>,
    image_size: vec2<f32>,
    tile_offset: vec2<f32>,
    value_to_column: vec2<f32>,
    gradient_to_row: vec2<f32>,
    sample_distance_mm: f32,
    unit_distance_mm: f32,
    blend: u32,
    flags: u32,
    ambient: f32,
    diffuse: f32,
    specular: f32,
    specular_power: f32,
    max_steps: u32,
    jitter_offset: f32,
    _pad1: u32,
    _pad2: u32,
    // Keep in sync with LevelParams: how samples reach a brick of each pyramid level.
    levels: array<Level, 16>,
}

struct Level {
    scale: vec4<f32>,
    offset: vec4<f32>,
    brick_cells: vec4<f32>,
    voxel_max: vec4<f32>,
}

const FLAG_JITTER: u32 = 4u;
const FLAG_TRANSPARENT: u32 = 8u;
const FLAG_SKIP_EMPTY: u32 = 16u;
const FLAG_WARP_LINEAR: u32 = 32u;
const FLAG_WARP_LOG: u32 = 64u;
// The log warp's constant (src/tf/tf2d.rs).
const LOG_WARP_K: f32 = 100.0;

const BLEND_COMPOSITE: u32 = 0u;
const BLEND_MAXIMUM: u32 = 1u;
const BLEND_MINIMUM: u32 = 2u;
const BLEND_AVERAGE: u32 = 3u;

// Accumulated opacity at which a ray stops: nothing behind can change the 8-bit result.
const OPAQUE: f32 = 0.99607843; // 1 - 1/255
// Farther than any ray goes.
const FAR: f32 = 3.0e38;

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var pool: texture_3d<f32>;
@group(0) @binding(2) var page_table: texture_3d<u32>;
@group(0) @binding(3) var occupancy: texture_3d<u32>;
@group(0) @binding(4) var volume_sampler: sampler;
@group(0) @binding(5) var scalar_lut: texture_2d<f32>;
@group(0) @binding(6) var class_table: texture_2d<f32>;

// The first texel of the slot a page-table entry names (see src/render/page_table.rs).
fn slot_origin(entry: u32) -> vec3<f32> {
    let slot = vec3<u32>(entry & 0xffu, (entry >> 8u) & 0xffu, (entry >> 16u) & 0xffu);
    return vec3<f32>(slot) * (params.brick_cells.xyz + 3.0);
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

// The colour and opacity-corrected alpha of a sample of normalised value v and |grad f| g:
// one filtered fetch from the classification table (src/render/table.rs), whose rows are
// spaced through a warp of |grad f| (the square root unless the flags say otherwise).
fn classify(v: f32, g: f32) -> vec4<f32> {
    let size = vec2<f32>(textureDimensions(class_table));
    let t = g * params.gradient_to_row.y;
    var u = sqrt(t);
    if (params.flags & FLAG_WARP_LINEAR) != 0u {
        u = t;
    } else if (params.flags & FLAG_WARP_LOG) != 0u {
        u = log(1.0 + LOG_WARP_K * t) / log(1.0 + LOG_WARP_K);
    }
    let position = vec2<f32>(
        v * params.value_to_column.x + params.value_to_column.y,
        u * params.gradient_to_row.x,
    );
    return textureSampleLevel(class_table, volume_sampler, (position + 0.5) / size, 0.0);
}

// Linear interpolation between the entries of a one-row table at position x * m.x + m.y,
// clamped at its ends.
fn lut_lookup(lut: texture_2d<f32>, m: vec2<f32>, x: f32) -> vec4<f32> {
    let last = f32(textureDimensions(lut).x - 1u);
    let pos = clamp(x * m.x + m.y, 0.0, last);
    let i = max(min(floor(pos), last - 1.0), 0.0);
    let t = pos - i;
    let a = textureLoad(lut, vec2<i32>(i32(i), 0), 0);
    let b = textureLoad(lut, vec2<i32>(min(i32(i) + 1, i32(last)), 0), 0);
    return a + (b - a) * t;
}

// The value at local coordinates p of the current slot (base: its first cell's texel centre).
fn slot_value(base: vec3<f32>, p: vec3<f32>) -> f32 {
    return textureSampleLevel(pool, volume_sampler, (base + p) * params.pool_scale.xyz, 0.0).r;
}

// The gradient at a sample in world units (up to the value normalisation, which the normal
// does not need), from the four corners of a tetrahedron half a voxel around it: second-order
// accurate like central differences, with four fetches instead of six, all inside the
// sample's slot (lo and hi: where the stencil clamps, the slot's borders or the volume's
// edges).
fn world_gradient(base: vec3<f32>, local: vec3<f32>, lo: vec3<f32>, hi: vec3<f32>, scale: vec3<f32>) -> vec3<f32> {
    let a = vec3<f32>(1.0, 1.0, 1.0);
    let b = vec3<f32>(1.0, -1.0, -1.0);
    let c = vec3<f32>(-1.0, 1.0, -1.0);
    let d = vec3<f32>(-1.0, -1.0, 1.0);
    let g_voxel = slot_value(base, clamp(local + 0.5 * a, lo, hi)) * a
        + slot_value(base, clamp(local + 0.5 * b, lo, hi)) * b
        + slot_value(base, clamp(local + 0.5 * c, lo, hi)) * c
        + slot_value(base, clamp(local + 0.5 * d, lo, hi)) * d;
    // In a coarser level's voxels: back to the volume's voxels (exact for the volume itself).
    let g_volume = g_voxel * scale;
    let m = mat3x3<f32>(
        params.voxel_from_world[0].xyz,
        params.voxel_from_world[1].xyz,
        params.voxel_from_world[2].xyz,
    );
    return transpose(m) * g_volume;
}

// Phong with a headlight and two-sided normals, as VTK shades volumes.
fn shade(color: vec3<f32>, g: vec3<f32>, view_dir: vec3<f32>) -> vec3<f32> {
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
    // The ray in voxel coordinates: o + t d, t in mm.
    let o = (params.voxel_from_world * vec4<f32>(near, 1.0)).xyz;
    let d = (params.voxel_from_world * vec4<f32>(dir, 0.0)).xyz;
    let span = ray_box(o, d, params.crop_min.xyz, params.crop_max.xyz);
    if span.y <= span.x {
        return finish(vec4<f32>(0.0));
    }
    var jitter = 0.5;
    if (params.flags & FLAG_JITTER) != 0u {
        jitter = fract(pixel_jitter(floor(pixel)) + params.jitter_offset);
    }
    let t0 = span.x;
    let t1 = span.y;
    let ds = params.sample_distance_mm;
    let steps = min(u32(ceil((t1 - t0) / ds)), params.max_steps);
    let view_dir = -dir;
    let skip = (params.flags & FLAG_SKIP_EMPTY) != 0u;
    let brick_cells = params.brick_cells.xyz;
    let block_cells = params.block_cells.xyz;
    let last_block = params.blocks.xyz - 1.0;
    let upward = d > vec3<f32>(0.0);
    let still = d == vec3<f32>(0.0);
    let d_safe = select(d, vec3<f32>(1.0), still);

    var acc = vec4<f32>(0.0);
    var extreme = select(-3.4e38, 3.4e38, BLEND == BLEND_MINIMUM);
    var sum = 0.0;
    var count = 0.0;
    // Segment k covers [t0 + k ds, t0 + (k + 1) ds] (the last one ends at t1); its sample sits
    // a jittered fraction into it.
    var k = 0u;
    // The block the ray is in: samples up to k_end - 1 lie in it.
    var k_end = 0u;
    var origin = vec3<f32>(0.0);
    var base = vec3<f32>(0.0);
    var local_min = vec3<f32>(0.0);
    var local_max = vec3<f32>(0.0);
    var scale = vec3<f32>(1.0);
    var offset = vec3<f32>(0.0);
    var stencil_min = vec3<f32>(0.0);
    var stencil_max = vec3<f32>(0.0);
    loop {
        if k >= steps {
            break;
        }
        if k >= k_end {
            // Sample k starts a new block: step over empty blocks (one texture load each) to
            // the next one a sample may see, note where the ray leaves it (the outer blocks
            // reach the volume's edge, so a ray never leaves through them) and find its brick's
            // slot.
            var block = vec3<f32>(0.0);
            loop {
                let u_first = clamp(o + min(t0 + (f32(k) + jitter) * ds, t1) * d, vec3<f32>(0.0), params.voxel_max.xyz);
                block = min(floor(u_first / block_cells), last_block);
                let plane = select(block, block + 1.0, upward) * block_cells;
                let open = select(block == vec3<f32>(0.0), block == last_block, upward) | still;
                let t_axis = select((plane - o) / d_safe, vec3<f32>(FAR), open);
                let t_exit = min(min(t_axis.x, t_axis.y), t_axis.z);
                k_end = steps;
                if t_exit < t1 {
                    k_end = clamp(u32(max(ceil((t_exit - t0) / ds - jitter), 0.0)), k + 1u, steps);
                }
                if !skip || textureLoad(occupancy, vec3<i32>(block), 0).r != 0u {
                    break;
                }
                k = k_end;
                if k >= steps {
                    break;
                }
            }
            if k >= steps {
                break;
            }
            let brick = floor(block * block_cells / brick_cells);
            let entry = textureLoad(page_table, vec3<i32>(brick), 0).r;
            // The slot may hold the brick of a coarser level that covers this one: samples map
            // into that level's voxels (src/render/lod.rs decides which brick, by this formula).
            let level = params.levels[(entry >> 24u) & 0xfu];
            scale = level.scale.xyz;
            offset = level.offset.xyz;
            let cells = level.brick_cells.xyz;
            let brick_l = max(floor(((brick + 0.5) * brick_cells * scale + offset) / cells), vec3<f32>(0.0));
            origin = brick_l * cells;
            // Texel centres: the slot's border voxel first, so local coordinate 0 is texel 1.
            base = slot_origin(entry) + 1.5;
            // Where the normal's stencil clamps: the slot's borders, or the volume's edges.
            stencil_min = select(vec3<f32>(-1.0), vec3<f32>(0.0), origin == vec3<f32>(0.0));
            stencil_max = min(cells + 1.0, level.voxel_max.xyz - origin);
            if (entry & 0x0f000000u) == 0u {
                local_min = vec3<f32>(0.0);
                local_max = min(brick_cells, params.voxel_max.xyz - origin);
            } else {
                // A coarse brick's cells need not start where this brick's do: the slot's
                // borders hold the voxels on either side.
                local_min = stencil_min;
                local_max = stencil_max;
            }
        }
        {
            let u = o + min(t0 + (f32(k) + jitter) * ds, t1) * d;
            k += 1u;
            let local = clamp(u * scale + offset - origin, local_min, local_max);
            let s = textureSampleLevel(pool, volume_sampler, (base + local) * params.pool_scale.xyz, 0.0).rg;
            let v = s.r;
            if BLEND == BLEND_MAXIMUM {
                extreme = max(extreme, v);
                continue;
            }
            if BLEND == BLEND_MINIMUM {
                extreme = min(extreme, v);
                continue;
            }
            if BLEND == BLEND_AVERAGE {
                sum += v;
                count += 1.0;
                continue;
            }
            let rgba = classify(v, s.g);
            var alpha = rgba.a;
            if alpha <= 0.0 {
                continue;
            }
            // The table's alpha is corrected for a whole segment of ds; the last one may be
            // shorter.
            if k == steps {
                let segment = min(ds, t1 - (t0 + f32(k - 1u) * ds));
                alpha = 1.0 - pow(max(1.0 - alpha, 0.0), segment / ds);
            }
            var color = rgba.rgb;
            if SHADING {
                color = shade(color, world_gradient(base, local, stencil_min, stencil_max, scale), view_dir);
            }
            let w = (1.0 - acc.a) * alpha;
            acc += vec4<f32>(color * w, w);
            if acc.a >= OPAQUE {
                break;
            }
        }
    }
    if BLEND == BLEND_COMPOSITE {
        return finish(acc);
    }
    var value = extreme;
    if BLEND == BLEND_AVERAGE {
        value = sum / max(count, 1.0);
    }
    let rgba = lut_lookup(scalar_lut, params.value_to_column, value);
    return finish(vec4<f32>(rgba.rgb * rgba.a, rgba.a));
}
