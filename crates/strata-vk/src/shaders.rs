//! The WGSL sources in the workspace's `shaders/` folder, and their tile parameters.
//!
//! Each shader is valid WGSL as written, with its tile sizes as `const NAME: u32 = ...u;` lines.
//! [`specialize`] rewrites those lines, so one source serves every tile configuration and the
//! file a reader sees is the file naga validates in the tests.
//!
//! Kernels that differ only in how they read their operands (f32, f16 or bf16 elements) share
//! one engine file; the engine's operand block, between the lines `// @operands begin` and
//! `// @operands end`, is replaced by [`splice`] with the block of an operand file, which is
//! itself a valid WGSL module (bindings and functions, no entry point).
//!
//! These sources live in this crate because Strata compiles them without wgpu's loop-bounding
//! counters (see [`create_kernel_module`] and invariant 7 of the crate): only text derived from
//! these files ([`KernelText`]) can be compiled that way.

/// A shader source in `shaders/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShaderSource {
    name: &'static str,
    text: &'static str,
}

impl ShaderSource {
    /// File name in `shaders/`.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The WGSL text as committed.
    pub const fn text(&self) -> &'static str {
        self.text
    }
}

/// WGSL derived from Strata's own sources by [`specialize`] and [`splice`] only: the one kind
/// of text [`create_kernel_module`] compiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelText {
    name: &'static str,
    text: String,
}

impl KernelText {
    /// A source as it is, with its default parameters.
    pub fn of(source: &ShaderSource) -> Self {
        Self {
            name: source.name,
            text: source.text.to_string(),
        }
    }

