#!/usr/bin/env bash
# Run 16 (2026-12-03): device-local loads with a staging ring of 4 slots (`.dev/strata`,
# c1523e8), 3 (`.dev/strata-slots3`) and 2 (`.dev/strata-slots2`): the same build with
# `UPLOAD_SLOTS` set to 3 and 2, alternately, on the 4.5 GiB file and on the Gemma-3-1B-shaped
# one, against pinned H2D through CUDA in the same run. Started as `bash
# benchmarks/h200-2026-12-03/run16.sh` after the machine's start line; lands in $OUT/run16.tgz.
set -u
G=/tmp/g; mkdir -p $G/small; t0=$(date +%s)
T() { echo "$1 rc=$2 at $(( $(date +%s) - t0 ))s" | tee -a $G/times.txt; }
pack() { tar czf $OUT/run16.tgz -C /tmp g; }
LB="python3 scripts/load_bench.py"
PYTHONUNBUFFERED=1 timeout 60 $LB peer 4.5GiB > $G/load16-peer.json 2>>$G/load.err; T peer $?
cp $G/load16-peer.json $G/small/
l() { local bin=$1 dir=$2 n=$3 m=$4; shift 4; timeout 60 .dev/$bin load "$m" "$@" --json > $dir/load16-$n.json 2>>$G/load.err; T "load $bin $n $*" $?; }
M=/tmp/strata-load16.safetensors
$LB write "$M" --shape bench > $G/load-write.txt 2>&1; T write $?
cat "$M" > /dev/null
for i in 1 2 3 4; do
  for p in vram vram-mapped; do
    l strata $G $p-slots4-$i "$M" --policy only=$p
    l strata-slots3 $G $p-slots3-$i "$M" --policy only=$p
    l strata-slots2 $G $p-slots2-$i "$M" --policy only=$p
  done
done
$LB summary $G > $G/load-summary.txt 2>&1; T summary $?
rm -f "$M"; pack
S=/tmp/strata-load16-1b.safetensors
$LB write "$S" --shape 1b > $G/small/load-write.txt 2>&1; T write-1b $?
cat "$S" > /dev/null
for i in 1 2 3; do
  l strata $G/small vram-slots4-$i "$S" --policy only=vram
  l strata-slots3 $G/small vram-slots3-$i "$S" --policy only=vram
  l strata-slots2 $G/small vram-slots2-$i "$S" --policy only=vram
done
$LB summary $G/small > $G/small/load-summary.txt 2>&1; T summary-1b $?
rm -f "$S"; pack
