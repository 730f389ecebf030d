#!/usr/bin/env bash
# Run 21 (2026-12-03): two variants of host loads against the build of this commit
# (.dev/strata): the pages faulted in on the allocating thread only (.dev/strata-seqfault,
# leaving rayon's threads to the copy) and mapped copies in four pieces a thread
# (.dev/strata-balanced), alternating, four loads each; then cold loads (the file's pages
# evicted) against `dd iflag=direct`; pinned H2D through CUDA in the same run. Started as
# `bash benchmarks/h200-2026-12-03/run21.sh` after the machine's start line; lands in $OUT/run21.tgz.
set -u
G=/tmp/g; mkdir -p $G/small; t0=$(date +%s)
T() { echo "$1 rc=$2 at $(( $(date +%s) - t0 ))s" | tee -a $G/times.txt; }
pack() { tar czf $OUT/run21.tgz -C /tmp g; }
LB="python3 scripts/load_bench.py"
PYTHONUNBUFFERED=1 timeout 60 $LB peer 4.5GiB > $G/load16-peer.json 2>>$G/load.err; T peer $?
cp $G/load16-peer.json $G/small/
l() { local bin=$1 dir=$2 n=$3 m=$4; shift 4; timeout 60 .dev/$bin load "$m" "$@" --json > $dir/load16-$n.json 2>>$G/load.err; T "load $bin $n $*" $?; }
M=/tmp/strata-load16.safetensors
$LB write "$M" --shape bench > $G/load-write.txt 2>&1; T write $?
cat "$M" > /dev/null
for i in 1 2 3 4; do
  l strata $G host-new-$i "$M" --policy only=host
  l strata-seqfault $G host-seqfault-$i "$M" --policy only=host
  l strata-balanced $G host-balanced-$i "$M" --policy only=host
done
l strata $G host-verify "$M" --policy only=host --verify
l strata-seqfault $G host-seqfault-verify "$M" --policy only=host --verify
l strata-balanced $G host-balanced-verify "$M" --policy only=host --verify
$LB summary $G > $G/load-summary.txt 2>&1; T summary $?
pack
stat -f -c %T /tmp > $G/cold.txt; df -h /tmp >> $G/cold.txt
if [ "$(stat -f -c %T /tmp)" != tmpfs ]; then
  mkdir -p $G/cold; cp $G/load16-peer.json $G/cold/
  $LB evict "$M" >> $G/cold.txt 2>&1
  (time dd if="$M" of=/dev/null bs=16M iflag=direct) >> $G/cold.txt 2>&1
  $LB evict "$M" >> $G/cold.txt 2>&1; l strata $G/cold host-cold "$M" --policy only=host
  $LB evict "$M" >> $G/cold.txt 2>&1; l strata $G/cold vram-cold "$M" --policy only=vram
  $LB summary $G/cold > $G/cold/load-summary.txt 2>&1; T summary-cold $?
fi
rm -f "$M"; pack
