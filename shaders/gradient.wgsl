// Gradient magnitude |grad f| in data units per mm, one slab of z at a time, into rows padded
// to `row_pitch` floats.
//
// The volume is an r32float 3-D texture read with textureLoad (no filtering): neighbours
// outside the grid are clamped to the edge, which is VTK's rule for central differences and
// scipy's 'reflect' for a one-voxel reach. The CPU reference is src/gradient/cpu.rs.

// Keep in sync with `GradientParams` in src/render/gradient_pass.rs.
struct Params {
    dims: vec3<u32>,
    z_start: u32,
    inv_spacing: vec3<f32>,
    slab_depth: u32,
    // Floats per row of `magnitude` (rows are padded for copies into a texture).
    row_pitch: u32,
}

@group(0) @binding(0) var volume: texture_3d<f32>;
@group(0) @binding(1) var<storage, read_write> magnitude: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

fn value_at(p: vec3<i32>) -> f32 {
    let last = vec3<i32>(params.dims) - vec3<i32>(1);
    return textureLoad(volume, clamp(p, vec3<i32>(0), last), 0).r;
}

fn inside_slab(id: vec3<u32>) -> bool {
    return id.x < params.dims.x && id.y < params.dims.y && id.z < params.slab_depth;
}

fn slab_index(id: vec3<u32>) -> u32 {
    return id.x + params.row_pitch * (id.y + params.dims.y * id.z);
}

fn voxel_of(id: vec3<u32>) -> vec3<i32> {
    return vec3<i32>(vec3<u32>(id.x, id.y, id.z + params.z_start));
}

// VTK's vtkImageGradient: (f(x + e_i) - f(x - e_i)) / (2 s_i).
@compute @workgroup_size(64, 1, 1)
fn central_magnitude(@builtin(global_invocation_id) id: vec3<u32>) {
    if !inside_slab(id) {
        return;
    }
    let p = voxel_of(id);
    let diff = vec3<f32>(
        value_at(p + vec3<i32>(1, 0, 0)) - value_at(p - vec3<i32>(1, 0, 0)),
        value_at(p + vec3<i32>(0, 1, 0)) - value_at(p - vec3<i32>(0, 1, 0)),
        value_at(p + vec3<i32>(0, 0, 1)) - value_at(p - vec3<i32>(0, 0, 1)),
    );
    magnitude[slab_index(id)] = length(diff * 0.5 * params.inv_spacing);
}

// scipy's 3-D Sobel: derivative [-1, 0, 1] along each axis, [1, 2, 1] along the others, over
// 32 s_i.
@compute @workgroup_size(64, 1, 1)
fn sobel_magnitude(@builtin(global_invocation_id) id: vec3<u32>) {
    if !inside_slab(id) {
        return;
    }
    let p = voxel_of(id);
    var g = vec3<f32>(0.0);
    for (var dz = -1; dz <= 1; dz++) {
        for (var dy = -1; dy <= 1; dy++) {
            for (var dx = -1; dx <= 1; dx++) {
                let f = value_at(p + vec3<i32>(dx, dy, dz));
                let w = vec3<f32>(2.0) - abs(vec3<f32>(f32(dx), f32(dy), f32(dz)));
                g += vec3<f32>(f32(dx) * w.y * w.z, f32(dy) * w.x * w.z, f32(dz) * w.x * w.y) * f;
            }
        }
    }
    magnitude[slab_index(id)] = length(g / 32.0 * params.inv_spacing);
}
