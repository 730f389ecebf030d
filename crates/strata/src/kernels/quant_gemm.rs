//! GEMM with quantized weights, for prompt-sized batches: C = A·Bᵀ with A `[m, k]` f32, B
//! `[n, k]` in one of ggml's block types (rows of whole blocks along k, so layout `nt`), C
//! `[m, n]` f32.
//!
//! A GEMM is compute-bound, so B is decoded once per call (`dequant.wgsl`) into a scratch matrix
//! that the GEMM kernels of [`super::gemm`] read: in f16 where the device has the
//! cooperative-matrix kernel and the shape suits it (A is then converted to f16 as well,
//! `convert_f16.wgsl`: the tensor cores take f16 operands), in f32 otherwise (ggml's exact
//! values, on the FMA kernels). The scratch buffers belong to the recording.

use super::coop::CoopConfig;
use super::dtype::{KernelDtype, Layout};
use super::quant::{Decoding, decoder};
use super::{GemmSpec, KernelPath, RunOptions, SharedMemory};
use crate::error::{Error, Result};
use crate::recording::{Access, Operand, Recording, Step};
use crate::shaders::{self, KernelText};

/// Threads per workgroup of the dequantization and conversion kernels.
const WG: u32 = 256;

/// The uniform block of `dequant.wgsl` and `convert_f16.wgsl`.
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Params {
    count: u32,
    groups_x: u32,
    pad: [u32; 2],
}

/// The WGSL of the dequantization kernel for `dtype` blocks into f16 (`f16`) or f32 values.
pub(crate) fn dequant_source(dtype: KernelDtype, f16: bool) -> Result<KernelText, String> {
    let engine = shaders::splice(&shaders::DEQUANT, &decoder(dtype, Decoding::Standard)?)?;
    shaders::specialize_text(&engine, &[("WG", WG), ("OUT_F16", u32::from(f16))])
}

/// The WGSL of the f32 → f16 conversion kernel.
pub(crate) fn convert_source() -> Result<KernelText, String> {
    shaders::specialize(&shaders::CONVERT_F16, &[("WG", WG)])
}

/// The variant name of a dequantization pipeline.
pub(crate) fn dequant_variant(dtype: KernelDtype, f16: bool) -> String {
    let out = if f16 { "f16" } else { "f32" };
    format!("dequant/{dtype}/{out}/{WG}t")
}

/// The variant name of the conversion pipeline.
pub(crate) fn convert_variant() -> String {
    format!("convert_f16/{WG}t")
}

/// Every (variant name, WGSL) of this module, for the shader tests.
pub(crate) fn variant_sources() -> Result<Vec<(String, String)>, String> {
    let mut sources = vec![(convert_variant(), convert_source()?.as_str().to_string())];
    for dtype in KernelDtype::QUANTIZED {
        for f16 in [false, true] {
            sources.push((
                dequant_variant(dtype, f16),
                dequant_source(dtype, f16)?.as_str().to_string(),
            ));
        }
    }
    Ok(sources)
}

