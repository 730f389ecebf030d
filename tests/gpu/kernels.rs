//! GEMM and GEMV against the f64 CPU reference, on fresh random data (the seed is printed),
//! with outputs poisoned with NaN before every run so an element never written cannot pass.
//!
//! Each result is checked twice: against the reference computed on the inputs as the GPU sees
//! them (rounded to f16/bf16), which isolates the kernel's own arithmetic
//! (`reference::KERNEL_TOLERANCE` for every dtype: accumulation is f32), and against the
//! reference on the unrounded f32 inputs (`reference::end_to_end_tolerance`).

use crate::harness::{fresh_seed, gpu};
use strata::kernels::{
    CoopConfig, GemvConfig, GemvEngine, KernelPath, MatmulConfig, RunOptions, Tuning,
};
use strata::reference::{self, Comparison, KERNEL_TOLERANCE, end_to_end_tolerance};
use strata::{Context, Error, GemmSpec, GemvSpec, KernelDtype, Layout, MatmulShape, Operand};

fn options(path: KernelPath) -> RunOptions {
    RunOptions {
        path,
        ..RunOptions::default()
    }
}

/// A buffer poisoned with NaN, `n` f32 long.
fn poisoned(ctx: &Context, n: usize) -> wgpu::Buffer {
    ctx.upload(&vec![f32::NAN; n]).expect("upload poison")
}

fn upload_as(ctx: &Context, values: &[f32], dtype: KernelDtype) -> wgpu::Buffer {
    ctx.upload(&reference::encode(values, dtype))
        .expect("upload operand")
}

fn assert_close(
    what: &str,
    seed: u64,
    exact: Comparison,
    end_to_end: Comparison,
    dtype: KernelDtype,
) {
    assert!(
        exact.passes(KERNEL_TOLERANCE) && end_to_end.passes(end_to_end_tolerance(dtype)),
        "{what} (seed {seed}): against rounded inputs {exact:?}, against f32 inputs {end_to_end:?}"
    );
}

/// Runs one GEMM on fresh data and checks it; returns the variant that ran.
fn check_gemm(ctx: &Context, spec: GemmSpec, path: KernelPath, seed: u64) -> String {
    check_gemm_with(ctx, spec, options(path), seed)
}

fn check_gemm_with(ctx: &Context, spec: GemmSpec, options: RunOptions, seed: u64) -> String {
    let (m, n, k) = (spec.m as usize, spec.n as usize, spec.k as usize);
    let a = reference::random_f32(m * k, seed);
    let b = reference::random_f32(k * n, seed ^ 0xB);
    let a_buf = upload_as(ctx, &a, spec.dtype);
    let b_buf = upload_as(ctx, &b, spec.dtype);
    let c_buf = poisoned(ctx, m * n);
    let run = ctx
        .gemm_with(&a_buf, &b_buf, &c_buf, spec, options)
        .unwrap_or_else(|e| panic!("gemm {spec:?} (seed {seed}): {e}"));
    let c = ctx.read_back::<f32>(&c_buf, m * n).expect("read C");
    let reference_of = |a: &[f32], b: &[f32]| match spec.layout {
        Layout::NN => reference::matmul(a, b, m, n, k),
        Layout::NT => reference::matmul_nt(a, b, m, n, k),
    };
    let exact = reference::compare(
        &c,
        &reference_of(
            &reference::round_to(&a, spec.dtype),
            &reference::round_to(&b, spec.dtype),
        ),
    );
    let end_to_end = reference::compare(&c, &reference_of(&a, &b));
    let what = format!(
        "gemm {}x{}x{} {} {} via {}",
        m, n, k, spec.dtype, spec.layout, run.variant
    );
    assert_close(&what, seed, exact, end_to_end, spec.dtype);
    run.variant
}

/// f16 GEMMs run on cooperative matrices exactly when the context has them (on lavapipe it
/// does not: the FMA path runs), and are right on shapes whose tiles of C cross the matrix's
/// edges; `KernelPath::Fma` always takes the FMA path. Where the adapter offers cooperative
/// matrices but the installed validation layer predates them (so the validated context leaves
/// them off), they are checked on a second context without validation, and the test says so.
#[test]
fn f16_gemm_takes_cooperative_matrices_where_offered() {
    let Some(ctx) = gpu() else { return };
    let seed = fresh_seed("f16_gemm_takes_cooperative_matrices_where_offered");
    let offered = ctx
        .adapter()
        .features()
        .contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX);
    let mut contexts: Vec<&Context> = vec![&ctx];
    let unvalidated;
    if offered && !strata::adapter::validation_layer_knows_cooperative_matrix() {
        eprintln!(
            "\n!!!!!!!! the validation layer predates cooperative matrices: they are checked \
             on a context WITHOUT validation !!!!!!!!\n"
        );
        unvalidated = Context::builder()
            .validation(false)
            .build()
            .expect("a context without validation");
        contexts.push(&unvalidated);
    }
    // (m, n, k): cooperative matrices take K and N multiples of 8 (the last shape does not).
    let shapes = [
        (1, 8, 8),
        (127, 136, 40),
        (129, 256, 64),
        (256, 264, 104),
        (300, 8, 4096),
        (5, 12, 20),
    ];
    for ctx in contexts {
        let coop = ctx.cooperative_gemm();
        eprintln!("cooperative GEMM: {coop:?}");
        for (i, &(m, n, k)) in shapes.iter().enumerate() {
            for layout in [Layout::NN, Layout::NT] {
                let spec = GemmSpec {
                    m,
                    n,
                    k,
                    dtype: KernelDtype::F16,
                    layout,
                };
                let seed = seed.wrapping_add(i as u64);
                let variant = check_gemm(ctx, spec, KernelPath::Auto, seed);
                assert_eq!(
                    variant.starts_with("gemm_coop/"),
                    coop.is_some() && CoopConfig::takes(k, n),
                    "{spec:?} ran {variant}"
                );
                let fma = check_gemm(ctx, spec, KernelPath::Fma, seed);
                assert!(fma.starts_with("gemm/f16/"), "{spec:?} with Fma ran {fma}");
            }
        }
    }
}

