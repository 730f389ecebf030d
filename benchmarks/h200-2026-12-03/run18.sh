#!/usr/bin/env bash
# Run 18 (2026-12-03): host-visible tensors and staging slots on imported host pages
# (VK_EXT_external_memory_host). The GPU suite, then loads per placement: this build with
# `--host-memory auto` (imported) against `--host-memory driver`, and against the build of run 17
# (.dev/strata-base), alternating, with pinned H2D through CUDA in the same run. Started as
# `bash benchmarks/h200-2026-12-03/run18.sh` after the machine's start line; lands in $OUT/run18.tgz.
set -u
G=/tmp/g; mkdir -p $G/small; t0=$(date +%s)
T() { echo "$1 rc=$2 at $(( $(date +%s) - t0 ))s" | tee -a $G/times.txt; }
pack() { tar czf $OUT/run18.tgz -C /tmp g; }
.dev/strata info > $G/info.txt 2>&1
cat /sys/kernel/mm/transparent_hugepage/enabled /sys/kernel/mm/transparent_hugepage/defrag > $G/thp.txt 2>&1
uname -r >> $G/thp.txt
CI=1 timeout 200 .dev/tests-gpu > $G/tests.txt 2>&1; T tests $?
pack
LB="python3 scripts/load_bench.py"
PYTHONUNBUFFERED=1 timeout 60 $LB peer 4.5GiB > $G/load16-peer.json 2>>$G/load.err; T peer $?
cp $G/load16-peer.json $G/small/
l() { local bin=$1 dir=$2 n=$3 m=$4; shift 4; timeout 60 .dev/$bin load "$m" "$@" --json > $dir/load16-$n.json 2>>$G/load.err; T "load $bin $n $*" $?; }
M=/tmp/strata-load16.safetensors
$LB write "$M" --shape bench > $G/load-write.txt 2>&1; T write $?
cat "$M" > /dev/null
for i in 1 2 3; do
  l strata $G host-auto-$i "$M" --policy only=host
  l strata $G host-driver-$i "$M" --policy only=host --host-memory driver
done
for i in 1 2 3; do for p in vram vram-mapped; do
  l strata $G $p-new-$i "$M" --policy only=$p
  l strata-base $G $p-base-$i "$M" --policy only=$p
done; done
l strata $G host-verify "$M" --policy only=host --verify
l strata $G vram-verify "$M" --policy only=vram --verify
l strata $G tiered-verify "$M" --verify
$LB summary $G > $G/load-summary.txt 2>&1; T summary $?
rm -f "$M"; pack
S=/tmp/strata-load16-1b.safetensors
$LB write "$S" --shape 1b > $G/small/load-write.txt 2>&1; T write-1b $?
cat "$S" > /dev/null
for i in 1 2 3; do
  l strata $G/small vram-new-$i "$S" --policy only=vram
  l strata-base $G/small vram-base-$i "$S" --policy only=vram
  l strata $G/small host-auto-$i "$S" --policy only=host
  l strata $G/small host-driver-$i "$S" --policy only=host --host-memory driver
done
$LB summary $G/small > $G/small/load-summary.txt 2>&1; T summary-1b $?
rm -f "$S"; pack
