#!/usr/bin/env bash
# Run 14 (2026-12-03): the GPU suite; host loads with mapped writes back at one piece a thread
# (`.dev/strata`) against the build before this session (`.dev/strata-base`, 4b19e82),
# alternately, and device-local loads once more, against pinned H2D through CUDA in the same
# run; the batch-1 quantized GEMV's threads, rows and unroll around the table for Q4_0, Q5_K and
# Q6_K, checked, and llama.cpp's Vulkan backend. Started as `bash
# benchmarks/h200-2026-12-03/run14.sh` after the machine's start line; lands in $OUT/run14.tgz.
set -u
G=/tmp/g; mkdir -p $G; t0=$(date +%s)
T() { echo "$1 rc=$2 at $(( $(date +%s) - t0 ))s" | tee -a $G/times.txt; }
pack() { tar czf $OUT/run14.tgz -C /tmp g; }
.dev/strata info > $G/info.txt 2>&1
CI=1 timeout 200 .dev/tests-gpu > $G/tests.txt 2>&1; T tests $?
LB="python3 scripts/load_bench.py"
PYTHONUNBUFFERED=1 timeout 60 $LB peer 4.5GiB > $G/load16-peer.json 2>>$G/load.err; T peer $?
l() { local bin=$1 n=$2; shift 2; timeout 60 .dev/$bin load "$M" "$@" --json > $G/load16-$n.json 2>>$G/load.err; T "load $bin $n $*" $?; }
M=/tmp/strata-load16.safetensors
$LB write "$M" --shape bench > $G/load-write.txt 2>&1; T write $?
cat "$M" > /dev/null
for i in 1 2 3; do
  l strata host-new-$i --policy only=host
  l strata-base host-base-$i --policy only=host
done
for i in 1 2; do
  for p in vram vram-mapped; do
    l strata $p-new-$i --policy only=$p
    l strata-base $p-base-$i --policy only=$p
  done
done
$LB summary $G > $G/load-summary.txt 2>&1; T summary $?
rm -f "$M"; pack
# Batch 1 around the table: threads 64/128, rows 2/3/4, unroll 1/2 (workgroup engine).
q() { timeout 40 .dev/strata gemv --rows 4096 --cols 14336 --iters 50 "$@" --json >> $G/quant.json 2>>$G/quant.err; T "gemv $*" $?; }
for d in q4_0 q5_k q6_k; do
  q --dtype $d --batch 1 --check
  for t in 64 128; do for r in 2 3 4; do for u in 1 2; do
    q --dtype $d --batch 1 --engine wg --threads $t --rows-per-group $r --unroll $u --check
  done; done; done
done
pack
timeout 150 .dev/test-backend-ops perf -o MUL_MAT -p 'n=1,k=14336' -b Vulkan0 > $G/llama-n1.txt 2>&1; T llama-n1 $?
pack
