//! Quantized GEMV and GEMM against the CPU reference, on fresh random blocks (the seed is
//! printed), outputs poisoned with NaN before every run.
//!
//! The kernels decode every weight exactly as ggml does (the dequantization test below checks
//! it bit for bit), so their only error is f32 summation, as for f32 weights: results are held to
//! `reference::KERNEL_TOLERANCE` relative to the f64 reference on the dequantized weights (a dot
//! product of k terms in f32 is off by about √k·2^-24 of its magnitude, 2e-6 for k = 4096, and
//! these shapes are smaller).
//! Random blocks carry scales of every kind (zero, subnormal, negative, up to 16).

use crate::harness::{fresh_seed, gpu};
use strata::kernels::{GemvConfig, GemvEngine, KernelPath, MatmulConfig, RunOptions};
use strata::reference::{self, F16_ROUNDING_TOLERANCE, KERNEL_TOLERANCE, quant};
use strata::{Context, Error, GemmSpec, GemvSpec, KernelDtype, Layout, Operand};

/// A buffer poisoned with NaN, `n` f32 long.
fn poisoned(ctx: &Context, n: usize) -> wgpu::Buffer {
    ctx.upload(&vec![f32::NAN; n]).expect("upload poison")
}

/// Uploads bytes padded to whole words.
fn upload_bytes(ctx: &Context, bytes: &[u8]) -> wgpu::Buffer {
    let mut padded = bytes.to_vec();
    padded.resize(bytes.len().div_ceil(4) * 4, 0);
    ctx.upload(&padded).expect("upload weights")
}

fn options(path: KernelPath) -> RunOptions {
    RunOptions {
        path,
        ..RunOptions::default()
    }
}

/// Runs one quantized GEMV on random blocks, with the weights cut into separate buffers after
/// the rows in `splits`, and checks it; returns the variant that ran.
fn check_gemv(
    ctx: &Context,
    spec: GemvSpec,
    splits: &[u32],
    options: RunOptions,
    seed: u64,
) -> String {
    let (rows, cols, batch) = (spec.rows as usize, spec.cols as usize, spec.batch as usize);
    let dtype = spec.dtype;
    let blocks = rows * cols / dtype.block_elements() as usize;
    let bytes = quant::random_blocks(dtype, blocks, seed).expect("random blocks");
    let w = quant::dequantize(dtype, &bytes).expect("dequantize");
    let x = reference::random_f32(batch * cols, seed ^ 0x5);
    let row_bytes = spec.row_bytes() as usize;
    let mut cuts: Vec<usize> = splits.iter().map(|&r| r as usize * row_bytes).collect();
    cuts.insert(0, 0);
    cuts.push(bytes.len());
    let buffers: Vec<wgpu::Buffer> = cuts
        .windows(2)
        .map(|c| upload_bytes(ctx, &bytes[c[0]..c[1]]))
        .collect();
    let parts: Vec<Operand<'_>> = buffers.iter().map(Operand::from).collect();
    let x_buf = ctx.upload(&x).expect("upload x");
    let y_buf = poisoned(ctx, batch * rows);
    let run = ctx
        .gemv_with(&parts, &x_buf, &y_buf, spec, options)
        .unwrap_or_else(|e| panic!("gemv {spec:?} (seed {seed}): {e}"));
    let y = ctx.read_back::<f32>(&y_buf, batch * rows).expect("read y");
    let exact = reference::gemv(&w, &x, rows, cols, batch);
    let cmp = reference::compare(&y, &exact);
    let abs = |v: &[f32]| v.iter().map(|a| a.abs()).collect::<Vec<f32>>();
    let magnitude = reference::gemv(&abs(&w), &abs(&x), rows, cols, batch);
    assert!(
        cmp.passes(KERNEL_TOLERANCE)
            || reference::within_f32_sum_bound(&y, &exact, &magnitude, cols),
        "gemv {rows}x{cols} {dtype} batch {batch} in {} part(s) via {} (seed {seed}): {cmp:?}",
        parts.len(),
        run.variant
    );
    run.variant
}

