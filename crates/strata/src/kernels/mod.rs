//! Compute kernels: compiled once per context and configuration, dispatched on any buffers.

mod matmul;
mod timing;

pub use matmul::{MatmulConfig, MatmulShape};
pub use timing::{Clock, Timing};

use crate::context::Context;
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use wgpu::util::DeviceExt;

/// A compiled compute pipeline.
#[derive(Debug)]
pub(crate) struct Kernel {
    pub(crate) pipeline: wgpu::ComputePipeline,
    pub(crate) layout: wgpu::BindGroupLayout,
}

/// Pipelines compiled so far, keyed by shader and parameters.
#[derive(Debug, Default)]
pub(crate) struct KernelCache {
    kernels: Mutex<HashMap<String, Arc<Kernel>>>,
}

/// One operand of a dispatch: a whole buffer or a byte range of one.
#[derive(Debug, Clone, Copy)]
pub struct Operand<'a> {
    /// The buffer.
    pub buffer: &'a wgpu::Buffer,
    /// Start of the range in bytes.
    pub offset: u64,
    /// Length of the range in bytes.
    pub size: u64,
}

impl<'a> From<&'a wgpu::Buffer> for Operand<'a> {
    fn from(buffer: &'a wgpu::Buffer) -> Self {
        Self {
            buffer,
            offset: 0,
            size: buffer.size(),
        }
    }
}

impl Context {
    /// The kernel for `key`, compiling `source()` the first time.
    pub(crate) fn kernel(
        &self,
        key: &str,
        source: impl FnOnce() -> Result<String, String>,
    ) -> Result<Arc<Kernel>> {
        let mut cache = self
            .kernels
            .kernels
            .lock()
            .map_err(|_| Error::Gpu {
                during: "kernel cache".into(),
                message: "poisoned by a panic on another thread".into(),
            })?;
        if let Some(kernel) = cache.get(key) {
            return Ok(Arc::clone(kernel));
        }
        let text = source().map_err(|message| Error::Gpu {
            during: format!("preparing kernel {key}"),
            message,
        })?;
        let kernel = self.scoped(&format!("compiling kernel {key}"), || {
            let module = self.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(key),
                source: wgpu::ShaderSource::Wgsl(text.into()),
            });
            let pipeline = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(key),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            });
            let layout = pipeline.get_bind_group_layout(0);
            Arc::new(Kernel { pipeline, layout })
        })?;
        cache.insert(key.to_string(), Arc::clone(&kernel));
        Ok(kernel)
    }

    /// Checks that an operand may be bound as a storage buffer on this device.
    pub(crate) fn check_binding(&self, what: &str, operand: &Operand<'_>) -> Result<()> {
        let limit = self.limits().max_storage_buffer_binding_size;
        if operand.size > limit {
            return Err(Error::TooLarge {
                what: what.to_string(),
                bytes: operand.size,
                limit_name: "max_storage_buffer_binding_size",
                limit,
            });
        }
        let alignment = u64::from(self.limits().min_storage_buffer_offset_alignment);
        if operand.offset % alignment != 0 {
            return Err(Error::InvalidArgument(format!(
                "{what}: offset {} is not a multiple of the device's storage offset alignment {alignment}",
                operand.offset
            )));
        }
        if operand.offset + operand.size > operand.buffer.size() {
            return Err(Error::InvalidArgument(format!(
                "{what}: range {}..{} is outside the buffer of {} bytes",
                operand.offset,
                operand.offset + operand.size,
                operand.buffer.size()
            )));
        }
        Ok(())
    }

    /// Records and submits `repeats` dispatches of `kernel` over `operands` (bindings 0..n) and
    /// a uniform block (binding n), timing them with GPU timestamps when the device has them.
    pub(crate) fn dispatch(
        &self,
        label: &str,
        kernel: &Kernel,
        operands: &[Operand<'_>],
        uniforms: &[u8],
        workgroups: [u32; 3],
        repeats: u32,
    ) -> Result<Timing> {
        let max = self.limits().max_compute_workgroups_per_dimension;
        if workgroups.iter().any(|&w| w > max) {
            return Err(Error::TooLarge {
                what: format!("{label}: dispatch of {workgroups:?} workgroups"),
                bytes: u64::from(*workgroups.iter().max().unwrap_or(&0)),
                limit_name: "max_compute_workgroups_per_dimension",
                limit: u64::from(max),
            });
        }
        let timer = timing::Timer::new(self);
        let submission = self.scoped(label, || {
            let uniform = self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: uniforms,
                usage: wgpu::BufferUsages::UNIFORM,
            });
            let mut entries: Vec<wgpu::BindGroupEntry<'_>> = operands
                .iter()
                .enumerate()
                .map(|(i, op)| wgpu::BindGroupEntry {
                    binding: i as u32,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: op.buffer,
                        offset: op.offset,
                        size: wgpu::BufferSize::new(op.size),
                    }),
                })
                .collect();
            entries.push(wgpu::BindGroupEntry {
                binding: operands.len() as u32,
                resource: uniform.as_entire_binding(),
            });
            let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(label),
                layout: &kernel.layout,
                entries: &entries,
            });
            let mut encoder = self.device.create_command_encoder(&Default::default());
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some(label),
                    timestamp_writes: timer.as_ref().map(|t| t.pass_writes()),
                });
                pass.set_pipeline(&kernel.pipeline);
                pass.set_bind_group(0, &bind_group, &[]);
                for _ in 0..repeats.max(1) {
                    pass.dispatch_workgroups(workgroups[0], workgroups[1], workgroups[2]);
                }
            }
            if let Some(t) = &timer {
                t.resolve(&mut encoder);
            }
            let started = std::time::Instant::now();
            (self.queue.submit([encoder.finish()]), started)
        })?;
        let (index, started) = submission;
        self.wait_for(index)?;
        let wall = started.elapsed();
        let runs = repeats.max(1);
        match timer {
            Some(t) => t.read(self, runs, wall),
            None => Ok(Timing::wall(wall, runs)),
        }
    }
}
