//! Statistics of |grad f| on the GPU (shaders/stats.wgsl), from the resident gradient texture and
//! the scalar texture, so a volume whose gradient was computed on the GPU is summarised without
//! reading the gradient back. The CPU oracle is [`GradientStats::compute`]; both assemble their
//! counts the same way ([`GradientStats::assemble`]).
//!
//! Three passes, each followed by a small readback: the extent (min, max, finite count, row
//! sums), the fine histogram the percentiles come from, then the log and joint histograms, whose
//! bins depend on the first two.

use crate::gpu::volume_texture::VolumeTexture;
use crate::gpu::{Gpu, GpuError, compute, dispatch_compute, guarded, readback};
use crate::gradient::stats::{
    Extent, FINE_BINS, GradientStats, HISTOGRAM_BINS, Histogram, JOINT_BINS, JointHistogram,
    Percentiles, joint_gradient_top, log_edges,
};

/// WGSL mirror: keep in sync with `Params` in shaders/stats.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct StatsParams {
    pub dims: [u32; 3],
    pub z_start: u32,
    pub fine_scale: f32,
    pub log_lo: f32,
    pub ln_log_lo: f32,
    pub log_scale: f32,
    pub value_lo: f32,
    pub value_scale: f32,
    pub gradient_scale: f32,
    pub _pad: u32,
}

// Offsets into the counts buffer (keep in sync with shaders/stats.wgsl).
const MIN_BITS: usize = 0;
const MAX_BITS: usize = 1;
const FINITE: usize = 2;
const FINE: usize = 4;
const LOG: usize = FINE + FINE_BINS;
const JOINT: usize = LOG + HISTOGRAM_BINS;
const COUNTS: usize = JOINT + JOINT_BINS * JOINT_BINS;

/// Workgroups per dispatch along z are capped by the device (65535 at least).
const MAX_PLANES_PER_DISPATCH: u32 = 65535;

/// The three pipelines, built once.
#[derive(Debug)]
pub struct StatsPass {
    layout: wgpu::BindGroupLayout,
    extent: wgpu::ComputePipeline,
    fine: wgpu::ComputePipeline,
    histograms: wgpu::ComputePipeline,
}

impl StatsPass {
    pub fn new(gpu: &Gpu) -> StatsPass {
        let module = compute::shader(
            gpu,
            "StatsPass::shader",
            include_str!("../../shaders/stats.wgsl"),
        );
        let storage = compute::buffer(wgpu::BufferBindingType::Storage { read_only: false });
        let (layout, [extent, fine, histograms]) = compute::pipelines(
            gpu,
            &module,
            "StatsPass",
            &[
                compute::entry(0, compute::VOLUME),
                compute::entry(1, compute::VOLUME),
                compute::entry(2, compute::buffer(wgpu::BufferBindingType::Uniform)),
                compute::entry(3, storage),
                compute::entry(4, storage),
            ],
            ["extent", "fine", "histograms"],
        );
        StatsPass {
            layout,
            extent,
            fine,
            histograms,
        }
    }

    /// Whether the counters can hold this volume: every count is a 32-bit atomic.
    pub fn fits(dims: [u32; 3]) -> bool {
        dims.iter().map(|&d| d as u64).product::<u64>() <= u32::MAX as u64
    }

