//! ggml's quantized block types on the CPU: dequantization exactly as ggml does it, quantizers
//! for making test weights, and random valid blocks.
//!
//! [`dequantize`] follows `dequantize_row_*` in llama.cpp's `ggml/src/ggml-quants.c` operation
//! for operation, in f32, without fused multiply-adds (as the `gguf` Python package computes it
//! with numpy, and as ggml does when its compiler does not contract `a*b - c`). So it is bit-exact
//! against `gguf.quants.dequantize`, which `tests/quant.rs` checks on fixtures that package wrote
//! (`scripts/quant-fixtures.py`).
//!
//! [`quantize`] is ggml's reference quantizer (`quantize_row_*_ref`) for `Q4_0` … `Q8_0` (also
//! checked bit for bit against the `gguf` package) and a plain round-to-nearest quantizer for the
//! K-quants: valid blocks with near-optimal error for test data, not ggml's scale search.
//!
//! Block layouts (`ggml/src/ggml-common.h`; little-endian, f16 scales, byte offsets):
//!
//! | type | bytes | layout |
//! |---|---|---|
//! | `Q4_0` | 18 | `d` 0, `qs[16]` 2: element j < 16 is the low nibble of `qs[j]`, j + 16 its high nibble |
//! | `Q4_1` | 20 | `d` 0, `m` 2, `qs[16]` 4 |
//! | `Q5_0` | 22 | `d` 0, `qh` 2 (u32: bit j is element j's fifth bit), `qs[16]` 6 |
//! | `Q5_1` | 24 | `d` 0, `m` 2, `qh` 4, `qs[16]` 8 |
//! | `Q8_0` | 34 | `d` 0, `qs[32]` 2 (i8) |
//! | `Q2_K` | 84 | `scales[16]` 0 (low nibble scale, high nibble min), `qs[64]` 16, `d` 80, `dmin` 82 |
//! | `Q3_K` | 110 | `hmask[32]` 0, `qs[64]` 32, `scales[12]` 96 (16 × 6 bits), `d` 108 |
//! | `Q4_K` | 144 | `d` 0, `dmin` 2, `scales[12]` 4 (8 scales and 8 mins of 6 bits), `qs[128]` 16 |
//! | `Q5_K` | 176 | `d` 0, `dmin` 2, `scales[12]` 4, `qh[32]` 16, `qs[128]` 48 |
//! | `Q6_K` | 210 | `ql[128]` 0, `qh[64]` 128, `scales[16]` 192 (i8), `d` 208 |

use crate::error::{Error, Result};
use crate::kernels::KernelDtype;
use half::f16;

/// Elements of a K-quant super-block (ggml's `QK_K`).
const QK_K: usize = 256;

/// The f32 values of the raw blocks of `dtype` in `bytes`, exactly as ggml decodes them.
///
/// `bytes` holds whole blocks, optionally followed by fewer than 4 bytes of padding (a buffer of
/// blocks is rounded up to whole 32-bit words). Other lengths, and float dtypes, are errors.
pub fn dequantize(dtype: KernelDtype, bytes: &[u8]) -> Result<Vec<f32>> {
    let (block_bytes, _) = block_shape(dtype)?;
    let blocks = bytes.len() / block_bytes;
    if bytes.len() - blocks * block_bytes >= 4 {
        return Err(Error::Shape(format!(
            "{} bytes are not whole {dtype} blocks of {block_bytes} bytes",
            bytes.len()
        )));
    }
    Ok(decode_whole_blocks(dtype, bytes))
}

/// The values of every whole block of quantized `dtype` in `bytes` (a shorter tail is ignored).
fn decode_whole_blocks(dtype: KernelDtype, bytes: &[u8]) -> Vec<f32> {
    let (block_bytes, block_elements) = (dtype.bytes() as usize, dtype.block_elements() as usize);
    let mut out = vec![0f32; bytes.len() / block_bytes * block_elements];
    for (block, y) in bytes
        .chunks_exact(block_bytes)
        .zip(out.chunks_exact_mut(block_elements))
    {
        dequantize_block(dtype, block, y);
    }
    out
}

