// Statistics of |grad f| on the GPU, from the resident gradient and scalar textures, in three
// passes that mirror src/gradient/stats.rs (the CPU oracle):
//
//   extent:     min and max (as float bits: |grad f| >= 0, so they order as unsigned integers),
//               the count of finite gradients, and one float sum per row (summed on the host
//               in float64 for the mean);
//   fine:       65536 equal bins over [0, max], the histogram percentiles are read from;
//   histograms: the log-binned |grad f| histogram and the joint value x |grad f| histogram.
//
// One workgroup per row of x (64 invocations striding along it); dispatches cover `planes`
// planes from `z_start`. Non-finite gradients and values are left out, as on the CPU.

// Keep in sync with `StatsParams` in src/render/stats_pass.rs.
struct Params {
    dims: vec3<u32>,
    z_start: u32,
    // Fine histogram: bin = g * fine_scale.
    fine_scale: f32,
    // Log histogram: below log_lo is bin 0, else 1 + (ln g - ln_log_lo) * log_scale.
    log_lo: f32,
    ln_log_lo: f32,
    log_scale: f32,
    // Joint histogram: value bin = (v - value_lo) * value_scale, gradient bin = g * gradient_scale.
    value_lo: f32,
    value_scale: f32,
    gradient_scale: f32,
    _pad: u32,
}

// Offsets into `counts` (keep in sync with the constants in src/render/stats_pass.rs).
const MIN_BITS: u32 = 0u;
const MAX_BITS: u32 = 1u;
const FINITE: u32 = 2u;
const FINE: u32 = 4u;
const FINE_BINS: u32 = 65536u;
const LOG: u32 = 65540u;
const LOG_BINS: u32 = 128u;
const JOINT: u32 = 65668u;
const JOINT_BINS: u32 = 256u;

@group(0) @binding(0) var gradient: texture_3d<f32>;
@group(0) @binding(1) var scalar: texture_3d<f32>;
@group(0) @binding(2) var<uniform> params: Params;
@group(0) @binding(3) var<storage, read_write> counts: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> row_sums: array<f32>;

const WORKGROUP: u32 = 64u;

var<workgroup> lo_bits: array<u32, WORKGROUP>;
var<workgroup> hi_bits: array<u32, WORKGROUP>;
var<workgroup> finite_count: array<u32, WORKGROUP>;
var<workgroup> partial_sum: array<f32, WORKGROUP>;
var<workgroup> log_counts: array<atomic<u32>, LOG_BINS>;

fn is_finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

fn voxel(x: u32, row: vec3<u32>) -> vec3<i32> {
    return vec3<i32>(i32(x), i32(row.x), i32(row.y + params.z_start));
}

fn gradient_at(x: u32, row: vec3<u32>) -> f32 {
    return textureLoad(gradient, voxel(x, row), 0).r;
}

// An equal-width bin, clamped to the end bins as on the CPU.
fn linear_bin(scaled: f32, bins: u32) -> u32 {
    return u32(clamp(scaled, 0.0, f32(bins - 1u)));
}

@compute @workgroup_size(64, 1, 1)
fn extent(@builtin(workgroup_id) row: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    var lo = 0x7f800000u;
    var hi = 0u;
    var n = 0u;
    var sum = 0.0;
    for (var x = t; x < params.dims.x; x += WORKGROUP) {
        let g = abs(gradient_at(x, row));
        if is_finite(g) {
            let bits = bitcast<u32>(g);
            lo = min(lo, bits);
            hi = max(hi, bits);
            n += 1u;
            sum += g;
        }
    }
    lo_bits[t] = lo;
    hi_bits[t] = hi;
    finite_count[t] = n;
    partial_sum[t] = sum;
    for (var half = WORKGROUP / 2u; half > 0u; half /= 2u) {
        workgroupBarrier();
        if t < half {
            lo_bits[t] = min(lo_bits[t], lo_bits[t + half]);
            hi_bits[t] = max(hi_bits[t], hi_bits[t + half]);
            finite_count[t] += finite_count[t + half];
            partial_sum[t] += partial_sum[t + half];
        }
    }
    if t == 0u {
        atomicMin(&counts[MIN_BITS], lo_bits[0]);
        atomicMax(&counts[MAX_BITS], hi_bits[0]);
        atomicAdd(&counts[FINITE], finite_count[0]);
        row_sums[row.x + params.dims.y * (row.y + params.z_start)] = partial_sum[0];
    }
}

@compute @workgroup_size(64, 1, 1)
fn fine(@builtin(workgroup_id) row: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    for (var x = t; x < params.dims.x; x += WORKGROUP) {
        let g = gradient_at(x, row);
        if is_finite(g) {
            atomicAdd(&counts[FINE + linear_bin(g * params.fine_scale, FINE_BINS)], 1u);
        }
    }
}

@compute @workgroup_size(64, 1, 1)
fn histograms(@builtin(workgroup_id) row: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    for (var b = t; b < LOG_BINS; b += WORKGROUP) {
        atomicStore(&log_counts[b], 0u);
    }
    workgroupBarrier();
    for (var x = t; x < params.dims.x; x += WORKGROUP) {
        let g = gradient_at(x, row);
        if !is_finite(g) {
            continue;
        }
        var bin = 0u;
        if g >= params.log_lo {
            let scaled = (log(g) - params.ln_log_lo) * params.log_scale;
            bin = 1u + min(u32(max(scaled, 0.0)), LOG_BINS - 2u);
        }
        atomicAdd(&log_counts[bin], 1u);
        let v = textureLoad(scalar, voxel(x, row), 0).r;
        if is_finite(v) {
            let vb = linear_bin((v - params.value_lo) * params.value_scale, JOINT_BINS);
            let gb = linear_bin(g * params.gradient_scale, JOINT_BINS);
            atomicAdd(&counts[JOINT + gb * JOINT_BINS + vb], 1u);
        }
    }
    workgroupBarrier();
    for (var b = t; b < LOG_BINS; b += WORKGROUP) {
        let c = atomicLoad(&log_counts[b]);
        if c > 0u {
            atomicAdd(&counts[LOG + b], c);
        }
    }
}
