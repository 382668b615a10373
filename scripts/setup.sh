#!/usr/bin/env bash
# Installs vkmoe's build and test dependencies from Debian's packages.
# Idempotent: when everything is already present it only checks and returns.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libvulkan-dev vulkan-tools mesa-vulkan-drivers vulkan-validationlayers
  glslc glslang-tools spirv-tools
  doctest-dev libglfw3-dev libimgui-dev libstb-dev xvfb
  nlohmann-json3-dev libcpp-httplib-dev
  clang libclang-rt-14-dev
  libicu-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo_cmd=""
if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo_cmd apt-get update -qq
$sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
