#!/bin/bash
# Adds the optional peer dependencies that the GPU round needs to a .gpu-kit (the bare GPU
# machine's bundle of Node.js and production node_modules, made by the workspace's make-kit):
# webgpu (Dawn, cut to its linux-x64 binary, compressed as make-kit compresses it) and
# commander (the lae CLI). Both are peers of this package, not dependencies, so a kit of the
# production tree alone lacks them and every kernel run there fails with NoAdapterError.
# Run from the project root after make-kit.
set -euo pipefail
kit=.gpu-kit
[ -d "$kit/node_modules" ] || { echo "gpu-kit-peers: no $kit/node_modules; make the kit first" >&2; exit 2; }
for p in webgpu commander; do [ -d "node_modules/$p" ] || { echo "gpu-kit-peers: node_modules/$p missing; run npm run setup" >&2; exit 2; }; done
rm -rf "$kit/node_modules/webgpu" "$kit/node_modules/commander"
mkdir -p "$kit/node_modules/webgpu/dist/linux-x64"
cp node_modules/webgpu/*.js node_modules/webgpu/*.d.ts node_modules/webgpu/package.json "$kit/node_modules/webgpu/"
xz -T0 -6 -c node_modules/webgpu/dist/linux-x64/dawn.node > "$kit/node_modules/webgpu/dist/linux-x64/dawn.node.xz"
cp -r node_modules/commander "$kit/node_modules/commander"
echo "gpu-kit-peers: added webgpu and commander to $kit"
