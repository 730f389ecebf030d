#!/usr/bin/env bash
# Runs Strata's measurements on a GPU machine and writes every result under $OUT (default
# ./gpu-out).
#   usage: bash scripts/gpu-run.sh [stage...]
#   stages: smoke tests examples kernels coop bench decode load load16 soak contexts peer probe
#           sweep sweep16 sweep15 quant quant-sweep quant-sg gemv-coop
#
# Expects in .dev/: release builds of `strata`, `strata-soak`, `strata-validation-scan`, the
# examples and the GPU test binary as `tests-gpu` (`cargo build --release --workspace --bins --examples`;
# `cargo test --release -p strata --test gpu --no-run` prints the test binary's path), and
# `torch_peer.py` for the `peer` stage (`load16` needs PyTorch for its own pinned-H2D peer and
# numpy for scripts/load_bench.py). A machine with the NVIDIA driver but no Vulkan loader
# needs Debian's libvulkan1 and the glvnd libraries (libglvnd0 libegl1 libgl1 libglx0 libgles2
# libopengl0) unpacked into /, vulkan-validationlayers for the `tests` stage, and, if no
# device shows up, VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json.
set -uo pipefail
OUT="${OUT:-gpu-out}"
mkdir -p "$OUT"
BIN=.dev
log() { echo "== $*" | tee -a "$OUT/log.txt"; }
run() { log "$*"; "$@" 2>&1 | tee -a "$OUT/log.txt"; return "${PIPESTATUS[0]}"; }
# A directory on a disk (not tmpfs) with at least $1 GiB free, else any with that much room.
pick_dir() {
  local d fallback=""
  for d in ${LOAD16_DIR:-} /tmp /var/tmp "$PWD" /dev/shm; do
    [ -d "$d" ] && [ -w "$d" ] || continue
    [ "$(df -P -B1G "$d" | awk 'NR==2 {print $4}')" -ge "$1" ] 2>/dev/null || continue
    if [ "$(stat -f -c %T "$d")" != tmpfs ]; then echo "$d"; return 0; fi
    [ -n "$fallback" ] || fallback=$d
  done
  [ -n "$fallback" ] && echo "$fallback"
}
# `strata load MODEL ARGS... --json` into $OUT/load16-NAME.json (the `timings` key says where
# the time went).
load16() {
  local name=$1 model=$2; shift 2
  log "strata load $model $* --json > load16-$name.json"
  $BIN/strata load "$model" "$@" --json > "$OUT/load16-$name.json" 2>>"$OUT/log.txt" \
    || log "load16-$name: strata load failed (exit $?)"
}

stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(smoke tests kernels bench load peer)