/// A second context without validation when the adapter offers cooperative matrices but the
/// installed validation layer predates them (the validated context leaves them off); says so.
fn unvalidated_coop_context(ctx: &Context) -> Option<Context> {
    let offered = ctx
        .adapter()
        .features()
        .contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX);
    if !offered || strata::adapter::validation_layer_knows_cooperative_matrix() {
        return None;
    }
    eprintln!(
        "\n!!!!!!!! the validation layer predates cooperative matrices: they are checked on a \
         context WITHOUT validation !!!!!!!!\n"
    );
    Some(
        Context::builder()
            .validation(false)
            .build()
            .expect("a context without validation"),
    )
}

/// Every cooperative-matrix tile configuration (the table's and the sweep's), for f16 and
/// bf16, both layouts, with and without split K, on a shape with edges in M, N and K. Where
/// the device has no cooperative matrices, asking for them is a typed error.
#[test]
fn coop_gemm_every_tile_configuration_dtype_layout_and_split() {
    let Some(ctx) = gpu() else { return };
    let seed = fresh_seed("coop_gemm_every_tile_configuration_dtype_layout_and_split");
    let unvalidated = unvalidated_coop_context(&ctx);
    let ctx: &Context = unvalidated.as_ref().unwrap_or(&ctx);
    let mut tiles: Vec<CoopConfig> = Tuning::all()
        .iter()
        .flat_map(|t| t.coop_tiles.iter().copied())
        .chain(strata::kernels::COOP_SWEEP_TILES.iter().copied())
        .collect();
    tiles.sort_by_key(|t| t.to_string());
    tiles.dedup();
    let Some(coop) = ctx.cooperative_gemm() else {
        let offered = ctx
            .adapter()
            .cooperative_matrix_properties()
            .iter()
            .any(|p| {
                (p.m_size, p.n_size, p.k_size) == (16, 16, 16)
                    && p.ab_type == wgpu::CooperativeScalarType::F16
                    && p.cr_type == wgpu::CooperativeScalarType::F32
            });
        if offered {
            eprintln!(
                "\n!!!!!!!! the adapter offers 16x16x16 f16 cooperative matrices but this context \
                 does not use them: the cooperative-matrix GEMM is NOT checked here !!!!!!!!\n"
            );
        }
        eprintln!(
            "coop_gemm_every_tile_configuration_dtype_layout_and_split: no cooperative matrices \
             on this device; checking that asking for them is refused"
        );
        let buf = ctx.upload(&[0f32; 64]).unwrap();
        let spec = GemmSpec {
            m: 8,
            n: 8,
            k: 8,
            dtype: KernelDtype::F16,
            layout: Layout::NT,
        };
        if ctx.features().contains(wgpu::Features::SHADER_F16) {
            let coop_tiles = RunOptions {
                coop_tiles: Some(tiles[0]),
                ..RunOptions::default()
            };
            assert!(matches!(
                ctx.gemm_with(&buf, &buf, &buf, spec, coop_tiles),
                Err(Error::DeviceLacks { .. })
            ));
        }
        let split = RunOptions {
            splits: Some(2),
            ..RunOptions::default()
        };
        let bf16 = GemmSpec {
            dtype: KernelDtype::Bf16,
            ..spec
        };
        assert!(matches!(
            ctx.gemm_with(&buf, &buf, &buf, bf16, split),
            Err(Error::InvalidArgument(_))
        ));
        return;
    };
    eprintln!("cooperative GEMM: {coop}");
    let limits = ctx.limits();
    for tile in tiles {
        let config = tile.with_subgroup(coop.subgroup);
        if let Err(e) = config.check(&limits) {
            eprintln!("skipped on this device: {e}");
            continue;
        }
        for splits in [1, 3] {
            let options = RunOptions {
                coop_tiles: Some(tile),
                splits: Some(splits),
                ..RunOptions::default()
            };
            // One tile and a few rows and columns more; K: several steps per slice and a
            // partial last step.
            let spec = |dtype, layout| GemmSpec {
                m: config.bm + 5,
                n: config.bn + 8,
                k: config.bk * 4 * splits + 8,
                dtype,
                layout,
            };
            for dtype in [KernelDtype::F16, KernelDtype::Bf16] {
                for layout in [Layout::NN, Layout::NT] {
                    let variant = check_gemm_with(ctx, spec(dtype, layout), options, seed);
                    assert!(
                        variant.starts_with(&format!("gemm_coop/{dtype}/{layout}/{config}")),
                        "{variant}"
                    );
                    assert_eq!(variant.ends_with("/split3"), splits == 3, "{variant}");
                }
            }
        }
    }
}

/// bf16 GEMMs whose inputs hold values with no f16 (above 65280, here 3·10^5 and 10^30) are
/// recomputed with FMAs in the tiles that hold them, so they come out right; elsewhere the
/// tensor cores serve. The FMA path (no cooperative matrices) must be right on them too.
#[test]
fn bf16_gemm_is_right_with_values_beyond_f16() {
    let Some(ctx) = gpu() else { return };
    let seed = fresh_seed("bf16_gemm_is_right_with_values_beyond_f16");
    let unvalidated = unvalidated_coop_context(&ctx);
    let ctx: &Context = unvalidated.as_ref().unwrap_or(&ctx);
    let (m, n, k) = (200usize, 136usize, 264usize);
    for layout in [Layout::NN, Layout::NT] {
        let mut a = reference::random_f32(m * k, seed);
        let b = reference::random_f32(k * n, seed ^ 0xB);
        a[3 * k + 7] = 3.0e5;
        a[(m - 1) * k + k - 1] = -1.0e30;
        let spec = GemmSpec {
            m: m as u32,
            n: n as u32,
            k: k as u32,
            dtype: KernelDtype::Bf16,
            layout,
        };
        let a_buf = upload_as(ctx, &a, KernelDtype::Bf16);
        let b_buf = upload_as(ctx, &b, KernelDtype::Bf16);
        let c_buf = poisoned(ctx, m * n);
        let run = ctx.gemm(&a_buf, &b_buf, &c_buf, spec).unwrap();
        let c = ctx.read_back::<f32>(&c_buf, m * n).unwrap();
        let reference_of = |a: &[f32], b: &[f32]| match layout {
            Layout::NN => reference::matmul(a, b, m, n, k),
            Layout::NT => reference::matmul_nt(a, b, m, n, k),
        };
        let rounded = |v: &[f32]| reference::round_to(v, KernelDtype::Bf16);
        let exact = reference::compare(&c, &reference_of(&rounded(&a), &rounded(&b)));
        let end_to_end = reference::compare(&c, &reference_of(&a, &b));
        let what = format!(
            "bf16 {m}x{n}x{k} {layout} with 3e5 and -1e30 via {}",
            run.variant
        );
        assert_close(&what, seed, exact, end_to_end, KernelDtype::Bf16);
        let coop = ctx.cooperative_gemm().is_some() && ctx.kernel_tuning().coop_bf16;
        assert_eq!(
            run.variant.starts_with("gemm_coop/bf16/"),
            coop,
            "{}",
            run.variant
        );
    }
}

