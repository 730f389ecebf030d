#!/usr/bin/env python3
"""Writes the fixtures that tests/quant.rs checks Strata's CPU reference against.

Strata's `reference::quant` decodes ggml's quantized blocks on the CPU. So that it is not only
checked against itself, the expected values here come from the `gguf` Python package
(llama.cpp's own GGUF library, `pip install gguf numpy`): for every type,

  tests/data/quant/<type>.blocks   random valid blocks (random bits, finite f16 scales of every
                                   kind: ordinary, zero, subnormal, negative, large)
  tests/data/quant/<type>.values   gguf.quants.dequantize of those blocks, little-endian f32

and for the types the package can quantize (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0),

  tests/data/quant/<type>.input      f32 values (random, plus zero, constant and one-hot blocks)
  tests/data/quant/<type>.quantized  gguf.quants.quantize of them, raw blocks

Deterministic (fixed seeds): rerunning it rewrites the same bytes. Run from the repository root:
    python3 scripts/quant-fixtures.py
"""

import os
import sys
from importlib import metadata

import numpy as np

try:
    from gguf import GGMLQuantizationType as T
    from gguf.quants import dequantize, quantize
except ImportError:
    sys.exit("needs the gguf package: pip install gguf numpy")

OUT = os.path.join("tests", "data", "quant")

# name, type, block bytes, block elements, byte offsets of the f16 fields, blocks to write
TYPES = [
    ("q4_0", T.Q4_0, 18, 32, [0], 64),
    ("q4_1", T.Q4_1, 20, 32, [0, 2], 64),
    ("q5_0", T.Q5_0, 22, 32, [0], 64),
    ("q5_1", T.Q5_1, 24, 32, [0, 2], 64),
    ("q8_0", T.Q8_0, 34, 32, [0], 64),
    ("q2_k", T.Q2_K, 84, 256, [80, 82], 12),
    ("q3_k", T.Q3_K, 110, 256, [108], 12),
    ("q4_k", T.Q4_K, 144, 256, [0, 2], 12),
    ("q5_k", T.Q5_K, 176, 256, [0, 2], 12),
    ("q6_k", T.Q6_K, 210, 256, [208], 12),
]

QUANTIZABLE = {T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0}


def scale(rng, i):
    """The i-th f16 scale: every kind a block can hold, then random ordinary ones."""
    special = [0.0, -0.0, 6.0e-8, -3.0e-5, 6.1e-5, 1.0, -1.0, 65504.0, -65504.0, 0.5]
    if i < len(special):
        return special[i]
    magnitude = 2.0 ** rng.uniform(-14, 4)
    return magnitude if rng.random() < 0.5 else -magnitude


def random_blocks(rng, block_bytes, offsets, count):
    blocks = rng.integers(0, 256, size=(count, block_bytes), dtype=np.uint8)
    blocks[0, :] = 0  # an all-zero block, scales included
    blocks[1, :] = 0xFF  # every quant bit set
    k = 0
    for b in range(1, count):
        for at in offsets:
            blocks[b, at:at + 2] = np.array([scale(rng, k)], dtype=np.float16).view(np.uint8)
            k += 1
    assert all(np.isfinite(blocks[:, at:at + 2].copy().view(np.float16)).all() for at in offsets)
    return blocks


def quant_input(rng, elements, count):
    x = rng.standard_normal((count, elements)).astype(np.float32)
    x[0, :] = 0.0  # zeros: d = 0
    x[1, :] = 0.75  # a constant block
    x[2, :] = 0.0
    x[2, 5] = -3.0  # one value
    x[3, :] *= 1e-4  # small values: subnormal f16 scales
    x[4, :] *= 1e3
    return x


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, qtype, block_bytes, elements, offsets, count in TYPES:
        rng = np.random.default_rng(0x5EED + int(qtype))
        blocks = random_blocks(rng, block_bytes, offsets, count)
        values = dequantize(blocks, qtype).astype("<f4")
        assert values.shape == (count, elements), values.shape
        assert np.isfinite(values).all(), name
        blocks.tofile(os.path.join(OUT, f"{name}.blocks"))
        values.tofile(os.path.join(OUT, f"{name}.values"))
        written = [f"{name}.blocks", f"{name}.values"]
        if qtype in QUANTIZABLE:
            x = quant_input(rng, elements, count)
            q = quantize(x, qtype)
            assert q.shape == (count, block_bytes), q.shape
            x.astype("<f4").tofile(os.path.join(OUT, f"{name}.input"))
            q.tofile(os.path.join(OUT, f"{name}.quantized"))
            written += [f"{name}.input", f"{name}.quantized"]
        print(f"{name}: {count} blocks -> {', '.join(written)}")
    print(f"gguf {metadata.version('gguf')}, numpy {np.__version__}")


if __name__ == "__main__":
    main()
