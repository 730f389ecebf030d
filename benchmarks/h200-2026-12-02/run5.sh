#!/usr/bin/env bash
set -u
G=/tmp/g; mkdir -p $G; t0=$(date +%s)
T() { echo "$1 rc=$2 at $(( $(date +%s) - t0 ))s" | tee -a $G/times.txt; }
CI=1 timeout 150 .dev/tests-gpu > $G/tests.txt 2>&1; T tests $?
m() { timeout 40 .dev/strata matmul "$@" --json >> $G/matmul.json 2>>$G/matmul.err; T "matmul $*" $?; }
m --m 8192 --k 8192 --n 8192 --dtype f16 --check --iters 10
m --m 8192 --k 8192 --n 8192 --dtype f16 --layout nt --iters 10
m --m 8192 --k 8192 --n 8192 --dtype bf16 --iters 10
m --m 512 --k 14336 --n 4096 --layout nt --dtype f16 --check --iters 20
m --m 512 --k 14336 --n 4096 --layout nt --dtype bf16 --check --iters 20
m --m 512 --k 14336 --n 4096 --layout nt --dtype f16 --splits 1 --iters 20
m --m 4096 --k 4096 --n 4096 --dtype bf16 --layout nt --check --iters 10
m --m 1001 --k 1000 --n 1016 --dtype f16 --layout nt --check
PYTHONUNBUFFERED=1 timeout 60 python3 - > $G/torch.txt 2>&1 <<'PY'
import torch
def t(m,k,n,dt,nt):
    a=torch.randn(m,k,device='cuda',dtype=dt); b=torch.randn(n,k,device='cuda',dtype=dt) if nt else torch.randn(k,n,device='cuda',dtype=dt)
    f=(lambda: a@b.t()) if nt else (lambda: a@b)
    for _ in range(20): f()
    torch.cuda.synchronize(); xs=[]
    for _ in range(30):
        s=torch.cuda.Event(enable_timing=True); e=torch.cuda.Event(enable_timing=True); s.record(); f(); e.record(); e.synchronize(); xs.append(s.elapsed_time(e))
    xs.sort(); ms=xs[len(xs)//2]
    print(f"torch {m}x{n}x{k} {dt} {'nt' if nt else 'nn'}: {ms*1e3:.1f} us {2*m*n*k/ms/1e9:.1f} TFLOP/s")
t(8192,8192,8192,torch.float16,False); t(8192,8192,8192,torch.float16,True); t(8192,8192,8192,torch.bfloat16,False)
t(512,14336,4096,torch.float16,True); t(512,14336,4096,torch.bfloat16,True); t(4096,4096,4096,torch.bfloat16,True)
PY
T torch $?
tar czf $OUT/run5.tgz -C /tmp g
