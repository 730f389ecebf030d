#!/usr/bin/env bash
# Run 6 (2026-12-02): the cooperative-matrix GEMV for batches against the FMA kernels and
# PyTorch in the same run, and loads with the staging slots in write-combined (the default)
# or cached host memory. Started as `bash benchmarks/h200-2026-12-02/run6.sh` after the
# machine's start line; everything lands in $OUT/run6.tgz.
set -u
G=/tmp/g; mkdir -p $G; t0=$(date +%s)
T() { echo "$1 rc=$2 at $(( $(date +%s) - t0 ))s" | tee -a $G/times.txt; }
.dev/strata info > $G/info.txt 2>&1
g() { timeout 40 .dev/strata gemv "$@" --json >> $G/gemv.json 2>>$G/gemv.err; T "gemv $*" $?; }
# The table's choices (f16 batches 2-8 on cooperative matrices), every result checked.
for b in 1 2 4 8; do
  for d in f16 bf16 f32; do g --rows 4096 --cols 14336 --batch $b --dtype $d --check --iters 50; done
done
# The FMA kernel the table chose before, and the cooperative settings of the sweep.
g --rows 4096 --cols 14336 --batch 8 --dtype f16 --engine sg --threads 256 --rows-per-group 2 --unroll 2 --iters 50
for c in "128 1 4" "256 1 2" "256 1 4" "256 2 2" "256 2 4" "512 1 4" "512 2 4"; do
  set -- $c
  g --rows 4096 --cols 14336 --batch 8 --dtype f16 --engine coop --threads $1 --rows-per-group $2 --unroll $3 --check --iters 50
done
g --rows 14336 --cols 4096 --batch 8 --dtype f16 --check --iters 50
g --rows 14336 --cols 4096 --batch 8 --dtype f16 --engine sg --threads 256 --rows-per-group 2 --unroll 2 --iters 50
g --rows 4096 --cols 4096 --batch 8 --dtype f16 --check --iters 50
g --rows 16384 --cols 16384 --batch 8 --dtype f16 --check --iters 30
PYTHONUNBUFFERED=1 timeout 90 python3 - > $G/torch.txt 2>&1 <<'PY'
import torch
def time(f):
    for _ in range(20): f()
    torch.cuda.synchronize(); xs=[]
    for _ in range(50):
        s=torch.cuda.Event(enable_timing=True); e=torch.cuda.Event(enable_timing=True); s.record(); f(); e.record(); e.synchronize(); xs.append(s.elapsed_time(e))
    xs.sort(); return xs[len(xs)//2]*1e3
for (r,c) in [(4096,14336),(14336,4096),(4096,4096),(16384,16384)]:
    for dt in [torch.float16, torch.bfloat16, torch.float32]:
        w=torch.randn(r,c,device='cuda',dtype=dt)
        for b in [1,2,4,8]:
            x=torch.randn(b,c,device='cuda',dtype=dt)
            us=time(lambda: x@w.t()) if b>1 else time(lambda: torch.mv(w,x[0]))
            print(f"torch gemv {r}x{c} b{b} {dt}: {us:.1f} us")
PY
T torch $?
# The GPU suite once (the cooperative GEMV's test among them).
CI=1 timeout 200 .dev/tests-gpu > $G/tests.txt 2>&1; T tests $?
# Loads: 4.5 GiB of f16 from the page cache into vram, staging in the context's ring (write-
# combined host memory) or in cached host memory; pinned H2D is the peer.
LB="python3 scripts/load_bench.py"; M=/tmp/strata-load16.safetensors
$LB write "$M" --shape bench > $G/load-write.txt 2>&1; T write $?
PYTHONUNBUFFERED=1 timeout 60 $LB peer 4.5GiB > $G/load16-peer.json 2>>$G/load.err; T peer $?
cat "$M" > /dev/null
l() { local n=$1; shift; timeout 60 .dev/strata load "$M" "$@" --json > $G/load16-$n.json 2>>$G/load.err; T "load $n $*" $?; }
for i in 1 2; do
  l vram-$i --policy only=vram
  l vram-cached-$i --policy only=vram --staging-memory host-cached
  l vram-mapped-$i --policy only=vram-mapped
  l vram-mapped-cached-$i --policy only=vram-mapped --staging-memory host-cached
done
l vram-verify --policy only=vram --verify
l vram-cached-verify --policy only=vram --verify --staging-memory host-cached
rm -f "$M"
tar czf $OUT/run6.tgz -C /tmp g
