#!/usr/bin/env bash
# Run 7 (2026-12-02): the cooperative-matrix GEMV staged through shared memory (run 6's direct
# cooperative loads from the weights gave wrong sums) against the FMA kernels and PyTorch; the
# quantized GEMV's subgroup engine (`gpu-run.sh quant-sg`) against llama.cpp's Vulkan backend;
# the GPU suite. Everything lands in $OUT/run7.tgz.
set -u
G=/tmp/g; mkdir -p $G/q; t0=$(date +%s)
T() { echo "$1 rc=$2 at $(( $(date +%s) - t0 ))s" | tee -a $G/times.txt; }
g() { timeout 40 .dev/strata gemv "$@" --json >> $G/gemv.json 2>>$G/gemv.err; T "gemv $*" $?; }
for b in 2 4 8; do g --rows 4096 --cols 14336 --batch $b --dtype f16 --check --iters 50; done
for c in "64 2 4" "128 1 4" "128 2 2" "128 2 4" "256 1 2" "256 1 4" "256 2 2" "512 1 1"; do
  set -- $c
  g --rows 4096 --cols 14336 --batch 8 --dtype f16 --engine coop --threads $1 --rows-per-group $2 --unroll $3 --check --iters 50
done
g --rows 4096 --cols 14336 --batch 8 --dtype f16 --engine sg --threads 256 --rows-per-group 2 --unroll 2 --iters 50
for s in "14336 4096" "4096 4096" "16384 16384"; do
  set -- $s
  g --rows $1 --cols $2 --batch 8 --dtype f16 --check --iters 50
  g --rows $1 --cols $2 --batch 8 --dtype f16 --engine sg --threads 256 --rows-per-group 2 --unroll 2 --iters 50
done
PYTHONUNBUFFERED=1 timeout 60 python3 - > $G/torch.txt 2>&1 <<'PY'
import torch
def time(f):
    for _ in range(20): f()
    torch.cuda.synchronize(); xs=[]
    for _ in range(50):
        s=torch.cuda.Event(enable_timing=True); e=torch.cuda.Event(enable_timing=True); s.record(); f(); e.record(); e.synchronize(); xs.append(s.elapsed_time(e))
    xs.sort(); return xs[len(xs)//2]*1e3
for (r,c) in [(4096,14336),(14336,4096),(4096,4096),(16384,16384)]:
    w=torch.randn(r,c,device='cuda',dtype=torch.float16)
    for b in [1,2,4,8]:
        x=torch.randn(b,c,device='cuda',dtype=torch.float16)
        us=time(lambda: x@w.t()) if b>1 else time(lambda: torch.mv(w,x[0]))
        print(f"torch gemv {r}x{c} b{b} f16: {us:.1f} us")
PY
T torch $?
CI=1 timeout 200 .dev/tests-gpu > $G/tests.txt 2>&1; T tests $?
OUT=$G/q timeout 300 bash scripts/gpu-run.sh quant-sg > /dev/null 2>&1; T quant-sg $?
timeout 120 .dev/test-backend-ops perf -o MUL_MAT -p 'n=1,k=14336' -b Vulkan0 > $G/llama-mul-mat.txt 2>&1; T llama $?
tar czf $OUT/run7.tgz -C /tmp g
