#!/usr/bin/env bash
# Run 8 (2026-12-02): the cooperative-matrix GEMV after the alignment fix (no 4-byte workgroup
# variable beside its arrays) with K split over the grid: the GPU tests of it, a sweep of
# tiles x slices at batch 8, the table's choice at batch 2/4/8 and on other shapes, and
# PyTorch in the same run. Everything lands in $OUT/run8.tgz.
set -u
G=/tmp/g; mkdir -p $G; t0=$(date +%s)
T() { echo "$1 rc=$2 at $(( $(date +%s) - t0 ))s" | tee -a $G/times.txt; }
CI=1 timeout 120 .dev/tests-gpu gemv_coop > $G/tests-coop.txt 2>&1; T tests-coop $?
g() { timeout 40 .dev/strata gemv "$@" --json >> $G/gemv.json 2>>$G/gemv.err; T "gemv $*" $?; }
for c in "128 1 4" "256 1 4" "256 2 2" "128 2 4" "64 2 4"; do
  set -- $c
  for s in 1 2 4 8 16; do
    g --rows 4096 --cols 14336 --batch 8 --dtype f16 --engine coop --threads $1 --rows-per-group $2 --unroll $3 --splits $s --check --iters 50
  done
done
for b in 2 4 8; do g --rows 4096 --cols 14336 --batch $b --dtype f16 --check --iters 50; done
g --rows 4096 --cols 14336 --batch 8 --dtype f16 --engine sg --threads 256 --rows-per-group 2 --unroll 2 --iters 50
for s in "14336 4096" "4096 4096" "16384 16384"; do
  set -- $s
  g --rows $1 --cols $2 --batch 8 --dtype f16 --check --iters 50
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
tar czf $OUT/run8.tgz -C /tmp g
