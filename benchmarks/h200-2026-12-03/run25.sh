#!/usr/bin/env bash
# Run 25 (2026-12-03): the GPU suite at the last library commit (heap verdicts that allow for
# the load's own memory), then the Gemma-3-1B shape's verified loads that run 24's heap check
# refused, and the 4.5 GiB file verified per placement; pinned H2D through CUDA in the same
# run. Started as `bash benchmarks/h200-2026-12-03/run25.sh` after the machine's start line;
# lands in $OUT/run25.tgz.
set -u
G=/tmp/g; mkdir -p $G/small; t0=$(date +%s)
T() { echo "$1 rc=$2 at $(( $(date +%s) - t0 ))s" | tee -a $G/times.txt; }
pack() { tar czf $OUT/run25.tgz -C /tmp g; }
.dev/strata info > $G/info.txt 2>&1
CI=1 timeout 200 .dev/tests-gpu > $G/tests.txt 2>&1; T tests $?
pack
LB="python3 scripts/load_bench.py"
PYTHONUNBUFFERED=1 timeout 60 $LB peer 4.5GiB > $G/load16-peer.json 2>>$G/load.err; T peer $?
cp $G/load16-peer.json $G/small/
l() { local dir=$1 n=$2 m=$3; shift 3; timeout 120 .dev/strata load "$m" "$@" --json > $dir/load16-$n.json 2>>$G/load.err; T "load $n $*" $?; }
S=/tmp/strata-load16-1b.safetensors
$LB write "$S" --shape 1b > $G/small/load-write.txt 2>&1; T write-1b $?
cat "$S" > /dev/null
for i in 1 2 3; do
  for p in vram host; do
    l $G/small $p-$i "$S" --policy only=$p
    l $G/small $p-verify-$i "$S" --policy only=$p --verify
  done
  l $G/small tiered-verify-$i "$S" --verify
done
$LB summary $G/small > $G/small/load-summary.txt 2>&1; T summary-1b $?
rm -f "$S"; pack
M=/tmp/strata-load16.safetensors
$LB write "$M" --shape bench > $G/load-write.txt 2>&1; T write $?
cat "$M" > /dev/null
for i in 1 2 3; do
  for p in vram vram-mapped host; do
    l $G $p-$i "$M" --policy only=$p
    l $G $p-verify-$i "$M" --policy only=$p --verify
  done
  l $G tiered-verify-$i "$M" --verify
done
$LB summary $G > $G/load-summary.txt 2>&1; T summary $?
rm -f "$M"; pack