/// Records C = A·Bᵀ for a quantized B (`spec.dtype`); see the module docs. Everything is
/// checked before anything is recorded, and a failure leaves the recording as it was.
pub(crate) fn record(
    rec: &mut Recording<'_>,
    a: Operand<'_>,
    b: Operand<'_>,
    c: Operand<'_>,
    spec: GemmSpec,
    options: RunOptions,
) -> Result<String> {
    let ctx = rec.context();
    let (m, n, k) = (spec.m, spec.n, spec.k);
    let dtype = spec.dtype;
    if spec.layout != Layout::NT {
        return Err(Error::InvalidArgument(format!(
            "gemm B in {dtype} is stored [n, k] with rows of blocks along k: layout nt, not {}",
            spec.layout
        )));
    }
    dtype.check_row("gemm B", k)?;
    let (m64, n64, k64) = (u64::from(m), u64::from(n), u64::from(k));
    let [a_bytes, b_bytes, c_bytes] = spec.operand_bytes()?;
    ctx.check_operand("gemm A", &a, a_bytes, &format!("{m}x{k} f32"))?;
    ctx.check_operand("gemm B", &b, b_bytes, &format!("{n}x{k} {dtype}"))?;
    ctx.check_operand("gemm C", &c, c_bytes, &format!("{m}x{n} f32"))?;

    // f16 only where it buys the tensor cores; elsewhere the exact f32 values.
    let f16 = options.path == KernelPath::Auto
        && options.gemm_tiles.is_none()
        && CoopConfig::takes(k, n)
        && ctx.cooperative_gemm().is_some();
    let value = if f16 {
        KernelDtype::F16
    } else {
        KernelDtype::F32
    };
    let scratch_b = ctx.create_storage_buffer(value.buffer_bytes(n64 * k64)?, "gemm B values")?;
    let scratch_a = if f16 {
        Some(ctx.create_storage_buffer(value.buffer_bytes(m64 * k64)?, "gemm A in f16")?)
    } else {
        None
    };
    // Chunks of B: the dequantization kernel's threads, one each.
    let chunks = n64
        * u64::from(
            k / dtype.block_elements() * super::quant::chunks_per_block(dtype, Decoding::Standard),
        );
    let chunks = u32::try_from(chunks).map_err(|_| Error::LimitExceeded {
        what: format!("gemm B {n}x{k} {dtype}: chunks of blocks"),
        count: chunks,
        limit_name: "u32 chunk index",
        limit: u64::from(u32::MAX),
    })?;

    let (ops, uniforms) = (rec.ops.len(), rec.uniforms.len());
    let recorded = (|| {
        let dq_variant = dequant_variant(dtype, f16);
        let kernel = ctx.kernel_with(&dq_variant, SharedMemory::Zeroed, || {
            dequant_source(dtype, f16)
        })?;
        let b_values = Operand::from(&scratch_b);
        rec.push_steps(
            &dq_variant,
            &kernel,
            vec![elementwise_step(ctx, b, b_values, chunks)],
            options.repeats,
        )?;
        let mut variant = dq_variant;
        let a_values = match &scratch_a {
            Some(buffer) => {
                let cv_variant = convert_variant();
                let kernel = ctx.kernel_with(&cv_variant, SharedMemory::Zeroed, convert_source)?;
                let a_f16 = Operand::from(buffer);
                // m·k is a multiple of 8 (k is): whole vec4s.
                let vecs = m * (k / 4);
                rec.push_steps(
                    &cv_variant,
                    &kernel,
                    vec![elementwise_step(ctx, a, a_f16, vecs)],
                    options.repeats,
                )?;
                variant = format!("{variant}+{cv_variant}");
                a_f16
            }
            None => a,
        };
        let gemm = rec.gemm_with(
            a_values,
            b_values,
            c,
            GemmSpec {
                m,
                n,
                k,
                dtype: value,
                layout: Layout::NT,
            },
            options,
        )?;
        Ok(format!("{variant}+{gemm}"))
    })();
    if recorded.is_err() {
        rec.ops.truncate(ops);
        rec.uniforms.truncate(uniforms);
    }
    recorded
}

/// One dispatch of an elementwise kernel over `count` items (a thread each).
fn elementwise_step<'a>(
    ctx: &crate::context::Context,
    input: Operand<'a>,
    output: Operand<'a>,
    count: u32,
) -> Step<'a> {
    let workgroups = ctx.grid(count.div_ceil(WG));
    let params = Params {
        count,
        groups_x: workgroups[0],
        pad: [0; 2],
    };
    Step {
        operands: vec![(input, Access::Read), (output, Access::ReadWrite)],
        uniforms: bytemuck::bytes_of(&params).to_vec(),
        workgroups,
    }
}
