#!/usr/bin/env bash
# Run 13 (2026-12-03): the GPU suite; staged loads that pack small tensors and submit each slot
# beside the next copy (`.dev/strata`) against the build before them (`.dev/strata-base`,
# 4b19e82), alternately, per placement, on the 4.5 GiB file of 36 tensors and on a Gemma-3-1B-
# shaped file of 340 tensors, against pinned H2D through CUDA in the same run; quantized GEMV
# at batch 1 with the new table (Q4_0 in two chunks a block, 128 threads for Q4_0/Q5_K/Q6_K)
# against the old, checked, and llama.cpp's Vulkan backend. Started as `bash
# benchmarks/h200-2026-12-03/run13.sh` after the machine's start line; lands in $OUT/run13.tgz.
set -u
G=/tmp/g; mkdir -p $G; t0=$(date +%s)
T() { echo "$1 rc=$2 at $(( $(date +%s) - t0 ))s" | tee -a $G/times.txt; }
pack() { tar czf $OUT/run13.tgz -C /tmp g; }
.dev/strata info > $G/info.txt 2>&1
CI=1 timeout 200 .dev/tests-gpu > $G/tests.txt 2>&1; T tests $?
LB="python3 scripts/load_bench.py"
PYTHONUNBUFFERED=1 timeout 60 $LB peer 4.5GiB > $G/load16-peer.json 2>>$G/load.err; T peer $?
mkdir -p $G/small; cp $G/load16-peer.json $G/small/
l() { local bin=$1 dir=$2 n=$3 m=$4; shift 4; timeout 60 .dev/$bin load "$m" "$@" --json > $dir/load16-$n.json 2>>$G/load.err; T "load $bin $n $*" $?; }
# 4.5 GiB of f16 (36 tensors of 128 MiB) from the page cache.
M=/tmp/strata-load16.safetensors
$LB write "$M" --shape bench > $G/load-write.txt 2>&1; T write $?
cat "$M" > /dev/null
for i in 1 2; do
  for p in vram vram-mapped host; do
    l strata $G $p-new-$i "$M" --policy only=$p
    l strata-base $G $p-base-$i "$M" --policy only=$p
  done
done
for b in strata strata-base; do l $b $G vram-verify-$b "$M" --policy only=vram --verify; done
l strata $G tiered-verify-new "$M" --verify
$LB summary $G > $G/load-summary.txt 2>&1; T summary $?
rm -f "$M"; pack
# Gemma 3 1B's 340 bf16 tensors (1.9 GiB), 209 of them under 1 MiB.
S=/tmp/strata-load16-1b.safetensors
$LB write "$S" --shape 1b > $G/small/load-write.txt 2>&1; T write-1b $?
cat "$S" > /dev/null
for i in 1 2; do
  for p in vram vram-mapped; do
    l strata $G/small $p-new-$i "$S" --policy only=$p
    l strata-base $G/small $p-base-$i "$S" --policy only=$p
  done
done
for b in strata strata-base; do l $b $G/small vram-verify-$b "$S" --policy only=vram --verify; done
$LB summary $G/small > $G/small/load-summary.txt 2>&1; T summary-1b $?
rm -f "$S"; pack
# Quantized GEMV, batch 1, the table's configuration, new and old, twice each.
q() { local bin=$1; shift; timeout 40 .dev/$bin gemv --rows 4096 --cols 14336 --iters 50 "$@" --json >> $G/quant-$bin.json 2>>$G/quant.err; T "$bin gemv $*" $?; }
for i in 1 2; do
  for d in q4_0 q8_0 q4_k q5_k q6_k; do
    q strata --dtype $d --batch 1 --check
    q strata-base --dtype $d --batch 1 --check
  done
done
# Batch 8 unchanged in the table (the subgroup engine keeps the four-chunk Q4_0): checked.
for d in q4_0 q6_k; do q strata --dtype $d --batch 8 --check; done
pack
timeout 150 .dev/test-backend-ops perf -o MUL_MAT -p 'n=1,k=14336' -b Vulkan0 > $G/llama-n1.txt 2>&1; T llama-n1 $?
pack
