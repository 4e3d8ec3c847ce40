#!/usr/bin/env bash
# `npm run setup`: everything a clone needs. Dependencies, the build, and on a Debian/Ubuntu
# machine without a WebGPU adapter, Mesa's lavapipe (software Vulkan), and Debian's chromium for
# the browser test.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci
npm run build
if node scripts/probe-adapter.mjs 2>/dev/null && { [ -x /usr/lib/chromium/chromium ] || [ -x /usr/bin/chromium ]; }; then
  exit 0
fi
echo "setup: installing Mesa's lavapipe (software Vulkan) and Debian's chromium (for test/browser.test.ts)"
if [ "$(id -u)" = 0 ]; then bash scripts/install-lavapipe.sh; else sudo bash scripts/install-lavapipe.sh; fi
node scripts/probe-adapter.mjs
