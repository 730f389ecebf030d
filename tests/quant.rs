//! Strata's CPU reference for ggml's quantized types against the `gguf` Python package
//! (llama.cpp's GGUF library), on fixtures it wrote (`scripts/quant-fixtures.py`): every type's
//! dequantization bit for bit, and ggml's reference quantizers for Q4_0 … Q8_0 byte for byte.
//! No GPU needed; the fixtures are committed, so no network either.

use std::path::PathBuf;
use strata::KernelDtype;
use strata::reference::quant;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/quant")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (written by scripts/quant-fixtures.py)",
            path.display()
        )
    })
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    assert_eq!(bytes.len() % 4, 0);
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Indices and values (as bits) where `got` and `want` differ, the first few.
fn differences(got: &[f32], want: &[f32]) -> Vec<String> {
    got.iter()
        .zip(want)
        .enumerate()
        .filter(|(_, (g, w))| g.to_bits() != w.to_bits())
        .take(8)
        .map(|(i, (g, w))| {
            format!(
                "[{i}] {g:e} ({:#010x}) vs {w:e} ({:#010x})",
                g.to_bits(),
                w.to_bits()
            )
        })
        .collect()
}

#[test]
fn dequantization_matches_the_gguf_package_bit_for_bit() {
    for dtype in KernelDtype::QUANTIZED {
        let blocks = fixture(&format!("{dtype}.blocks"));
        let want = f32s(&fixture(&format!("{dtype}.values")));
        assert_eq!(
            blocks.len() as u64 % dtype.block_bytes(),
            0,
            "{dtype}: whole blocks"
        );
        assert!(
            want.len() >= 12 * 32,
            "{dtype}: a fixture of {} values",
            want.len()
        );
        let got = quant::dequantize(dtype, &blocks).expect("dequantize");
        assert_eq!(got.len(), want.len(), "{dtype}");
        let diff = differences(&got, &want);
        assert!(
            diff.is_empty(),
            "{dtype}: differs from gguf:\n{}",
            diff.join("\n")
        );
    }
}

#[test]
fn reference_quantizers_match_the_gguf_package_byte_for_byte() {
    let quantizable = [
        KernelDtype::Q4_0,
        KernelDtype::Q4_1,
        KernelDtype::Q5_0,
        KernelDtype::Q5_1,
        KernelDtype::Q8_0,
    ];
    for dtype in quantizable {
        let input = f32s(&fixture(&format!("{dtype}.input")));
        let want = fixture(&format!("{dtype}.quantized"));
        let got = quant::quantize(dtype, &input).expect("quantize");
        assert_eq!(got.len(), want.len(), "{dtype}");
        let block = dtype.block_bytes() as usize;
        let bad: Vec<usize> = (0..want.len() / block)
            .filter(|b| got[b * block..(b + 1) * block] != want[b * block..(b + 1) * block])
            .collect();
        assert!(
            bad.is_empty(),
            "{dtype}: blocks {bad:?} differ from gguf.quants.quantize (first: {:?} vs {:?})",
            bad.first().map(|&b| &got[b * block..(b + 1) * block]),
            bad.first().map(|&b| &want[b * block..(b + 1) * block])
        );
    }
}

/// The fixtures cover what the decoders must get right: zero, negative, subnormal and large
/// scales, all-zero and all-ones quant bits. (A fixture regenerated with fewer kinds would
/// weaken the test above without failing it.)
#[test]
fn fixtures_hold_every_kind_of_scale() {
    for dtype in KernelDtype::QUANTIZED {
        let blocks = fixture(&format!("{dtype}.blocks"));
        let block = dtype.block_bytes() as usize;
        let scales: Vec<f32> = blocks
            .chunks_exact(block)
            .flat_map(|b| {
                quant::scale_offsets(dtype)
                    .iter()
                    .map(|&at| half::f16::from_le_bytes([b[at], b[at + 1]]).to_f32())
            })
            .collect();
        assert!(scales.iter().all(|s| s.is_finite()), "{dtype}");
        assert!(scales.contains(&0.0), "{dtype}: a zero scale");
        assert!(scales.iter().any(|s| *s < 0.0), "{dtype}: a negative scale");
        assert!(
            scales.iter().any(|s| *s != 0.0 && s.abs() < 6.1e-5),
            "{dtype}: a subnormal scale"
        );
        assert!(
            scales.iter().any(|s| s.abs() >= 1.0),
            "{dtype}: a large scale"
        );
        assert!(
            blocks[..block].iter().all(|&b| b == 0),
            "{dtype}: an all-zero block"
        );
    }
}
