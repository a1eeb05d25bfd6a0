//! GPU access for every pass: one adapter picked on purpose, and a device created with that
//! adapter's real limits (wgpu's defaults would cap 3-D textures and storage buffers far lower);
//! and the compute passes that compute |grad f| (central, Sobel, Gaussian) and its statistics
//! on the GPU. The raymarcher lives in `render/`.

pub mod compute;
pub mod gaussian_pass;
pub mod gradient_pass;
pub mod readback;
pub mod slabs;
pub mod stats_pass;
pub mod volume_texture;

/// The optional features the renderer uses when the adapter has them: 16-bit normalised
/// textures (the compact brick pool) and filtering of float32 textures (its fallback, and the
/// compute passes' inputs).
pub const WANTED_FEATURES: wgpu::Features =
    wgpu::Features::TEXTURE_FORMAT_16BIT_NORM.union(wgpu::Features::FLOAT32_FILTERABLE);

/// Why no GPU could be used.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error(
        "no GPU adapter found ({0}); for software rendering on Debian or Ubuntu install \
         Mesa's Vulkan driver: apt-get install mesa-vulkan-drivers"
    )]
    NoAdapter(String),
    #[error("the GPU device could not be created: {0}")]
    Device(String),
    #[error("the GPU could not map a buffer for reading: {0}")]
    Readback(String),
    #[error("the volume ({0}x{1}x{2}) exceeds this GPU's largest 3-D texture ({3} per side)")]
    VolumeTooLarge(usize, usize, usize, u32),
    #[error("the GPU could not allocate {0}")]
    Allocation(String),
    #[error("one slice of the volume ({0} bytes) exceeds this GPU's storage binding ({1} bytes)")]
    PlaneTooLarge(u64, u64),
    /// A brick could not be read from its source (a store's chunk, say).
    #[error("cannot read the volume's bricks: {0}")]
    Bricks(String),
}

/// Runs `make`, which creates GPU resources, and returns an out-of-memory or validation error
/// as a [`GpuError`] rather than letting wgpu's default handler panic.
pub fn guarded<T>(gpu: &Gpu, what: &str, make: impl FnOnce() -> T) -> Result<T, GpuError> {
    let out_of_memory = gpu.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let validation = gpu.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let value = make();
    let invalid = pollster::block_on(validation.pop());
    let exhausted = pollster::block_on(out_of_memory.pop());
    match invalid.or(exhausted) {
        Some(e) => Err(GpuError::Allocation(format!("{what} ({e})"))),
        None => Ok(value),
    }
}

/// A texture the shaders only read and the host fills (`TEXTURE_BINDING | COPY_DST`), of
/// `size` texels, one mip level, and its default view; an allocation failure is an error
/// naming `what`.
pub fn read_only_texture(
    gpu: &Gpu,
    what: &str,
    label: &str,
    size: [u32; 3],
    dimension: wgpu::TextureDimension,
    format: wgpu::TextureFormat,
) -> Result<(wgpu::Texture, wgpu::TextureView), GpuError> {
    let texture = guarded(gpu, what, || {
        gpu.device.create_texture(&wgpu::TextureDescriptor {
            label: Some(label),
            size: wgpu::Extent3d {
                width: size[0],
                height: size[1],
                depth_or_array_layers: size[2],
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension,
            format,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        })
    })?;
    let view = texture.create_view(&Default::default());
    Ok((texture, view))
}

/// Records one compute dispatch of `pipeline` with `bindings` as group 0 and submits it.
pub fn dispatch_compute(
    gpu: &Gpu,
    label: &str,
    pipeline: &wgpu::ComputePipeline,
    bindings: &wgpu::BindGroup,
    workgroups: [u32; 3],
) {
    let mut encoder = gpu
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) });
    {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(label),
            timestamp_writes: None,
        });
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, bindings, &[]);
        pass.dispatch_workgroups(workgroups[0], workgroups[1], workgroups[2]);
    }
    gpu.queue.submit([encoder.finish()]);
}

/// The largest storage buffer one binding may cover on this device.
pub fn device_binding_limit(gpu: &Gpu) -> u64 {
    let limits = gpu.device.limits();
    limits
        .max_storage_buffer_binding_size
        .min(limits.max_buffer_size)
}

/// An adapter, its device and queue.
#[derive(Debug)]
pub struct Gpu {
    pub adapter: wgpu::Adapter,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
}

impl Gpu {
    /// Opens the best adapter (`WGPU_BACKEND` and `WGPU_ADAPTER_NAME` choose another), with
    /// its own limits and float32 filtering when it has it.
    pub fn new() -> Result<Gpu, GpuError> {
        // Vulkan, Metal or DX12 first; OpenGL only when none of those has an adapter (probing GL
        // is slow and noisy, and its 3-D storage writes are incomplete in wgpu).
        let chosen = std::env::var_os("WGPU_BACKEND").is_some();
        let tries = if chosen {
            vec![wgpu::InstanceDescriptor::new_without_display_handle_from_env()]
        } else {
            [wgpu::Backends::PRIMARY, wgpu::Backends::GL]
                .map(|backends| wgpu::InstanceDescriptor {
                    backends,
                    ..wgpu::InstanceDescriptor::new_without_display_handle_from_env()
                })
                .into()
        };
        let mut last_error = String::from("no backend tried");
        let mut found = None;
        for desc in tries {
            let instance = wgpu::Instance::new(desc);
            match pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })) {
                Ok(adapter) => {
                    found = Some(adapter);
                    break;
                }
                Err(e) => last_error = e.to_string(),
            }
        }
        let adapter = found.ok_or(GpuError::NoAdapter(last_error))?;
        let features = adapter.features() & WANTED_FEATURES;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("gradvol"),
            required_features: features,
            required_limits: adapter.limits(),
            memory_hints: wgpu::MemoryHints::Performance,
            ..Default::default()
        }))
        .map_err(|e| GpuError::Device(e.to_string()))?;
        let info = adapter.get_info();
        Ok(Gpu {
            adapter,
            device,
            queue,
            info,
        })
    }

    /// A software rasteriser (lavapipe, llvmpipe) rather than a real GPU.
    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// "name (backend, device type)", for reports.
    pub fn describe(&self) -> String {
        format!(
            "{} ({:?}, {:?})",
            self.info.name, self.info.backend, self.info.device_type
        )
    }
}