#[test]
fn gemm_matches_the_reference_on_awkward_shapes() {
    let Some(ctx) = gpu() else { return };
    let seed = fresh_seed("gemm_matches_the_reference_on_awkward_shapes");
    let tile = ctx.kernel_tuning().gemm;
    let (bm, bn) = (tile.bm, tile.bn);
    // (m, n, k): ones, primes, tile ± 1, tall and skinny, K much larger than M and N; shapes
    // with K and N multiples of 4 take the fast path, the others the edge path.
    let shapes = [
        (1, 1, 1),
        (127, 251, 509),
        (131, 124, 252),
        (bm - 1, bn - 4, 12),
        (bm + 1, bn + 4, 20),
        (bm - 1, bn - 1, 15),
        (bm + 1, bn + 1, 17),
        (1000, 3, 7),
        (1000, 4, 8),
        (5, 3, 4099),
        (5, 4, 4100),
        (33, 44, 300),
    ];
    let mut variants = std::collections::BTreeSet::new();
    for (i, &(m, n, k)) in shapes.iter().enumerate() {
        for dtype in KernelDtype::ALL {
            for layout in [Layout::NN, Layout::NT] {
                let spec = GemmSpec {
                    m,
                    n,
                    k,
                    dtype,
                    layout,
                };
                let variant = check_gemm(&ctx, spec, KernelPath::Auto, seed.wrapping_add(i as u64));
                let fast = variant.starts_with("gemm/") || variant.starts_with("gemm_coop/");
                assert_eq!(fast, spec.vector_aligned(), "{spec:?} ran {variant}");
                variants.insert(variant);
            }
        }
    }
    eprintln!("gemm variants: {variants:?}");
}

#[test]
fn gemm_generic_path_matches_on_aligned_shapes() {
    let Some(ctx) = gpu() else { return };
    let seed = fresh_seed("gemm_generic_path_matches_on_aligned_shapes");
    for dtype in KernelDtype::ALL {
        for layout in [Layout::NN, Layout::NT] {
            let spec = GemmSpec {
                m: 67,
                n: 72,
                k: 36,
                dtype,
                layout,
            };
            let variant = check_gemm(&ctx, spec, KernelPath::Generic, seed);
            assert!(variant.starts_with("gemm_any/"), "{variant}");
        }
    }
}

/// Every tile configuration of the per-device table (the H100's included), on this device,
/// across several K steps and both tile edges.
#[test]
fn gemm_every_table_tile_configuration() {
    let Some(ctx) = gpu() else { return };
    let seed = fresh_seed("gemm_every_table_tile_configuration");
    let limits = ctx.limits();
    let mut configs: Vec<(MatmulConfig, bool)> = Tuning::all()
        .iter()
        .flat_map(|t| [(t.gemm, true), (t.gemm_any, false)])
        .collect();
    configs.sort_by_key(|(t, fast)| (t.to_string(), *fast));
    configs.dedup();
    for (tiles, fast) in configs {
        let options = RunOptions {
            repeats: 1,
            path: if fast {
                KernelPath::Auto
            } else {
                KernelPath::Generic
            },
            gemm_tiles: Some(tiles),
            ..RunOptions::default()
        };
        // One tile plus an edge in M and N, three and a bit K steps.
        let (m, n, k) = (tiles.bm + 3, tiles.bn + 4, 3 * tiles.bk + 4);
        if let Err(e) = tiles.check(&limits, fast) {
            eprintln!("skipped on this device: {e}");
            continue;
        }
        for dtype in KernelDtype::ALL {
            for layout in [Layout::NN, Layout::NT] {
                let spec = GemmSpec {
                    m,
                    n,
                    k,
                    dtype,
                    layout,
                };
                let variant = check_gemm_with(&ctx, spec, options, seed);
                assert!(variant.ends_with(&tiles.to_string()), "{variant}");
            }
        }
    }
}

#[test]
fn matmul_still_works_and_matches_gemm() {
    let Some(ctx) = gpu() else { return };
    let seed = fresh_seed("matmul_still_works_and_matches_gemm");
    let (m, n, k) = (45usize, 52usize, 61usize);
    let a = reference::random_f32(m * k, seed);
    let b = reference::random_f32(k * n, seed ^ 1);
    let a_buf = ctx.upload(&a).unwrap();
    let b_buf = ctx.upload(&b).unwrap();
    let c_buf = poisoned(&ctx, m * n);
    let shape = MatmulShape {
        m: m as u32,
        n: n as u32,
        k: k as u32,
    };
    ctx.matmul(&a_buf, &b_buf, &c_buf, shape).unwrap();
    let c = ctx.read_back::<f32>(&c_buf, m * n).unwrap();
    let cmp = reference::compare(&c, &reference::matmul(&a, &b, m, n, k));
    assert!(cmp.passes(KERNEL_TOLERANCE), "seed {seed}: {cmp:?}");
    // Explicit tiles for the edge kernel.
    let c_buf = poisoned(&ctx, m * n);
    let config = strata::kernels::MatmulConfig {
        bm: 32,
        bn: 32,
        bk: 8,
        tm: 2,
        tn: 4,
    };
    ctx.matmul_with(&a_buf, &b_buf, &c_buf, shape, config, 2)
        .unwrap();
    let c = ctx.read_back::<f32>(&c_buf, m * n).unwrap();
    let cmp = reference::compare(&c, &reference::matmul(&a, &b, m, n, k));
    assert!(cmp.passes(KERNEL_TOLERANCE), "seed {seed}: {cmp:?}");
}

