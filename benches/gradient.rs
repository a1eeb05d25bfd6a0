//! Gradient speed: Mvoxel/s of each operator on the CPU path and the GPU pass (read back to the
//! host, and resident in a texture), against the memory-bandwidth floor; then the statistics
//! (percentiles, histograms, joint histogram) counted on the CPU and by the GPU pass. Prints two
//! tables; run with `cargo bench --bench gradient`.
//!
//! Volumes: float phantoms of 256^3 and 512^3 and the real lung CT (int16, 512x512x48) when
//! scripts/fetch-sample-data.sh has fetched it. Bytes moved = one read of every input voxel and
//! one float32 write; the floor is that many bytes at the bandwidth a plain copy reaches here
//! (host memcpy for the CPU, a buffer-to-buffer copy for the GPU).

use std::path::Path;
use std::time::{Duration, Instant};

use glam::{DMat3, DVec3};
use gradvol::gpu::Gpu;
use gradvol::gpu::gradient_pass::GradientPass;
use gradvol::gpu::stats_pass::StatsPass;
use gradvol::gpu::volume_texture::VolumeTexture;
use gradvol::gradient::stats::GradientStats;
use gradvol::gradient::{Operator, cpu};
use gradvol::volume::{self, Decoded, Format, LoadOptions, Space, Volume, VoxelData};

fn phantom(n: usize) -> Volume {
    let c = n as f32 / 2.0;
    let data: Vec<f32> = (0..n * n * n)
        .map(|i| {
            let (x, y, z) = (
                (i % n) as f32 - c,
                ((i / n) % n) as f32 - c,
                (i / (n * n)) as f32 - c,
            );
            let r = (x * x + y * y + z * z).sqrt() / c;
            if r < 0.8 {
                1000.0 * (1.0 - r) + (x * 0.3).sin() * 50.0
            } else {
                -1000.0
            }
        })
        .collect();
    Volume::from_geometry(
        [n; 3],
        [0.8, 0.8, 1.0],
        DMat3::IDENTITY,
        DVec3::ZERO,
        Space::Lps,
        Decoded::scan(VoxelData::Float(data)),
        Format::Raw,
    )
    .unwrap()
}

fn best_of(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

/// Host copy bandwidth in bytes/s, from copying 256 MiB.
fn host_bandwidth() -> f64 {
    let src = vec![1u8; 256 << 20];
    let mut dst = vec![0u8; 256 << 20];
    let t = best_of(3, || {
        dst.copy_from_slice(std::hint::black_box(&src));
        std::hint::black_box(&mut dst);
    });
    // A copy reads and writes every byte.
    2.0 * src.len() as f64 / t.as_secs_f64()
}

/// GPU copy bandwidth in bytes/s, from a 256 MiB buffer-to-buffer copy.
fn gpu_bandwidth(gpu: &Gpu) -> f64 {
    let size = 256u64 << 20;
    let make = |usage| {
        gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("bench::copy"),
            size,
            usage,
            mapped_at_creation: false,
        })
    };
    let a = make(wgpu::BufferUsages::COPY_SRC);
    let b = make(wgpu::BufferUsages::COPY_DST);
    let t = best_of(3, || {
        let mut e = gpu.device.create_command_encoder(&Default::default());
        e.copy_buffer_to_buffer(&a, 0, &b, 0, size);
        gpu.queue.submit([e.finish()]);
        gpu.device
            .poll(wgpu::PollType::wait_indefinitely())
            .unwrap();
    });
    2.0 * size as f64 / t.as_secs_f64()
}

