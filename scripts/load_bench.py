#!/usr/bin/env python3
"""Helpers of the `load16` stage of scripts/gpu-run.sh: model files for `strata load`, the page
cache, the pinned-memory peer, and a summary of the loads.

  load_bench.py write PATH --shape bench|27b|1b|tiny   a safetensors file, streamed to disk
  load_bench.py evict PATH                          drop PATH's pages from the page cache
  load_bench.py resident PATH                       the fraction of PATH in the page cache
  load_bench.py peer BYTES                          CUDA: pinned H2D, cudaHostAlloc, cudaHostRegister
  load_bench.py summary DIR                         a table of DIR's `strata load --json` outputs

The file is written tensor by tensor (header first, then each tensor's bytes in 64 MiB blocks),
so a 51 GiB model needs no more memory than one block: the repository's writer
(`strata::model::write_safetensors`) takes every tensor in memory at once, which the GPU machine
cannot spare beside the load it measures. Blocks are random bytes XOR a per-block counter, so no
two blocks are equal (a misplaced chunk fails verification) and writing runs at memory speed.
Only numpy is needed, except for `peer` (PyTorch).
"""
import ctypes
import glob
import json
import os
import sys
import time

BLOCK = 64 << 20


def gemma_27b():
    """Gemma 3 27B's tensors, bf16 (~54 GB), as tests/plan.rs models them."""
    return gemma(62, 5376, 21504, 32, 16, 128, 262_208)


def gemma_1b():
    """Gemma 3 1B's tensors, bf16 (1.9 GiB): 340 tensors, 209 of them under 1 MiB."""
    return gemma(26, 1152, 6912, 4, 1, 256, 262_144)


def gemma(layers, h, inter, heads, kv, hd, vocab):
    """The tensors of a Gemma 3 model of these dimensions, bf16."""
    q, k = heads * hd, kv * hd
    out = [("model.embed_tokens.weight", [vocab, h])]
    for n in range(layers):
        p = f"model.layers.{n}"
        out += [
            (f"{p}.input_layernorm.weight", [h]),
            (f"{p}.self_attn.q_proj.weight", [q, h]),
            (f"{p}.self_attn.k_proj.weight", [k, h]),
            (f"{p}.self_attn.v_proj.weight", [k, h]),
            (f"{p}.self_attn.o_proj.weight", [h, q]),
            (f"{p}.self_attn.q_norm.weight", [hd]),
            (f"{p}.self_attn.k_norm.weight", [hd]),
            (f"{p}.post_attention_layernorm.weight", [h]),
            (f"{p}.pre_feedforward_layernorm.weight", [h]),
            (f"{p}.post_feedforward_layernorm.weight", [h]),
            (f"{p}.mlp.gate_proj.weight", [inter, h]),
            (f"{p}.mlp.up_proj.weight", [inter, h]),
            (f"{p}.mlp.down_proj.weight", [h, inter]),
        ]
    out.append(("model.norm.weight", [h]))
    return [(name, "BF16", shape) for name, shape in out]


def shapes(kind):
    if kind == "bench":
        # The file: 36 f16 tensors of 128 MiB, 4.5 GiB.
        return [(f"model.layers.{i}.mlp.weight", "F16", [16384, 4096]) for i in range(36)]
    if kind == "27b":
        return gemma_27b()
    if kind == "1b":
        return gemma_1b()
    if kind == "tiny":
        return [(f"model.layers.{i}.mlp.weight", "F16", [1000 + i, 1024]) for i in range(8)] + [
            ("model.norm.weight", "F16", [4097])
        ]
    sys.exit(f"unknown shape {kind}: expected bench, 27b, 1b or tiny")