#[test]
fn gemm_shape_errors_are_typed() {
    let Some(ctx) = gpu() else { return };
    let small = ctx.upload(&[0f32; 16]).unwrap();
    let spec = GemmSpec {
        m: 8,
        n: 8,
        k: 8,
        dtype: KernelDtype::F32,
        layout: Layout::NN,
    };
    match ctx.gemm(&small, &small, &small, spec) {
        Err(Error::Shape(msg)) => assert!(msg.contains("gemm A"), "{msg}"),
        other => panic!("expected a shape error, got {other:?}"),
    }
    let zero = GemmSpec { m: 0, ..spec };
    assert!(matches!(
        ctx.gemm(&small, &small, &small, zero),
        Err(Error::Shape(_))
    ));
}

/// A few outputs whose terms cancel can sit further from the unrounded result, relatively,
/// than the end-to-end tolerance allows, while every output is as close as rounding the
/// weights can make it: |y − y_f32| ≤ u·Σ|w||x| (u the dtype's unit roundoff), plus the
/// kernel's own f32 error.
fn within_rounding_bound(
    y: &[f32],
    unrounded: &[f64],
    w: &[f32],
    x: &[f32],
    spec: GemvSpec,
) -> bool {
    let u = match spec.dtype {
        KernelDtype::F32 => return false,
        KernelDtype::F16 => 2f64.powi(-11),
        KernelDtype::Bf16 => 2f64.powi(-8),
        _ => return false,
    };
    let (rows, cols, batch) = (spec.rows as usize, spec.cols as usize, spec.batch as usize);
    let abs_w: Vec<f32> = w.iter().map(|v| v.abs()).collect();
    let abs_x: Vec<f32> = x.iter().map(|v| v.abs()).collect();
    let scale = reference::gemv(&abs_w, &abs_x, rows, cols, batch);
    y.iter().zip(unrounded).zip(&scale).all(|((&g, &r), &s)| {
        (f64::from(g) - r).abs() <= u * s * (1.0 + 1e-3) + KERNEL_TOLERANCE * s
    })
}

/// W's rows uploaded in parts of `split` rows each and the rest (one buffer when `split` is
/// empty), in the spec's dtype.
fn upload_parts(ctx: &Context, w: &[f32], split: &[u32], spec: GemvSpec) -> Vec<wgpu::Buffer> {
    let cols = spec.cols as usize;
    let rest = spec.rows - split.iter().sum::<u32>();
    let mut start = 0usize;
    split
        .iter()
        .chain(std::iter::once(&rest))
        .map(|&part_rows| {
            let end = start + part_rows as usize * cols;
            let part = upload_as(ctx, &w[start..end], spec.dtype);
            start = end;
            part
        })
        .collect()
}

/// Runs one GEMV on fresh data and checks it. `split` gives the rows of each part but the last
/// (each part in its own buffer); empty means one buffer.
fn check_gemv(ctx: &Context, spec: GemvSpec, split: &[u32], path: KernelPath, seed: u64) -> String {
    check_gemv_with(ctx, spec, split, options(path), seed)
}

fn check_gemv_with(
    ctx: &Context,
    spec: GemvSpec,
    split: &[u32],
    options: RunOptions,
    seed: u64,
) -> String {
    let (rows, cols, batch) = (spec.rows as usize, spec.cols as usize, spec.batch as usize);
    let w = reference::random_f32(rows * cols, seed);
    let x = reference::random_f32(batch * cols, seed ^ 0x5);
    let part_buffers = upload_parts(ctx, &w, split, spec);
    let parts: Vec<Operand<'_>> = part_buffers.iter().map(Operand::from).collect();
    let x_buf = ctx.upload(&x).unwrap();
    let y_buf = poisoned(ctx, batch * rows);
    let run = ctx
        .gemv_with(&parts, &x_buf, &y_buf, spec, options)
        .unwrap_or_else(|e| panic!("gemv {spec:?} (seed {seed}): {e}"));
    let y = ctx.read_back::<f32>(&y_buf, batch * rows).expect("read y");
    let exact = reference::compare(
        &y,
        &reference::gemv(&reference::round_to(&w, spec.dtype), &x, rows, cols, batch),
    );
    let unrounded = reference::gemv(&w, &x, rows, cols, batch);
    let end_to_end = reference::compare(&y, &unrounded);
    let what = format!(
        "gemv {rows}x{cols} batch {batch} {} parts {split:?} via {}",
        spec.dtype, run.variant
    );
    if end_to_end.passes(end_to_end_tolerance(spec.dtype))
        || within_rounding_bound(&y, &unrounded, &w, &x, spec)
    {
        assert!(
            exact.passes(KERNEL_TOLERANCE),
            "{what} (seed {seed}): against rounded inputs {exact:?}"
        );
    } else {
        assert_close(&what, seed, exact, end_to_end, spec.dtype);
    }
    run.variant
}

