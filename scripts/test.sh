#!/usr/bin/env bash
# Runs Strata's whole test suite. GPU tests run on the adapter Strata picks (Mesa lavapipe when
# there is no GPU) with the Khronos validation layer on.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/vulkan-setup.sh
cargo test --workspace --all-targets "$@"
cargo test --workspace --doc

# The non-Vulkan path at run time: wgpu's OpenGL ES backend on Mesa's llvmpipe (EGL, headless).
cargo test -p strata --features gles --test gles

# Every example, under the Khronos validation layer (STRATA_VALIDATION=1). An example fails on a
# non-zero exit or on any validation message in its output, found by the detector every test uses
# (`strata::validation::messages_in`, through `strata-validation-scan`; it ignores the known false
# positive of Debian 12's old layer). The GPU test `validation::the_capture_hears_the_validation_layer`
# makes the layer speak on purpose and fails if that detector misses it.
for file in examples/*.rs; do
  example="$(basename "$file" .rs)"
  echo "== example $example"
  log="$(mktemp)"
  if ! STRATA_VALIDATION=1 cargo run -q -p strata --example "$example" >"$log" 2>&1; then
    cat "$log"
    echo "example $example failed" >&2
    exit 1
  fi
  cat "$log"
  if ! cargo run -q -p strata-fuzz --bin strata-validation-scan -- "$log"; then
    echo "example $example: the validation layer reported messages (above)" >&2
    exit 1
  fi
  rm -f "$log"
done
