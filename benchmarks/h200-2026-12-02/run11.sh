#!/usr/bin/env bash
# Run 11 (2026-12-02): the quantized GEMV's new block decoders (Q4_K/Q5_K scales from whole
# words, Q6_K's scale word fixed by v, Q4_0 in two chunks a block, a thread's part known before
# the loop) against the previous commit's (`.dev/strata-base`, built at 21b4e36) and llama.cpp's
# Vulkan backend in the same run; a sweep of the kernel parameters for the changed types; the
# SGEMM tiles around the table's against cuBLAS. Started as `bash
# benchmarks/h200-2026-12-02/run11.sh` after the machine's start line; lands in $OUT/run11.tgz.
set -u
G=/tmp/g; mkdir -p $G; t0=$(date +%s)
T() { echo "$1 rc=$2 at $(( $(date +%s) - t0 ))s" | tee -a $G/times.txt; }
.dev/strata info > $G/info.txt 2>&1
q() { local bin=$1; shift; timeout 40 .dev/$bin gemv --rows 4096 --cols 14336 --iters 50 "$@" --json >> $G/quant-$bin.json 2>>$G/quant.err; T "$bin gemv $*" $?; }
# The table's choice, checked, new decoders and old, alternating so clocks affect both alike.
for d in q4_0 q8_0 q4_k q5_k q6_k q4_1 q5_0 q5_1 q2_k q3_k; do
  for b in 1 8; do q strata --dtype $d --batch $b --check; q strata-base --dtype $d --batch $b --check; done
done
# Batch 1 on the workgroup engine: threads x rows x chunks in flight, for the changed types.
for d in q4_0 q4_k q5_k q6_k; do
  for t in 128 256; do for r in 1 2 4; do for u in 1 2; do
    q strata --dtype $d --batch 1 --engine wg --threads $t --rows-per-group $r --unroll $u
  done; done; done
done
# Batch 8 on the subgroup engine: rows per subgroup x chunks in flight.
for d in q4_0 q4_k q5_k q6_k; do
  for r in 1 2 4; do for u in 1 2 4; do
    q strata --dtype $d --batch 8 --engine sg --rows-per-group $r --unroll $u
  done; done
done
# 16384^2 against Strata's own streaming read.
for d in q4_0 q8_0 q4_k q5_k q6_k; do
  timeout 40 .dev/strata gemv --rows 16384 --cols 16384 --dtype $d --iters 30 --check --json >> $G/quant-16k.json 2>>$G/quant.err; T "16k $d" $?
done
timeout 60 .dev/strata bench --ops read --placements vram --size 1GiB --iters 10 --json $G/read.json > $G/read.txt 2>&1; T read $?
timeout 150 .dev/test-backend-ops perf -o MUL_MAT -p 'n=1,k=14336' -b Vulkan0 > $G/llama-n1.txt 2>&1; T llama-n1 $?
timeout 150 .dev/test-backend-ops perf -o MUL_MAT -p 'n=8,k=14336' -b Vulkan0 > $G/llama-n8.txt 2>&1; T llama-n8 $?
# SGEMM 8192^3: the table's tiles and their neighbours.
for t in 128x256x8/8x16 256x128x8/16x8 128x256x16/8x16 128x256x8/16x8 64x256x8/8x16 256x128x8/8x16 128x128x8/8x8; do
  timeout 60 .dev/strata matmul --m 8192 --k 8192 --n 8192 --tiles $t --iters 10 --json >> $G/sgemm.json 2>>$G/sgemm.err; T "sgemm $t" $?
done
timeout 60 .dev/strata matmul --m 8192 --k 8192 --n 8192 --iters 10 --check --json >> $G/sgemm.json 2>>$G/sgemm.err; T "sgemm table checked" $?
PYTHONUNBUFFERED=1 timeout 60 python3 - > $G/torch-sgemm.txt 2>&1 <<'PY'
import torch
torch.backends.cuda.matmul.allow_tf32 = False
a = torch.randn(8192, 8192, device='cuda'); b = torch.randn(8192, 8192, device='cuda')
for _ in range(5): a @ b
torch.cuda.synchronize(); xs = []
for _ in range(20):
    s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
    s.record(); a @ b; e.record(); e.synchronize(); xs.append(s.elapsed_time(e))
xs.sort(); ms = xs[len(xs) // 2]
print(f"torch sgemm 8192^3 f32 (TF32 off): {ms * 1e3:.1f} us, {2 * 8192**3 / ms / 1e9:.1f} TFLOP/s")
PY
T torch $?
tar czf $OUT/run11.tgz -C /tmp g