for stage in "${stages[@]}"; do
  case "$stage" in
    smoke)
      nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee -a "$OUT/log.txt"
      run $BIN/strata info
      $BIN/strata info --json > "$OUT/info.json"
      run $BIN/strata matmul --m 257 --k 129 --n 65 --check
      for p in vram vram-mapped host host-cached; do
        run $BIN/strata alloc --placement $p --size 1GiB --verify --json
      done
      ;;
    tests)
      # The GPU test suite under the Khronos validation layer on the NVIDIA driver.
      # Three times in a row with the default thread count: the suite must survive the driver.
      for i in 1 2 3; do
        for t in $BIN/tests-*; do [ -x "$t" ] && CI=1 run "$t"; done
      done
      ;;
    kernels)
      for d in f32 f16 bf16; do
        run $BIN/strata gemv --rows 16384 --cols 16384 --dtype $d --check --iters 30 --json
      done
      for shape in "4096 14336" "4096 4096"; do
        set -- $shape
        for b in 1 8; do run $BIN/strata gemv --rows $1 --cols $2 --batch $b --check --iters 50 --json; done
      done
      run $BIN/strata matmul --m 1023 --k 1025 --n 1021 --check --json
      run $BIN/strata matmul --m 4096 --k 4096 --n 4096 --check --iters 20 --json
      run $BIN/strata matmul --m 8192 --k 8192 --n 8192 --check --iters 20 --json
      for t in 128x128x16/8x8 128x128x8/8x8 128x64x16/8x4 64x64x16/4x4; do
        run $BIN/strata matmul --m 4096 --k 4096 --n 4096 --tiles $t --iters 10 --json
      done
      # f16: cooperative matrices (the default where the device has them) against the FMA path,
      # both layouts, and shapes that are not multiples of the tiles (edge tiles of C).
      run $BIN/strata matmul --m 8192 --k 8192 --n 8192 --dtype f16 --check --iters 20 --json
      run $BIN/strata matmul --m 8192 --k 8192 --n 8192 --dtype f16 --layout nt --check --iters 20 --json
      run $BIN/strata matmul --m 8192 --k 8192 --n 8192 --dtype f16 --fma --check --iters 20 --json
      run $BIN/strata matmul --m 4096 --k 4096 --n 4096 --dtype f16 --check --iters 20 --json
      run $BIN/strata matmul --m 1001 --k 1000 --n 1016 --dtype f16 --check --json
      run $BIN/strata matmul --m 1001 --k 1000 --n 1016 --dtype f16 --layout nt --check --json
      run $BIN/strata matmul --m 1 --k 4096 --n 8 --dtype f16 --check --json
      run $BIN/strata matmul --m 4096 --k 4096 --n 4096 --dtype bf16 --layout nt --check --iters 20 --json
      run $BIN/strata gemv --rows 16384 --cols 16384 --generic --check --iters 20 --json
      ;;
    examples)
      # Every example under the Khronos validation layer; its output scanned for the layer's
      # messages by the detector every test uses.
      for e in hello_matmul placement_tour embed_wgpu tiered_load decode_loop; do
        STRATA_VALIDATION=1 run $BIN/$e > "$OUT/example-$e.txt"
        run $BIN/strata-validation-scan "$OUT/example-$e.txt" || log "example $e: validation messages"
      done
      ;;
    bench)
      run $BIN/strata bench --json "$OUT/bench.json" --csv "$OUT/bench.csv" --plot "$OUT/bench.svg"
      ;;
    decode)
      # The 7B-shaped decode loop: PyTorch eager and CUDA graph, then Strata per placement
      # through a replayed recording, the CPU cost per op of a replay, and the split across
      # two contexts on this one GPU (the multi-device code path).
      PYTHONUNBUFFERED=1 run python3 $BIN/decode_peer.py
      run $BIN/strata bench --ops decode,replay --placements vram,vram-mapped,host --json "$OUT/decode.json"
      run $BIN/strata bench --ops decode --placements vram --devices 0,0 --json "$OUT/decode-split.json"
      PYTHONUNBUFFERED=1 run python3 $BIN/decode_peer.py
      run $BIN/decode_loop vram
      ;;
    load)
      # A 4.5 GiB model (36 tensors of 128 MiB, f32 and f16) written to disk, then loaded.
      python3 - <<'PY'
import numpy as np
from safetensors.numpy import save_file
rng = np.random.default_rng(1)
t = {}
for i in range(36):
    dt = np.float32 if i % 2 == 0 else np.float16
    rows = 8192 if dt == np.float32 else 16384
    t[f"model.layers.{i}.mlp.weight"] = rng.standard_normal((rows, 4096), dtype=np.float32).astype(dt)
