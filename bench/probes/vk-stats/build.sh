#!/bin/sh
# Builds ./vk-stats: one x86-64 binary that needs only glibc (2.34+), libgcc_s and, at run time, libvulkan.so.1.
# SPIRV-Tools (the assembler, for Dawn's SPIR-V text dumps) and libstdc++ are linked in statically.
# Needs: gcc/g++, cmake, ninja, python3, and checkouts of KhronosGroup/SPIRV-Tools, SPIRV-Headers and
# Vulkan-Headers (new enough for VK_KHR_cooperative_matrix, Vulkan 1.4); the binary in this folder was
# built from SPIRV-Tools 47c74f48, SPIRV-Headers 0d25db97, Vulkan-Headers f9973cd9 (Aug 2026).
set -e
SRC=${SRC:-/tmp/vkb}     # holds SPIRV-Tools/, SPIRV-Headers/, Vulkan-Headers/
here=$(cd "$(dirname "$0")" && pwd)
lib=$SRC/build/source/libSPIRV-Tools.a
if [ ! -f "$lib" ]; then
  cmake -S "$SRC/SPIRV-Tools" -B "$SRC/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPIRV_SKIP_TESTS=ON \
    -DSPIRV_SKIP_EXECUTABLES=ON -DSPIRV_WERROR=OFF -DSPIRV-Headers_SOURCE_DIR="$SRC/SPIRV-Headers"
  ninja -C "$SRC/build" SPIRV-Tools-static
fi
gcc -O2 -Wall -Wno-missing-braces -c "$here/vk-stats.c" -o "$SRC/vk-stats.o" \
  -I"$SRC/Vulkan-Headers/include" -I"$SRC/SPIRV-Tools/include"
g++ -o "$here/vk-stats" "$SRC/vk-stats.o" "$lib" -static-libstdc++ -ldl -s
ls -l "$here/vk-stats"