/// `values`, padded with zeros to whole blocks, quantized to quantized `dtype` and padded to
/// whole words: what [`crate::reference::encode`] gives for a quantized dtype.
pub(crate) fn encode_padded(dtype: KernelDtype, values: &[f32]) -> Vec<u8> {
    let (block_bytes, block_elements) = (dtype.bytes() as usize, dtype.block_elements() as usize);
    let blocks = values.len().div_ceil(block_elements);
    let mut padded = values.to_vec();
    padded.resize(blocks * block_elements, 0.0);
    let mut out = vec![0u8; (blocks * block_bytes).next_multiple_of(4)];
    for (x, block) in padded
        .chunks_exact(block_elements)
        .zip(out.chunks_exact_mut(block_bytes))
    {
        quantize_block(dtype, x, block);
    }
    out
}

/// `values` after [`encode_padded`] and decoding: what a kernel reads from those bytes.
pub(crate) fn round_trip(dtype: KernelDtype, values: &[f32]) -> Vec<f32> {
    let mut out = decode_whole_blocks(dtype, &encode_padded(dtype, values));
    out.truncate(values.len());
    out
}

/// `values` quantized to raw blocks of `dtype` (not padded); `values.len()` must be whole
/// blocks. `Q4_0` … `Q8_0` use ggml's reference quantizers, the K-quants a round-to-nearest one
/// (see the module docs).
pub fn quantize(dtype: KernelDtype, values: &[f32]) -> Result<Vec<u8>> {
    let (block_bytes, block_elements) = block_shape(dtype)?;
    if !values.len().is_multiple_of(block_elements) {
        return Err(Error::Shape(format!(
            "{} values are not whole {dtype} blocks of {block_elements}",
            values.len()
        )));
    }
    let mut out = vec![0u8; values.len() / block_elements * block_bytes];
    for (x, block) in values
        .chunks_exact(block_elements)
        .zip(out.chunks_exact_mut(block_bytes))
    {
        quantize_block(dtype, x, block);
    }
    Ok(out)
}

/// `blocks` random valid blocks of `dtype`: random quant bits, and f16 scales that are finite,
/// of either sign, mostly of ordinary size (2^-10 to 2^-5), with some zero, subnormal and large
/// (up to 2^4) ones. Deterministic in `seed`.
pub fn random_blocks(dtype: KernelDtype, blocks: usize, seed: u64) -> Result<Vec<u8>> {
    use rand::{Rng, SeedableRng};
    let (block_bytes, _) = block_shape(dtype)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = vec![0u8; blocks * block_bytes];
    rng.fill(&mut out[..]);
    for block in out.chunks_exact_mut(block_bytes) {
        for &at in scale_offsets(dtype) {
            let magnitude = match rng.random_range(0..32u32) {
                0 => 0.0,
                1 => rng.random_range(1.0e-7f32..6.0e-5), // f16 subnormals
                2 => rng.random_range(1.0f32..16.0),
                _ => 2f32.powf(rng.random_range(-10.0f32..-5.0)),
            };
            let value = if rng.random::<bool>() {
                -magnitude
            } else {
                magnitude
            };
            block[at..at + 2].copy_from_slice(&f16::from_f32(value).to_le_bytes());
        }
    }
    Ok(out)
}

/// Byte offsets of the f16 fields (scales, mins) in a block of `dtype`; empty for float dtypes.
pub fn scale_offsets(dtype: KernelDtype) -> &'static [usize] {
    match dtype {
        KernelDtype::Q4_0 | KernelDtype::Q5_0 | KernelDtype::Q8_0 => &[0],
        KernelDtype::Q4_1 | KernelDtype::Q5_1 | KernelDtype::Q4K | KernelDtype::Q5K => &[0, 2],
        KernelDtype::Q2K => &[80, 82],
        KernelDtype::Q3K => &[108],
        KernelDtype::Q6K => &[208],
        KernelDtype::F32 | KernelDtype::F16 | KernelDtype::Bf16 => &[],
    }
}