    /// The file it came from.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The WGSL.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Parameters that are switches or codes and may be 0; every other parameter is a size or a
/// step and must be at least 1, so that every loop stepping by it advances.
const MAY_BE_ZERO: &[&str] = &["WEIGHTS_BF16", "DTYPE", "B_NT", "OUT_F16"];

/// The largest parameter value accepted (a tile size, a thread count, an unroll factor).
pub const MAX_PARAM: u32 = 1 << 16;

macro_rules! shader {
    ($name:literal) => {
        ShaderSource {
            name: $name,
            text: include_str!(concat!("../../../shaders/", $name)),
        }
    };
}

/// GEMM fast path (engine): vec4 loads, register-blocked double-buffered tiles; f32 operands.
pub const GEMM: ShaderSource = shader!("gemm.wgsl");
/// Operand block of [`GEMM`] for f16 A and B (`enable f16;`).
pub const GEMM_F16: ShaderSource = shader!("gemm_f16.wgsl");
/// Operand block of [`GEMM`] for bf16 A and B (u32 pairs).
pub const GEMM_BF16: ShaderSource = shader!("gemm_bf16.wgsl");
/// GEMM on cooperative matrices (tensor cores): f16 or bf16 A and B, f32 accumulation.
pub const GEMM_COOP: ShaderSource = shader!("gemm_coop.wgsl");
/// Operand block of [`GEMM_COOP`] for bf16 A and B (u32 pairs converted to f16).
pub const GEMM_COOP_BF16: ShaderSource = shader!("gemm_coop_bf16.wgsl");
/// GEMM for any shape and dtype (scalar loads): the edge path.
pub const GEMM_ANY: ShaderSource = shader!("gemm_any.wgsl");
/// GEMV fast path (engine): 16-byte loads, subgroup reduction; f32 weights.
pub const GEMV: ShaderSource = shader!("gemv.wgsl");
/// Operand block of [`GEMV`] for f16 or bf16 weights (u32 words, integer decode).
pub const GEMV_16BIT: ShaderSource = shader!("gemv_16bit.wgsl");
/// Operand block of [`GEMV`] for f16 weights read as `vec4<f16>` (`enable f16;`).
pub const GEMV_F16: ShaderSource = shader!("gemv_f16.wgsl");
/// GEMV for any shape, dtype and device: scalar loads, shared-memory tree reduction.
pub const GEMV_ANY: ShaderSource = shader!("gemv_any.wgsl");
/// GEMV with rows per subgroup (engine, f32 operand block): batches, short rows, split columns.
pub const GEMV_SG: ShaderSource = shader!("gemv_sg.wgsl");
/// GEMV of a batch on cooperative matrices (f16 weights).
pub const GEMV_COOP: ShaderSource = shader!("gemv_coop.wgsl");
/// Prepares x for [`GEMV_COOP`]: each vector scaled and split into two f16 parts.
pub const GEMV_COOP_PREP: ShaderSource = shader!("gemv_coop_prep.wgsl");
/// Adds up the slices of a split GEMV or GEMM.
pub const SUM_SLICES: ShaderSource = shader!("sum_slices.wgsl");

/// Streaming read (sum) of a buffer, for bandwidth measurements.
pub const STREAM_SUM: ShaderSource = shader!("stream_sum.wgsl");
/// Block checksum of a byte range (CRC-32 of each 4 KiB, mixed with its position, summed).
pub const CHECKSUM: ShaderSource = shader!("checksum.wgsl");

/// Quantized GEMV (engine): ggml blocks decoded in registers, subgroup reduction.
pub const GEMV_QUANT: ShaderSource = shader!("gemv_quant.wgsl");
/// Quantized GEMV for devices without subgroups (engine): shared-memory tree reduction.
pub const GEMV_QUANT_ANY: ShaderSource = shader!("gemv_quant_any.wgsl");
/// Quantized GEMV with rows per subgroup (engine): no shared memory, needs a fixed subgroup size.
pub const GEMV_QUANT_SG: ShaderSource = shader!("gemv_quant_sg.wgsl");
/// ggml blocks to f32 or f16 values (engine), for the GEMM path of quantized weights.
pub const DEQUANT: ShaderSource = shader!("dequant.wgsl");
/// f32 to f16, for the activations of a quantized GEMM on cooperative matrices.
pub const CONVERT_F16: ShaderSource = shader!("convert_f16.wgsl");
/// Block decoder (operand block of the quantized engines) for ggml's Q4_0.
pub const QUANT_Q4_0: ShaderSource = shader!("quant_q4_0.wgsl");
/// Block decoder for ggml's Q4_0 in two chunks a block, for the batch-1 workgroup engine.
pub const QUANT_Q4_0_WIDE: ShaderSource = shader!("quant_q4_0_wide.wgsl");
/// Block decoder for ggml's Q4_1.
pub const QUANT_Q4_1: ShaderSource = shader!("quant_q4_1.wgsl");
/// Block decoder for ggml's Q5_0.
pub const QUANT_Q5_0: ShaderSource = shader!("quant_q5_0.wgsl");
/// Block decoder for ggml's Q5_1.
pub const QUANT_Q5_1: ShaderSource = shader!("quant_q5_1.wgsl");
/// Block decoder for ggml's Q8_0.
pub const QUANT_Q8_0: ShaderSource = shader!("quant_q8_0.wgsl");
/// Block decoder for ggml's Q2_K.
pub const QUANT_Q2_K: ShaderSource = shader!("quant_q2_k.wgsl");
/// Block decoder for ggml's Q3_K.
pub const QUANT_Q3_K: ShaderSource = shader!("quant_q3_k.wgsl");
/// Block decoder for ggml's Q4_K.
pub const QUANT_Q4_K: ShaderSource = shader!("quant_q4_k.wgsl");
/// Block decoder for ggml's Q5_K.
pub const QUANT_Q5_K: ShaderSource = shader!("quant_q5_k.wgsl");
/// Block decoder for ggml's Q6_K.
pub const QUANT_Q6_K: ShaderSource = shader!("quant_q6_k.wgsl");

/// Every shader Strata ships.
pub const ALL: &[ShaderSource] = &[
    GEMM,
    GEMM_F16,
    GEMM_BF16,
    GEMM_COOP,
    GEMM_COOP_BF16,
    GEMM_ANY,
    GEMV,
    GEMV_16BIT,
    GEMV_F16,
    GEMV_ANY,
    GEMV_SG,
    GEMV_COOP,
    GEMV_COOP_PREP,
    SUM_SLICES,
    STREAM_SUM,
    CHECKSUM,
    GEMV_QUANT,
    GEMV_QUANT_ANY,
    GEMV_QUANT_SG,
    DEQUANT,
    CONVERT_F16,
    QUANT_Q4_0,
    QUANT_Q4_0_WIDE,
    QUANT_Q4_1,
    QUANT_Q5_0,
    QUANT_Q5_1,
    QUANT_Q8_0,
    QUANT_Q2_K,
    QUANT_Q3_K,
    QUANT_Q4_K,
    QUANT_Q5_K,
    QUANT_Q6_K,
];

const BEGIN: &str = "// @operands begin";
const END: &str = "// @operands end";

/// Returns `source` with each `const NAME: u32 = ...;` line of `params` rewritten to the given
/// value. A name the source does not define is reported as an error, so a typo cannot silently
/// leave a default in place.
pub fn specialize(source: &ShaderSource, params: &[(&str, u32)]) -> Result<KernelText, String> {
    specialize_text(&KernelText::of(source), params)
}

/// [`specialize`] on a [`splice`] result.
pub fn specialize_text(kernel: &KernelText, params: &[(&str, u32)]) -> Result<KernelText, String> {
    let name = kernel.name;
    for &(param, value) in params {
        let least = u32::from(!MAY_BE_ZERO.contains(&param));
        if !(least..=MAX_PARAM).contains(&value) {
            return Err(format!(
                "shader {name}: parameter {param} = {value} is outside {least}..={MAX_PARAM}"
            ));
        }
    }
    let source = kernel.text.as_str();
    let mut text = String::with_capacity(source.len());
    let mut found = vec![false; params.len()];
    for line in source.lines() {
        let trimmed = line.trim_start();
        let replaced = params.iter().enumerate().find_map(|(i, (name, value))| {
            let prefix = format!("const {name}: u32 =");
            trimmed.starts_with(&prefix).then(|| {
                found[i] = true;
                format!("const {name}: u32 = {value}u;")
            })
        });
        text.push_str(replaced.as_deref().unwrap_or(line));
        text.push('\n');
    }
    if let Some(i) = found.iter().position(|f| !f) {
        return Err(format!("shader {name} has no `const {}: u32`", params[i].0));
    }
    Ok(KernelText { name, text })
}

/// Returns `engine` with its operand block replaced by the operand block of `operands`, and
/// the `enable` directives of `operands` (which WGSL wants before any declaration) moved to
/// the top.
pub fn splice(engine: &ShaderSource, operands: &ShaderSource) -> Result<KernelText, String> {
    let (before, _, after) = operand_block(engine)?;
    let (_, block, _) = operand_block(operands)?;
    let mut text = String::with_capacity(engine.text.len() + block.len());
    for line in operands.text.lines() {
        if line.trim_start().starts_with("enable ") {
            text.push_str(line);
            text.push('\n');
        }
    }
    text.push_str(before);
    text.push_str(block);
    text.push_str(after);
    Ok(KernelText {
        name: engine.name,
        text,
    })
}

/// Compiles one of Strata's kernels. wgpu's runtime bounds checks stay on; its loop-bounding
/// counters (a 64-bit counter and an extra exit test added to every loop, which stop the
/// driver from unrolling the kernels' fixed-size loops) are left out, because every loop of
/// these sources terminates (invariant 7).
pub fn create_kernel_module(device: &wgpu::Device, kernel: &KernelText) -> wgpu::ShaderModule {
    let descriptor = wgpu::ShaderModuleDescriptor {
        label: Some(kernel.name),
        source: wgpu::ShaderSource::Wgsl(kernel.text.as_str().into()),
    };
    let mut checks = wgpu::ShaderRuntimeChecks::checked();
    checks.force_loop_bounding = false;
    // SAFETY: only loop bounding is turned off, and `kernel` is text derived from the sources
    // of this module, every loop of which terminates (invariant 7): each loop steps a u32 index
    // by a constant of at least 1 (parameters are checked in `specialize_text`) towards a bound
    // that is a constant or a dimension below 2^31 (the host checks every dimension against
    // the size of the buffer bound for it), so the index reaches its bound without wrapping.
    unsafe { device.create_shader_module_trusted(descriptor, checks) }
}

/// Splits a source into the text before its operand block, the block (markers included) and
/// the text after it.
fn operand_block(
    source: &ShaderSource,
) -> Result<(&'static str, &'static str, &'static str), String> {
    let text = source.text;
    let missing = || format!("shader {} has no `{BEGIN}` ... `{END}` block", source.name);
    let start = text.find(BEGIN).ok_or_else(missing)?;
    let end = text[start..].find(END).ok_or_else(missing)? + start + END.len();
    Ok((&text[..start], &text[start..end], &text[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specialize_rewrites_and_rejects_unknown_names() {
        let text = specialize(&GEMM_ANY, &[("BM", 32), ("TM", 2)]).unwrap();
        let text = text.as_str();
        assert!(text.contains("const BM: u32 = 32u;"));
        assert!(text.contains("const TM: u32 = 2u;"));
        assert!(specialize(&GEMM_ANY, &[("NOPE", 1)]).is_err());
        assert!(
            specialize(&GEMM_ANY, &[("BK", 0)]).is_err(),
            "a step of 0 never ends a loop"
        );
        assert!(specialize(&GEMM_ANY, &[("BK", MAX_PARAM + 1)]).is_err());
    }

    #[test]
    fn splice_replaces_the_operand_block_and_hoists_enables() {
        let text = splice(&GEMM, &GEMM_F16).unwrap();
        let text = text.as_str();
        assert!(text.starts_with("enable f16;\n"));
        assert!(text.contains("array<vec4<f16>>"));
        assert!(!text.contains("array<vec4<f32>>;\n@group(0) @binding(1)"));
        assert_eq!(text.matches(BEGIN).count(), 1);
        assert!(text.contains("fn main("));
        assert!(splice(&GEMM, &GEMM_ANY).is_err());
    }
}
