#!/usr/bin/env bash
# Strata's main job: list the adapters and memory tables, then run a checked matrix multiply on
# the chosen adapter (Mesa lavapipe when there is no GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/vulkan-setup.sh
cargo build --release -q -p strata-cli
./target/release/strata info
./target/release/strata matmul --m 257 --k 129 --n 65 --check
