//! The raymarch pass: a full-screen triangle whose fragment shader (shaders/raymarch.wgsl)
//! casts one ray per pixel. The layout and shader are built once, a pipeline per blend mode and
//! shading switch when first drawn (the shader's pipeline constants); a frame is a uniform write
//! and one draw.

use std::collections::HashMap;

use crate::gpu::Gpu;
use crate::render::luts::LutTextures;
use crate::render::params::RaymarchParams;

/// The format every image is drawn in: 8-bit RGBA, values as the transfer function gives them.
pub const TARGET_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;

/// What one volume binds: its pool, page table and block occupancy.
#[derive(Debug, Clone, Copy)]
pub struct VolumeViews<'a> {
    pub pool: &'a wgpu::TextureView,
    pub page_table: &'a wgpu::TextureView,
    pub occupancy: &'a wgpu::TextureView,
}

/// The specialisations of the shader: blend mode (0 composite, 1 maximum, 2 minimum,
/// 3 average, as in [`RaymarchParams::blend`]) and shading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Variant {
    pub blend: u32,
    pub shading: bool,
}

impl Variant {
    /// The variant a draw with `params` needs (shading only matters when compositing).
    pub fn of(params: &RaymarchParams) -> Variant {
        Variant {
            blend: params.blend,
            shading: params.blend == 0 && params.flags & crate::render::params::FLAG_SHADING != 0,
        }
    }
}

/// The shader, its layouts, the pipelines built so far and the volume sampler.
#[derive(Debug)]
pub struct RaymarchPass {
    pub layout: wgpu::BindGroupLayout,
    pipeline_layout: wgpu::PipelineLayout,
    module: wgpu::ShaderModule,
    pipelines: HashMap<Variant, wgpu::RenderPipeline>,
    sampler: wgpu::Sampler,
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
        let uint_3d = |binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: fragment,
            ty: wgpu::BindingType::Texture {
                sample_type: wgpu::TextureSampleType::Uint,
                view_dimension: d3,
                multisampled: false,
            },
            count: None,
        };
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("RaymarchPass::bindings"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: fragment,
                    // A read-only storage buffer, not a uniform buffer: lavapipe inlines the
                    // uniforms that steer loops into the shader and recompiles it (about
                    // 200 ms with LLVM) for every new value, so every new camera cost a
                    // compile. Storage buffers are not inlined; GPUs read both alike.
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only: true },
                        has_dynamic_offset: false,
                        min_binding_size: wgpu::BufferSize::new(
                            std::mem::size_of::<RaymarchParams>() as u64,
                        ),
                    },
                    count: None,
                },
                texture(1, d3, true),
                uint_3d(2),
                uint_3d(3),
                wgpu::BindGroupLayoutEntry {
                    binding: 4,
                    visibility: fragment,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
                texture(5, d2, false),
                texture(6, d2, true),
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("RaymarchPass::layout"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
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
            pipeline_layout,
            module,
            pipelines: HashMap::new(),
            sampler,
        }
    }

    /// The pipeline of `variant`, built on first use.
    fn pipeline(&mut self, gpu: &Gpu, variant: Variant) -> &wgpu::RenderPipeline {
        let (layout, module) = (&self.pipeline_layout, &self.module);
        self.pipelines.entry(variant).or_insert_with(|| {
            let constants = [
                ("BLEND", variant.blend as f64),
                ("SHADING", f64::from(u8::from(variant.shading))),
            ];
            let fragment_options = wgpu::PipelineCompilationOptions {
                constants: &constants,
                ..Default::default()
            };
            gpu.device
                .create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                    label: Some("RaymarchPass::pipeline"),
                    layout: Some(layout),
                    vertex: wgpu::VertexState {
                        module,
                        entry_point: Some("vs_fullscreen"),
                        compilation_options: Default::default(),
                        buffers: &[],
                    },
                    fragment: Some(wgpu::FragmentState {
                        module,
                        entry_point: Some("fs_raymarch"),
                        compilation_options: fragment_options,
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
                })
        })
    }

    /// The bindings of one volume with its tables.
    pub fn bind(
        &self,
        gpu: &Gpu,
        params: &wgpu::Buffer,
        volume: VolumeViews,
        luts: &LutTextures,
    ) -> wgpu::BindGroup {
        let view = wgpu::BindingResource::TextureView;
        let entry = |binding, resource| wgpu::BindGroupEntry { binding, resource };
        gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("RaymarchPass::bind_group"),
            layout: &self.layout,
            entries: &[
                entry(0, params.as_entire_binding()),
                entry(1, view(volume.pool)),
                entry(2, view(volume.page_table)),
                entry(3, view(volume.occupancy)),
                entry(4, wgpu::BindingResource::Sampler(&self.sampler)),
                entry(5, view(&luts.scalar_view)),
                entry(6, view(&luts.table.view)),
            ],
        })
    }

    /// Records one draw into `target`.
    pub fn draw(
        &mut self,
        gpu: &Gpu,
        encoder: &mut wgpu::CommandEncoder,
        target: &wgpu::TextureView,
        bindings: &wgpu::BindGroup,
        variant: Variant,
    ) {
        let pipeline = self.pipeline(gpu, variant);
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
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, bindings, &[]);
        pass.draw(0..3, 0..1);
    }
}