fn spec(dtype: KernelDtype, rows: u32, blocks: u32, batch: u32) -> GemvSpec {
    GemvSpec {
        rows,
        cols: blocks * dtype.block_elements(),
        batch,
        dtype,
    }
}

/// Every type, every batch, both kernels, on rows that are not a multiple of a workgroup's rows
/// (7), rows of one block and of many (odd and even counts, so that 2-byte-aligned blocks start
/// at both word halves).
#[test]
fn quantized_gemv_every_type_and_batch_on_both_kernels() {
    let Some(ctx) = gpu() else { return };
    let seed = fresh_seed("quantized_gemv_every_type_and_batch_on_both_kernels");
    let subgroups = ctx.features().contains(wgpu::Features::SUBGROUP);
    for dtype in KernelDtype::QUANTIZED {
        for batch in 1..=8 {
            let s = seed.wrapping_add(u64::from(batch));
            for (rows, blocks) in [(7, 1), (5, 3), (2, 4)] {
                let shape = spec(dtype, rows, blocks, batch);
                let variant = check_gemv(&ctx, shape, &[], options(KernelPath::Auto), s);
                let table = ctx.gemv_config(batch, dtype, shape.cols);
                let fast = match table.engine {
                    GemvEngine::Subgroup => "gemv_quant_sg/",
                    _ => "gemv_quant/",
                };
                assert_eq!(
                    variant.starts_with(fast),
                    subgroups,
                    "{shape:?} ran {variant}, table {table:?}"
                );
            }
            let shape = spec(dtype, 3, 5, batch);
            let variant = check_gemv(&ctx, shape, &[], options(KernelPath::Generic), s);
            assert!(variant.starts_with("gemv_quant_any/"), "{variant}");
        }
    }
}

/// Long rows (the unrolled loop runs several times, with a partial last step), rows that are a
/// prime number, and every kernel parameter the CLI can set within the table's range.
#[test]
fn quantized_gemv_long_rows_and_configurations() {
    let Some(ctx) = gpu() else { return };
    let seed = fresh_seed("quantized_gemv_long_rows_and_configurations");
    for dtype in KernelDtype::QUANTIZED {
        // 4096 columns for the K-quants, 1024 for the others: 128 chunks a row.
        let blocks =
            4096 / dtype.block_elements() / if dtype.block_elements() == 32 { 4 } else { 1 };
        check_gemv(
            &ctx,
            spec(dtype, 13, blocks, 1),
            &[],
            options(KernelPath::Auto),
            seed,
        );
        check_gemv(
            &ctx,
            spec(dtype, 11, blocks + 1, 8),
            &[],
            options(KernelPath::Auto),
            seed,
        );
    }
    if !ctx.features().contains(wgpu::Features::SUBGROUP) {
        eprintln!(
            "quantized_gemv_long_rows_and_configurations: no subgroups here; no configurations"
        );
        return;
    }
    for (threads, rows, unroll) in [(64, 1, 1), (64, 3, 2), (256, 2, 4), (128, 4, 1), (64, 8, 3)] {
        let config = GemvConfig {
            threads,
            rows,
            unroll,
            max_subgroups: 0,
            f16_loads: false,
            engine: GemvEngine::Workgroup,
            splits: 1,
        };
        let options = RunOptions {
            gemv: Some(config),
            ..RunOptions::default()
        };
        for dtype in [
            KernelDtype::Q4_0,
            KernelDtype::Q8_0,
            KernelDtype::Q4K,
            KernelDtype::Q6K,
        ] {
            let shape = spec(dtype, 19, 9, 3);
            let variant = check_gemv(&ctx, shape, &[], options, seed);
            assert!(
                variant.contains(&format!("/{threads}t/{rows}r/u{unroll}/")),
                "{variant}"
            );
        }
    }
}

