//! Recordings: many ops in one submission, replayed with new data; application kernels beside
//! Strata's; every error typed and found before anything is submitted.

use crate::harness::{fresh_seed, gpu};
use strata::reference::{self, random_f32};
use strata::{
    Access, Context, Error, GemvSpec, KernelDtype, KernelSource, MatmulShape, Operand, Recording,
};

/// RMSNorm over one vector of `n` floats (one workgroup; n in the uniform block).
const RMS_NORM: &str = "
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
struct Params { n: u32, eps: f32, pad0: u32, pad1: u32 }
@group(0) @binding(2) var<uniform> params: Params;
var<workgroup> partial: array<f32, 64>;
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
    var sum = 0.0;
    for (var i = lid.x; i < params.n; i += 64u) { sum += x[i] * x[i]; }
    partial[lid.x] = sum;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if (lid.x < s) { partial[lid.x] += partial[lid.x + s]; }
        workgroupBarrier();
    }
    let scale = inverseSqrt(partial[0] / f32(params.n) + params.eps);
    for (var i = lid.x; i < params.n; i += 64u) { y[i] = x[i] * scale; }
}";

/// y = x · factor, elementwise (`factor` in the uniform block).
const SCALE: &str = "
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
struct Params { factor: f32, n: u32, pad0: u32, pad1: u32 }
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x < params.n) { y[id.x] = x[id.x] * params.factor; }
}";

fn rms_norm(ctx: &Context) -> strata::UserKernel {
    ctx.compile_kernel(&KernelSource {
        label: "rms_norm",
        wgsl: RMS_NORM,
        entry_point: "main",
        bindings: &[Access::Read, Access::ReadWrite],
        uniform_bytes: 16,
    })
    .expect("compile rms_norm")
}

fn scale_kernel(ctx: &Context) -> strata::UserKernel {
    ctx.compile_kernel(&KernelSource {
        label: "scale",
        wgsl: SCALE,
        entry_point: "main",
        bindings: &[Access::Read, Access::ReadWrite],
        uniform_bytes: 16,
    })
    .expect("compile scale")
}

fn scale_params(factor: f32, n: u32) -> Vec<u8> {
    bytemuck::cast_slice(&[factor.to_bits(), n, 0, 0]).to_vec()
}

fn cpu_rms_norm(x: &[f32]) -> Vec<f32> {
    let mean = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len() as f64;
    let scale = 1.0 / (mean + 1e-6).sqrt();
    x.iter().map(|&v| (f64::from(v) * scale) as f32).collect()
}

