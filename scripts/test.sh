#!/usr/bin/env bash
# Runs Strata's whole test suite. GPU tests run on the adapter Strata picks (Mesa lavapipe when
# there is no GPU) with the Khronos validation layer on.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/vulkan-setup.sh
cargo test --workspace --all-targets "$@"
cargo test --workspace --doc