fn main() {
    let mut volumes: Vec<(String, Volume)> = vec![
        ("phantom 256^3 float".into(), phantom(256)),
        ("phantom 512^3 float".into(), phantom(512)),
    ];
    let lung = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/lung1_image.nrrd");
    if lung.is_file() {
        volumes.push((
            "lung1 CT 512x512x48 int16".into(),
            volume::load(&lung, &LoadOptions::default()).unwrap(),
        ));
    } else {
        eprintln!(
            "(data/lung1_image.nrrd missing: run scripts/fetch-sample-data.sh to include it)"
        );
    }
    let host_bw = host_bandwidth();
    let gpu = Gpu::new().ok();
    let pass = gpu.as_ref().map(GradientPass::new);
    let gpu_bw = gpu.as_ref().map(gpu_bandwidth);
    println!(
        "CPU: {} threads, copy bandwidth {:.1} GB/s",
        rayon::current_num_threads(),
        host_bw / 1e9
    );
    match &gpu {
        Some(g) => println!(
            "GPU: {}, copy bandwidth {:.1} GB/s",
            g.describe(),
            gpu_bw.unwrap() / 1e9
        ),
        None => println!("GPU: none found"),
    }
    println!(
        "\n{:<28} {:<22} {:<8} {:>9} {:>11} {:>10} {:>11} {:>9}",
        "volume", "operator", "on", "ms", "Mvoxel/s", "MB moved", "floor ms", "of floor"
    );
    for (name, v) in &volumes {
        let voxels = v.voxel_count() as f64;
        let moved = voxels * (v.data.dtype().size() as f64 + 4.0);
        let big = v.voxel_count() > 100_000_000;
        let mut ops = vec![Operator::Central, Operator::Sobel];
        if !big {
            ops.push(Operator::Gaussian { sigma_mm: 1.0 });
        }
        let runs = if big { 2 } else { 3 };
        let row = |op: Operator, on: &str, t: Duration, bw: f64| {
            let floor = moved / bw;
            println!(
                "{:<28} {:<22} {:<8} {:>9.1} {:>11.0} {:>10.0} {:>11.1} {:>8.0}%",
                name,
                op.to_string(),
                on,
                t.as_secs_f64() * 1e3,
                voxels / t.as_secs_f64() / 1e6,
                moved / 1e6,
                floor * 1e3,
                100.0 * floor / t.as_secs_f64()
            );
        };
        for &op in &ops {
            let t = best_of(runs, || {
                std::hint::black_box(cpu::gradient_magnitude(v, op));
            });
            row(op, "cpu", t, host_bw);
            if let (Some(gpu), Some(pass)) = (&gpu, &pass)
                && GradientPass::supports(gpu, op)
            {
                let texture = VolumeTexture::upload(gpu, v).unwrap();
                let t = best_of(runs, || {
                    std::hint::black_box(pass.compute(gpu, &texture, v.spacing, op).unwrap());
                });
                row(op, "gpu", t, gpu_bw.unwrap());
                let t = best_of(runs, || {
                    let resident = pass.compute_texture(gpu, &texture, v.spacing, op).unwrap();
                    gpu.device
                        .poll(wgpu::PollType::wait_indefinitely())
                        .unwrap();
                    std::hint::black_box(resident);
                });
                row(op, "gpu-tex", t, gpu_bw.unwrap());
            }
        }
    }
    println!(
        "\nStatistics of |grad f| (central): min, max, mean, percentiles, log and joint histograms\n\n\
         {:<28} {:<8} {:>9} {:>11}",
        "volume", "on", "ms", "Mvoxel/s"
    );
    let stats_pass = gpu.as_ref().map(StatsPass::new);
    for (name, v) in &volumes {
        let voxels = v.voxel_count() as f64;
        let g = cpu::gradient_magnitude(v, Operator::Central);
        let row = |on: &str, t: Duration| {
            println!(
                "{:<28} {:<8} {:>9.1} {:>11.0}",
                name,
                on,
                t.as_secs_f64() * 1e3,
                voxels / t.as_secs_f64() / 1e6
            );
        };
        let t = best_of(2, || {
            std::hint::black_box(GradientStats::compute(v, &g));
        });
        row("cpu", t);
        if let (Some(gpu), Some(pass)) = (&gpu, &stats_pass) {
            let scalar = VolumeTexture::upload(gpu, v).unwrap();
            let resident = VolumeTexture::from_values(gpu, v.dims, &g, "bench::gradient").unwrap();
            let t = best_of(2, || {
                std::hint::black_box(pass.compute(gpu, &scalar, &resident, v.range).unwrap());
            });
            row("gpu", t);
        }
    }
    println!(
        "\nms: best of 2-3 runs, excluding the upload. gpu: read back to the host; gpu-tex: left\n\
         resident in a texture (what the renderer uses); statistics on the GPU: the three passes\n\
         and their small readbacks; on the CPU they include the boundary emphasis (second\n\
         derivatives), which the GPU pass leaves to the host.\n\
         floor: bytes moved (input read once, float32 written once) at the copy bandwidth above.\n\
         For scale: VTK's vtkImageGradientMagnitude with 2 threads did about 200 Mvoxel/s on these\n\
         machines (../shared/GPU_NOTES.md)."
    );
}
