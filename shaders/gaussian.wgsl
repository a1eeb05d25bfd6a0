// Derivative-of-Gaussian gradient magnitude in data units per mm, in three separable passes:
//
//   gaussian_x: volume            -> along_x  (rg:   smoothed, differentiated along x)
//   gaussian_y: along_x           -> along_y  (rgb:  s_y s_x f, d_y s_x f, s_y d_x f)
//   gaussian_z: along_y           -> |(s_z s_y d_x f, s_z d_y s_x f, d_z s_y s_x f) / spacing|
//
// Weights are scipy's (truncate 4, derivative not renormalised), borders scipy's 'reflect'
// repeated for any reach. along_x and along_y hold only a window of planes around the output
// slab (see GaussianPass::compute). The CPU reference is `gaussian` in src/gradient/cpu.rs.

// Keep in sync with `GaussianParams` in src/render/gaussian_pass.rs.
struct Params {
    dims: vec3<u32>,
    radius: u32,
    inv_spacing: vec3<f32>,
    z_start: u32,
    slab_depth: u32,
    // Floats per row of `magnitude` (rows are padded for copies into a texture).
    row_pitch: u32,
    // First volume plane held in along_x and along_y (plane 0 of the window).
    window_start: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> smooth_w: array<f32>;
@group(0) @binding(2) var<storage, read> deriv_w: array<f32>;

// Each pass reads and writes through its own bindings.
@group(0) @binding(3) var volume: texture_3d<f32>;
@group(0) @binding(4) var along_x_out: texture_storage_3d<rg32float, write>;
@group(0) @binding(5) var along_x_in: texture_3d<f32>;
@group(0) @binding(6) var along_y_out: texture_storage_3d<rgba32float, write>;
@group(0) @binding(7) var along_y_in: texture_3d<f32>;
@group(0) @binding(8) var<storage, read_write> magnitude: array<f32>;

// scipy's 'reflect' (d c b a | a b c d | d c b a), for any offset.
fn reflect_index(i: i32, n: i32) -> i32 {
    let period = 2 * n;
    let m = ((i % period) + period) % period;
    return select(period - 1 - m, m, m < n);
}

fn inside(id: vec3<u32>, depth: u32) -> bool {
    return id.x < params.dims.x && id.y < params.dims.y && id.z < depth;
}

// The x and y passes fill a window of planes: id.z counts from plane `z_start` of the volume,
// `slab_depth` planes deep, and is stored at window plane id.z.
@compute @workgroup_size(64, 1, 1)
fn gaussian_x(@builtin(global_invocation_id) id: vec3<u32>) {
    if !inside(id, params.slab_depth) {
        return;
    }
    let r = i32(params.radius);
    let n = i32(params.dims.x);
    let z = i32(id.z + params.z_start);
    var acc = vec2<f32>(0.0);
    for (var k = -r; k <= r; k++) {
        let x = reflect_index(i32(id.x) + k, n);
        let f = textureLoad(volume, vec3<i32>(x, i32(id.y), z), 0).r;
        acc += vec2<f32>(smooth_w[k + r], deriv_w[k + r]) * f;
    }
    textureStore(along_x_out, vec3<i32>(id), vec4<f32>(acc, 0.0, 0.0));
}

@compute @workgroup_size(64, 1, 1)
fn gaussian_y(@builtin(global_invocation_id) id: vec3<u32>) {
    if !inside(id, params.slab_depth) {
        return;
    }
    let r = i32(params.radius);
    let n = i32(params.dims.y);
    var acc = vec3<f32>(0.0);
    for (var k = -r; k <= r; k++) {
        let y = reflect_index(i32(id.y) + k, n);
        let a = textureLoad(along_x_in, vec3<i32>(i32(id.x), y, i32(id.z)), 0).rg;
        acc += vec3<f32>(smooth_w[k + r] * a.x, deriv_w[k + r] * a.x, smooth_w[k + r] * a.y);
    }
    textureStore(along_y_out, vec3<i32>(id), vec4<f32>(acc, 0.0));
}

// The z pass writes output planes z_start .. z_start + slab_depth, reading the window.
@compute @workgroup_size(64, 1, 1)
fn gaussian_z(@builtin(global_invocation_id) id: vec3<u32>) {
    if !inside(id, params.slab_depth) {
        return;
    }
    let r = i32(params.radius);
    let n = i32(params.dims.z);
    let z = i32(id.z + params.z_start);
    let first = i32(params.window_start);
    var g = vec3<f32>(0.0);
    for (var k = -r; k <= r; k++) {
        let zz = reflect_index(z + k, n) - first;
        let b = textureLoad(along_y_in, vec3<i32>(i32(id.x), i32(id.y), zz), 0).rgb;
        // b = (s_y s_x f, d_y s_x f, s_y d_x f): x takes b.z, y takes b.y, z takes b.x.
        g += vec3<f32>(smooth_w[k + r] * b.z, smooth_w[k + r] * b.y, deriv_w[k + r] * b.x);
    }
    magnitude[id.x + params.row_pitch * (id.y + params.dims.y * id.z)] = length(g * params.inv_spacing);
}
