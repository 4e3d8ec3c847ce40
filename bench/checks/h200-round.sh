#!/bin/bash
# One device call that checks and times the tensor-core tier, for a session's GPU round (the
# machine is lent for minutes, and each call pays a cold start): numerics of all nine against the
# float64 reference (forward and gradients), the forward and forward + backward tables with
# per-kernel times, and the driver's register and shared-memory figures per kernel. Run on the
# GPU machine from the project root, after `npm run build`, make-kit and scripts/gpu-kit-peers.sh
# here (make-kit packs production dependencies only; webgpu and commander are peers), and with
# .gpu-kit, dist and bench/probes carried:
#   source .gpu-kit/enter.sh >/dev/null && bash bench/checks/h200-round.sh [variants]
# Writes $OUT/round-*.txt (Dawn's compile-log lines stripped) and prints the tables. Env:
# SKIP (comma list of check,bench,stats), EXTRA (comma list of nonfinite,unverified: the
# non-finite checks, and the check and train timing of UNVERIFIED_ON_GPU's stages), EXTRA_BENCH
# (more `lae bench` arguments, e.g. '--fragment-memory 49152' for the previous layouts).
set -u
out=${OUT:-/tmp/out}
mkdir -p "$out"
variants=${1:-linear_attn,simple_gla,retention,gla,delta_rule,gated_delta_rule,kda,rwkv6,mamba2_ssd}
skip=",${SKIP:-},"
strip() { grep -vE '^Compilation log|^Warning|warning|^:|^\s+[^|]|^$'; }
if [[ $skip != *,check,* ]]; then
  SIZES='1,300,4,128,128' timeout 240 node bench/checks/tensor-cores.mjs "$variants" 2>&1 | strip > "$out/round-check.txt"
  grep -v 'vs portable' "$out/round-check.txt"
fi
# The non-finite patterns (a NaN in v, an Inf in k through the forward, a NaN in do through the
# backward) and the stages that await their GPU check (UNVERIFIED_ON_GPU), numerics and time:
# opt-in with EXTRA=nonfinite,unverified.
extra=",${EXTRA:-},"
if [[ $extra == *,nonfinite,* ]]; then
  NONFINITE=1 SIZES='1,300,4,128,128' timeout 200 node bench/checks/tensor-cores.mjs "$variants" 2>&1 | strip > "$out/round-nonfinite.txt"
  grep -v 'portable' "$out/round-nonfinite.txt"
fi
if [[ $extra == *,unverified,* ]]; then
  UNVERIFIED=1 SIZES='1,300,4,128,128' timeout 200 node bench/checks/tensor-cores.mjs "$variants" 2>&1 | strip > "$out/round-unverified.txt"
  grep -v 'vs portable' "$out/round-unverified.txt"
  # shellcheck disable=SC2086
  timeout 200 node dist/cli/main.js bench --what train --T 4096 --no-recurrent --breakdown --unverified-fragments --variants "$variants" \
    2>&1 | strip > "$out/round-bench-unverified.txt"
  grep -E '^\|' "$out/round-bench-unverified.txt" | grep -v -- '---' | sed 's/| 1,32,4096,128,128 //' | cut -c1-330
fi
if [[ $skip != *,bench,* ]]; then
  # shellcheck disable=SC2086
  timeout 300 node dist/cli/main.js bench --what forward,train --T 4096 --no-recurrent --breakdown --variants "$variants" \
    --json "$out/round-bench.json" ${EXTRA_BENCH:-} 2>&1 | strip > "$out/round-bench.txt"
  grep -E '^\||fragment memory' "$out/round-bench.txt" | grep -v -- '---' | sed 's/| 1,32,4096,128,128 //' | cut -c1-330
fi
if [[ $skip != *,stats,* ]]; then
  args=$(echo "$variants" | tr ',' '\n' | sed 's/$/:forward/' | tr '\n' ' ')
  # shellcheck disable=SC2086
  timeout 120 node bench/probes/vk-stats/stats.mjs $args > "$out/round-stats.txt" 2>&1
  grep -E '^(run|[a-z0-9_]+:forward)' "$out/round-stats.txt" | cut -c1-140
fi