/// The subgroup-rows engine (`gemv_quant_sg.wgsl`) forced on, for every type and batch: rows
/// one more than a workgroup's (the last group mostly clamped), a single row, a row count that
/// is no multiple of anything, rows of one block and rows whose chunks end in a partial unrolled
/// step; row parts in separate buffers; a 2-D grid. Lavapipe (CI) has a fixed subgroup size
/// (8), so there the engine must run: without one this test fails rather than skip it.
#[test]
fn quantized_gemv_subgroup_engine() {
    let Some(ctx) = gpu() else { return };
    let tuning = ctx.kernel_tuning();
    let info = ctx.adapter_info();
    let lavapipe = info.name.contains("llvmpipe") || info.driver.contains("llvmpipe");
    let subgroups = ctx.features().contains(wgpu::Features::SUBGROUP);
    let Some(subgroup) = tuning.fixed_subgroup.filter(|_| subgroups) else {
        assert!(
            !lavapipe,
            "lavapipe without SUBGROUP or a fixed subgroup size ({tuning:?}): the quantized \
             subgroup engine would go unchecked in CI"
        );
        eprintln!(
            "\n!!!!!!!! quantized_gemv_subgroup_engine: no fixed subgroup size on {}: the \
             subgroup engine is NOT RUN, checking that it is refused !!!!!!!!\n",
            info.name
        );
        let config = GemvConfig {
            engine: GemvEngine::Subgroup,
            ..ctx.gemv_config(1, KernelDtype::Q4K, 256)
        };
        let shape = spec(KernelDtype::Q4K, 4, 1, 1);
        let w = upload_bytes(&ctx, &quant::random_blocks(KernelDtype::Q4K, 4, 1).unwrap());
        let x = ctx.upload(&[0f32; 256]).unwrap();
        let y = ctx.upload(&[0f32; 4]).unwrap();
        let refused = ctx.gemv_with(&[(&w).into()], &x, &y, shape, sg_options(config));
        assert!(
            matches!(refused, Err(Error::InvalidArgument(_))) || !subgroups,
            "{refused:?}"
        );
        return;
    };
    let seed = fresh_seed("quantized_gemv_subgroup_engine");
    let threads = tuning.gemv_threads.max(subgroup);
    // (threads, rows per subgroup, unroll) and the batches of each: every batch, 2 rows with 4
    // in flight at batch 1, one row, and a workgroup of one subgroup with
    // 3 rows. Few enough pipelines for lavapipe to compile in about half a minute.
    let all: Vec<u32> = (1..=8).collect();
    let configs: [(u32, u32, u32, &[u32]); 4] = [
        (threads, 2, 2, &all),
        (threads, 2, 4, &[1]),
        (threads, 1, 1, &[8]),
        (subgroup, 3, 3, &[1, 6]),
    ];
    for (threads, rows, unroll, batches) in configs {
        let config = GemvConfig {
            threads,
            rows,
            unroll,
            max_subgroups: 0,
            f16_loads: false,
            engine: GemvEngine::Subgroup,
            splits: 1,
        };
        let group_rows = threads / subgroup * rows;
        for dtype in KernelDtype::QUANTIZED {
            let chunks_per_block =
                dtype.block_elements() / if dtype.block_elements() == 32 { 8 } else { 32 };
            // Two unrolled steps of a subgroup and one block more: a partial last step.
            let long = (2 * subgroup * unroll).div_ceil(chunks_per_block) + 1;
            for &batch in batches {
                let s = seed.wrapping_add(u64::from(batch));
                for (rows, blocks) in [(group_rows + 1, long), (1, 1), (7, 3)] {
                    let shape = spec(dtype, rows, blocks, batch);
                    let variant = check_gemv(&ctx, shape, &[], sg_options(config), s);
                    let want = format!(
                        "gemv_quant_sg/{dtype}/b{batch}/{threads}t/sg{subgroup}/{}r/u{unroll}",
                        config.rows
                    );
                    assert_eq!(variant, want, "{shape:?}");
                }
            }
        }
    }
    let config = GemvConfig {
        threads,
        rows: 2,
        unroll: 2,
        max_subgroups: 0,
        f16_loads: false,
        engine: GemvEngine::Subgroup,
        splits: 1,
    };
    for dtype in KernelDtype::QUANTIZED {
        // Row parts in separate buffers, starting at odd word halves for 2-byte-aligned blocks.
        check_gemv(
            &ctx,
            spec(dtype, 23, 3, 2),
            &[5, 12],
            sg_options(config),
            seed,
        );
    }
    // More row groups than one grid dimension allows: one subgroup of one row a workgroup.
    let max = ctx.limits().max_compute_workgroups_per_dimension;
    let one = GemvConfig {
        threads: subgroup,
        rows: 1,
        unroll: 1,
        ..config
    };
    for dtype in [KernelDtype::Q4_0, KernelDtype::Q4K] {
        let variant = check_gemv(&ctx, spec(dtype, max + 3, 1, 1), &[], sg_options(one), seed);
        assert!(variant.starts_with("gemv_quant_sg/"), "{variant}");
    }
    // Column slices are refused, typed.
    let split = GemvConfig {
        splits: 2,
        ..config
    };
    let shape = spec(KernelDtype::Q8_0, 4, 2, 1);
    let w = upload_bytes(
        &ctx,
        &quant::random_blocks(KernelDtype::Q8_0, 8, 1).unwrap(),
    );
    let x = ctx.upload(&[0f32; 64]).unwrap();
    let y = ctx.upload(&[0f32; 4]).unwrap();
    assert!(matches!(
        ctx.gemv_with(&[(&w).into()], &x, &y, shape, sg_options(split)),
        Err(Error::InvalidArgument(_))
    ));
}

