#!/usr/bin/env bash
# `npm run setup`: everything a clone needs. Dependencies, the build, and on a Debian/Ubuntu
# machine without a WebGPU adapter, Mesa's lavapipe (software Vulkan).
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci
npm run build
if node scripts/probe-adapter.mjs 2>/dev/null; then
  exit 0
fi
echo "setup: no WebGPU adapter; installing Mesa's lavapipe (software Vulkan)"
if [ "$(id -u)" = 0 ]; then bash scripts/install-lavapipe.sh; else sudo bash scripts/install-lavapipe.sh; fi
node scripts/probe-adapter.mjs