save_file(t, "/tmp/model.safetensors")
PY
      cat /tmp/model.safetensors > /dev/null   # into the page cache
      run $BIN/strata load /tmp/model.safetensors --verify --json
      run $BIN/strata load /tmp/model.safetensors --policy only=vram --json
      run $BIN/strata load /tmp/model.safetensors --policy only=host --json
      run $BIN/strata plan /tmp/model.safetensors --vram-limit 2GiB
      ;;
    load16)
      # Loading at the speed of the bus: a 4.5 GiB model (36 f16 tensors of 128 MiB) per
      # placement and upload path, from the page cache and cold, with and without --verify, the
      # single-threaded way of old (--alloc-threads 0 --read-ahead-threads 0) beside the default,
      # allocation threads swept for host memory; a Gemma-3-1B-shaped file of many small
      # tensors; then a 27B-shaped bf16 model with the VRAM
      # heap capped at 16 GiB. The peer (pinned H2D, and what pinning costs through CUDA) runs
      # in the same stage. `scripts/load_bench.py summary` prints every load in one table.
      LB="python3 scripts/load_bench.py"
      dir=$(pick_dir 10)
      if [ -z "$dir" ]; then log "load16: no directory with 10 GiB free"; continue; fi
      M=$dir/strata-load16.safetensors
      log "load16: model files in $dir ($(stat -f -c %T "$dir"); $(df -h "$dir" | awk 'NR==2 {print $4}') free)"
      run $LB write "$M" --shape "${LOAD16_SHAPE:-bench}"
      log "load16 peer: pinned H2D and pinning costs (load16-peer.json)"
      PYTHONUNBUFFERED=1 $LB peer 4.5GiB > "$OUT/load16-peer.json" 2>>"$OUT/log.txt" \
        || log "load16 peer failed (exit $?)"
      cat "$OUT/load16-peer.json" | tee -a "$OUT/log.txt"
      cat "$M" > /dev/null
      run $LB resident "$M"
      for p in vram vram-mapped host; do
        load16 "$p" "$M" --policy only=$p
        load16 "$p-serial" "$M" --policy only=$p --alloc-threads 0 --read-ahead-threads 0
        load16 "$p-verify" "$M" --policy only=$p --verify
      done
      load16 vram-mapped-mapped "$M" --policy only=vram-mapped --upload-path mapped
      load16 vram-mapped-mapped-verify "$M" --policy only=vram-mapped --upload-path mapped --verify
      load16 host-staging "$M" --policy only=host --upload-path staging
      # The driver's own host pages against imported ones (the default where it can import).
      load16 host-driver "$M" --policy only=host --host-memory driver
      for t in 1 2 8; do load16 "host-alloc$t" "$M" --policy only=host --alloc-threads $t; done
      load16 tiered-verify "$M" --verify
      # Many small tensors (Gemma 3 1B's 340, 209 under 1 MiB): slots shared, submissions few.
      S=$dir/strata-load16-1b.safetensors
      run $LB write "$S" --shape 1b
      cat "$S" > /dev/null
      for p in vram vram-mapped host; do load16 "1b-$p" "$S" --policy only=$p; done
      load16 1b-host-driver "$S" --policy only=host --host-memory driver
      load16 1b-vram-verify "$S" --policy only=vram --verify
      rm -f "$S"
      if [ "$(stat -f -c %T "$dir")" = tmpfs ]; then
        log "load16: $dir is tmpfs: no cold loads"
      else
        # Cold: the file's pages dropped from the page cache (posix_fadvise, no root needed).
        run $LB evict "$M"
        run dd if="$M" of=/dev/null bs=16M iflag=direct
        run $LB resident "$M"
        load16 vram-cold "$M" --policy only=vram
        run $LB evict "$M"
        load16 host-cold "$M" --policy only=host
        run $LB evict "$M"
        load16 vram-cold-no-read-ahead "$M" --policy only=vram --read-ahead-threads 0
        run $LB evict "$M"
        load16 tiered-cold-verify "$M" --verify
      fi
      rm -f "$M"
      # 27B-shaped, bf16 (~54 GB), VRAM capped at 16 GiB: heap 0 holds 16 GiB less the margin,
      # the rest goes to the host heap; every tensor verified, both heaps' usage checked.
      dir=$(pick_dir 56)
      if [ -z "$dir" ]; then
        log "load16: no directory with 56 GiB free for the 27B-shaped model (LOAD16_DIR=...)"
      else
        M=$dir/strata-load16-27b.safetensors
        run $LB write "$M" --shape "${LOAD16_BIG_SHAPE:-27b}"
        $BIN/strata plan "$M" --vram-limit 16GiB --json > "$OUT/load16-27b-plan.json"
        run $BIN/strata plan "$M" --vram-limit 16GiB | tail -8
        load16 27b-capped-verify "$M" --vram-limit 16GiB --verify
        rm -f "$M"
      fi
      run $LB summary "$OUT"
      ;;
    soak)
      run $BIN/strata-soak --cycles 10000 --no-validation --json
      ;;
    contexts)
      # Contexts created, used and dropped 1,000 times, and 8 threads creating them at once:
      # RSS, open files and threads flat (with and without the validation layer).
      GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072 run $BIN/strata-soak contexts --cycles 1000 --threads 8 --rounds 16 --no-validation --json
      run $BIN/strata-soak contexts --cycles 200 --threads 8 --rounds 4 --json
      ;;
    coop)
      # f16 GEMM: cooperative matrices against the FMA path, and edge shapes.
      for l in nn nt; do
        run $BIN/strata matmul --m 8192 --k 8192 --n 8192 --dtype f16 --layout $l --check --iters 20 --json
        run $BIN/strata matmul --m 1001 --k 1000 --n 1016 --dtype f16 --layout $l --check --json
      done
      run $BIN/strata matmul --m 8192 --k 8192 --n 8192 --dtype f16 --fma --check --iters 20 --json
      run $BIN/strata matmul --m 4096 --k 4096 --n 4096 --dtype f16 --check --iters 20 --json
      run $BIN/strata matmul --m 1 --k 4096 --n 8 --dtype f16 --check --json
      ;;
    probe)
      # GEMV bandwidth by where the weights live and by shape.
      for p in "" "--placement vram" "--placement vram-mapped" "--placement type=1"; do
        run $BIN/strata gemv --rows 16384 --cols 16384 $p --iters 20 --json
        run $BIN/strata gemv --rows 32768 --cols 8192 $p --iters 20 --json
      done
      run $BIN/strata bench --ops read,gemv --placements vram,vram-mapped --iters 10
      ;;
    sweep16)
      # GEMV fast-path parameters for 16-bit weights.
      for d in f16 bf16; do for t in 128 256 512; do for r in 1 2 4; do for u in 1 2 4 8; do
        run $BIN/strata gemv --rows 16384 --cols 16384 --dtype $d --threads $t --rows-per-group $r --unroll $u --iters 10 --json
      done; done; done; done
      ;;
    sweep)
      for t in 128 256 512; do for r in 1 2 4; do for u in 4 8; do
        run $BIN/strata gemv --rows 16384 --cols 16384 --threads $t --rows-per-group $r --unroll $u --iters 10 --json
      done; done; done
      run $BIN/strata gemv --rows 32768 --cols 8192 --iters 20 --json
      run $BIN/strata gemv --rows 32768 --cols 8192 --placement vram --iters 20 --json
      run $BIN/strata gemv --rows 16384 --cols 16384 --placement vram --iters 20 --json
      ;;
    gemv-coop)
      # The cooperative-matrix GEMV of a batch (gemv_coop.wgsl, f16): its GPU tests, the table's
      # choice at batch 2/4/8 on four shapes beside the FMA kernel, and a sweep of
      # threads x 16-row tiles x steps x K slices at 4096x14336 batch 8, every run checked.
      # PyTorch's peer for the same shapes is the `peer` stage (or benchmarks/h200-2026-12-02/
      # run10.sh's snippet). Each run's JSON goes to $OUT/gemv-coop.json.
      S="$OUT/gemv-coop.json"; : > "$S"
      j() { log "$*"; "$@" --json 2>>"$OUT/log.txt" | tee -a "$S" >/dev/null || log "FAILED: $*"; }
      for t in $BIN/tests-*; do [ -x "$t" ] && CI=1 run "$t" gemv_coop; done
      for shape in "4096 14336" "14336 4096" "4096 4096" "16384 16384"; do
        set -- $shape
        for b in 2 4 8; do j $BIN/strata gemv --rows $1 --cols $2 --batch $b --dtype f16 --check --iters 50; done
        j $BIN/strata gemv --rows $1 --cols $2 --batch 8 --dtype f16 --engine sg --threads 256 --rows-per-group 2 --unroll 2 --iters 50
      done
      for c in "64 1 8" "64 2 4" "128 1 4" "128 1 8" "128 2 4" "256 1 4" "256 2 2"; do
        set -- $c
        for sl in 1 2 4; do
          j $BIN/strata gemv --rows 4096 --cols 14336 --batch 8 --dtype f16 --engine coop \
            --threads $1 --rows-per-group $2 --unroll $3 --splits $sl --check --iters 50
        done
      done
      ;;
    sweep15)
      # Issue 15: every variant that decides a table entry, on the shapes of the issue, in about
      # 4 minutes. Each run's JSON goes to $OUT/sweep15.json; the summary at the end is one line
      # a run (`python3 .dev/torch_peer.py` in the same session gives the peer).
      S="$OUT/sweep15.json"; : > "$S"; t0=$(date +%s)
      j() { log "$*"; "$@" --json 2>>"$OUT/log.txt" | tee -a "$S" >/dev/null || log "FAILED: $*"; }
      g="$BIN/strata gemv --iters 10"; m="$BIN/strata matmul --iters 10"
      # GEMV batch 8 (and 2, 4), 4096x14336 (rows 4096, cols 14336): the table, checked ...
      for d in f16 bf16; do
        for b in 1 2 4 8; do j $g --rows 4096 --cols 14336 --dtype $d --batch $b --check; done
      done
      for b in 1 8; do j $g --rows 4096 --cols 14336 --dtype f32 --batch $b --check; done
      # ... the subgroup engine's rows per subgroup, unroll, threads and column slices ...
      for cfg in "f16 4 2 0" "f16 4 2 1" "f16 4 2 4" "f16 8 1 0" "f16 2 2 0" "f16 4 1 0" \
                 "bf16 4 2 1" "bf16 8 1 0" "bf16 4 2 4"; do
        set -- $cfg
        j $g --rows 4096 --cols 14336 --dtype $1 --batch 8 --engine sg --rows-per-group $2 --unroll $3 --splits $4
      done
      j $g --rows 4096 --cols 14336 --dtype f16 --batch 8 --engine sg --threads 128
      j $g --rows 4096 --cols 14336 --dtype f16 --batch 8 --engine sg --threads 512 --rows-per-group 4 --unroll 1
      j $g --rows 4096 --cols 14336 --dtype f32 --batch 8 --engine sg --rows-per-group 8 --unroll 1
      # ... against the workgroup engine, and f16 read as integers.
      for d in f16 bf16 f32; do j $g --rows 4096 --cols 14336 --dtype $d --batch 8 --engine wg; done
      j $g --rows 4096 --cols 14336 --dtype f16 --batch 8 --f16-loads false
      j $g --rows 4096 --cols 14336 --dtype f16 --batch 1 --f16-loads false
      # Batch 1, short rows (the decode shapes): the table (subgroup engine) against wg.
      for shape in "14336 4096" "4096 4096"; do
        set -- $shape
        for d in bf16 f16; do
          j $g --rows $1 --cols $2 --dtype $d --check
          j $g --rows $1 --cols $2 --dtype $d --engine sg --rows-per-group 1 --unroll 4
        done
        # The workgroup engine as the table has it for long rows (f16: 2 rows, 2 in flight).
        j $g --rows $1 --cols $2 --dtype bf16 --engine wg
        j $g --rows $1 --cols $2 --dtype f16 --engine wg --rows-per-group 2 --unroll 2
      done
      # Prefill, 512 tokens: C[512, 4096] = X[512, 14336] · W[4096, 14336]^T.
      p="--m 512 --k 14336 --n 4096 --layout nt"
      j $m $p --dtype f16 --check
      j $m $p --dtype bf16 --check
      j $m $p --dtype bf16 --fma
      for s in 1 2 4; do j $m $p --dtype f16 --splits $s; done
      for t in 128x256x32/2x4/1buf 128x256x16/2x4/2buf 128x128x64/2x2/1buf 128x128x16/2x4/2buf 64x128x32/1x2/2buf 128x64x32/2x1/2buf; do
        j $m $p --dtype f16 --coop-tiles $t
      done
      j $m $p --dtype bf16 --coop-tiles 128x256x32/2x4/1buf
      # Large GEMM, 8192^3: f16 on the tensor cores (tiles), bf16, and SGEMM tiles.
      q="--m 8192 --k 8192 --n 8192"
      j $m $q --dtype f16
      j $m $q --dtype f16 --layout nt
      j $m $q --dtype bf16
      for t in 128x256x32/2x4/1buf 128x256x16/2x4/2buf 256x128x32/4x2/1buf; do j $m $q --dtype f16 --coop-tiles $t; done
      j $m $q
      for t in 128x128x8/8x8 128x256x8/8x16 128x128x16/8x16; do j $m $q --tiles $t; done
      log "sweep15: $(( $(date +%s) - t0 )) s"
      python3 - "$S" <<'PY' | tee "$OUT/sweep15.txt"
