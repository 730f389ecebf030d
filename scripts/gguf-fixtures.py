#!/usr/bin/env python3
"""Writes the GGUF test fixtures in tests/data/gguf/ with the Python `gguf` package (the
reference implementation of GGUF, maintained with llama.cpp), and records what that package
reads back from them (and its table of ggml block sizes) in tests/data/gguf/fixtures.json. tests/gguf.rs checks that Strata reads
every file the same way.

The committed files are the fixtures: tests need no network. To regenerate them:

    python3 -m venv /tmp/gguf-venv && /tmp/gguf-venv/bin/pip install gguf numpy
    /tmp/gguf-venv/bin/python scripts/gguf-fixtures.py
"""

import importlib.metadata
import json
import pathlib

import numpy as np
from gguf import GGUFReader, GGUFValueType, GGUFWriter
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType as Q

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "gguf"


def raw(rng, qtype, shape):
    """Random bytes of a tensor of `shape` (outermost first) in `qtype`, as gguf wants them:
    a uint8 array of shape (..., row bytes)."""
    block, size = GGML_QUANT_SIZES[qtype]
    *outer, row = shape
    assert row % block == 0
    return rng.integers(0, 256, size=(*outer, row // block * size), dtype=np.uint8)


def add_every_value(w):
    w.add_key_value("test.u8", 200, GGUFValueType.UINT8)
    w.add_key_value("test.i8", -100, GGUFValueType.INT8)
    w.add_key_value("test.u16", 60000, GGUFValueType.UINT16)
    w.add_key_value("test.i16", -30000, GGUFValueType.INT16)
    w.add_key_value("test.u32", 4000000000, GGUFValueType.UINT32)
    w.add_key_value("test.i32", -2000000000, GGUFValueType.INT32)
    w.add_key_value("test.f32", 0.15625, GGUFValueType.FLOAT32)
    w.add_key_value("test.bool", True, GGUFValueType.BOOL)
    w.add_key_value("test.string", "hello, wörld", GGUFValueType.STRING)
    w.add_key_value("test.u64", 18000000000000000000, GGUFValueType.UINT64)
    w.add_key_value("test.i64", -9000000000000000000, GGUFValueType.INT64)
    w.add_key_value("test.f64", -2.5e-300, GGUFValueType.FLOAT64)
    w.add_key_value("test.arr.i32", [1, -2, 3], GGUFValueType.ARRAY, GGUFValueType.INT32)
    w.add_key_value("test.arr.f32", [0.5, -1.0], GGUFValueType.ARRAY, GGUFValueType.FLOAT32)
    w.add_key_value("test.arr.u8", [0, 255], GGUFValueType.ARRAY, GGUFValueType.UINT8)
    w.add_key_value("test.arr.bool", [True, False], GGUFValueType.ARRAY, GGUFValueType.BOOL)
    w.add_key_value("test.arr.str", ["a", "", "ü"], GGUFValueType.ARRAY, GGUFValueType.STRING)
    w.add_key_value("test.arr.nested", [[1, 2], [3]], GGUFValueType.ARRAY)


def write(path, tensors, alignment=None, split_max_tensors=0, values=True):
    w = GGUFWriter(path, "llama", split_max_tensors=split_max_tensors)
    w.add_name("fixture")
    w.add_block_count(2)
    if alignment is not None:
        w.add_custom_alignment(alignment)
    if values:
        add_every_value(w)
    for name, data, qtype in tensors:
        w.add_tensor(name, data, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def describe(path):
    """What the gguf package reads from `path`."""
    r = GGUFReader(path)
    metadata = {}
    for field in r.fields.values():
        if field.name.startswith("GGUF."):
            continue
        kind = field.types[0]
        entry = {"type": kind.name}
        if kind == GGUFValueType.ARRAY:
            entry["element_type"] = field.types[1].name if len(field.types) > 1 else None
        value = field.contents()
        entry["value"] = value
        metadata[field.name] = entry
    tensors = []
    for t in r.tensors:
        tensors.append({
            "name": t.name,
            "type": t.tensor_type.name,
            "type_id": int(t.tensor_type),
            "ne": [int(n) for n in t.shape],
            "n_elements": int(t.n_elements),
            "n_bytes": int(t.n_bytes),
            "data_offset": int(t.data_offset),
            "first_bytes": bytes(np.asarray(t.data).view(np.uint8).reshape(-1)[:8]).hex(),
        })
    version = int(r.fields["GGUF.version"].contents())
    return {
        "file": path.name,
        "version": version,
        "alignment": int(r.alignment),
        "data_start": int(r.data_offset),
        "file_len": path.stat().st_size,
        "metadata": metadata,
        "tensors": tensors,
    }


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.gguf"):
        old.unlink()
    rng = np.random.default_rng(14)
    types = [
        ("token_embd.weight", Q.Q4_K, [4, 256]),
        ("blk.0.attn_norm.weight", Q.F32, [256]),
        ("blk.0.attn_q.weight", Q.Q4_K, [2, 512]),
        ("blk.0.ffn_down.weight", Q.Q6_K, [3, 256]),
        ("blk.0.ffn_up.weight", Q.Q5_K, [1, 256]),
        ("blk.0.ffn_gate.weight", Q.Q8_0, [2, 64]),
        ("blk.1.attn_k.weight", Q.Q4_0, [2, 32]),
        ("blk.1.attn_v.weight", Q.F16, [2, 16]),
        ("blk.1.attn_output.weight", Q.BF16, [2, 16]),
        ("blk.1.ffn_up.weight", Q.IQ4_XS, [1, 256]),
        ("blk.1.ffn_gate.weight", Q.MXFP4, [2, 32]),
        ("blk.1.ffn_down.weight", Q.TQ2_0, [1, 256]),
        ("blk.1.ffn_norm.weight", Q.F32, [16]),
        ("blk.1.experts.weight", Q.Q2_K, [2, 1, 256]),
        ("output_norm.weight", Q.F32, [8]),
        ("output.weight", Q.Q6_K, [4, 256]),
    ]
    tensors = [(name, raw(rng, q, shape), q) for name, q, shape in types]
    write(OUT / "types.gguf", tensors)
    write(OUT / "aligned64.gguf", tensors[:4], alignment=64, values=False)
    write(OUT / "split.gguf", tensors[:5], split_max_tensors=2, values=False)

    described = [describe(p) for p in sorted(OUT.glob("*.gguf"))]
    # The package's own table of block sizes, to check Strata's ggml type table against.
    sizes = {q.name: {"id": int(q), "block_size": b, "block_bytes": n}
             for q, (b, n) in GGML_QUANT_SIZES.items()}
    document = {"gguf_package": importlib.metadata.version("gguf"), "quant_sizes": sizes,
                "files": described}
    (OUT / "fixtures.json").write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    for d in described:
        print(d["file"], d["file_len"], "bytes,", len(d["tensors"]), "tensors")


if __name__ == "__main__":
    main()