/// A layer stack (norm, GEMV, scale, GEMV) recorded once and replayed with new inputs: every
/// token matches the CPU, the read slot returns each token's own result.
#[test]
fn a_replayed_stack_of_ops_matches_the_cpu_token_after_token() {
    let Some(ctx) = gpu() else { return };
    let seed = fresh_seed("replayed stack");
    let (n, m) = (96u32, 160u32);
    let w1 = random_f32((m * n) as usize, seed);
    let w2 = random_f32((n * m) as usize, seed ^ 1);
    let w1_buf = ctx
        .upload(&reference::encode(&w1, KernelDtype::Bf16))
        .unwrap();
    let w2_buf = ctx.upload(&w2).unwrap();
    let x = ctx.create_storage_buffer(u64::from(n) * 4, "x").unwrap();
    let normed = ctx
        .create_storage_buffer(u64::from(n) * 4, "normed")
        .unwrap();
    let hidden = ctx
        .create_storage_buffer(u64::from(m) * 4, "hidden")
        .unwrap();
    let scaled = ctx
        .create_storage_buffer(u64::from(m) * 4, "scaled")
        .unwrap();
    let out = ctx.create_storage_buffer(u64::from(n) * 4, "out").unwrap();
    let norm = rms_norm(&ctx);
    let scale = scale_kernel(&ctx);
    let spec1 = GemvSpec {
        rows: m,
        cols: n,
        batch: 1,
        dtype: KernelDtype::Bf16,
    };
    let spec2 = GemvSpec {
        rows: n,
        cols: m,
        batch: 1,
        dtype: KernelDtype::F32,
    };

    let mut rec = ctx.record().label("stack");
    let input = rec.write(&x, 0, &vec![0u8; n as usize * 4]).unwrap();
    let eps: [u32; 4] = [n, 1e-6f32.to_bits(), 0, 0];
    rec.dispatch(
        &norm,
        &[(&x).into(), (&normed).into()],
        bytemuck::cast_slice(&eps),
        [1, 1, 1],
    )
    .unwrap();
    rec.gemv(&[(&w1_buf).into()], &normed, &hidden, spec1)
        .unwrap();
    let scale_op = rec
        .dispatch(
            &scale,
            &[(&hidden).into(), (&scaled).into()],
            &scale_params(0.5, m),
            [m.div_ceil(64), 1, 1],
        )
        .unwrap();
    rec.gemv(&[(&w2_buf).into()], &scaled, &out, spec2).unwrap();
    let result = rec.read(&out, 0, u64::from(n) * 4).unwrap();
    assert_eq!(rec.len(), 6);
    let mut replay = rec.finish().unwrap();

    let w1r = reference::round_to(&w1, KernelDtype::Bf16);
    for (token, factor) in [(0u64, 0.5f32), (1, 0.5), (2, -2.0)] {
        if token == 2 {
            replay
                .set_uniforms(&scale_op, &scale_params(factor, m))
                .unwrap();
        }
        let xv = random_f32(n as usize, seed ^ (100 + token));
        replay.write(&input, bytemuck::cast_slice(&xv)).unwrap();
        let report = replay.submit().unwrap().wait().unwrap();
        assert!(report.wall >= report.encode, "{report:?}");
        let got: Vec<f32> = replay.read_vec(&result).unwrap();
        let h = reference::gemv(&w1r, &cpu_rms_norm(&xv), m as usize, n as usize, 1);
        let s: Vec<f32> = h.iter().map(|&v| (v * f64::from(factor)) as f32).collect();
        let want = reference::gemv(&w2, &s, n as usize, m as usize, 1);
        let cmp = reference::compare(&got, &want);
        assert!(
            cmp.passes(reference::CHAIN_TOLERANCE),
            "token {token} (seed {seed}): {cmp:?}"
        );
    }
}

/// The recording gives the same bytes as the one-call methods it is made of.
#[test]
fn a_recording_matches_the_one_call_methods() {
    let Some(ctx) = gpu() else { return };
    let seed = fresh_seed("recording vs one-call");
    let shape = MatmulShape {
        m: 33,
        n: 20,
        k: 17,
    };
    let a = ctx.upload(&random_f32(33 * 17, seed)).unwrap();
    let b = ctx.upload(&random_f32(17 * 20, seed ^ 2)).unwrap();
    let c1 = ctx.create_storage_buffer(33 * 20 * 4, "c1").unwrap();
    let c2 = ctx.create_storage_buffer(33 * 20 * 4, "c2").unwrap();
    let c3 = ctx.create_storage_buffer(33 * 20 * 4, "c3").unwrap();
    ctx.matmul(&a, &b, &c1, shape).unwrap();
    let mut rec = ctx.record();
    rec.matmul(&a, &b, &c2, shape).unwrap();
    rec.copy(&c2, 0, &c3, 0, 33 * 20 * 4).unwrap();
    let timing = rec.run().unwrap();
    assert!(timing.ops.is_empty(), "ops are timed only when asked");
    let one_call = ctx.read_back::<f32>(&c1, 33 * 20).unwrap();
    assert_eq!(ctx.read_back::<f32>(&c2, 33 * 20).unwrap(), one_call);
    assert_eq!(ctx.read_back::<f32>(&c3, 33 * 20).unwrap(), one_call);
}

