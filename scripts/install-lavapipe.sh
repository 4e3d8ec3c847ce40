#!/usr/bin/env bash
# Installs Mesa's lavapipe (software Vulkan) so Dawn has a WebGPU adapter on a machine without
# a GPU. Debian 12's own Mesa (22.3) is too old for Dawn ("shaderUniform*ArrayDynamicIndexing
# required"); the bookworm-backports Mesa (25.x) works. Also installs Debian's chromium, which
# test/browser.test.ts runs headless with WebGPU on SwiftShader. Needs root; idempotent.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
  echo "install-lavapipe: needs root. Run: sudo bash scripts/install-lavapipe.sh" >&2
  exit 1
fi
. /etc/os-release
if [ "${ID:-}" = debian ] && [ "${VERSION_CODENAME:-}" = bookworm ]; then
  cat > /etc/apt/sources.list.d/backports.sources <<'X'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
X
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y -t bookworm-backports mesa-vulkan-drivers libvulkan1
  DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
elif command -v apt-get >/dev/null; then
  # Newer Debian and Ubuntu releases ship a Mesa recent enough for Dawn.
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y mesa-vulkan-drivers libvulkan1
  DEBIAN_FRONTEND=noninteractive apt-get install -y chromium || apt-get install -y chromium-browser
else
  echo "install-lavapipe: not a Debian/Ubuntu system; install Mesa's Vulkan drivers (lavapipe) with your package manager" >&2
  exit 1
fi
