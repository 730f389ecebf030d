#!/usr/bin/env bash
# Run 19 (2026-12-03): where an import's time goes (debug log), and three variants against the
# build of this commit (.dev/strata): run 18's build (.dev/strata-r18: imports from 32 MiB),
# no pre-faulting of the pages (.dev/strata-nofault: the driver faults them in as it imports) and
# a 6-slot staging ring (.dev/strata-slots6), alternating, with pinned H2D through CUDA in the
# same run. Started as `bash benchmarks/h200-2026-12-03/run19.sh` after the machine's start line;
# lands in $OUT/run19.tgz.
set -u
G=/tmp/g; mkdir -p $G/small; t0=$(date +%s)
T() { echo "$1 rc=$2 at $(( $(date +%s) - t0 ))s" | tee -a $G/times.txt; }
pack() { tar czf $OUT/run19.tgz -C /tmp g; }
LB="python3 scripts/load_bench.py"
PYTHONUNBUFFERED=1 timeout 60 $LB peer 4.5GiB > $G/load16-peer.json 2>>$G/load.err; T peer $?
cp $G/load16-peer.json $G/small/
l() { local bin=$1 dir=$2 n=$3 m=$4; shift 4; timeout 60 .dev/$bin load "$m" "$@" --json > $dir/load16-$n.json 2>>$G/load.err; T "load $bin $n $*" $?; }
M=/tmp/strata-load16.safetensors
$LB write "$M" --shape bench > $G/load-write.txt 2>&1; T write $?
cat "$M" > /dev/null
RUST_LOG=strata_vk=debug timeout 60 .dev/strata load "$M" --policy only=host --json > $G/debug-host.json 2> $G/debug-host.log; T debug $?
for i in 1 2 3; do
  l strata $G host-new-$i "$M" --policy only=host
  l strata-nofault $G host-nofault-$i "$M" --policy only=host
  l strata-r18 $G host-r18-$i "$M" --policy only=host
done
for i in 1 2 3; do for p in vram vram-mapped; do
  l strata $G $p-new-$i "$M" --policy only=$p
  l strata-slots6 $G $p-slots6-$i "$M" --policy only=$p
done; done
$LB summary $G > $G/load-summary.txt 2>&1; T summary $?
rm -f "$M"; pack
S=/tmp/strata-load16-1b.safetensors
$LB write "$S" --shape 1b > $G/small/load-write.txt 2>&1; T write-1b $?
cat "$S" > /dev/null
for i in 1 2 3; do
  l strata $G/small host-new-$i "$S" --policy only=host
  l strata-r18 $G/small host-r18-$i "$S" --policy only=host
  l strata $G/small vram-new-$i "$S" --policy only=vram
  l strata-slots6 $G/small vram-slots6-$i "$S" --policy only=vram
done
$LB summary $G/small > $G/small/load-summary.txt 2>&1; T summary-1b $?
rm -f "$S"; pack
