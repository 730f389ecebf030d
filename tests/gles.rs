//! The non-Vulkan path at run time: wgpu's OpenGL ES backend (Mesa's llvmpipe through EGL, no
//! display needed). Kernels run; `auto` placement gives a plain wgpu buffer; every explicit
//! placement is the typed `Error::NeedsVulkan`.
//!
//! Run with `cargo test -p strata --features gles --test gles`. With no GL adapter the tests
//! fail when `CI` is set (CI installs `libegl1 libgl1-mesa-dri`); elsewhere they print a loud
//! notice and return early.

use strata::placement::PlacementFeature;
use strata::{Context, Error, MatmulShape, PlaceOptions, Placement, Usage};

fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// A context on the OpenGL ES backend, or `None` (loudly) outside CI when there is none.
fn gl() -> Option<Context> {
    match Context::builder().backends(wgpu::Backends::GL).build() {
        Ok(ctx) => {
            assert_eq!(ctx.adapter_info().backend, wgpu::Backend::Gl);
            Some(ctx)
        }
        Err(e) if in_ci() => {
            panic!("no OpenGL ES adapter in CI (Mesa's EGL and llvmpipe should be installed): {e}")
        }
        Err(e) => {
            eprintln!("\n!!!!!!!! no OpenGL ES adapter: GL test NOT RUN: {e} !!!!!!!!\n");
            None
        }
    }
}

#[test]
fn kernels_run_on_gl() {
    let Some(ctx) = gl() else { return };
    let (m, k, n) = (33usize, 17usize, 9usize);
    let a = strata::reference::random_f32(m * k, 1);
    let b = strata::reference::random_f32(k * n, 2);
    let a_buf = ctx.upload(&a).unwrap();
    let b_buf = ctx.upload(&b).unwrap();
    let c_buf = ctx.create_storage_buffer((m * n * 4) as u64, "c").unwrap();
    let shape = MatmulShape {
        m: m as u32,
        n: n as u32,
        k: k as u32,
    };
    ctx.matmul(&a_buf, &b_buf, &c_buf, shape).unwrap();
    let c: Vec<f32> = ctx.read_back(&c_buf, m * n).unwrap();
    let cmp = strata::reference::compare(&c, &strata::reference::matmul(&a, &b, m, n, k));
    assert!(cmp.passes(strata::reference::KERNEL_TOLERANCE), "{cmp:?}");
}

#[test]
fn auto_placement_is_a_plain_wgpu_buffer() {
    let Some(ctx) = gl() else { return };
    // 1001 bytes: the last write and read end in a partial word.
    let data: Vec<u8> = (0..1001u32).map(|i| (i * 7 % 251) as u8).collect();
    let placed = ctx
        .place(data.len() as u64, Placement::Auto(Usage::Weights))
        .unwrap();
    assert!(!placed.is_exact());
    assert_eq!(placed.memory_type(), None);
    assert_eq!(placed.heap(), None);
    assert_eq!(placed.flags(), None);
    let info = placed.info();
    assert_eq!(
        (info.exact, info.memory_type, info.placement),
        (false, None, Placement::Auto(Usage::Weights))
    );
    ctx.write_placed(&placed, 0, &data).unwrap();
    assert_eq!(ctx.read_placed(&placed, 0, placed.bytes()).unwrap(), data);
    ctx.write_placed(&placed, 8, &[9, 9, 9, 9]).unwrap();
    assert_eq!(
        ctx.read_placed(&placed, 4, 8).unwrap(),
        [data[4], data[5], data[6], data[7], 9, 9, 9, 9]
    );

    // A placed buffer binds like any other: use it as a matmul operand.
    let x: Vec<f32> = vec![1.0, 2.0, 3.0, 4.0];
    let a = ctx.place(16, Placement::Auto(Usage::Weights)).unwrap();
    ctx.write_placed(&a, 0, bytemuck::cast_slice(&x)).unwrap();
    let b = ctx.upload(&[1.0f32, 1.0, 1.0, 1.0]).unwrap();
    let c = ctx.create_storage_buffer(4, "c").unwrap();
    ctx.matmul(a.buffer(), &b, &c, MatmulShape { m: 1, n: 1, k: 4 })
        .unwrap();
    assert_eq!(ctx.read_back::<f32>(&c, 1).unwrap(), [10.0]);

    let (tensor, skipped) = ctx
        .place_tensor(
            4096,
            64,
            &PlaceOptions::new(Placement::Auto(Usage::Weights)),
        )
        .unwrap();
    assert!(skipped.is_empty());
    let bytes: Vec<u8> = (0..4096u32).map(|i| i as u8).collect();
    ctx.write_tensor(&tensor, &bytes).unwrap();
    assert_eq!(ctx.read_tensor(&tensor).unwrap(), bytes);
}

#[test]
fn explicit_placements_need_vulkan() {
    let Some(ctx) = gl() else { return };
    for placement in [
        Placement::Vram,
        Placement::VramMapped,
        Placement::Host,
        Placement::HostCached,
        Placement::Type(0),
    ] {
        match ctx.place(4096, placement) {
            Err(Error::NeedsVulkan { backend, .. }) => assert_eq!(backend, "gl"),
            other => panic!("{placement}: expected Error::NeedsVulkan, got {other:?}"),
        }
    }
    // An explicit chain ending in `auto` serves, and reports the skipped placement.
    let options = PlaceOptions {
        fallback: vec![Placement::Auto(Usage::Weights)],
        ..PlaceOptions::new(Placement::Vram)
    };
    let (buffer, skipped) = ctx.place_with(4096, &options).unwrap();
    assert!(!buffer.is_exact());
    assert_eq!(skipped.len(), 1);
    assert!(
        skipped[0].reason.contains("needs a Vulkan adapter"),
        "{}",
        skipped[0].reason
    );

    let support = ctx.placement_support();
    assert!(!support.vulkan && !support.memory_budget && !support.memory_priority);
    assert!(support.created_by_strata);
    assert_eq!(support.missing.len(), 1, "{support}");
    assert!(matches!(
        support.require(PlacementFeature::Exact),
        Err(Error::NeedsVulkan { .. })
    ));
    assert!(matches!(ctx.vulkan("test"), Err(Error::NeedsVulkan { .. })));
}