import json, sys
text = open(sys.argv[1]).read(); dec = json.JSONDecoder(); i = 0; rows = []
while True:
    while i < len(text) and text[i].isspace(): i += 1
    if i >= len(text): break
    obj, i = dec.raw_decode(text, i); rows.append(obj)
for r in rows:
    us = r["seconds"] * 1e6
    if "rows" in r:
        shape = f'gemv {r["rows"]}x{r["cols"]} b{r["batch"]} {r["dtype"]}'
        rate = f'{r["gb_per_s"]:8.0f} GB/s'
    else:
        shape = f'gemm {r["m"]}x{r["n"]}x{r["k"]} {r["dtype"]} {r["layout"]}'
        rate = f'{r["gflops"] / 1e3:8.1f} TFLOP/s'
    ok = {True: "ok", False: "MISMATCH", None: ""}[r.get("ok")]
    print(f'{shape:34} {us:10.1f} us {rate}  {ok:8} {r["variant"]}')
PY
      ;;
    quant)
      # Quantized GEMV (every ggml type) at 4096x14336 batch 1 and 8 and at 16384², checked, the
      # JSON reports one after another in $OUT/quant.json; the streaming read of 1 GiB in VRAM (the
      # bandwidth the 16384² figures are judged against); a 512-token prefill GEMM; then
      # llama.cpp's Vulkan backend on the same shapes. About 3 minutes.
      q() { log "$*"; "$@" 2>>"$OUT/log.txt" | tee -a "$OUT/log.txt" "$OUT/quant.json"; }
      for d in q4_0 q8_0 q4_k q5_k q6_k q4_1 q5_0 q5_1 q2_k q3_k; do
        for b in 1 8; do q $BIN/strata gemv --rows 4096 --cols 14336 --batch $b --dtype $d --check --iters 20 --json; done
        q $BIN/strata gemv --rows 16384 --cols 16384 --dtype $d --check --iters 20 --json
      done
      run $BIN/strata bench --ops read --placements vram --size 1GiB --iters 10 --json "$OUT/quant-bench.json"
      run $BIN/strata bench --ops gemv --placements vram,vram-mapped,host --size 256MiB --gemv-dtype q4_k --iters 10 --json "$OUT/quant-bench-gemv.json"
      for d in q4_0 q4_k; do
        q $BIN/strata matmul --m 512 --k 14336 --n 4096 --dtype $d --layout nt --check --iters 5 --json
      done
      run $BIN/test-backend-ops perf -o MUL_MAT -p 'n=(1|8),k=14336' -b Vulkan0 | tee "$OUT/llama-mul-mat.txt"
      python3 scripts/quant-summary.py "$OUT" | tee "$OUT/quant-summary.txt"
      ;;
    quant-sweep)
      # Quantized GEMV parameters at 4096x14336, batch 1 and 8, for the types in $QUANT_TYPES
      # (default q4_0 q4_k: about 5 minutes; 27 runs a type and batch).
      for d in ${QUANT_TYPES:-q4_0 q4_k}; do for b in 1 8; do for t in 64 128 256; do for r in 1 2 4; do for u in 1 2 4; do
        run $BIN/strata gemv --rows 4096 --cols 14336 --batch $b --dtype $d --threads $t --rows-per-group $r --unroll $u --iters 5 --json
      done; done; done; done; done
      ;;
    quant-sg)
      # The quantized GEMV's subgroup-rows engine (gemv_quant_sg.wgsl) at 4096x14336 (rows 4096,
      # cols 14336), batch 1 and 8, every run checked: the table's choice, the workgroup engine
      # (the table's before the subgroup engine), then --engine sg with rows per subgroup x
      # chunks in flight (batch 1: {1,2,4} x {2,4,8}; batch 8: {1,2} x {2,4}). 80 runs of about
      # 1 s. Each run's JSON goes to $OUT/quant-sg.json; the summary is one line a run, then the
      # fastest checked run of each type and batch.
      S="$OUT/quant-sg.json"; : > "$S"; t0=$(date +%s)
      j() { log "$*"; "$@" --json 2>>"$OUT/log.txt" | tee -a "$S" >/dev/null || log "FAILED: $*"; }
      g="$BIN/strata gemv --rows 4096 --cols 14336 --check --iters 50"
      for d in q4_0 q8_0 q4_k q5_k q6_k; do
        for b in 1 8; do
          j $g --dtype $d --batch $b
          j $g --dtype $d --batch $b --engine wg
        done
        for r in 1 2 4; do for u in 2 4 8; do
          j $g --dtype $d --batch 1 --engine sg --rows-per-group $r --unroll $u
        done; done
        for r in 1 2; do for u in 2 4; do
          j $g --dtype $d --batch 8 --engine sg --rows-per-group $r --unroll $u
        done; done
      done
      log "quant-sg: $(( $(date +%s) - t0 )) s"
      python3 - "$S" <<'PY' | tee "$OUT/quant-sg.txt"
import json, sys
text = open(sys.argv[1]).read(); dec = json.JSONDecoder(); i = 0; rows = []
while True:
    while i < len(text) and text[i].isspace(): i += 1
    if i >= len(text): break
    obj, i = dec.raw_decode(text, i); rows.append(obj)
best = {}
for r in rows:
    us = r["seconds"] * 1e6
    ok = {True: "ok", False: "MISMATCH", None: ""}[r.get("ok")]
    print(f'gemv {r["rows"]}x{r["cols"]} b{r["batch"]} {r["dtype"]:5} {us:9.1f} us {r["gb_per_s"]:7.0f} GB/s  {ok:8} {r["variant"]}')
    key = (r["dtype"], r["batch"])
    if r.get("ok") and (key not in best or us < best[key][0]):
        best[key] = (us, r["variant"])
for (d, b), (us, v) in sorted(best.items()):
    print(f'fastest {d:5} b{b}: {us:9.1f} us  {v}')
PY
      ;;
    peer)
      PYTHONUNBUFFERED=1 OUT="$OUT" run python3 $BIN/torch_peer.py
      ;;
    *) echo "unknown stage $stage" ;;
  esac
done
