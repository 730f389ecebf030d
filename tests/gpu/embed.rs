//! Embedding: an application's own device wrapped by Strata, Strata's device handed to the
//! application, `auto` placement, and what placement support reports.

use crate::harness::gpu;
use strata::placement::PlacementFeature;
use strata::{Context, Error, MatmulShape, Placement, Usage};

/// The application's own pass: `data[i] = 2 * data[i] + 1`.
const APP_SHADER: &str = r#"
@group(0) @binding(0) var<storage, read_write> data: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x < arrayLength(&data) {
        data[id.x] = 2.0 * data[id.x] + 1.0;
    }
}
"#;

fn run_app_pass(device: &wgpu::Device, queue: &wgpu::Queue, buffer: &wgpu::Buffer) {
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
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .expect("the app's pass finishes");
}

/// An application-created device on the adapter the harness uses, with validation on.
fn app_context(strata: &Context) -> Context {
    let backend = strata.adapter_info().backend;
    let instance = strata::adapter::create_instance(backend.into(), true);
    let name = strata.adapter_info().name;
    let adapter = strata::adapter::list_adapters(&instance, backend.into())
        .into_iter()
        .find(|a| a.get_info().name == name)
        .expect("the harness's adapter, seen from a second instance");
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("the application's device"),
        ..Default::default()
    }))
    .expect("a plain wgpu device");
    Context::from_wgpu(instance, adapter, device, queue).expect("wrapping the app's device")
}

#[test]
fn an_apps_own_device_places_and_computes() {
    let Some(harness) = gpu() else { return };
    let ctx = app_context(&harness);
    let support = ctx.placement_support();
    assert!(support.vulkan && !support.created_by_strata, "{support}");
    // wgpu enables the budget extension by itself, never the priority extension.
    assert!(!support.memory_priority, "{support}");
    let priority = support.require(PlacementFeature::MemoryPriority);
    assert!(
        matches!(priority, Err(Error::DeviceLacks { .. })),
        "{priority:?}"
    );
    assert!(
        support
            .missing
            .iter()
            .any(|m| m.starts_with("VK_EXT_memory_priority")),
        "{support}"
    );

    let input: Vec<f32> = (0..1000).map(|i| i as f32).collect();
    let placed = ctx
        .place(4000, Placement::Vram)
        .expect("exact placement on the app's device");
    assert!(placed.is_exact());
    ctx.write_placed(&placed, 0, bytemuck::cast_slice(&input))
        .unwrap();
    run_app_pass(ctx.device(), ctx.queue(), placed.buffer());
    let output: Vec<f32> =
        bytemuck::pod_collect_to_vec(&ctx.read_placed(&placed, 0, 4000).unwrap());
    assert!(output.iter().zip(&input).all(|(&o, &i)| o == 2.0 * i + 1.0));

    // Strata's kernel on the application's own buffers.
    let ones = ctx.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("app: ones"),
        size: 4000,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    ctx.queue()
        .write_buffer(&ones, 0, bytemuck::cast_slice(&[1.0f32; 1000]));
    let sum = ctx.create_storage_buffer(4, "sum").unwrap();
    ctx.matmul(
        placed.buffer(),
        &ones,
        &sum,
        MatmulShape {
            m: 1,
            n: 1,
            k: 1000,
        },
    )
    .unwrap();
    assert_eq!(
        ctx.read_back::<f32>(&sum, 1).unwrap(),
        [output.iter().sum::<f32>()]
    );
}

#[test]
fn strata_hands_its_device_to_the_app() {
    let Some(ctx) = gpu() else { return };
    let support = ctx.placement_support();
    assert!(support.vulkan && support.created_by_strata, "{support}");
    let (device, queue) = (ctx.device().clone(), ctx.queue().clone());
    let input: Vec<f32> = (0..256).map(|i| i as f32 * 0.5).collect();
    let placed = ctx.place(1024, Placement::Auto(Usage::Weights)).unwrap();
    // On Vulkan `auto` is an exact placement too, chosen by the `auto` rule.
    assert!(placed.is_exact() && placed.info().memory_type.is_some());
    ctx.write_placed(&placed, 0, bytemuck::cast_slice(&input))
        .unwrap();
    run_app_pass(&device, &queue, placed.buffer());
    let output: Vec<f32> =
        bytemuck::pod_collect_to_vec(&ctx.read_placed(&placed, 0, 1024).unwrap());
    assert!(output.iter().zip(&input).all(|(&o, &i)| o == 2.0 * i + 1.0));
}

#[test]
fn a_partial_last_word_round_trips() {
    let Some(ctx) = gpu() else { return };
    let data: Vec<u8> = (0..1001u32).map(|i| (i % 253) as u8).collect();
    let placed = ctx.place(1001, Placement::Auto(Usage::Weights)).unwrap();
    ctx.write_placed(&placed, 0, &data).unwrap();
    assert_eq!(ctx.read_placed(&placed, 0, 1001).unwrap(), data);
}
