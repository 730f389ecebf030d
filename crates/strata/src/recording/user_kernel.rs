//! An application's own WGSL compute kernels, compiled once and dispatched inside recordings
//! beside Strata's.
//!
//! They are compiled the way wgpu compiles any shader, with its runtime checks on (bounds
//! checks and loop-bounding counters): unlike Strata's own kernels, their loops are not known
//! to terminate. Their bindings are described up front ([`KernelSource`]) and every dispatch
//! is checked against that description before it is recorded.

use super::operand::{Access, Operand};
use super::recording::{OpId, Recording, Step};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::pipeline::Kernel;
use std::num::NonZeroU64;
use std::sync::Arc;

/// An application's compute kernel: WGSL and the layout of its bind group 0.
///
/// Storage bindings are `@group(0) @binding(i)` for `i` in `0..bindings.len()`, in that order,
/// `var<storage, read>` for [`Access::Read`] and `var<storage, read_write>` for
/// [`Access::ReadWrite`]; when `uniform_bytes > 0` a uniform block of that size follows at
/// `@binding(bindings.len())`.
///
/// ```
/// use strata::{Access, Context, KernelSource};
///
/// let ctx = Context::new()?;
/// let scale = ctx.compile_kernel(&KernelSource {
///     label: "scale",
///     wgsl: "
///         @group(0) @binding(0) var<storage, read> x: array<f32>;
///         @group(0) @binding(1) var<storage, read_write> y: array<f32>;
///         struct Params { factor: f32, n: u32, pad0: u32, pad1: u32 }
///         @group(0) @binding(2) var<uniform> params: Params;
///         @compute @workgroup_size(64)
///         fn main(@builtin(global_invocation_id) id: vec3<u32>) {
///             if (id.x < params.n) { y[id.x] = x[id.x] * params.factor; }
///         }",
///     entry_point: "main",
///     bindings: &[Access::Read, Access::ReadWrite],
///     uniform_bytes: 16,
/// })?;
/// let x = ctx.upload(&[1.0f32, 2.0, 3.0])?;
/// let y = ctx.create_storage_buffer(12, "y")?;
/// let mut rec = ctx.record();
/// let params: [u32; 4] = [2.5f32.to_bits(), 3, 0, 0];
/// rec.dispatch(&scale, &[(&x).into(), (&y).into()], bytemuck::cast_slice(&params), [1, 1, 1])?;
/// rec.run()?;
/// assert_eq!(ctx.read_back::<f32>(&y, 3)?, [2.5, 5.0, 7.5]);
/// # Ok::<(), strata::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct KernelSource<'a> {
    /// A name for messages and labels.
    pub label: &'a str,
    /// The WGSL source.
    pub wgsl: &'a str,
    /// The `@compute` entry point.
    pub entry_point: &'a str,
    /// Each storage binding's access, in binding order.
    pub bindings: &'a [Access],
    /// Size of the uniform block after the storage bindings (0: none).
    pub uniform_bytes: u64,
}

/// A compiled application kernel; see [`Context::compile_kernel`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct UserKernel {
    kernel: Arc<Kernel>,
    bindings: Vec<Access>,
    uniform_bytes: u64,
    device: wgpu::Device,
}

impl UserKernel {
    /// The kernel's label.
    pub fn label(&self) -> &str {
        &self.kernel.name
    }

    /// Its storage bindings' access, in order.
    pub fn bindings(&self) -> &[Access] {
        &self.bindings
    }

    /// Size of its uniform block (0: none).
    pub fn uniform_bytes(&self) -> u64 {
        self.uniform_bytes
    }
}