fn sg_options(config: GemvConfig) -> RunOptions {
    RunOptions {
        gemv: Some(config),
        ..RunOptions::default()
    }
}

/// Row parts in separate buffers (parts starting at odd word halves for 2-byte-aligned blocks),
/// and in one buffer at the device's storage offset alignment.
#[test]
fn quantized_gemv_row_parts() {
    let Some(ctx) = gpu() else { return };
    let seed = fresh_seed("quantized_gemv_row_parts");
    for dtype in KernelDtype::QUANTIZED {
        check_gemv(
            &ctx,
            spec(dtype, 23, 3, 2),
            &[5, 12],
            options(KernelPath::Auto),
            seed,
        );
        check_gemv(
            &ctx,
            spec(dtype, 9, 1, 1),
            &[1],
            options(KernelPath::Generic),
            seed,
        );

        // One buffer, parts cut where the device's offset alignment allows: each part holds a
        // multiple of `step` rows, so that the next part starts aligned.
        let blocks = 2;
        let row_bytes = dtype.row_bytes(blocks * dtype.block_elements());
        let align = u64::from(ctx.limits().min_storage_buffer_offset_alignment).max(4);
        let step = align / gcd(row_bytes, align);
        let shape = spec(dtype, u32::try_from(3 * step + 1).unwrap(), blocks, 3);
        let ranges = shape
            .part_ranges(step * row_bytes, align)
            .expect("part ranges");
        assert_eq!(ranges.len(), 4, "{dtype}");
        let (rows, cols, batch) = (shape.rows as usize, shape.cols as usize, 3usize);
        let bytes = quant::random_blocks(dtype, rows * blocks as usize, seed ^ 9).unwrap();
        let w = quant::dequantize(dtype, &bytes).unwrap();
        let x = reference::random_f32(batch * cols, seed ^ 10);
        let w_buf = upload_bytes(&ctx, &bytes);
        let parts: Vec<Operand<'_>> = ranges
            .iter()
            .map(|r| Operand::range(&w_buf, r.start, r.end - r.start))
            .collect();
        let x_buf = ctx.upload(&x).unwrap();
        let y_buf = poisoned(&ctx, batch * rows);
        let run = ctx
            .gemv(&parts, &x_buf, &y_buf, shape)
            .unwrap_or_else(|e| panic!("{dtype} in aligned parts: {e}"));
        let y = ctx.read_back::<f32>(&y_buf, batch * rows).unwrap();
        let cmp = reference::compare(&y, &reference::gemv(&w, &x, rows, cols, batch));
        assert!(
            cmp.passes(KERNEL_TOLERANCE),
            "{dtype} in {} aligned parts via {} (seed {seed}): {cmp:?}",
            parts.len(),
            run.variant
        );
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// More row groups than one grid dimension allows: a 2-D grid.
#[test]
fn quantized_gemv_rows_beyond_one_grid_dimension() {
    let Some(ctx) = gpu() else { return };
    let seed = fresh_seed("quantized_gemv_rows_beyond_one_grid_dimension");
    let max = ctx.limits().max_compute_workgroups_per_dimension;
    for dtype in [KernelDtype::Q4_0, KernelDtype::Q4K] {
        // R rows per workgroup at batch 1 (the table's): R·max + 3 rows need max + 1
        // workgroups. The subgroup engine's workgroup holds threads / subgroup size subgroups
        // of `rows` rows each.
        let table = ctx.gemv_config(1, dtype, dtype.block_elements());
        let rows_per_group = match table.engine {
            GemvEngine::Subgroup => table.rows * table.max_subgroups,
            _ => table.rows,
        };
        let shape = spec(dtype, rows_per_group * max + 3, 1, 1);
        let variant = check_gemv(&ctx, shape, &[], options(KernelPath::Auto), seed);
        assert!(
            variant.contains(&format!("/{}r/", table.rows)) || !variant.starts_with("gemv_quant"),
            "{variant}"
        );
        check_gemv(
            &ctx,
            spec(dtype, max + 5, 1, 2),
            &[],
            options(KernelPath::Generic),
            seed,
        );
    }
}

#[test]
fn quantized_gemv_bad_shapes_are_typed() {
    let Some(ctx) = gpu() else { return };
    let dtype = KernelDtype::Q4K;
    let good = spec(dtype, 4, 2, 1);
    let w = upload_bytes(&ctx, &quant::random_blocks(dtype, 8, 1).unwrap());
    let x = ctx.upload(&[0f32; 512]).unwrap();
    let y = ctx.upload(&[0f32; 4]).unwrap();
    assert!(ctx.gemv(&[(&w).into()], &x, &y, good).is_ok());
    // Rows that are not whole blocks.
    for cols in [255, 257, 100] {
        let bad = GemvSpec { cols, ..good };
        match ctx.gemv(&[(&w).into()], &x, &y, bad) {
            Err(Error::Shape(msg)) => assert!(msg.contains("blocks"), "{msg}"),
            other => panic!("cols {cols}: expected a shape error, got {other:?}"),
        }
    }
    // Weights one block short, x short, y short, batch out of range.
    let short = Operand::range(&w, 0, 7 * 144);
    assert!(matches!(
        ctx.gemv(&[short], &x, &y, good),
        Err(Error::Shape(_))
    ));
    let x_short = Operand::range(&x, 0, 511 * 4);
    assert!(matches!(
        ctx.gemv(&[(&w).into()], x_short, &y, good),
        Err(Error::Shape(_))
    ));
    let y_short = Operand::range(&y, 0, 12);
    assert!(matches!(
        ctx.gemv(&[(&w).into()], &x, y_short, good),
        Err(Error::Shape(_))
    ));
    for batch in [0, 9] {
        let bad = GemvSpec { batch, ..good };
        assert!(matches!(
            ctx.gemv(&[(&w).into()], &x, &y, bad),
            Err(Error::Shape(_))
        ));
    }
    // A failed op leaves a recording as it was.
    let mut rec = ctx.record();
    rec.gemv(&[(&w).into()], &x, &y, good).unwrap();
    assert!(rec.gemv(&[short], &x, &y, good).is_err());
    assert_eq!(rec.len(), 1);
}

/// The GEMM path decodes B exactly (f32 values on the FMA kernels): with A the identity, C is
/// Bᵀ, equal to the CPU reference value for value.
#[test]
fn dequantization_on_the_gpu_is_exact() {
    let Some(ctx) = gpu() else { return };
    let seed = fresh_seed("dequantization_on_the_gpu_is_exact");
    for dtype in KernelDtype::QUANTIZED {
        let k = 2 * dtype.block_elements();
        let n = 5u32;
        let bytes = quant::random_blocks(dtype, (2 * n) as usize, seed).unwrap();
        let want = quant::dequantize(dtype, &bytes).unwrap();
        let mut identity = vec![0f32; (k * k) as usize];
        for i in 0..k as usize {
            identity[i * k as usize + i] = 1.0;
        }
        let a = ctx.upload(&identity).unwrap();
        let b = upload_bytes(&ctx, &bytes);
        let c = poisoned(&ctx, (k * n) as usize);
        let gemm = GemmSpec {
            m: k,
            n,
            k,
            dtype,
            layout: Layout::NT,
        };
        let run = ctx
            .gemm_with(&a, &b, &c, gemm, options(KernelPath::Fma))
            .unwrap_or_else(|e| panic!("{dtype}: {e}"));
        assert!(
            run.variant.starts_with(&format!("dequant/{dtype}/f32")),
            "{}",
            run.variant
        );
        let got = ctx.read_back::<f32>(&c, (k * n) as usize).unwrap();
        for i in 0..k as usize {
            for j in 0..n as usize {
                let (g, w) = (got[i * n as usize + j], want[j * k as usize + i]);
                // Equal values (an exact −0 may come out as +0 after the sum).
                assert!(
                    g == w,
                    "{dtype} (seed {seed}): weight {i} of row {j} is {g:e} on the GPU, {w:e} on the CPU"
                );
            }
        }
    }
}

/// Prompt-sized batches: GEMM with quantized B, against the reference on the dequantized
/// weights (f16 on cooperative matrices where the device has them: then 1e-2).
#[test]
fn quantized_gemm_matches_the_reference() {
    let Some(ctx) = gpu() else { return };
    let seed = fresh_seed("quantized_gemm_matches_the_reference");
    for dtype in KernelDtype::QUANTIZED {
        let q = dtype.block_elements();
        for (m, n, k) in [(5, 7, 2 * q), (33, 24, 3 * q), (1, 8, q)] {
            let (mu, nu, ku) = (m as usize, n as usize, k as usize);
            // Quantized from values of ordinary size, so that f16 holds them.
            let b_values = reference::random_f32(nu * ku, seed ^ 0xB);
            let bytes = quant::quantize(dtype, &b_values).unwrap();
            let b_deq = quant::dequantize(dtype, &bytes).unwrap();
            let a_values = reference::random_f32(mu * ku, seed ^ 0xA);
            let a = ctx.upload(&a_values).unwrap();
            let b = upload_bytes(&ctx, &bytes);
            let c = poisoned(&ctx, mu * nu);
            let gemm = GemmSpec {
                m,
                n,
                k,
                dtype,
                layout: Layout::NT,
            };
            let run = ctx
                .gemm(&a, &b, &c, gemm)
                .unwrap_or_else(|e| panic!("{gemm:?}: {e}"));
            let got = ctx.read_back::<f32>(&c, mu * nu).unwrap();
            let cmp =
                reference::compare(&got, &reference::matmul_nt(&a_values, &b_deq, mu, nu, ku));
            let tolerance = if run.variant.contains("/f16/") {
                F16_ROUNDING_TOLERANCE
            } else {
                KERNEL_TOLERANCE
            };
            assert!(
                cmp.passes(tolerance),
                "{m}x{n}x{k} {dtype} via {} (seed {seed}): {cmp:?}",
                run.variant
            );
        }
    }
}

#[test]
fn quantized_gemm_bad_shapes_are_typed() {
    let Some(ctx) = gpu() else { return };
    let dtype = KernelDtype::Q8_0;
    let (m, n, k) = (4u32, 3u32, 64u32);
    let a = ctx.upload(&vec![0f32; (m * k) as usize]).unwrap();
    let b = upload_bytes(&ctx, &quant::random_blocks(dtype, 6, 2).unwrap());
    let c = ctx.upload(&vec![0f32; (m * n) as usize]).unwrap();
    let good = GemmSpec {
        m,
        n,
        k,
        dtype,
        layout: Layout::NT,
    };
    assert!(ctx.gemm(&a, &b, &c, good).is_ok());
    let nn = GemmSpec {
        layout: Layout::NN,
        ..good
    };
    assert!(matches!(
        ctx.gemm(&a, &b, &c, nn),
        Err(Error::InvalidArgument(_))
    ));
    let ragged = GemmSpec { k: 48, ..good };
    assert!(matches!(ctx.gemm(&a, &b, &c, ragged), Err(Error::Shape(_))));
    let more_rows = GemmSpec { n: 4, ..good };
    assert!(matches!(
        ctx.gemm(&a, &b, &c, more_rows),
        Err(Error::Shape(_))
    ));
    // A failure inside (tiles the kernel rejects) leaves the recording as it was.
    let mut rec = ctx.record();
    let bad_tiles = RunOptions {
        // 64 rows do not split into threads of 3.
        gemm_tiles: Some(MatmulConfig {
            bm: 64,
            bn: 64,
            bk: 16,
            tm: 3,
            tn: 4,
        }),
        ..RunOptions::default()
    };
    assert!(rec.gemm_with(&a, &b, &c, good, bad_tiles).is_err());
    assert!(rec.is_empty(), "{} ops left behind", rec.len());
}

/// Quantized GEMVs of different types inside one recording, replayed with new inputs.
#[test]
fn quantized_gemv_in_a_replayed_recording() {
    let Some(ctx) = gpu() else { return };
    let seed = fresh_seed("quantized_gemv_in_a_replayed_recording");
    let cols = 512u32;
    let rows = 6u32;
    let types = [KernelDtype::Q4_0, KernelDtype::Q5K, KernelDtype::Q3K];
    let mut weights = Vec::new();
    for (i, &dtype) in types.iter().enumerate() {
        let blocks = (rows * cols / dtype.block_elements()) as usize;
        let bytes = quant::random_blocks(dtype, blocks, seed + i as u64).unwrap();
        weights.push((
            dtype,
            upload_bytes(&ctx, &bytes),
            quant::dequantize(dtype, &bytes).unwrap(),
        ));
    }
    let x = ctx.create_storage_buffer(u64::from(cols) * 4, "x").unwrap();
    let ys: Vec<wgpu::Buffer> = types
        .iter()
        .map(|_| poisoned(&ctx, rows as usize))
        .collect();
    let mut rec = ctx.record();
    let input = rec.write(&x, 0, &vec![0u8; cols as usize * 4]).unwrap();
    let mut outputs = Vec::new();
    for ((dtype, w, _), y) in weights.iter().zip(&ys) {
        let shape = GemvSpec {
            rows,
            cols,
            batch: 1,
            dtype: *dtype,
        };
        rec.gemv(&[w.into()], &x, y, shape).unwrap();
        outputs.push(rec.read(y, 0, u64::from(rows) * 4).unwrap());
    }
    let mut replay = rec.finish().unwrap();
    for round in 0..2u64 {
        let xv = reference::random_f32(cols as usize, seed ^ (round + 100));
        replay.write(&input, bytemuck::cast_slice(&xv)).unwrap();
        replay.submit().unwrap().wait().unwrap();
        for ((dtype, _, w), slot) in weights.iter().zip(&outputs) {
            let y: Vec<f32> = replay.read_vec(slot).unwrap();
            let cmp = reference::compare(
                &y,
                &reference::gemv(w, &xv, rows as usize, cols as usize, 1),
            );
            assert!(
                cmp.passes(KERNEL_TOLERANCE),
                "{dtype} round {round} (seed {seed}): {cmp:?}"
            );
        }
    }
}