#[test]
fn gemv_matches_the_reference_on_awkward_shapes() {
    let Some(ctx) = gpu() else { return };
    let seed = fresh_seed("gemv_matches_the_reference_on_awkward_shapes");
    let subgroups = ctx.features().contains(wgpu::Features::SUBGROUP);
    // (rows, cols): ones, primes, aligned for 16-byte loads or not, K much larger than rows.
    let shapes = [
        (1, 1),
        (1, 8),
        (7, 13),
        (127, 509),
        (251, 256),
        (33, 1000),
        (5, 4099),
        (3, 4100),
    ];
    for (i, &(rows, cols)) in shapes.iter().enumerate() {
        for dtype in KernelDtype::ALL {
            for batch in [1, 3, 8] {
                let spec = GemvSpec {
                    rows,
                    cols,
                    batch,
                    dtype,
                };
                let variant = check_gemv(
                    &ctx,
                    spec,
                    &[],
                    KernelPath::Auto,
                    seed.wrapping_add(i as u64),
                );
                let chunk = if dtype == KernelDtype::F32 { 4 } else { 8 };
                let fast = subgroups && cols % chunk == 0;
                let ran_fast = ["gemv/", "gemv_sg/", "gemv_coop/"]
                    .iter()
                    .any(|p| variant.starts_with(p));
                assert_eq!(ran_fast, fast, "{spec:?} ran {variant}");
            }
        }
    }
}

#[test]
fn gemv_every_batch_on_both_paths() {
    let Some(ctx) = gpu() else { return };
    let seed = fresh_seed("gemv_every_batch_on_both_paths");
    for dtype in KernelDtype::ALL {
        for batch in 1..=8 {
            let spec = GemvSpec {
                rows: 67,
                cols: 136,
                batch,
                dtype,
            };
            let auto = check_gemv(&ctx, spec, &[], KernelPath::Auto, seed + u64::from(batch));
            let table = ctx.kernel_tuning().gemv_for(batch, dtype, spec.cols);
            if ctx.features().contains(wgpu::Features::SUBGROUP) {
                let prefix = match table.engine {
                    GemvEngine::Workgroup => "gemv/",
                    GemvEngine::Subgroup => "gemv_sg/",
                    GemvEngine::Cooperative => "gemv_coop/",
                };
                assert!(
                    auto.starts_with(prefix),
                    "{spec:?} ran {auto}, table {table:?}"
                );
            }
            let variant = check_gemv(
                &ctx,
                spec,
                &[],
                KernelPath::Generic,
                seed + u64::from(batch),
            );
            assert!(variant.starts_with("gemv_any/"), "{variant}");
        }
    }
}

/// The GEMV fast path with every thread count and rows-per-workgroup the table can choose
/// (the H100's 256 threads included), a few unrolls, and both ways of reading f16 weights.
#[test]
fn gemv_fast_path_configurations() {
    let Some(ctx) = gpu() else { return };
    if !ctx.features().contains(wgpu::Features::SUBGROUP) {
        eprintln!("gemv_fast_path_configurations: no subgroups on this device; skipped");
        return;
    }
    let seed = fresh_seed("gemv_fast_path_configurations");
    for (threads, f16_loads) in [(64, false), (64, true), (256, true), (256, false)] {
        for (rows, unroll) in [(1, 4), (2, 2), (4, 2), (3, 1)] {
            let config = GemvConfig {
                threads,
                rows,
                unroll,
                max_subgroups: 0,
                f16_loads,
                engine: GemvEngine::Workgroup,
                splits: 0,
            };
            let options = RunOptions {
                gemv: Some(config),
                ..RunOptions::default()
            };
            for dtype in KernelDtype::ALL {
                // Enough columns for the unrolled loop and its tail; rows not a multiple of 4.
                let spec = GemvSpec {
                    rows: 23,
                    cols: 8 * (threads * unroll + 3),
                    batch: 3,
                    dtype,
                };
                let variant = check_gemv_with(&ctx, spec, &[], options, seed);
                assert!(
                    variant.contains(&format!("/{threads}t/{rows}r/u{unroll}/")),
                    "{variant}"
                );
                let f16_loads_apply = dtype == KernelDtype::F16
                    && f16_loads
                    && ctx.features().contains(wgpu::Features::SHADER_F16);
                assert_eq!(variant.ends_with("/f16loads"), f16_loads_apply, "{variant}");
            }
        }
    }
}

/// y = W·x on the cooperative-matrix GEMV with each vector's own scale, checked vector by
/// vector against the f64 reference on the f16 weights (so a vector 10^12 times smaller than
/// another is checked at its own scale). Returns the variant.
fn check_coop_gemv(
    ctx: &Context,
    spec: GemvSpec,
    split: &[u32],
    options: RunOptions,
    x_scales: &[f32],
    seed: u64,
) -> String {
    let (rows, cols, batch) = (spec.rows as usize, spec.cols as usize, spec.batch as usize);
    let w = reference::round_to(&reference::random_f32(rows * cols, seed), KernelDtype::F16);
    let mut x = reference::random_f32(batch * cols, seed ^ 0x5);
    for (b, v) in x.chunks_mut(cols).enumerate() {
        let scale = x_scales[b % x_scales.len()];
        v.iter_mut().for_each(|e| *e *= scale);
    }
    let part_buffers = upload_parts(ctx, &w, split, spec);
    let parts: Vec<Operand<'_>> = part_buffers.iter().map(Operand::from).collect();
    let x_buf = ctx.upload(&x).unwrap();
    let y_buf = poisoned(ctx, batch * rows);
    let run = ctx
        .gemv_with(&parts, &x_buf, &y_buf, spec, options)
        .unwrap_or_else(|e| panic!("gemv {spec:?} (seed {seed}): {e}"));
    let y = ctx.read_back::<f32>(&y_buf, batch * rows).expect("read y");
    let expected = reference::gemv(&w, &x, rows, cols, batch);
    for b in 0..batch {
        let cmp = reference::compare(
            &y[b * rows..(b + 1) * rows],
            &expected[b * rows..(b + 1) * rows],
        );
        assert!(
            cmp.passes(KERNEL_TOLERANCE),
            "gemv {spec:?} parts {split:?} vector {b} (x scale {}) via {} (seed {seed}): {cmp:?}",
            x_scales[b % x_scales.len()],
            run.variant
        );
    }
    run.variant
}

