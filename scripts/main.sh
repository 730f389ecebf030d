#!/usr/bin/env bash
# Strata's main job: list the adapters and their memory tables, check a matrix multiply against
# the CPU, then run the placement benchmark (VRAM vs mapped VRAM vs GTT/system memory) on the
# chosen adapter (Mesa lavapipe when there is no GPU). Extra arguments go to `strata bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/vulkan-setup.sh
# Mesa's drivers print an error when XDG_RUNTIME_DIR is unset (headless machines, containers);
# an empty private directory quiets them.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
cargo build --release -q -p strata-cli
./target/release/strata info
./target/release/strata matmul --m 257 --k 129 --n 65 --check
./target/release/strata bench "$@"
