#!/usr/bin/env bash
# Run 10 (2026-12-02): the table's cooperative-matrix GEMV (128 threads, one tile, 4 steps, no
# split) at batch 2/4/8 on four shapes, each beside the FMA kernel and PyTorch in the same run.
set -u
G=/tmp/g; mkdir -p $G; t0=$(date +%s)
T() { echo "$1 rc=$2 at $(( $(date +%s) - t0 ))s" | tee -a $G/times.txt; }
g() { timeout 40 .dev/strata gemv "$@" --json >> $G/gemv.json 2>>$G/gemv.err; T "gemv $*" $?; }
for s in "4096 14336" "14336 4096" "4096 4096" "16384 16384"; do
  set -- $s
  for b in 2 8; do g --rows $1 --cols $2 --batch $b --dtype f16 --check --iters 50; done
  g --rows $1 --cols $2 --batch 8 --dtype f16 --engine sg --threads 256 --rows-per-group 2 --unroll 2 --iters 50
done
g --rows 4096 --cols 14336 --batch 4 --dtype f16 --check --iters 50
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
    for b in [2,4,8]:
        x=torch.randn(b,c,device='cuda',dtype=torch.float16)
        print(f"torch gemv {r}x{c} b{b} f16: {time(lambda: x@w.t()):.1f} us")
PY
T torch $?
tar czf $OUT/run10.tgz -C /tmp g
