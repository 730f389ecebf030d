#!/usr/bin/env bash
# Run 23 (2026-12-03): the GPU suite at the commit of the tiled checksum kernel, then loads
# per placement with --verify by checksum (the default for staged memory) against
# --verify-method bytes, alternating, and the 27B-shaped bf16 model with the VRAM heap capped at
# 16 GiB, verified; pinned H2D through CUDA in the same run. Started as
# `bash benchmarks/h200-2026-12-03/run23.sh` after the machine's start line; lands in $OUT/run23.tgz.
set -u
G=/tmp/g; mkdir -p $G/small $G/big; t0=$(date +%s)
T() { echo "$1 rc=$2 at $(( $(date +%s) - t0 ))s" | tee -a $G/times.txt; }
pack() { tar czf $OUT/run23.tgz -C /tmp g; }
.dev/strata info > $G/info.txt 2>&1
CI=1 timeout 200 .dev/tests-gpu > $G/tests.txt 2>&1; T tests $?
pack
LB="python3 scripts/load_bench.py"
PYTHONUNBUFFERED=1 timeout 60 $LB peer 4.5GiB > $G/load16-peer.json 2>>$G/load.err; T peer $?
cp $G/load16-peer.json $G/small/; cp $G/load16-peer.json $G/big/
l() { local bin=$1 dir=$2 n=$3 m=$4; shift 4; timeout 120 .dev/$bin load "$m" "$@" --json > $dir/load16-$n.json 2>>$G/load.err; T "load $bin $n $*" $?; }
M=/tmp/strata-load16.safetensors
$LB write "$M" --shape bench > $G/load-write.txt 2>&1; T write $?
cat "$M" > /dev/null
for i in 1 2 3; do
  for p in vram vram-mapped host; do l strata $G $p-$i "$M" --policy only=$p; done
done
for i in 1 2 3; do
  for p in vram vram-mapped host; do
    l strata $G $p-verify-$i "$M" --policy only=$p --verify
    l strata $G $p-verify-bytes-$i "$M" --policy only=$p --verify --verify-method bytes
  done
  l strata $G host-verify-checksum-$i "$M" --policy only=host --verify --verify-method checksum
done
l strata $G tiered-verify "$M" --verify
$LB summary $G > $G/load-summary.txt 2>&1; T summary $?
rm -f "$M"; pack
S=/tmp/strata-load16-1b.safetensors
$LB write "$S" --shape 1b > $G/small/load-write.txt 2>&1; T write-1b $?
cat "$S" > /dev/null
for p in vram host; do
  l strata $G/small $p "$S" --policy only=$p
  l strata $G/small $p-verify "$S" --policy only=$p --verify
  l strata $G/small $p-verify-bytes "$S" --policy only=$p --verify --verify-method bytes
done
$LB summary $G/small > $G/small/load-summary.txt 2>&1; T summary-1b $?
rm -f "$S"; pack
df -h /tmp > $G/big/df.txt
B=/tmp/strata-load16-27b.safetensors
$LB write "$B" --shape 27b > $G/big/load-write.txt 2>&1; T write-27b $?
cat "$B" > /dev/null
.dev/strata plan "$B" --vram-limit 16GiB --json > $G/big/load16-27b-plan.json 2>>$G/load.err; T plan-27b $?
l strata $G/big 27b-capped-verify "$B" --vram-limit 16GiB --verify
l strata $G/big 27b-capped "$B" --vram-limit 16GiB
$LB summary $G/big > $G/big/load-summary.txt 2>&1; T summary-27b $?
rm -f "$B"; pack
