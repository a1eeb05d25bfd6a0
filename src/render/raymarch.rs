//! The raymarch pass: a full-screen triangle whose fragment shader (shaders/raymarch.wgsl)
//! casts one ray per pixel. Built once; a frame is a uniform write and one draw.

use crate::gpu::Gpu;
use crate::render::params::RaymarchParams;
use crate::tf::{GRADIENT_LUT_SIZE, Lut, Luts, SCALAR_LUT_SIZE};

/// The format every image is drawn in: 8-bit RGBA, values as the transfer function gives them.
pub const TARGET_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;

/// The pipeline, its layout and the volume sampler.
#[derive(Debug)]
pub struct RaymarchPass {
    pub layout: wgpu::BindGroupLayout,
    pipeline: wgpu::RenderPipeline,
    sampler: wgpu::Sampler,
}

/// The transfer function's tables on the GPU: one-row float textures, rewritten on every edit.
#[derive(Debug)]
pub struct LutTextures {
    scalar: wgpu::Texture,
    gradient: wgpu::Texture,
    scalar_view: wgpu::TextureView,
    gradient_view: wgpu::TextureView,
}

impl LutTextures {
    pub fn new(gpu: &Gpu) -> LutTextures {
        let make = |label, width| {
            gpu.device.create_texture(&wgpu::TextureDescriptor {
                label: Some(label),
                size: wgpu::Extent3d {
                    width,
                    height: 1,
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: wgpu::TextureFormat::Rgba32Float,
                usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                view_formats: &[],
            })
        };
        let scalar = make("LutTextures::scalar", SCALAR_LUT_SIZE as u32);
        let gradient = make("LutTextures::gradient", GRADIENT_LUT_SIZE as u32);
        LutTextures {
            scalar_view: scalar.create_view(&Default::default()),
            gradient_view: gradient.create_view(&Default::default()),
            scalar,
            gradient,
        }
    }

    /// Uploads both tables: 80 KiB, the whole cost of a transfer-function edit.
    pub fn write(&self, gpu: &Gpu, luts: &Luts) {
        let write = |texture: &wgpu::Texture, lut: &Lut| {
            gpu.queue.write_texture(
                texture.as_image_copy(),
                bytemuck::cast_slice(&lut.entries),
                wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: None,
                    rows_per_image: None,
                },
                texture.size(),
            );
        };
        write(&self.scalar, &luts.scalar);
        write(&self.gradient, &luts.gradient);
    }
}

impl RaymarchPass {
    pub fn new(gpu: &Gpu) -> RaymarchPass {
        let device = &gpu.device;
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("RaymarchPass::shader"),
            source: wgpu::ShaderSource::Wgsl(include_str!("../../shaders/raymarch.wgsl").into()),
        });
        let fragment = wgpu::ShaderStages::FRAGMENT;
        let texture = |binding, dimension, filterable| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: fragment,
            ty: wgpu::BindingType::Texture {
                sample_type: wgpu::TextureSampleType::Float { filterable },
                view_dimension: dimension,
                multisampled: false,
            },
            count: None,
        };
        let d3 = wgpu::TextureViewDimension::D3;
        let d2 = wgpu::TextureViewDimension::D2;
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("RaymarchPass::bindings"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: fragment,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: wgpu::BufferSize::new(
                            std::mem::size_of::<RaymarchParams>() as u64,
                        ),
                    },
                    count: None,
                },
                texture(1, d3, true),
                texture(2, d3, true),
                wgpu::BindGroupLayoutEntry {
                    binding: 3,
                    visibility: fragment,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
                texture(4, d2, false),
                texture(5, d2, false),
                wgpu::BindGroupLayoutEntry {
                    binding: 6,
                    visibility: fragment,
                    ty: wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Uint,
                        view_dimension: d3,
                        multisampled: false,
                    },
                    count: None,
                },
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("RaymarchPass::layout"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("RaymarchPass::pipeline"),
            layout: Some(&pipeline_layout),
            vertex: wgpu::VertexState {
                module: &module,
                entry_point: Some("vs_fullscreen"),
                compilation_options: Default::default(),
                buffers: &[],
            },
            fragment: Some(wgpu::FragmentState {
                module: &module,
                entry_point: Some("fs_raymarch"),
                compilation_options: Default::default(),
                targets: &[Some(wgpu::ColorTargetState {
                    format: TARGET_FORMAT,
                    blend: None,
                    write_mask: wgpu::ColorWrites::ALL,
                })],
            }),
            primitive: wgpu::PrimitiveState::default(),
            depth_stencil: None,
            multisample: wgpu::MultisampleState::default(),
            multiview_mask: None,
            cache: None,
        });
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("RaymarchPass::volume_sampler"),
            address_mode_u: wgpu::AddressMode::ClampToEdge,
            address_mode_v: wgpu::AddressMode::ClampToEdge,
            address_mode_w: wgpu::AddressMode::ClampToEdge,
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        RaymarchPass {
            layout,
            pipeline,
            sampler,
        }
    }

    /// The bindings of one volume (its scalar and |grad f| textures) with its tables.
    pub fn bind(
        &self,
        gpu: &Gpu,
        params: &wgpu::Buffer,
        scalar: &wgpu::TextureView,
        gradient: &wgpu::TextureView,
        luts: &LutTextures,
        occupancy: &wgpu::TextureView,
    ) -> wgpu::BindGroup {
        let view = wgpu::BindingResource::TextureView;
        gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("RaymarchPass::bind_group"),
            layout: &self.layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: params.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: view(scalar),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: view(gradient),
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: wgpu::BindingResource::Sampler(&self.sampler),
                },
                wgpu::BindGroupEntry {
                    binding: 4,
                    resource: view(&luts.scalar_view),
                },
                wgpu::BindGroupEntry {
                    binding: 5,
                    resource: view(&luts.gradient_view),
                },
                wgpu::BindGroupEntry {
                    binding: 6,
                    resource: view(occupancy),
                },
            ],
        })
    }

    /// Records one draw into `target`.
    pub fn draw(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        target: &wgpu::TextureView,
        bindings: &wgpu::BindGroup,
    ) {
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("RaymarchPass::draw"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: target,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color::TRANSPARENT),
                    store: wgpu::StoreOp::Store,
                },
            })],
            depth_stencil_attachment: None,
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, bindings, &[]);
        pass.draw(0..3, 0..1);
    }
}
