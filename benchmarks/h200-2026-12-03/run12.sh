#!/usr/bin/env bash
# Run 12 (2026-12-03): the GPU suite on the growing staging ring; loads per placement with and
# without --verify (the ring's slots made on threads of their own, verification in place)
# against pinned H2D through CUDA in the same run; GGUF against safetensors of the same bytes;
# the quantized GEMV's rows per workgroup swept up to 8, and Q4_0 with the two-chunk decoder,
# against llama.cpp's Vulkan backend; the 27B-shaped bf16 model with the VRAM heap capped at 16 GiB. Started as `bash
# benchmarks/h200-2026-12-03/run12.sh` after the machine's start line; lands in $OUT/run12.tgz.
set -u
G=/tmp/g; mkdir -p $G; t0=$(date +%s)
T() { echo "$1 rc=$2 at $(( $(date +%s) - t0 ))s" | tee -a $G/times.txt; }
.dev/strata info > $G/info.txt 2>&1
CI=1 timeout 200 .dev/tests-gpu > $G/tests.txt 2>&1; T tests $?
# Loads: 4.5 GiB of f16 (36 tensors of 128 MiB) from the page cache.
LB="python3 scripts/load_bench.py"; M=/tmp/strata-load16.safetensors
$LB write "$M" --shape bench > $G/load-write.txt 2>&1; T write $?
PYTHONUNBUFFERED=1 timeout 60 $LB peer 4.5GiB > $G/load16-peer.json 2>>$G/load.err; T peer $?
cat "$M" > /dev/null
l() { local n=$1; shift; timeout 60 .dev/strata load "$M" "$@" --json > $G/load16-$n.json 2>>$G/load.err; T "load $n $*" $?; }
for i in 1 2; do
  for p in vram vram-mapped host; do l $p-$i --policy only=$p; done
done
for p in vram vram-mapped host; do l $p-verify --policy only=$p --verify; done
l tiered-verify --verify
$LB summary $G > $G/load-summary.txt 2>&1; T summary $?
rm -f "$M"; tar czf $OUT/run12.tgz -C /tmp g
timeout 120 .dev/gguf_load 2048 3 > $G/gguf-load.txt 2>&1; T gguf_load $?
# Batch 1 on the workgroup engine: rows per workgroup up to 8, one chunk in flight.
q() { timeout 40 .dev/strata gemv --rows 4096 --cols 14336 --iters 50 "$@" --json >> $G/quant.json 2>>$G/quant.err; T "gemv $*" $?; }
for d in q4_0 q8_0 q4_k q5_k q6_k; do
  q --dtype $d --batch 1 --check
  for t in 128 256; do for r in 4 6 8; do
    q --dtype $d --batch 1 --engine wg --threads $t --rows-per-group $r --unroll 1
  done; done
done
# Q4_0 with two chunks a block (16 weights from four word loads; `.dev/strata-wide`, the
# decoder of ce2354a on this commit), batch 1 only.
for t in 128 256; do for r in 4 6 8; do
  timeout 40 .dev/strata-wide gemv --rows 4096 --cols 14336 --iters 50 --dtype q4_0 --batch 1 --engine wg --threads $t --rows-per-group $r --unroll 1 --check --json >> $G/quant-wide.json 2>>$G/quant.err; T "wide q4_0 $t $r" $?
done; done
# Batch 8 on the subgroup engine: 4 and 8 rows per subgroup.
for d in q4_0 q8_0 q4_k q5_k q6_k; do
  q --dtype $d --batch 8 --check
  for r in 4 8; do for u in 1 2; do
    q --dtype $d --batch 8 --engine sg --rows-per-group $r --unroll $u
  done; done
done
timeout 150 .dev/test-backend-ops perf -o MUL_MAT -p 'n=1,k=14336' -b Vulkan0 > $G/llama-n1.txt 2>&1; T llama-n1 $?
tar czf $OUT/run12.tgz -C /tmp g
# 27B-shaped bf16 model, VRAM heap capped at 16 GiB, every tensor and both heaps verified.
B=/tmp/strata-load16-27b.safetensors
timeout 120 $LB write "$B" --shape 27b > $G/write-27b.txt 2>&1; T write-27b $?
.dev/strata plan "$B" --vram-limit 16GiB --json > $G/load16-27b-plan.json 2>>$G/load.err; T plan-27b $?
timeout 90 .dev/strata load "$B" --vram-limit 16GiB --verify --json > $G/load16-27b-capped-verify.json 2>>$G/load.err; T load-27b $?
rm -f "$B"
tar czf $OUT/run12.tgz -C /tmp g