/// The cooperative-matrix GEMV (f16 weights, batches of 2 to 8) with every configuration of
/// the table and the sweep: rows not a multiple of a workgroup's (the last tiles overlap their
/// neighbours), parts of 16 rows and more, columns that leave steps past the end of K, vectors
/// from 10^-30 to 10^30 and all zero (each vector is scaled on its own, nothing overflows f16).
/// The table's choice runs by default at batch 2..8 where the device has it; where it has not,
/// asking for it is a typed error (and an adapter that offers it unused says so loudly).
#[test]
fn gemv_coop_every_configuration_batch_and_scale() {
    let Some(ctx) = gpu() else { return };
    let seed = fresh_seed("gemv_coop_every_configuration_batch_and_scale");
    let unvalidated = unvalidated_coop_context(&ctx);
    let ctx: &Context = unvalidated.as_ref().unwrap_or(&ctx);
    let forced = |threads, rows, unroll, splits| RunOptions {
        gemv: Some(GemvConfig {
            threads,
            rows,
            unroll,
            max_subgroups: 0,
            f16_loads: false,
            engine: GemvEngine::Cooperative,
            splits,
        }),
        ..RunOptions::default()
    };
    let Some(coop) = ctx.cooperative_gemm() else {
        if ctx
            .adapter()
            .features()
            .contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX)
        {
            eprintln!(
                "\n!!!!!!!! the adapter offers cooperative matrices but this context does not use \
                 them: the cooperative-matrix GEMV is NOT checked here !!!!!!!!\n"
            );
        }
        eprintln!(
            "gemv_coop_every_configuration_batch_and_scale: no cooperative matrices on this \
             device; checking that asking for them is refused and the table does not"
        );
        let spec = GemvSpec {
            rows: 32,
            cols: 64,
            batch: 4,
            dtype: KernelDtype::F16,
        };
        let w = ctx.upload(&[0f32; 1024]).unwrap();
        let x = ctx.upload(&[0f32; 256]).unwrap();
        let y = ctx.upload(&[0f32; 128]).unwrap();
        assert!(matches!(
            ctx.gemv_with(&[(&w).into()], &x, &y, spec, forced(256, 1, 4, 1)),
            Err(Error::InvalidArgument(_))
        ));
        let auto = ctx
            .gemv(&[(&w).into()], &x, &y, spec)
            .expect("the FMA kernels");
        assert!(!auto.variant.starts_with("gemv_coop/"), "{}", auto.variant);
        return;
    };
    eprintln!("cooperative GEMM: {coop}");
    let tuning = ctx.kernel_tuning();
    let mut configs: Vec<(u32, u32, u32)> = strata::kernels::GEMV_COOP_SWEEP.to_vec();
    configs.extend(tuning.gemv_coop);
    for (i, &(threads, tiles, unroll)) in configs.iter().enumerate() {
        if threads < coop.subgroup || threads > ctx.limits().max_compute_invocations_per_workgroup {
            eprintln!("skipped on this device: {threads} threads");
            continue;
        }
        let options = forced(threads, tiles, unroll, 1);
        let per_iteration = 16 * (threads / coop.subgroup) * unroll;
        // A configuration whose staging areas exceed this device's shared memory is refused.
        let tiny = GemvSpec {
            rows: 16,
            cols: 16,
            batch: 2,
            dtype: KernelDtype::F16,
        };
        let (w, x, y) = (
            upload_as(ctx, &[0.0; 256], KernelDtype::F16),
            ctx.upload(&[0f32; 32]).unwrap(),
            poisoned(ctx, 32),
        );
        if let Err(Error::InvalidArgument(why)) =
            ctx.gemv_with(&[(&w).into()], &x, &y, tiny, options)
        {
            assert!(why.contains("shared memory"), "{why}");
            eprintln!("skipped on this device: {why}");
            continue;
        }
        for (batch, splits) in (2..=8).flat_map(|b| [(b, 1), (b, 3)]) {
            let seed = seed.wrapping_add(100 * i as u64 + u64::from(batch));
            // Two workgroups of rows and 5 more; K: two iterations and 3 steps (with 3
            // slices: one iteration each, the last partial).
            let spec = GemvSpec {
                rows: 2 * 16 * tiles + 5,
                cols: 2 * per_iteration + 48,
                batch,
                dtype: KernelDtype::F16,
            };
            let options = forced(threads, tiles, unroll, splits);
            let variant = check_coop_gemv(ctx, spec, &[], options, &[1.0], seed);
            assert!(
                variant.starts_with(&format!(
                    "gemv_coop/f16/b{batch}/{threads}t/sg{}/{tiles}rt/u{unroll}",
                    coop.subgroup
                )),
                "{variant}"
            );
            assert_eq!(variant.ends_with("/s3"), splits == 3, "{variant}");
        }
    }
    // Scales and parts on the table's choice, which runs by default.
    let spec = GemvSpec {
        rows: 16 + 17 + 40,
        cols: 1024,
        batch: 8,
        dtype: KernelDtype::F16,
    };
    let scales = [1.0, 1e-30, 0.0, 1e30, 3e-5, 7e4, 1.0, 2.5e-8];
    let variant = check_coop_gemv(ctx, spec, &[16, 17], RunOptions::default(), &scales, seed);
    assert!(variant.starts_with("gemv_coop/"), "{variant}");
    // A part of fewer than 16 rows takes the FMA kernels; asked for by name, a typed error.
    let variant = check_coop_gemv(ctx, spec, &[15], RunOptions::default(), &[1.0], seed);
    assert!(!variant.starts_with("gemv_coop/"), "{variant}");
    let w = upload_as(ctx, &[0.0; 73 * 1024], KernelDtype::F16);
    let x = ctx.upload(&vec![0f32; 8 * 1024]).unwrap();
    let y = poisoned(ctx, 8 * 73);
    let parts = ctx.gemv_parts(&w, &spec).unwrap();
    let odd = GemvSpec { cols: 1016, ..spec };
    assert!(matches!(
        ctx.gemv_with(&parts, &x, &y, odd, forced(256, 1, 4, 1)),
        Err(Error::InvalidArgument(_))
    ));
}