/// Ops see each other's writes in order: a chain of writes, clears and copies through one
/// buffer ends with the last value, and each op can be timed on its own where the device
/// allows timestamps inside passes.
#[test]
fn ops_run_in_order_and_can_be_timed_one_by_one() {
    let Some(ctx) = gpu() else { return };
    let scale = scale_kernel(&ctx);
    let a = ctx.create_storage_buffer(256, "a").unwrap();
    let b = ctx.create_storage_buffer(256, "b").unwrap();
    let mut rec = ctx.record().time_each_op(true);
    rec.write(&a, 0, bytemuck::cast_slice(&[1.0f32; 64]))
        .unwrap();
    for i in 0..10 {
        let (from, to) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        rec.dispatch(
            &scale,
            &[from.into(), to.into()],
            &scale_params(2.0, 64),
            [1, 1, 1],
        )
        .unwrap();
    }
    rec.clear(&b, 0, 128).unwrap();
    let slot = rec.read(&a, 0, 256).unwrap();
    let mut replay = rec.finish().unwrap();
    let report = replay.submit().unwrap().wait().unwrap();
    let got: Vec<f32> = replay.read_vec(&slot).unwrap();
    assert!(got.iter().all(|&v| v == 1024.0), "{:?}", &got[..4]);
    assert_eq!(ctx.read_back::<f32>(&b, 64).unwrap()[..32], [0.0; 32]);
    if replay.ops_timed() {
        assert_eq!(report.ops.len(), 10, "{report:?}");
    } else {
        assert!(report.ops.is_empty());
        eprintln!("this device has no timestamps inside passes: per-op timing not checked");
    }
    if ctx
        .features()
        .contains(strata::wgpu::Features::TIMESTAMP_QUERY)
    {
        assert!(replay.gpu_timed());
    }
}

/// Whether an error is the one a check expects.
type IsExpected = fn(&Error) -> bool;

/// Bad ops are typed errors when they are added, and leave the recording as it was.
#[test]
fn bad_ops_are_refused_before_anything_is_submitted() {
    let Some(ctx) = gpu() else { return };
    let scale = scale_kernel(&ctx);
    let x = ctx.upload(&[1.0f32; 64]).unwrap();
    let y = ctx.create_storage_buffer(256, "y").unwrap();
    let small = ctx.create_storage_buffer(16, "small").unwrap();
    let uniform_only = ctx.device().create_buffer(&strata::wgpu::BufferDescriptor {
        label: Some("not storage"),
        size: 256,
        usage: strata::wgpu::BufferUsages::UNIFORM,
        mapped_at_creation: false,
    });
    let spec = GemvSpec {
        rows: 8,
        cols: 8,
        batch: 1,
        dtype: KernelDtype::F32,
    };
    let mut rec = ctx.record();
    let params = scale_params(1.0, 64);
    let checks: Vec<(&str, Result<(), Error>, IsExpected)> = vec![
        (
            "too few bindings",
            rec.dispatch(&scale, &[(&x).into()], &params, [1, 1, 1])
                .map(drop),
            |e| matches!(e, Error::Shape(_)),
        ),
        (
            "uniforms of the wrong size",
            rec.dispatch(&scale, &[(&x).into(), (&y).into()], &params[..8], [1, 1, 1])
                .map(drop),
            |e| matches!(e, Error::Shape(_)),
        ),
        (
            "read and written through two bindings",
            rec.dispatch(&scale, &[(&x).into(), (&x).into()], &params, [1, 1, 1])
                .map(drop),
            |e| matches!(e, Error::InvalidArgument(_)),
        ),
        (
            "a grid over the limit",
            rec.dispatch(
                &scale,
                &[(&x).into(), (&y).into()],
                &params,
                [u32::MAX, 1, 1],
            )
            .map(drop),
            |e| matches!(e, Error::LimitExceeded { .. }),
        ),
        (
            "a binding without STORAGE",
            rec.dispatch(
                &scale,
                &[(&x).into(), (&uniform_only).into()],
                &params,
                [1, 1, 1],
            )
            .map(drop),
            |e| matches!(e, Error::InvalidArgument(_)),
        ),
        (
            "a range outside the buffer",
            rec.dispatch(
                &scale,
                &[Operand::range(&x, 0, 512), (&y).into()],
                &params,
                [1, 1, 1],
            )
            .map(drop),
            |e| matches!(e, Error::InvalidArgument(_)),
        ),
        (
            "a gemv whose y is too small",
            rec.gemv(&[(&x).into()], &x, &small, spec).map(drop),
            |e| matches!(e, Error::Shape(_)),
        ),
        ("an overlapping copy", rec.copy(&x, 0, &x, 64, 128), |e| {
            matches!(e, Error::InvalidArgument(_))
        }),
        ("a copy of a partial word", rec.copy(&x, 0, &y, 0, 6), |e| {
            matches!(e, Error::InvalidArgument(_))
        }),
        (
            "a write past the end",
            rec.write(&small, 8, &[0u8; 16]).map(drop),
            |e| matches!(e, Error::InvalidArgument(_)),
        ),
        (
            "a read of a buffer without COPY_SRC",
            rec.read(&uniform_only, 0, 16).map(drop),
            |e| matches!(e, Error::InvalidArgument(_)),
        ),
    ];
    for (what, result, expected) in checks {
        match result {
            Err(e) if expected(&e) => {}
            other => panic!("{what}: expected a typed error, got {other:?}"),
        }
    }
    assert!(rec.is_empty(), "refused ops must not be recorded");
    // The same recording still works.
    rec.dispatch(&scale, &[(&x).into(), (&y).into()], &params, [1, 1, 1])
        .unwrap();
    rec.run().unwrap();
    assert_eq!(ctx.read_back::<f32>(&y, 64).unwrap(), vec![1.0; 64]);
}

