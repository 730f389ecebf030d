#!/usr/bin/env bash
# Makes sure a Vulkan driver is there. On a machine without a GPU driver this installs Mesa's
# CPU driver (lavapipe), the Vulkan loader, the Khronos validation layer and Mesa's EGL/OpenGL
# (for the OpenGL ES test) from Debian/Ubuntu packages when it can (as root, or with sudo), and
# otherwise says exactly what to install.
set -euo pipefail

# The last two give wgpu's OpenGL ES backend Mesa's llvmpipe through EGL, for the non-Vulkan
# test (`cargo test -p strata --features gles --test gles`).
packages=(mesa-vulkan-drivers libvulkan1 vulkan-validationlayers libegl1 libgl1-mesa-dri)
missing=()
if command -v dpkg >/dev/null 2>&1; then
  for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
else
  if ! ldconfig -p 2>/dev/null | grep -q libvulkan.so.1; then
    echo "No Vulkan loader found and this is not a Debian-like system."
    echo "Install your GPU's Vulkan driver, or Mesa's lavapipe (CPU) driver, and the Vulkan loader."
    exit 1
  fi
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing Vulkan packages: ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "Cannot install without root. Run:"
    echo "  sudo apt-get install ${missing[*]}"
    exit 1
  fi
fi
