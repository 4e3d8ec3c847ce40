// Usage: node scripts/dump-wgsl.mjs <checkout dir> <out file>   (e.g. . and /tmp/before.dump)
// For refactors of codegen: the WGSL must not change. Writes one line per (variant, config, mode, kernel): the key and the sha1 of its WGSL, over a
// grid of configs, from <checkout>/dist (build first). Compare two dumps with `diff` / `cmp`.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
const [dir, out] = process.argv.slice(2);
const { planForward, planBackward, planStep } = await import(`${resolve(dir)}/dist/codegen/index.js`);
const { VARIANTS } = await import(`${resolve(dir)}/dist/variants/index.js`);
const lines = [];
for (const [name, def] of Object.entries(VARIANTS)) {
  for (const fragments of ['subgroup-matrix', 'portable', undefined]) for (const wgMemory of [16384, 32768, 49152]) for (const chunk of [16, 32, 64]) for (const [K, V] of [[128, 128], [64, 64], [48, 40], [18, 10], [32, 36]]) for (const extra of [{}, { unrollStaging: true }, { varlen: true }, { outputDtype: 'bf16' }]) {
    const cfg = { K, V, chunk, wgMemory, ...(fragments ? { fragments } : {}), ...extra };
    const modes = { fwd: () => planForward(def, cfg), rec: () => planForward(def, cfg, 'recurrent'), bwd: () => planBackward(def, cfg), step: () => planStep(def, cfg) };
    for (const [mode, f] of Object.entries(modes)) {
      let p;
      try { p = f(); } catch (e) { lines.push(`${name} ${JSON.stringify(cfg)} ${mode} ERROR ${String(e.message).slice(0, 80)}`); continue; }
      for (const k of p.kernels) lines.push(`${name} ${JSON.stringify(cfg)} ${mode} ${k.name} ${createHash('sha1').update(k.wgsl).digest('hex')} ${JSON.stringify(k.bindings?.map?.((b) => b.name ?? b) ?? '')}`);
    }
  }
}
writeFileSync(out, lines.join('\n') + '\n');
console.log(`${lines.length} lines -> ${out}`);