def write(path, kind, seed=1):
    import numpy as np

    tensors = shapes(kind)
    size = {"F16": 2, "BF16": 2, "F32": 4}
    header, offset = {}, 0
    for name, dtype, shape in tensors:
        n = size[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 2**63, size=BLOCK // 8, dtype=np.uint64)
    started = time.time()
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        block_id = 0
        for name, dtype, shape in tensors:
            left = header[name]["data_offsets"][1] - header[name]["data_offsets"][0]
            while left > 0:
                n = min(left, BLOCK)
                block_id += 1
                data = base ^ np.uint64(block_id * 0x9E3779B97F4A7C15 % 2**64)
                f.write(memoryview(data).cast("B")[:n])
                left -= n
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    seconds = time.time() - started
    print(f"wrote {path}: {len(tensors)} tensors, {offset / 2**30:.2f} GiB in {seconds:.1f} s")


def evict(path):
    """Drops the file's pages from the page cache (written back first); needs no root."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    print(f"evicted {path}: {resident(path, quiet=True) * 100:.1f}% still in the page cache")


def resident(path, quiet=False):
    """The fraction of the file's pages in the page cache (mincore on a map of it)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    page = os.sysconf("SC_PAGE_SIZE")
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        addr = libc.mmap(None, size, 1, 1, fd, 0)  # PROT_READ, MAP_SHARED
        if addr in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap")
        pages = (size + page - 1) // page
        vec = (ctypes.c_ubyte * pages)()
        if libc.mincore(ctypes.c_void_p(addr), size, vec) != 0:
            raise OSError(ctypes.get_errno(), "mincore")
        libc.munmap(ctypes.c_void_p(addr), size)
    finally:
        os.close(fd)
    fraction = sum(v & 1 for v in vec) / max(pages, 1)
    if not quiet:
        print(f"{path}: {fraction * 100:.1f}% in the page cache")
    return fraction


def peer(nbytes):
    """Pinned host->device as torch_peer.py measures it (1 GiB, CUDA events, median of 20), and
    what pinning costs through CUDA: cudaHostAlloc of `nbytes` (the driver allocates and pins)
    against an anonymous buffer touched by the CPU and then registered (cudaHostRegister pins
    memory the process already has: what importing host memory into Vulkan would cost)."""
    import numpy as np
    import torch

    out = {"device": torch.cuda.get_device_name(0)}
    dev = "cuda"

    def bench(fn, reps=20, warm=5):
        for _ in range(warm):
            fn()
        torch.cuda.synchronize()
        ts = []
        for _ in range(reps):
            s = torch.cuda.Event(enable_timing=True)
            e = torch.cuda.Event(enable_timing=True)
            s.record(); fn(); e.record(); torch.cuda.synchronize()
            ts.append(s.elapsed_time(e) / 1e3)
        ts.sort()
        return ts[len(ts) // 2]

    src = torch.empty(2**30, dtype=torch.uint8, device=dev)
    h = torch.empty(2**30, dtype=torch.uint8).pin_memory()
    h.random_()
    out["h2d_pinned_GBps"] = h.numel() / bench(lambda: src.copy_(h, non_blocking=True)) / 1e9
    out["d2h_pinned_GBps"] = h.numel() / bench(lambda: h.copy_(src, non_blocking=True)) / 1e9
    del h, src
    torch.cuda.synchronize()

    t = time.time()
    pinned = torch.empty(nbytes, dtype=torch.uint8, pin_memory=True)
    out["cuda_host_alloc_s"] = time.time() - t
    del pinned
    t = time.time()
    anon = np.empty(nbytes, dtype=np.uint8)
    anon.fill(1)
    out["anonymous_alloc_and_touch_s"] = time.time() - t
    cudart = torch.cuda.cudart()
    t = time.time()
    err = cudart.cudaHostRegister(anon.ctypes.data, nbytes, 0)
    out["cuda_host_register_s"] = time.time() - t
    out["cuda_host_register_error"] = int(err)
    cudart.cudaHostUnregister(anon.ctypes.data)
    out["bytes"] = nbytes
    for key in ("cuda_host_alloc_s", "anonymous_alloc_and_touch_s", "cuda_host_register_s"):
        out[key.replace("_s", "_GBps")] = nbytes / out[key] / 1e9 if out[key] > 0 else None
    print(json.dumps(out, indent=1))


def _values(node, key):
    """Every value of `key` anywhere inside the JSON value `node`."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            else:
                yield from _values(v, key)
    elif isinstance(node, list):
        for v in node:
            yield from _values(v, key)


def summary(directory):
    """One row per `strata load --json` file of `directory` (load16-*.json): rate, against the
    peer's pinned H2D when load16-peer.json is there, and the phases' busy times."""
    peer_path = os.path.join(directory, "load16-peer.json")
    h2d = None
    try:
        with open(peer_path) as f:
            h2d = json.load(f).get("h2d_pinned_GBps")
    except (OSError, ValueError):
        pass
    cols = ["allocate", "allocate_wall", "read_ahead", "wait_allocation", "copy", "wait_staging",
            "submit", "finish", "verify_readback", "verify_compare"]
    print(f"pinned H2D (peer, same run): {h2d:.1f} GB/s" if h2d else "pinned H2D: no peer figure")
    head = f"{'run':34} {'GB/s':>6} {'x H2D':>6} {'upload s':>8} {'total s':>8} " + " ".join(
        f"{c[:10]:>10}" for c in cols)
    print(head)
    for path in sorted(glob.glob(os.path.join(directory, "load16-*.json"))):
        name = os.path.basename(path)[len("load16-"):-len(".json")]
        if name == "peer":
            continue
        try:
            with open(path) as f:
                doc = json.load(f)
        except (OSError, ValueError):
            print(f"{name:34} no report (the load failed: see log.txt)")
            continue
        t = doc.get("timings")
        if not t:
            continue
        rate = t["bytes"] / t["upload_seconds"] / 1e9 if t["upload_seconds"] else 0
        ratio = f"{rate / h2d:.2f}" if h2d else "-"
        phases = t["phases"]
        print(f"{name:34} {rate:6.1f} {ratio:>6} {t['upload_seconds']:8.3f} {t['total_seconds']:8.3f} "
              + " ".join(f"{phases[c]:10.3f}" for c in cols))
        imported = [found for x in doc["tensors"] for found in _values(x, "host_imported")]
        if imported:
            print(f"{'':34} on imported host pages: {sum(imported)} of {len(imported)} buffers")
        verified = [x.get("verified") for x in doc["tensors"]]
        heaps = [(h["index"], h.get("verification")) for h in doc["heaps"] if h.get("verification")]
        if any(v is not None for v in verified) or heaps:
            ok = all(v is True for v in verified)
            methods = [x.get("verified_by") for x in doc["tensors"] if x.get("verified_by")]
            by = ", ".join(f"{m} {methods.count(m)}" for m in sorted(set(methods)))
            print(f"{'':34} verified: {'every tensor' if ok else 'NOT every tensor'}"
                  f" (by {by or 'nothing'}); heaps: {heaps}")


def parse_size(text):
    units = {"kib": 2**10, "mib": 2**20, "gib": 2**30, "kb": 10**3, "mb": 10**6, "gb": 10**9}
    t = text.strip().lower()
    for unit, scale in units.items():
        if t.endswith(unit):
            return int(float(t[: -len(unit)]) * scale)
    return int(t)


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    command, arg = argv[1], argv[2]
    if command == "write":
        kind = argv[argv.index("--shape") + 1] if "--shape" in argv else "bench"
        write(arg, kind)
    elif command == "evict":
        evict(arg)
    elif command == "resident":
        resident(arg)
    elif command == "peer":
        peer(parse_size(arg))
    elif command == "summary":
        summary(arg)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