/// Slots of one recording are refused by another, and lengths must match.
#[test]
fn slots_belong_to_their_recording() {
    let Some(ctx) = gpu() else { return };
    let y = ctx.create_storage_buffer(64, "y").unwrap();
    let mut first = ctx.record();
    let w1 = first.write(&y, 0, &[0u8; 16]).unwrap();
    let r1 = first.read(&y, 0, 16).unwrap();
    let mut second = ctx.record();
    let w2 = second.write(&y, 0, &[0u8; 16]).unwrap();
    let mut one = first.finish().unwrap();
    let mut two = second.finish().unwrap();
    assert!(matches!(
        one.write(&w2, &[0u8; 16]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        two.read(&r1, &mut [0u8; 16]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(one.write(&w1, &[0u8; 12]), Err(Error::Shape(_))));
    assert!(
        matches!(
            one.read(&r1, &mut [0u8; 16]),
            Err(Error::InvalidArgument(_))
        ),
        "nothing was submitted yet"
    );
    one.write(&w1, bytemuck::cast_slice(&[7u32; 4])).unwrap();
    one.submit().unwrap().wait().unwrap();
    let mut out = [0u8; 16];
    one.read(&r1, &mut out).unwrap();
    assert_eq!(bytemuck::cast_slice::<u8, u32>(&out), [7; 4]);
}

/// WGSL errors come back as `Error::Kernel` with naga's position; a shader whose bindings do
/// not match its description is refused at compile time.
#[test]
fn application_kernels_that_do_not_compile_are_typed_errors() {
    let Some(ctx) = gpu() else { return };
    let broken = ctx.compile_kernel(&KernelSource {
        label: "broken",
        wgsl: "@compute @workgroup_size(1) fn main() { let x: f32 = ; }",
        entry_point: "main",
        bindings: &[],
        uniform_bytes: 0,
    });
    match broken {
        Err(Error::Kernel { kernel, message }) => {
            assert_eq!(kernel, "broken");
            assert!(
                message.contains(":1:"),
                "naga's position is in the message: {message}"
            );
        }
        other => panic!("expected Error::Kernel, got {other:?}"),
    }
    let no_entry = ctx.compile_kernel(&KernelSource {
        label: "no entry",
        wgsl: "@compute @workgroup_size(1) fn main() {}",
        entry_point: "other",
        bindings: &[],
        uniform_bytes: 0,
    });
    assert!(
        matches!(no_entry, Err(Error::Kernel { .. })),
        "{no_entry:?}"
    );
    // The shader writes binding 1, the description says it is read-only.
    let mismatched = ctx.compile_kernel(&KernelSource {
        label: "mismatched",
        wgsl: SCALE,
        entry_point: "main",
        bindings: &[Access::Read, Access::Read],
        uniform_bytes: 16,
    });
    assert!(
        matches!(mismatched, Err(Error::Kernel { .. })),
        "{mismatched:?}"
    );
    // A uniform block smaller than the shader's struct.
    let small_uniforms = ctx.compile_kernel(&KernelSource {
        label: "small uniforms",
        wgsl: SCALE,
        entry_point: "main",
        bindings: &[Access::Read, Access::ReadWrite],
        uniform_bytes: 4,
    });
    assert!(
        matches!(small_uniforms, Err(Error::Kernel { .. })),
        "{small_uniforms:?}"
    );
}

/// A buffer destroyed after it was recorded makes the submission a typed error; the context
/// and other recordings carry on.
#[test]
fn a_destroyed_buffer_fails_the_submission_not_the_process() {
    let Some(ctx) = gpu() else { return };
    let scale = scale_kernel(&ctx);
    let x = ctx.upload(&[1.0f32; 64]).unwrap();
    let y = ctx.create_storage_buffer(256, "y").unwrap();
    let doomed = ctx.create_storage_buffer(256, "doomed").unwrap();
    let mut rec = ctx.record();
    rec.dispatch(
        &scale,
        &[(&x).into(), (&doomed).into()],
        &scale_params(3.0, 64),
        [1, 1, 1],
    )
    .unwrap();
    let mut replay = rec.finish().unwrap();
    doomed.destroy();
    match replay.submit() {
        Err(Error::Gpu { .. }) => {}
        other => panic!(
            "expected a GPU error for a destroyed buffer, got {:?}",
            other.map(|_| ())
        ),
    }
    let mut other = ctx.record();
    other
        .dispatch(
            &scale,
            &[(&x).into(), (&y).into()],
            &scale_params(3.0, 64),
            [1, 1, 1],
        )
        .unwrap();
    other.run().unwrap();
    assert_eq!(ctx.read_back::<f32>(&y, 64).unwrap(), vec![3.0; 64]);
}

/// Several threads submit their own replays on one context at once; each sees its own data.
#[test]
fn threads_submit_their_own_replays_on_one_context() {
    let Some(ctx) = gpu() else { return };
    let scale = scale_kernel(&ctx);
    std::thread::scope(|scope| {
        for t in 0..4u32 {
            let (ctx, scale) = (&*ctx, &scale);
            scope.spawn(move || {
                let x = ctx.create_storage_buffer(256, "x").unwrap();
                let y = ctx.create_storage_buffer(256, "y").unwrap();
                let mut rec: Recording<'_> = ctx.record();
                let input = rec.write(&x, 0, &[0u8; 256]).unwrap();
                rec.dispatch(
                    scale,
                    &[(&x).into(), (&y).into()],
                    &scale_params(2.0, 64),
                    [1, 1, 1],
                )
                .unwrap();
                let output = rec.read(&y, 0, 256).unwrap();
                let mut replay = rec.finish().unwrap();
                for i in 0..20u32 {
                    let v = (t * 100 + i) as f32;
                    replay
                        .write(&input, bytemuck::cast_slice(&[v; 64]))
                        .unwrap();
                    replay.submit().unwrap().wait().unwrap();
                    let got: Vec<f32> = replay.read_vec(&output).unwrap();
                    assert!(
                        got.iter().all(|&g| g == 2.0 * v),
                        "thread {t} run {i}: {}",
                        got[0]
                    );
                }
            });
        }
    });
}

/// A submission can be polled, and a handle dropped without waiting does not lose the work.
#[test]
fn submissions_can_be_polled_or_dropped() {
    let Some(ctx) = gpu() else { return };
    let scale = scale_kernel(&ctx);
    let x = ctx.upload(&[1.0f32; 64]).unwrap();
    let y = ctx.create_storage_buffer(256, "y").unwrap();
    let mut rec = ctx.record();
    rec.dispatch(
        &scale,
        &[(&x).into(), (&y).into()],
        &scale_params(5.0, 64),
        [1, 1, 1],
    )
    .unwrap();
    let out = rec.read(&y, 0, 256).unwrap();
    let mut replay = rec.finish().unwrap();
    let submission = replay.submit().unwrap();
    let started = std::time::Instant::now();
    while !submission.is_done().unwrap() {
        assert!(
            started.elapsed().as_secs() < 60,
            "the submission never finished"
        );
        std::thread::yield_now();
    }
    submission.wait().unwrap();
    drop(replay.submit().unwrap());
    let got: Vec<f32> = replay.read_vec(&out).unwrap();
    assert_eq!(got, vec![5.0; 64]);
}

/// A lost device fails the handle with a typed error, never a panic.
#[test]
fn a_lost_device_fails_the_submission() {
    let Some(ctx) = gpu() else { return };
    let scale = scale_kernel(&ctx);
    let x = ctx.upload(&[1.0f32; 64]).unwrap();
    let y = ctx.create_storage_buffer(256, "y").unwrap();
    let mut rec = ctx.record();
    rec.dispatch(
        &scale,
        &[(&x).into(), (&y).into()],
        &scale_params(5.0, 64),
        [1, 1, 1],
    )
    .unwrap();
    let mut replay = rec.finish().unwrap();
    ctx.device().destroy();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        replay.submit().and_then(|s| s.wait()).map(drop)
    }));
    match result {
        Ok(Err(Error::DeviceLost(_) | Error::Gpu { .. })) => {}
        Ok(other) => panic!("expected a typed error after the device was lost, got {other:?}"),
        Err(_) => panic!("a lost device panicked"),
    }
}