/// (block bytes, block elements) of a quantized dtype.
fn block_shape(dtype: KernelDtype) -> Result<(usize, usize)> {
    if !dtype.is_quantized() {
        return Err(Error::InvalidArgument(format!(
            "{dtype} is not a quantized dtype"
        )));
    }
    Ok((dtype.bytes() as usize, dtype.block_elements() as usize))
}

fn half_at(b: &[u8], at: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([b[at], b[at + 1]])).to_f32()
}

fn put_half(b: &mut [u8], at: usize, value: f32) {
    b[at..at + 2].copy_from_slice(&f16::from_f32(value).to_le_bytes());
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Decodes one block into `y` (ggml's `dequantize_row_*` for one block).
fn dequantize_block(dtype: KernelDtype, b: &[u8], y: &mut [f32]) {
    match dtype {
        KernelDtype::Q4_0 => {
            let d = half_at(b, 0);
            let qs = &b[2..18];
            for j in 0..16 {
                let x0 = i32::from(qs[j] & 0x0f) - 8;
                let x1 = i32::from(qs[j] >> 4) - 8;
                y[j] = x0 as f32 * d;
                y[j + 16] = x1 as f32 * d;
            }
        }
        KernelDtype::Q4_1 => {
            let (d, m) = (half_at(b, 0), half_at(b, 2));
            let qs = &b[4..20];
            for j in 0..16 {
                y[j] = f32::from(qs[j] & 0x0f) * d + m;
                y[j + 16] = f32::from(qs[j] >> 4) * d + m;
            }
        }
        KernelDtype::Q5_0 => {
            let d = half_at(b, 0);
            let qh = u32_at(b, 2);
            let qs = &b[6..22];
            for j in 0..16 {
                let xh0 = ((qh >> j) << 4) & 0x10;
                let xh1 = (qh >> (j + 12)) & 0x10;
                let x0 = (u32::from(qs[j] & 0x0f) | xh0) as i32 - 16;
                let x1 = (u32::from(qs[j] >> 4) | xh1) as i32 - 16;
                y[j] = x0 as f32 * d;
                y[j + 16] = x1 as f32 * d;
            }
        }
        KernelDtype::Q5_1 => {
            let (d, m) = (half_at(b, 0), half_at(b, 2));
            let qh = u32_at(b, 4);
            let qs = &b[8..24];
            for j in 0..16 {
                let xh0 = ((qh >> j) << 4) & 0x10;
                let xh1 = (qh >> (j + 12)) & 0x10;
                let x0 = u32::from(qs[j] & 0x0f) | xh0;
                let x1 = u32::from(qs[j] >> 4) | xh1;
                y[j] = x0 as f32 * d + m;
                y[j + 16] = x1 as f32 * d + m;
            }
        }
        KernelDtype::Q8_0 => {
            let d = half_at(b, 0);
            for j in 0..32 {
                y[j] = f32::from(b[2 + j] as i8) * d;
            }
        }
        KernelDtype::Q2K => dequantize_q2_k(b, y),
        KernelDtype::Q3K => dequantize_q3_k(b, y),
        KernelDtype::Q4K => dequantize_q4_k(b, y),
        KernelDtype::Q5K => dequantize_q5_k(b, y),
        KernelDtype::Q6K => dequantize_q6_k(b, y),
        KernelDtype::F32 | KernelDtype::F16 | KernelDtype::Bf16 => {
            unreachable!("block_shape rejects float dtypes")
        }
    }
}

fn dequantize_q2_k(b: &[u8], y: &mut [f32]) {
    let scales = &b[0..16];
    let d = half_at(b, 80);
    let min = half_at(b, 82);
    let mut out = 0;
    let mut is = 0;
    for n in 0..QK_K / 128 {
        let q = &b[16 + 32 * n..16 + 32 * n + 32];
        for shift in [0, 2, 4, 6] {
            for half in 0..2 {
                let sc = scales[is];
                is += 1;
                let dl = d * f32::from(sc & 0x0f);
                let ml = min * f32::from(sc >> 4);
                for l in 0..16 {
                    y[out] = dl * f32::from((q[16 * half + l] >> shift) & 3) - ml;
                    out += 1;
                }
            }
        }
    }
}

/// The 16 six-bit scales of a `Q3_K` block, unpacked as ggml does (with `kmask1`, `kmask2`),
/// before the −32.
fn q3_k_scales(packed: &[u8]) -> [u8; 16] {
    const KMASK1: u32 = 0x0303_0303;
    const KMASK2: u32 = 0x0f0f_0f0f;
    let a0 = u32_at(packed, 0);
    let a1 = u32_at(packed, 4);
    let tmp = u32_at(packed, 8);
    let aux = [
        (a0 & KMASK2) | (((tmp) & KMASK1) << 4),
        (a1 & KMASK2) | (((tmp >> 2) & KMASK1) << 4),
        ((a0 >> 4) & KMASK2) | (((tmp >> 4) & KMASK1) << 4),
        ((a1 >> 4) & KMASK2) | (((tmp >> 6) & KMASK1) << 4),
    ];
    let mut scales = [0u8; 16];
    for (i, word) in aux.iter().enumerate() {
        scales[4 * i..4 * i + 4].copy_from_slice(&word.to_le_bytes());
    }
    scales
}

fn dequantize_q3_k(b: &[u8], y: &mut [f32]) {
    let hm = &b[0..32];
    let scales = q3_k_scales(&b[96..108]);
    let d_all = half_at(b, 108);
    let mut m = 1u8;
    let mut out = 0;
    let mut is = 0;
    for n in 0..QK_K / 128 {
        let q = &b[32 + 32 * n..32 + 32 * n + 32];
        for shift in [0, 2, 4, 6] {
            for half in 0..2 {
                let dl = d_all * f32::from(scales[is] as i8 - 32);
                is += 1;
                for l in 16 * half..16 * half + 16 {
                    let low = ((q[l] >> shift) & 3) as i8;
                    let high = if hm[l] & m != 0 { 0 } else { 4 };
                    y[out] = dl * f32::from(low - high);
                    out += 1;
                }
            }
            m <<= 1;
        }
    }
}

/// ggml's `get_scale_min_k4`: scale and min `j` (0..8) of a `Q4_K`/`Q5_K` block's 12 bytes.
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

fn dequantize_q4_k(b: &[u8], y: &mut [f32]) {
    let d = half_at(b, 0);
    let min = half_at(b, 2);
    let scales = &b[4..16];
    let mut out = 0;
    for j in 0..QK_K / 64 {
        let q = &b[16 + 32 * j..16 + 32 * j + 32];
        let (sc1, m1) = scale_min_k4(2 * j, scales);
        let (sc2, m2) = scale_min_k4(2 * j + 1, scales);
        let (d1, m1) = (d * f32::from(sc1), min * f32::from(m1));
        let (d2, m2) = (d * f32::from(sc2), min * f32::from(m2));
        for &ql in q {
            y[out] = d1 * f32::from(ql & 0x0f) - m1;
            out += 1;
        }
        for &ql in q {
            y[out] = d2 * f32::from(ql >> 4) - m2;
            out += 1;
        }
    }
}

fn dequantize_q5_k(b: &[u8], y: &mut [f32]) {
    let d = half_at(b, 0);
    let min = half_at(b, 2);
    let scales = &b[4..16];
    let qh = &b[16..48];
    let (mut u1, mut u2) = (1u8, 2u8);
    let mut out = 0;
    for j in 0..QK_K / 64 {
        let ql = &b[48 + 32 * j..48 + 32 * j + 32];
        let (sc1, m1) = scale_min_k4(2 * j, scales);
        let (sc2, m2) = scale_min_k4(2 * j + 1, scales);
        let (d1, m1) = (d * f32::from(sc1), min * f32::from(m1));
        let (d2, m2) = (d * f32::from(sc2), min * f32::from(m2));
        for l in 0..32 {
            let high = if qh[l] & u1 != 0 { 16 } else { 0 };
            y[out] = d1 * f32::from((ql[l] & 0x0f) + high) - m1;
            out += 1;
        }
        for l in 0..32 {
            let high = if qh[l] & u2 != 0 { 16 } else { 0 };
            y[out] = d2 * f32::from((ql[l] >> 4) + high) - m2;
            out += 1;
        }
        u1 <<= 2;
        u2 <<= 2;
    }
}

fn dequantize_q6_k(b: &[u8], y: &mut [f32]) {
    let d = half_at(b, 208);
    for n in 0..QK_K / 128 {
        let ql = &b[64 * n..64 * n + 64];
        let qh = &b[128 + 32 * n..128 + 32 * n + 32];
        let sc = &b[192 + 8 * n..192 + 8 * n + 8];
        let y = &mut y[128 * n..128 * n + 128];
        for l in 0..32 {
            let is = l / 16;
            let q1 = ((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) as i8 - 32;
            let q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) as i8 - 32;
            let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i8 - 32;
            let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i8 - 32;
            let scale = |i: usize| f32::from(sc[i] as i8);
            y[l] = d * scale(is) * f32::from(q1);
            y[l + 32] = d * scale(is + 2) * f32::from(q2);
            y[l + 64] = d * scale(is + 4) * f32::from(q3);
            y[l + 96] = d * scale(is + 6) * f32::from(q4);
        }
    }
}

/// Quantizes one block of `x` into `b`.
fn quantize_block(dtype: KernelDtype, x: &[f32], b: &mut [u8]) {
    match dtype {
        KernelDtype::Q4_0 => {
            let max = signed_absmax(x);
            let d = max / -8.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            put_half(b, 0, d);
            for j in 0..16 {
                let xi0 = ((x[j] * id + 8.5) as i8).min(15) as u8;
                let xi1 = ((x[j + 16] * id + 8.5) as i8).min(15) as u8;
                b[2 + j] = xi0 | (xi1 << 4);
            }
        }
        KernelDtype::Q4_1 | KernelDtype::Q5_1 => {
            let bits = if dtype == KernelDtype::Q4_1 { 4 } else { 5 };
            let top = (1i8 << bits) - 1;
            let min = x.iter().copied().fold(f32::MAX, f32::min);
            let max = x.iter().copied().fold(-f32::MAX, f32::max);
            let d = (max - min) / f32::from(top);
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            put_half(b, 0, d);
            put_half(b, 2, min);
            let q: Vec<u8> = x
                .iter()
                .map(|&v| (((v - min) * id + 0.5) as i8).clamp(0, top) as u8)
                .collect();
            let qs_at = if bits == 4 { 4 } else { 8 };
            pack_low_nibbles(&q, &mut b[qs_at..qs_at + 16]);
            if bits == 5 {
                b[4..8].copy_from_slice(&fifth_bits(&q).to_le_bytes());
            }
        }
        KernelDtype::Q5_0 => {
            let max = signed_absmax(x);
            let d = max / -16.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            put_half(b, 0, d);
            let q: Vec<u8> = x
                .iter()
                .map(|&v| ((v * id + 16.5) as i8).min(31) as u8)
                .collect();
            b[2..6].copy_from_slice(&fifth_bits(&q).to_le_bytes());
            pack_low_nibbles(&q, &mut b[6..22]);
        }
        KernelDtype::Q8_0 => {
            let amax = x.iter().fold(0f32, |a, v| a.max(v.abs()));
            let d = amax / 127.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            put_half(b, 0, d);
            for j in 0..32 {
                b[2 + j] = ((x[j] * id).round() as i8) as u8;
            }
        }
        KernelDtype::Q2K => quantize_q2_k(x, b),
        KernelDtype::Q3K => quantize_q3_k(x, b),
        KernelDtype::Q4K | KernelDtype::Q5K => quantize_q45_k(dtype == KernelDtype::Q5K, x, b),
        KernelDtype::Q6K => quantize_q6_k(x, b),
        KernelDtype::F32 | KernelDtype::F16 | KernelDtype::Bf16 => {
            unreachable!("block_shape rejects float dtypes")
        }
    }
}

/// The value of largest magnitude (the first of equal ones), as ggml's quantizers pick it.
fn signed_absmax(x: &[f32]) -> f32 {
    let (mut amax, mut max) = (0f32, 0f32);
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    max
}

/// Nibbles of 32 values: value j < 16 in the low half of byte j, value j + 16 in its high half.
fn pack_low_nibbles(q: &[u8], qs: &mut [u8]) {
    for j in 0..16 {
        qs[j] = (q[j] & 0x0f) | ((q[j + 16] & 0x0f) << 4);
    }
}

/// Bit 4 of each of 32 values, value j at bit j.
fn fifth_bits(q: &[u8]) -> u32 {
    q.iter()
        .enumerate()
        .fold(0, |qh, (j, &v)| qh | (u32::from(v >> 4) & 1) << j)
}

/// Rounds `v / scale` to the nearest integer in `lo..=hi` (0 when the scale is 0).
fn level(v: f32, scale: f32, lo: i32, hi: i32) -> i32 {
    if scale == 0.0 {
        return 0.clamp(lo, hi);
    }
    ((v / scale).round() as i32).clamp(lo, hi)
}

/// Super-block scale for sub-block scales of at most `max`, stored in `top` steps, as the f16
/// value the block will hold.
fn super_scale(max: f32, top: f32) -> f32 {
    f16::from_f32(max / top).to_f32()
}

fn quantize_q2_k(x: &[f32], b: &mut [u8]) {
    // 16 groups of 16: w = d·sc·q − dmin·m with q in 0..=3, sc and m in 0..=15.
    let mut scale = [0f32; 16];
    let mut offset = [0f32; 16];
    for (g, group) in x.chunks_exact(16).enumerate() {
        let lo = group.iter().copied().fold(0f32, f32::min);
        let hi = group.iter().copied().fold(0f32, f32::max);
        scale[g] = (hi - lo) / 3.0;
        offset[g] = -lo;
    }
    let d = super_scale(scale.iter().copied().fold(0f32, f32::max), 15.0);
    let dmin = super_scale(offset.iter().copied().fold(0f32, f32::max), 15.0);
    put_half(b, 80, d);
    put_half(b, 82, dmin);
    for g in 0..16 {
        let sc = level(scale[g], d, 0, 15) as u8;
        let m = level(offset[g], dmin, 0, 15) as u8;
        b[g] = sc | (m << 4);
        let (dl, ml) = (d * f32::from(sc), dmin * f32::from(m));
        for i in 0..16 {
            // Element 128n + 32j + 16h + l: qs[32n + 16h + l], bits 2j; group 8n + 2j + h.
            let (n, j, h) = (g / 8, (g % 8) / 2, g % 2);
            let q = level(x[16 * g + i] + ml, dl, 0, 3) as u8;
            b[16 + 32 * n + 16 * h + i] |= q << (2 * j);
        }
    }
}

fn quantize_q3_k(x: &[f32], b: &mut [u8]) {
    // 16 groups of 16: w = d·(s − 32)·q with q in −4..=3 and s in 0..=63. Each group's scale
    // maps its value of largest magnitude to −4, as ggml's symmetric quantizers do.
    let mut scale = [0f32; 16];
    for (g, group) in x.chunks_exact(16).enumerate() {
        scale[g] = signed_absmax(group) / -4.0;
    }
    let d = super_scale(scale.iter().fold(0f32, |a, v| a.max(v.abs())), 31.0);
    put_half(b, 108, d);
    for g in 0..16 {
        let sc = level(scale[g], d, -32, 31);
        let s = (sc + 32) as u8;
        // Low 4 bits: byte g % 8, nibble g / 8; high 2 bits: byte 8 + g % 4, bits 2·(g / 4).
        b[96 + g % 8] |= (s & 0x0f) << (4 * (g / 8));
        b[96 + 8 + g % 4] |= (s >> 4) << (2 * (g / 4));
        let dl = d * sc as f32;
        for i in 0..16 {
            // Element 128n + 32j + 16h + l: qs[32n + 16h + l] bits 2j, hmask[16h + l] bit 4n + j.
            let (n, j, h) = (g / 8, (g % 8) / 2, g % 2);
            let q = (level(x[16 * g + i], dl, -4, 3) + 4) as u8;
            b[32 + 32 * n + 16 * h + i] |= (q & 3) << (2 * j);
            b[16 * h + i] |= (q >> 2) << (4 * n + j);
        }
    }
}

fn quantize_q45_k(five_bits: bool, x: &[f32], b: &mut [u8]) {
    // 8 groups of 32: w = d·sc·q − dmin·m with sc, m in 0..=63 and q in 0..=15 (or 0..=31).
    let top = if five_bits { 31.0 } else { 15.0 };
    let mut scale = [0f32; 8];
    let mut offset = [0f32; 8];
    for (g, group) in x.chunks_exact(32).enumerate() {
        let lo = group.iter().copied().fold(0f32, f32::min);
        let hi = group.iter().copied().fold(0f32, f32::max);
        scale[g] = (hi - lo) / top;
        offset[g] = -lo;
    }
    let d = super_scale(scale.iter().copied().fold(0f32, f32::max), 63.0);
    let dmin = super_scale(offset.iter().copied().fold(0f32, f32::max), 63.0);
    put_half(b, 0, d);
    put_half(b, 2, dmin);
    let qs_at = if five_bits { 48 } else { 16 };
    for g in 0..8 {
        let sc = level(scale[g], d, 0, 63) as u8;
        let m = level(offset[g], dmin, 0, 63) as u8;
        // The inverse of get_scale_min_k4.
        let s = &mut b[4..16];
        if g < 4 {
            s[g] |= sc;
            s[g + 4] |= m;
        } else {
            s[g + 4] = (sc & 0x0f) | ((m & 0x0f) << 4);
            s[g - 4] |= (sc >> 4) << 6;
            s[g] |= (m >> 4) << 6;
        }
        let (dl, ml) = (d * f32::from(sc), dmin * f32::from(m));
        for l in 0..32 {
            // Element 64j + 32h + l: nibble h of qs[32j + l]; the fifth bit is qh[l] bit 2j + h.
            let (j, h) = (g / 2, g % 2);
            let q = level(x[32 * g + l] + ml, dl, 0, top as i32) as u8;
            b[qs_at + 32 * j + l] |= (q & 0x0f) << (4 * h);
            if five_bits {
                b[16 + l] |= (q >> 4) << g;
            }
        }
    }
}

fn quantize_q6_k(x: &[f32], b: &mut [u8]) {
    // 16 groups of 16: w = d·sc·q with sc in −128..=127 and q in −32..=31; each group's scale
    // maps its value of largest magnitude to −32.
    let mut scale = [0f32; 16];
    for (g, group) in x.chunks_exact(16).enumerate() {
        scale[g] = signed_absmax(group) / -32.0;
    }
    let d = super_scale(scale.iter().fold(0f32, |a, v| a.max(v.abs())), 127.0);
    put_half(b, 208, d);
    for g in 0..16 {
        let sc = level(scale[g], d, -128, 127) as i8;
        // Group g = 8n + 2s + l/16 holds elements 128n + 32s + l.
        let (n, s, l0) = (g / 8, (g % 8) / 2, 16 * (g % 2));
        b[192 + g] = sc as u8;
        let dl = d * f32::from(sc);
        for i in 0..16 {
            let l = l0 + i;
            let q = (level(x[128 * n + 32 * s + l], dl, -32, 31) + 32) as u8;
            // Low nibble: ql[64n + 32(s % 2) + l], nibble s / 2; high bits: qh[32n + l] bits 2s.
            b[64 * n + 32 * (s % 2) + l] |= (q & 0x0f) << (4 * (s / 2));
            b[128 + 32 * n + l] |= (q >> 4) << (2 * s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, seed: u64) -> Vec<f32> {
        crate::reference::random_f32(len, seed)
    }

    #[test]
    fn every_type_round_trips_within_its_step() {
        for dtype in KernelDtype::QUANTIZED {
            let x = values(4 * dtype.block_elements() as usize, 7);
            let blocks = quantize(dtype, &x).unwrap();
            assert_eq!(blocks.len() as u64, 4 * dtype.bytes());
            let y = dequantize(dtype, &blocks).unwrap();
            // Random values in [-1, 1): the step of a b-bit quantizer over a range of 2 is
            // 2 / (2^b − 1); rounding keeps every value within about one step (scales are
            // rounded too), far below the range.
            let bits = match dtype {
                KernelDtype::Q2K => 2.0,
                KernelDtype::Q3K => 3.0,
                KernelDtype::Q4_0 | KernelDtype::Q4_1 | KernelDtype::Q4K => 4.0,
                KernelDtype::Q5_0 | KernelDtype::Q5_1 | KernelDtype::Q5K => 5.0,
                KernelDtype::Q6K => 6.0,
                _ => 8.0,
            };
            let step = 2.0 / (2f32.powf(bits) - 1.0);
            let worst = x
                .iter()
                .zip(&y)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                worst <= step,
                "{dtype}: worst error {worst} over step {step}"
            );
            let rms = (x.iter().zip(&y).map(|(a, b)| (a - b).powi(2)).sum::<f32>()
                / x.len() as f32)
                .sqrt();
            assert!(
                rms <= step / 2.0,
                "{dtype}: rms error {rms} over step {step}"
            );
        }
    }

    #[test]
    fn zeros_quantize_to_zeros() {
        for dtype in KernelDtype::QUANTIZED {
            let x = vec![0f32; dtype.block_elements() as usize];
            let y = dequantize(dtype, &quantize(dtype, &x).unwrap()).unwrap();
            assert!(y.iter().all(|&v| v == 0.0), "{dtype}: {y:?}");
        }
    }

    #[test]
    fn q4_0_by_hand() {
        // d = 0.5, qs[0] = 0x9f: element 0 is (15 − 8)·0.5, element 16 is (9 − 8)·0.5.
        let mut block = vec![0u8; 18];
        block[..2].copy_from_slice(&f16::from_f32(0.5).to_le_bytes());
        block[2] = 0x9f;
        let y = dequantize(KernelDtype::Q4_0, &block).unwrap();
        assert_eq!((y[0], y[16], y[1]), (3.5, 0.5, -4.0));
    }

    #[test]
    fn lengths_are_checked() {
        let dtype = KernelDtype::Q4_0;
        assert_eq!(dequantize(dtype, &[0u8; 20]).unwrap().len(), 32); // 2 bytes of padding
        assert!(matches!(
            dequantize(dtype, &[0u8; 22]),
            Err(Error::Shape(_))
        ));
        assert!(matches!(quantize(dtype, &[0.0; 31]), Err(Error::Shape(_))));
        assert!(matches!(
            dequantize(KernelDtype::F32, &[0u8; 4]),
            Err(Error::InvalidArgument(_))
        ));
    }

    #[test]
    fn random_blocks_have_finite_scales() {
        for dtype in KernelDtype::QUANTIZED {
            let blocks = random_blocks(dtype, 64, 3).unwrap();
            let y = dequantize(dtype, &blocks).unwrap();
            assert!(y.iter().all(|v| v.is_finite()), "{dtype}");
            assert_eq!(blocks, random_blocks(dtype, 64, 3).unwrap());
        }
    }
}
