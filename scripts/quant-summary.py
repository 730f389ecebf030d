#!/usr/bin/env python3
"""Summarises the `quant` stage of scripts/gpu-run.sh against its targets.

    python3 scripts/quant-summary.py OUT_DIR

Reads OUT_DIR/quant.json (the `strata gemv --json` reports, one after another),
OUT_DIR/quant-bench.json (`strata bench --ops read,gemv`) and OUT_DIR/llama-mul-mat.txt
(llama.cpp's `test-backend-ops perf -o MUL_MAT`, Vulkan backend), and prints per type:
Strata's time at 4096x14336 batch 1 and llama.cpp's, batch 8 over batch 1, and the weight
bandwidth at 16384² over Strata's streaming read. Targets (issue #14): batch 1 faster than
llama.cpp (moonshot 2x), batch 8 within 1.5x of batch 1, 16384² at >= 70% of `read`.
"""

import json
import os
import re
import sys


def reports(path):
    text = open(path).read()
    decoder = json.JSONDecoder()
    i = 0
    while True:
        start = text.find("{", i)
        if start < 0:
            return
        try:
            doc, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            i = start + 1
            continue
        i = end
        yield doc


def llama_times(path):
    """(type, n) -> microseconds per run, for m=4096, k=14336."""
    times = {}
    if not os.path.exists(path):
        return times
    pattern = re.compile(
        r"MUL_MAT\(type_a=(\w+),type_b=f32,m=(\d+),n=(\d+),k=(\d+)[^)]*\):\s+\d+ runs -\s+([\d.]+) us/run"
    )
    for line in open(path):
        m = pattern.search(line)
        if m and m.group(2) == "4096" and m.group(4) == "14336":
            times[(m.group(1).lower(), int(m.group(3)))] = float(m.group(5))
    return times


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "gpu-out"
    gemv = {}
    for doc in reports(os.path.join(out, "quant.json")):
        if "batch" in doc and "dtype" in doc:
            gemv[(doc["dtype"], doc["rows"], doc["cols"], doc["batch"])] = doc
    read = None
    bench = os.path.join(out, "quant-bench.json")
    if os.path.exists(bench):
        for row in json.load(open(bench)).get("rows", []):
            if row.get("op") == "read" and row.get("available"):
                read = row.get("gb_per_s")
    llama = llama_times(os.path.join(out, "llama-mul-mat.txt"))
    print(f"streaming read (vram, 1 GiB): {read} GB/s")
    print(
        f"{'type':6} {'b1 us':>8} {'llama us':>9} {'x llama':>8} {'b1 TB/s':>8} {'b8 us':>8} "
        f"{'b8/b1':>6} {'llama b8':>9} {'16k GB/s':>9} {'/read':>6} {'checks':>7}"
    )
    for dtype in ["q4_0", "q8_0", "q4_k", "q5_k", "q6_k", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k"]:
        b1 = gemv.get((dtype, 4096, 14336, 1))
        b8 = gemv.get((dtype, 4096, 14336, 8))
        big = gemv.get((dtype, 16384, 16384, 1))
        us1 = b1["seconds"] * 1e6 if b1 else None
        us8 = b8["seconds"] * 1e6 if b8 else None
        l1 = llama.get((dtype, 1))
        l8 = llama.get((dtype, 8))
        def fmt(v, f):
            text = f.format(v if v is not None else 0.0)
            return text if v is not None else "-".rjust(len(text))

        checks = all(d.get("ok") for d in (b1, b8, big) if d) and all((b1, b8, big))
        print(
            f"{dtype:6} {fmt(us1, '{:8.1f}')} {fmt(l1, '{:9.1f}')} "
            f"{fmt(l1 / us1 if l1 and us1 else None, '{:7.2f}x')} "
            f"{fmt(b1['gb_per_s'] / 1e3 if b1 else None, '{:8.2f}')} {fmt(us8, '{:8.1f}')} "
            f"{fmt(us8 / us1 if us8 and us1 else None, '{:6.2f}')} {fmt(l8, '{:9.1f}')} "
            f"{fmt(big['gb_per_s'] if big else None, '{:9.0f}')} "
            f"{fmt(big['gb_per_s'] / read if big and read else None, '{:6.2f}')} "
            f"{'ok' if checks else 'MISSING/FAIL':>7}"
        )
    for dtype in ["q4_0", "q8_0", "q4_k", "q5_k", "q6_k"]:
        b1 = gemv.get((dtype, 4096, 14336, 1))
        if b1:
            print(f"{dtype} batch 1 kernel: {b1.get('variant')}")


if __name__ == "__main__":
    main()
