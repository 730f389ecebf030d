#!/usr/bin/env bash
# Run 17 (2026-12-03): the GPU suite at the commit of the 3-slot staging ring, and its loads
# per placement against pinned H2D through CUDA in the same run. Started as `bash
# benchmarks/h200-2026-12-03/run17.sh` after the machine's start line; lands in $OUT/run17.tgz.
set -u
G=/tmp/g; mkdir -p $G/small; t0=$(date +%s)
T() { echo "$1 rc=$2 at $(( $(date +%s) - t0 ))s" | tee -a $G/times.txt; }
pack() { tar czf $OUT/run17.tgz -C /tmp g; }
.dev/strata info > $G/info.txt 2>&1
CI=1 timeout 200 .dev/tests-gpu > $G/tests.txt 2>&1; T tests $?
pack
LB="python3 scripts/load_bench.py"
PYTHONUNBUFFERED=1 timeout 60 $LB peer 4.5GiB > $G/load16-peer.json 2>>$G/load.err; T peer $?
cp $G/load16-peer.json $G/small/
l() { local dir=$1 n=$2 m=$3; shift 3; timeout 60 .dev/strata load "$m" "$@" --json > $dir/load16-$n.json 2>>$G/load.err; T "load $n $*" $?; }
M=/tmp/strata-load16.safetensors
$LB write "$M" --shape bench > $G/load-write.txt 2>&1; T write $?
cat "$M" > /dev/null
for i in 1 2 3; do for p in vram vram-mapped; do l $G $p-$i "$M" --policy only=$p; done; done
l $G host-1 "$M" --policy only=host
l $G vram-verify "$M" --policy only=vram --verify
l $G tiered-verify "$M" --verify
$LB summary $G > $G/load-summary.txt 2>&1; T summary $?
rm -f "$M"; pack
S=/tmp/strata-load16-1b.safetensors
$LB write "$S" --shape 1b > $G/small/load-write.txt 2>&1; T write-1b $?
cat "$S" > /dev/null
for i in 1 2 3; do l $G/small vram-$i "$S" --policy only=vram; done
l $G/small vram-verify "$S" --policy only=vram --verify
$LB summary $G/small > $G/small/load-summary.txt 2>&1; T summary-1b $?
rm -f "$S"; pack