    /// The statistics of `gradient` (|grad f| of `scalar`, whose values span `value_range`).
    /// The boundary emphasis needs second derivatives the pass does not take: it is `None`,
    /// for the caller to fill from host data when it has them.
    pub fn compute(
        &self,
        gpu: &Gpu,
        scalar: &VolumeTexture,
        gradient: &VolumeTexture,
        value_range: [f64; 2],
    ) -> Result<GradientStats, GpuError> {
        assert_eq!(scalar.dims, gradient.dims, "one gradient per voxel");
        let [nx, ny, nz] = gradient.dims;
        if !Self::fits(gradient.dims) {
            return Err(GpuError::Allocation(format!(
                "32-bit counters for {nx}x{ny}x{nz} voxels"
            )));
        }
        let device = &gpu.device;
        let (counts, row_sums, params) = guarded(gpu, "the statistics buffers", || {
            let storage = |label, size| {
                device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(label),
                    size,
                    usage: wgpu::BufferUsages::STORAGE
                        | wgpu::BufferUsages::COPY_SRC
                        | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            };
            (
                storage("StatsPass::counts", 4 * COUNTS as u64),
                storage("StatsPass::row_sums", 4 * ny as u64 * nz as u64),
                compute::uniform::<StatsParams>(gpu, "StatsPass::params"),
            )
        })?;
        let mut initial = vec![0u32; COUNTS];
        initial[MIN_BITS] = f32::INFINITY.to_bits();
        gpu.queue
            .write_buffer(&counts, 0, bytemuck::cast_slice(&initial));
        let bind_group = compute::bind_group(
            gpu,
            "StatsPass::bind_group",
            &self.layout,
            &[
                (0, wgpu::BindingResource::TextureView(&gradient.view)),
                (1, wgpu::BindingResource::TextureView(&scalar.view)),
                (2, params.as_entire_binding()),
                (3, counts.as_entire_binding()),
                (4, row_sums.as_entire_binding()),
            ],
        );
        let run = |pipeline: &wgpu::ComputePipeline, mut p: StatsParams| {
            p.dims = gradient.dims;
            for z in (0..nz).step_by(MAX_PLANES_PER_DISPATCH as usize) {
                p.z_start = z;
                gpu.queue.write_buffer(&params, 0, bytemuck::bytes_of(&p));
                let planes = MAX_PLANES_PER_DISPATCH.min(nz - z);
                dispatch_compute(gpu, "StatsPass", pipeline, &bind_group, [ny, planes, 1]);
            }
        };
        let read_counts = |range: std::ops::Range<usize>| -> Result<Vec<u32>, GpuError> {
            let mut out = vec![0u32; range.len()];
            let offset = 4 * range.start as u64;
            readback::read_buffer(gpu, &counts, offset, bytemuck::cast_slice_mut(&mut out))?;
            Ok(out)
        };

        // Pass 1: extent.
        run(&self.extent, StatsParams::default());
        let head = read_counts(0..FINE)?;
        let mut sums = vec![0f32; ny as usize * nz as usize];
        readback::read_buffer(gpu, &row_sums, 0, bytemuck::cast_slice_mut(&mut sums))?;
        let finite = head[FINITE] as u64;
        let min = f32::from_bits(head[MIN_BITS]) as f64;
        let extent = Extent {
            min: if min.is_finite() { min } else { 0.0 },
            max: f32::from_bits(head[MAX_BITS]) as f64,
            sum: sums.iter().map(|&s| s as f64).sum(),
            finite,
            voxels: nx as u64 * ny as u64 * nz as u64,
        };
        let max = extent.max;

        // Pass 2: the fine histogram, when there is a range to bin.
        let fine: Vec<u64> = if max > 0.0 {
            let p = StatsParams {
                fine_scale: (FINE_BINS as f64 / max) as f32,
                ..Default::default()
            };
            run(&self.fine, p);
            read_counts(FINE..FINE + FINE_BINS)?
                .into_iter()
                .map(u64::from)
                .collect()
        } else {
            let mut all_in_zero = vec![0u64; FINE_BINS];
            all_in_zero[0] = finite;
            all_in_zero
        };
        let percentiles = Percentiles::from_fine(&fine, max);

        // Pass 3: the log and joint histograms.
        let edges = log_edges(max);
        let top = joint_gradient_top(&percentiles, max);
        let [vlo, vhi] = value_range;
        let scale = |bins: usize, span: f64| {
            if span > 0.0 {
                (bins as f64 / span) as f32
            } else {
                0.0
            }
        };
        let (log_lo, log_span) = if max > 0.0 {
            (edges[1], (max / edges[1]).ln())
        } else {
            (f64::INFINITY, 1.0)
        };
        let p = StatsParams {
            log_lo: log_lo as f32,
            ln_log_lo: log_lo.ln() as f32,
            log_scale: ((HISTOGRAM_BINS - 1) as f64 / log_span) as f32,
            value_lo: vlo as f32,
            value_scale: scale(JOINT_BINS, vhi - vlo),
            gradient_scale: scale(JOINT_BINS, top),
            ..Default::default()
        };
        run(&self.histograms, p);
        let tail = read_counts(LOG..COUNTS)?;
        let log_counts: Vec<u64> = if max > 0.0 {
            tail[..HISTOGRAM_BINS].iter().map(|&c| c as u64).collect()
        } else {
            // A constant volume has one bin, as on the CPU.
            vec![finite]
        };
        let joint = tail[HISTOGRAM_BINS..].iter().map(|&c| c as u64).collect();
        Ok(GradientStats::assemble(
            extent,
            percentiles,
            Histogram {
                edges,
                counts: log_counts,
            },
            JointHistogram {
                value_range,
                gradient_range: [0.0, top],
                bins: JOINT_BINS,
                counts: joint,
            },
            None,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_and_offsets_match_the_wgsl() {
        assert_eq!(std::mem::size_of::<StatsParams>(), 48);
        assert_eq!(std::mem::offset_of!(StatsParams, fine_scale), 16);
        assert_eq!(std::mem::offset_of!(StatsParams, value_lo), 32);
        assert_eq!(std::mem::offset_of!(StatsParams, gradient_scale), 40);
        let wgsl = include_str!("../../shaders/stats.wgsl");
        for (name, value) in [
            ("FINE", FINE),
            ("FINE_BINS", FINE_BINS),
            ("LOG", LOG),
            ("LOG_BINS", HISTOGRAM_BINS),
            ("JOINT", JOINT),
            ("JOINT_BINS", JOINT_BINS),
        ] {
            let line = format!("const {name}: u32 = {value}u;");
            assert!(wgsl.contains(&line), "shaders/stats.wgsl lacks `{line}`");
        }
    }
}