/// A long recording goes to the queue in several command buffers; it still runs in order, is
/// timed as a whole (and op by op), and a destroyed buffer fails it before any part runs.
#[test]
fn a_long_recording_runs_in_order_across_command_buffers() {
    let Some(ctx) = gpu() else { return };
    let scale = scale_kernel(&ctx);
    let a = ctx.create_storage_buffer(256, "a").unwrap();
    let b = ctx.create_storage_buffer(256, "b").unwrap();
    let doomed = ctx.create_storage_buffer(256, "doomed").unwrap();
    let build = |with_doomed: bool| {
        let mut rec = ctx.record().time_each_op(true);
        let input = rec
            .write(&a, 0, bytemuck::cast_slice(&[1.0f32; 64]))
            .unwrap();
        for i in 0..100 {
            let (from, to) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
            // Alternately double and halve, with a copy now and then between passes.
            let factor = if i % 4 < 2 { 2.0 } else { 0.5 };
            rec.dispatch(
                &scale,
                &[from.into(), to.into()],
                &scale_params(factor, 64),
                [1, 1, 1],
            )
            .unwrap();
            if i % 25 == 24 {
                rec.copy(to, 0, from, 0, 256).unwrap();
            }
        }
        if with_doomed {
            rec.copy(&a, 0, &doomed, 0, 256).unwrap();
        }
        let out = rec.read(&a, 0, 256).unwrap();
        (rec.finish().unwrap(), input, out)
    };
    let (mut replay, input, out) = build(false);
    for value in [1.0f32, 3.0] {
        replay
            .write(&input, bytemuck::cast_slice(&[value; 64]))
            .unwrap();
        let report = replay.submit().unwrap().wait().unwrap();
        let got: Vec<f32> = replay.read_vec(&out).unwrap();
        assert!(got.iter().all(|&v| v == value), "{value}: {:?}", &got[..4]);
        if replay.ops_timed() {
            assert_eq!(report.ops.len(), 100);
        }
        if replay.gpu_timed() {
            assert!(report.gpu.is_some(), "{report:?}");
        }
    }
    let (mut replay, _, _) = build(true);
    ctx.write_buffer(&a, 0, bytemuck::cast_slice(&[7.0f32; 64]))
        .unwrap();
    doomed.destroy();
    match replay.submit() {
        Err(Error::Destroyed { .. } | Error::Gpu { .. }) => {}
        other => panic!("expected a typed error, got {:?}", other.map(|_| ())),
    }
    ctx.wait_idle().unwrap();
    assert_eq!(
        ctx.read_back::<f32>(&a, 64).unwrap(),
        vec![7.0; 64],
        "no part of the failed submission ran"
    );
}
