//! Embedding Strata in an application that already uses wgpu, both ways round:
//!
//! 1. The application creates its own Instance, Adapter, Device and Queue and wraps them with
//!    `Context::from_wgpu`. It gets a Strata-placed buffer (`vram` on Vulkan, `auto` elsewhere)
//!    and runs its own WGSL compute pass on it; Strata's kernels run on the application's own
//!    buffers too.
//! 2. Strata creates the device (with every memory extension the driver offers) and hands the
//!    device and queue to the application, which uses them as its own.
//!
//! ```sh
//! cargo run --example embed_wgpu
//! ```

use strata::wgpu::util::DeviceExt;
use strata::{Context, MatmulShape, Placement, Usage, wgpu};

/// The application's own kernel: `data[i] = 2 * data[i] + 1`.
const APP_SHADER: &str = r#"
@group(0) @binding(0) var<storage, read_write> data: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x < arrayLength(&data) {
        data[id.x] = 2.0 * data[id.x] + 1.0;
    }
}
"#;

const N: usize = 1024;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let input: Vec<f32> = (0..N).map(|i| i as f32).collect();
    let expected: Vec<f32> = input.iter().map(|x| 2.0 * x + 1.0).collect();

    // --- 1. The application's device, wrapped by Strata ---------------------------------
    let (instance, adapter, device, queue) = app_creates_its_device()?;
    let ctx = Context::from_wgpu(instance, adapter, device, queue)?;
    println!("1. the application's device: {}", ctx.adapter_info().name);
    // What placement can do on a device Strata did not create (and how to get the rest).
    let support = ctx.placement_support();
    print!("{support}");

    // Exact placement needs Vulkan; elsewhere `auto` gives a plain wgpu buffer.
    let placement = if support.vulkan {
        Placement::Vram
    } else {
        Placement::Auto(Usage::Weights)
    };
    let placed = ctx.place((N * 4) as u64, placement)?;
    ctx.write_placed(&placed, 0, bytemuck::cast_slice(&input))?;
    // `placed.buffer()` is a plain `wgpu::Buffer`: the application binds it in its own pass.
    run_app_pass(ctx.device(), ctx.queue(), placed.buffer())?;
    let output: Vec<f32> =
        bytemuck::pod_collect_to_vec(&ctx.read_placed(&placed, 0, placed.bytes())?);
    check(
        "the application's pass on a Strata-placed buffer",
        &output,
        &expected,
    )?;
    let memory = match placed.info().memory_type {
        Some(index) => format!("memory type {index}"),
        None => "memory chosen by wgpu".to_string(),
    };
    println!("   its own WGSL pass ran on a buffer placed `{placement}` ({memory})");

    // Strata's kernels on the application's own buffers: sum = [1 x N] · [N x 1] of ones.
    let ones = ctx
        .device()
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("app: ones"),
            contents: bytemuck::cast_slice(&[1.0f32; N]),
            usage: wgpu::BufferUsages::STORAGE,
        });
    let sum = ctx.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("app: sum"),
        size: 4,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    ctx.matmul(
        placed.buffer(),
        &ones,
        &sum,
        MatmulShape {
            m: 1,
            n: 1,
            k: N as u32,
        },
    )?;
    let total = ctx.read_back::<f32>(&sum, 1)?[0];
    check(
        "Strata's matmul on the application's buffers",
        &[total],
        &[expected.iter().sum()],
    )?;
    println!("   Strata's matmul on the application's buffers: sum = {total}");
    drop((placed, ctx));

    // --- 2. Strata creates the device and hands it to the application -------------------
    let ctx = Context::new()?;
    println!("2. a device Strata created: {}", ctx.adapter_info().name);
    print!("{}", ctx.placement_support());
    // The application keeps clones of the device and queue (wgpu handles are reference-counted).
    let (device, queue) = (ctx.device().clone(), ctx.queue().clone());
    let placed = ctx.place((N * 4) as u64, Placement::Auto(Usage::Weights))?;
    ctx.write_placed(&placed, 0, bytemuck::cast_slice(&input))?;
    run_app_pass(&device, &queue, placed.buffer())?;
    let output: Vec<f32> =
        bytemuck::pod_collect_to_vec(&ctx.read_placed(&placed, 0, placed.bytes())?);
    check(
        "the application's pass on Strata's device",
        &output,
        &expected,
    )?;
    println!("   the application's pass ran on Strata's device: ok");
    Ok(())
}

/// What an application does on its own: an instance, an adapter, a device and a queue.
fn app_creates_its_device()
-> Result<(wgpu::Instance, wgpu::Adapter, wgpu::Device, wgpu::Queue), Box<dyn std::error::Error>> {
    // Validation when asked for (scripts/test.sh sets STRATA_VALIDATION=1), and wgpu's usual
    // environment variables (WGPU_BACKEND, WGPU_VALIDATION, ...).
    let validation = if strata::adapter::validation_from_env() {
        wgpu::InstanceFlags::VALIDATION
    } else {
        wgpu::InstanceFlags::empty()
    };
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all()),
        flags: validation.with_env(),
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        ..Default::default()
    }))?;
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("the application's device"),
        ..Default::default()
    }))?;
    Ok((instance, adapter, device, queue))
}

/// The application's compute pass over `buffer`, written with nothing but wgpu.
fn run_app_pass(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    buffer: &wgpu::Buffer,
) -> Result<(), wgpu::PollError> {
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("app pass"),
        source: wgpu::ShaderSource::Wgsl(APP_SHADER.into()),
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some("app pass"),
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: None,
    });
    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("app pass"),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[wgpu::BindGroupEntry {
            binding: 0,
            resource: buffer.as_entire_binding(),
        }],
    });
    let mut encoder = device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups((buffer.size() / 4).div_ceil(64) as u32, 1, 1);
    }
    queue.submit([encoder.finish()]);
    device.poll(wgpu::PollType::wait_indefinitely())?;
    Ok(())
}

/// Fails unless `got` equals `want` element for element.
fn check(what: &str, got: &[f32], want: &[f32]) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: wrong result"))
    }
}
