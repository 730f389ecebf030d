#!/usr/bin/env bash
# Runs Strata's measurements on a GPU machine and writes every result under $OUT (default
# ./gpu-out).
#   usage: bash scripts/gpu-run.sh [stage...]
#   stages: smoke tests examples kernels coop bench load soak peer probe sweep sweep16 quant
#           quant-sweep
#
# Expects in .dev/: release builds of `strata`, `strata-soak`, the examples and the GPU test
# binary as `tests-gpu` (`cargo build --release --workspace --bins --examples`;
# `cargo test --release -p strata --test gpu --no-run` prints the test binary's path), and
# `torch_peer.py` for the `peer` stage. A machine with the NVIDIA driver but no Vulkan loader
# needs Debian's libvulkan1 and the glvnd libraries (libglvnd0 libegl1 libgl1 libglx0 libgles2
# libopengl0) unpacked into /, vulkan-validationlayers for the `tests` stage, and, if no
# device shows up, VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json.
set -uo pipefail
OUT="${OUT:-gpu-out}"
mkdir -p "$OUT"
BIN=.dev
log() { echo "== $*" | tee -a "$OUT/log.txt"; }
run() { log "$*"; "$@" 2>&1 | tee -a "$OUT/log.txt"; return "${PIPESTATUS[0]}"; }

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
      for t in $BIN/tests-*; do [ -x "$t" ] && CI=1 run "$t" --test-threads 2; done
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
      # Every example under the Khronos validation layer.
      for e in hello_matmul placement_tour embed_wgpu tiered_load decode_loop; do
        STRATA_VALIDATION=1 run $BIN/$e
      done
      ;;
    bench)
      run $BIN/strata bench --json "$OUT/bench.json" --csv "$OUT/bench.csv" --plot "$OUT/bench.svg"
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
    soak)
      run $BIN/strata-soak --cycles 10000 --no-validation --json
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
    peer)
      PYTHONUNBUFFERED=1 OUT="$OUT" run python3 $BIN/torch_peer.py
      ;;
    *) echo "unknown stage $stage" ;;
  esac
done