/// The cooperative-matrix GEMV on exact small integers: W[r, c] = 16·(r mod 16) + c mod 16 and
/// x[b, c] = 1 where c is b's own column (and 0 elsewhere), so y[b, r] must be exactly
/// W[r, column of b]: a wrong row, column or vector shows in the printed table.
#[test]
fn gemv_coop_maps_rows_columns_and_vectors_exactly() {
    let Some(ctx) = gpu() else { return };
    let unvalidated = unvalidated_coop_context(&ctx);
    let ctx: &Context = unvalidated.as_ref().unwrap_or(&ctx);
    if ctx.cooperative_gemm().is_none() {
        eprintln!("gemv_coop_maps_rows_columns_and_vectors_exactly: no cooperative matrices here");
        return;
    }
    let (rows, cols, batch) = (32usize, 1024usize, 8usize);
    for column_of in [
        |b: usize| b,
        |b: usize| 17 * b + 3,
        |b: usize| 1023 - 100 * b,
    ] {
        let w: Vec<f32> = (0..rows * cols)
            .map(|i| (16 * ((i / cols) % 16) + (i % cols) % 16) as f32)
            .collect();
        let mut x = vec![0f32; batch * cols];
        for b in 0..batch {
            x[b * cols + column_of(b)] = 1.0;
        }
        let spec = GemvSpec {
            rows: rows as u32,
            cols: cols as u32,
            batch: batch as u32,
            dtype: KernelDtype::F16,
        };
        let w_buf = upload_as(ctx, &w, KernelDtype::F16);
        let x_buf = ctx.upload(&x).unwrap();
        let y_buf = poisoned(ctx, batch * rows);
        let run = ctx.gemv(&[(&w_buf).into()], &x_buf, &y_buf, spec).unwrap();
        let y = ctx.read_back::<f32>(&y_buf, batch * rows).unwrap();
        let mut wrong = Vec::new();
        for b in 0..batch {
            for r in 0..rows {
                let want = w[r * cols + column_of(b)];
                if y[b * rows + r] != want {
                    wrong.push(format!("y[{b}, {r}] = {} (want {want})", y[b * rows + r]));
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "{} ran {}: {} wrong of {}:\n{}",
            "gemv_coop_maps_rows_columns_and_vectors_exactly",
            run.variant,
            wrong.len(),
            batch * rows,
            wrong.join("\n")
        );
    }
}

/// The subgroup-rows engine at every batch and dtype, both ways of reading f16, with the
/// columns split into slices (added up by a second dispatch) or not, on rows that are not a
/// multiple of a workgroup's rows and columns that leave a tail after the unrolled loop.
#[test]
fn gemv_subgroup_engine_every_batch_dtype_and_split() {
    let Some(ctx) = gpu() else { return };
    let Some(subgroup) = ctx.kernel_tuning().fixed_subgroup else {
        eprintln!(
            "gemv_subgroup_engine_every_batch_dtype_and_split: no fixed subgroup size on this \
             device, so no subgroup engine: checking that it is refused"
        );
        let config = GemvConfig {
            engine: GemvEngine::Subgroup,
            ..ctx.kernel_tuning().gemv(2)
        };
        let options = RunOptions {
            gemv: Some(config),
            ..RunOptions::default()
        };
        let spec = GemvSpec {
            rows: 8,
            cols: 64,
            batch: 2,
            dtype: KernelDtype::F32,
        };
        let w = ctx.upload(&[0f32; 512]).unwrap();
        let x = ctx.upload(&[0f32; 128]).unwrap();
        let y = ctx.upload(&[0f32; 16]).unwrap();
        assert!(matches!(
            ctx.gemv_with(&[(&w).into()], &x, &y, spec, options),
            Err(Error::InvalidArgument(_))
        ));
        return;
    };
    if !ctx.features().contains(wgpu::Features::SUBGROUP) {
        eprintln!("gemv_subgroup_engine_every_batch_dtype_and_split: no subgroups; skipped");
        return;
    }
    let seed = fresh_seed("gemv_subgroup_engine_every_batch_dtype_and_split");
    let threads = ctx.kernel_tuning().gemv_threads.max(subgroup);
    for (rows_per_subgroup, unroll, splits) in
        [(1, 4, 1), (2, 2, 3), (4, 2, 1), (4, 1, 2), (8, 1, 4)]
    {
        for (f16_loads, dtypes) in [
            (false, &KernelDtype::ALL[..]),
            (true, &[KernelDtype::F16][..]),
        ] {
            let config = GemvConfig {
                threads,
                rows: rows_per_subgroup,
                unroll,
                max_subgroups: 0,
                f16_loads,
                engine: GemvEngine::Subgroup,
                splits,
            };
            let options = RunOptions {
                gemv: Some(config),
                ..RunOptions::default()
            };
            for &dtype in dtypes {
                for batch in 1..=8 {
                    // Rows: one more than a workgroup's, so the last group is mostly clamped.
                    // Columns: a few unrolled steps per slice plus a tail of 3 chunks.
                    let group_rows = threads / subgroup * rows_per_subgroup;
                    let chunk = if dtype == KernelDtype::F32 { 4 } else { 8 };
                    let spec = GemvSpec {
                        rows: group_rows + 1,
                        cols: chunk * (subgroup * unroll * 2 * splits + 3),
                        batch,
                        dtype,
                    };
                    let variant =
                        check_gemv_with(&ctx, spec, &[], options, seed + u64::from(batch));
                    assert!(variant.starts_with("gemv_sg/"), "{variant}");
                    // Slices are whole subgroup steps, so asking for N may give fewer.
                    let split = variant
                        .rsplit_once("/s")
                        .and_then(|(_, n)| n.parse::<u32>().ok());
                    assert_eq!(split.is_some(), splits > 1, "{spec:?}: {variant}");
                    assert!(split.is_none_or(|n| n >= 2 && n <= splits), "{variant}");
                }
            }
        }
    }
    // Row parts in separate buffers, split: every part writes its rows of each slice.
    let config = GemvConfig {
        threads,
        rows: 2,
        unroll: 1,
        max_subgroups: 0,
        f16_loads: false,
        engine: GemvEngine::Subgroup,
        splits: 2,
    };
    let options = RunOptions {
        gemv: Some(config),
        ..RunOptions::default()
    };
    for dtype in KernelDtype::ALL {
        let spec = GemvSpec {
            rows: 37,
            cols: 8 * subgroup * 4,
            batch: 5,
            dtype,
        };
        check_gemv_with(&ctx, spec, &[10, 12], options, seed ^ 9);
    }
}

#[test]
fn gemv_row_parts_in_separate_buffers() {
    let Some(ctx) = gpu() else { return };
    let seed = fresh_seed("gemv_row_parts_in_separate_buffers");
    for dtype in KernelDtype::ALL {
        // Aligned rows (fast path) in three parts.
        check_gemv(
            &ctx,
            GemvSpec {
                rows: 37,
                cols: 24,
                batch: 2,
                dtype,
            },
            &[10, 10],
            KernelPath::Auto,
            seed,
        );
        // Odd 16-bit rows: every part but the last holds an even number of rows (whole words).
        check_gemv(
            &ctx,
            GemvSpec {
                rows: 9,
                cols: 7,
                batch: 5,
                dtype,
            },
            &[4],
            KernelPath::Auto,
            seed ^ 1,
        );
    }
}

#[test]
fn gemv_part_errors_are_typed() {
    let Some(ctx) = gpu() else { return };
    let spec = GemvSpec {
        rows: 10,
        cols: 8,
        batch: 1,
        dtype: KernelDtype::F32,
    };
    let w = ctx.upload(&[0f32; 80]).unwrap();
    let x = ctx.upload(&[0f32; 8]).unwrap();
    let y = ctx.upload(&[0f32; 10]).unwrap();
    let short = Operand {
        buffer: &w,
        offset: 0,
        size: 128,
    };
    // 4 rows then 4 rows: the last part lacks 2 rows.
    match ctx.gemv(&[short, short], &x, &y, spec) {
        Err(Error::Shape(msg)) => assert!(msg.contains("part 1"), "{msg}"),
        other => panic!("expected a shape error, got {other:?}"),
    }
    let whole = Operand::from(&w);
    assert!(matches!(
        ctx.gemv(&[whole, whole], &x, &y, spec),
        Err(Error::Shape(_))
    ));
    assert!(matches!(ctx.gemv(&[], &x, &y, spec), Err(Error::Shape(_))));
    for batch in [0, 9] {
        let bad = GemvSpec { batch, ..spec };
        assert!(
            matches!(ctx.gemv(&[whole], &x, &y, bad), Err(Error::Shape(_))),
            "batch {batch}"
        );
    }
    let y_short = Operand {
        buffer: &y,
        offset: 0,
        size: 36,
    };
    assert!(matches!(
        ctx.gemv(&[whole], &x, y_short, spec),
        Err(Error::Shape(_))
    ));
}

/// Weights larger than lavapipe's 128 MiB storage binding: split into row parts.
#[test]
fn gemv_weights_larger_than_one_binding() {
    let Some(ctx) = gpu() else { return };
    let seed = fresh_seed("gemv_weights_larger_than_one_binding");
    let limits = ctx.limits();
    let binding = limits.max_storage_buffer_binding_size;
    // Rows of 1000 f32 (4000 bytes), about 1.2 bindings' worth (40000 rows on lavapipe).
    let cols = 1000u32;
    let rows = u32::try_from(binding / 4000 * 6 / 5)
        .unwrap_or(u32::MAX)
        .max(2);
    let spec = GemvSpec {
        rows,
        cols,
        batch: 2,
        dtype: KernelDtype::F32,
    };
    let total = u64::from(rows) * u64::from(cols) * 4;
    if total > limits.max_buffer_size || total > (2u64 << 30) {
        eprintln!(
            "gemv_weights_larger_than_one_binding: {total} bytes do not fit one buffer here; skipped"
        );
        return;
    }
    let (r, c, b) = (rows as usize, cols as usize, 2usize);
    let w = reference::random_f32(r * c, seed);
    let x = reference::random_f32(b * c, seed ^ 7);
    let w_buf = ctx.upload(&w).unwrap();
    let x_buf = ctx.upload(&x).unwrap();
    let y_buf = poisoned(&ctx, b * r);

    // As one part it is too large to bind.
    match ctx.gemv(&[Operand::from(&w_buf)], &x_buf, &y_buf, spec) {
        Err(Error::TooLarge { .. }) => {}
        other => panic!("expected TooLarge, got {other:?}"),
    }

    let parts = ctx.gemv_parts(&w_buf, &spec).unwrap();
    assert!(parts.len() >= 2, "{} parts", parts.len());
    let run = ctx.gemv(&parts, &x_buf, &y_buf, spec).unwrap();
    let y = ctx.read_back::<f32>(&y_buf, b * r).unwrap();
    let cmp = reference::compare(&y, &reference::gemv(&w, &x, r, c, b));
    assert!(
        cmp.passes(KERNEL_TOLERANCE),
        "{rows}x{cols} in {} parts via {} (seed {seed}): {cmp:?}",
        parts.len(),
        run.variant
    );
    eprintln!(
        "gemv {rows}x{cols} f32 batch 2 in {} parts: {:.1} ms ({:?}), {}",
        parts.len(),
        run.timing.seconds * 1e3,
        run.timing.clock,
        run.variant
    );
}

/// More row groups than one grid dimension allows (65535 on most devices): a 2-D grid.
#[test]
fn gemv_rows_beyond_one_grid_dimension() {
    let Some(ctx) = gpu() else { return };
    let seed = fresh_seed("gemv_rows_beyond_one_grid_dimension");
    let max = ctx.limits().max_compute_workgroups_per_dimension;
    let rows = max + 7;
    for path in [KernelPath::Auto, KernelPath::Generic] {
        let spec = GemvSpec {
            rows,
            cols: 8,
            batch: 1,
            dtype: KernelDtype::Bf16,
        };
        check_gemv(&ctx, spec, &[], path, seed);
    }
}