impl Context {
    /// Compiles an application's WGSL compute kernel for dispatch inside recordings
    /// ([`Recording::dispatch`]). WGSL errors come back as [`Error::Kernel`] with naga's
    /// message (line and column); a shader whose bindings do not match `source.bindings` and
    /// `source.uniform_bytes` is an error too. wgpu's runtime checks stay on.
    pub fn compile_kernel(&self, source: &KernelSource<'_>) -> Result<UserKernel> {
        let label = source.label;
        let kernel_error = |message: String| Error::Kernel {
            kernel: label.to_string(),
            message,
        };
        // naga's own message names the line and column; wgpu's would only say "invalid".
        let module = naga::front::wgsl::parse_str(source.wgsl)
            .map_err(|e| kernel_error(e.emit_to_string(source.wgsl)))?;
        let entry = module
            .entry_points
            .iter()
            .find(|e| e.name == source.entry_point)
            .ok_or_else(|| kernel_error(format!("no entry point `{}`", source.entry_point)))?;
        if entry.stage != naga::ShaderStage::Compute {
            return Err(kernel_error(format!(
                "entry point `{}` is not a compute shader",
                source.entry_point
            )));
        }
        let storage_limit = self.device_limits().max_storage_buffers_per_shader_stage;
        if source.bindings.len() as u64 > u64::from(storage_limit) {
            return Err(Error::LimitExceeded {
                what: format!("kernel {label}: storage bindings"),
                count: source.bindings.len() as u64,
                limit_name: "max_storage_buffers_per_shader_stage",
                limit: u64::from(storage_limit),
            });
        }
        let uniform_limit = self.device_limits().max_uniform_buffer_binding_size;
        if source.uniform_bytes > uniform_limit {
            return Err(Error::TooLarge {
                what: format!("kernel {label}: its uniform block"),
                bytes: source.uniform_bytes,
                limit_name: "max_uniform_buffer_binding_size",
                limit: uniform_limit,
            });
        }
        let mut entries: Vec<wgpu::BindGroupLayoutEntry> = source
            .bindings
            .iter()
            .enumerate()
            .map(|(i, access)| wgpu::BindGroupLayoutEntry {
                binding: i as u32,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage {
                        read_only: *access == Access::Read,
                    },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            })
            .collect();
        if let Some(size) = NonZeroU64::new(source.uniform_bytes) {
            entries.push(wgpu::BindGroupLayoutEntry {
                binding: source.bindings.len() as u32,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: Some(size),
                },
                count: None,
            });
        }
        let device = &self.gpu.device;
        let kernel = self
            .scoped(&format!("compiling kernel {label}"), || {
                let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(label),
                    source: wgpu::ShaderSource::Wgsl(source.wgsl.into()),
                });
                let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                    label: Some(label),
                    entries: &entries,
                });
                let pipeline_layout =
                    device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                        label: Some(label),
                        bind_group_layouts: &[Some(&layout)],
                        immediate_size: 0,
                    });
                let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(label),
                    layout: Some(&pipeline_layout),
                    module: &shader,
                    entry_point: Some(source.entry_point),
                    compilation_options: Default::default(),
                    cache: None,
                });
                Kernel {
                    name: label.to_string(),
                    pipeline,
                    layout,
                }
            })
            .map_err(|e| match e {
                Error::Gpu { message, .. } => kernel_error(message),
                other => other,
            })?;
        Ok(UserKernel {
            kernel: Arc::new(kernel),
            bindings: source.bindings.to_vec(),
            uniform_bytes: source.uniform_bytes,
            device: device.clone(),
        })
    }
}

impl Recording<'_> {
    /// Records a dispatch of an application kernel: `bindings` in the kernel's binding order
    /// (each checked as a storage binding of this device), `uniforms` exactly its uniform
    /// block's size, `workgroups` within the device's grid limit. Returns the op, whose
    /// uniforms [`Replay::set_uniforms`](crate::Replay::set_uniforms) can change later.
    pub fn dispatch(
        &mut self,
        kernel: &UserKernel,
        bindings: &[Operand<'_>],
        uniforms: &[u8],
        workgroups: [u32; 3],
    ) -> Result<OpId> {
        let label = kernel.label();
        if kernel.device != *self.ctx.device() {
            return Err(Error::InvalidArgument(format!(
                "kernel {label} was compiled on another context's device"
            )));
        }
        if bindings.len() != kernel.bindings.len() {
            return Err(Error::Shape(format!(
                "kernel {label} takes {} storage bindings, given {}",
                kernel.bindings.len(),
                bindings.len()
            )));
        }
        if uniforms.len() as u64 != kernel.uniform_bytes {
            return Err(Error::Shape(format!(
                "kernel {label} takes a uniform block of {} bytes, given {}",
                kernel.uniform_bytes,
                uniforms.len()
            )));
        }
        let step = Step {
            operands: bindings
                .iter()
                .copied()
                .zip(kernel.bindings.iter().copied())
                .collect(),
            uniforms: uniforms.to_vec(),
            workgroups,
        };
        self.push_steps(&format!("kernel {label}"), &kernel.kernel, vec![step], 1)
    }
}
