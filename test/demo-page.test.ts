// The demo page's device-free parts (examples/browser/): the editor's source of each built-in
// is the built-in's spec, and the chart draws a line per series. The page itself runs in
// test/browser.test.ts.
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { specModule } from '../examples/browser/spec-source.js';
import { lineChart } from '../examples/browser/chart.js';
import { VARIANTS, VARIANT_NAMES } from '../variants/index.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const tmp = mkdtempSync(join(tmpdir(), 'lae-demo-page-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('the demo page', () => {
  it("each built-in's editor source (from its compiled file, as dist/ serves it) is a module whose default export is the built-in's spec", async () => {
    const entry = pathToFileURL(join(ROOT, 'index.ts')).href;
    for (const name of VARIANT_NAMES) {
      // What tsc writes to dist/variants/<name>.js, without needing a build.
      const compiled = ts.transpileModule(readFileSync(join(ROOT, 'variants', `${name}.ts`), 'utf8'), {
        compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022 },
      }).outputText;
      const source = specModule(compiled);
      expect(source).toMatch(/^import \{ [^}]+ \} from 'lae';$/m);
      expect(source).toMatch(/^export default defineVariant\(\{[\s\S]*\}\);\n$/m);
      // The page resolves 'lae' through its import map; here, to the package's entry.
      const file = join(tmp, `${name}.mjs`);
      writeFileSync(file, source.replace("from 'lae'", `from '${entry}'`));
      const def = (await import(pathToFileURL(file).href)).default;
      expect(def.hash, name).toBe(VARIANTS[name].hash);
    }
  });

  it('the chart draws one polyline per series on log axes, points in T order', () => {
    const svg = lineChart([
      { name: 'chunked', color: '#00f', points: [{ x: 256, y: 2 }, { x: 64, y: 0.5 }] },
      { name: 'token-sequential', color: '#f00', points: [{ x: 64, y: 1 }, { x: 256, y: 40 }] },
    ], { x: 'T', y: 'ms' });
    const lines = [...svg.matchAll(/<polyline data-series="([^"]+)" points="([^"]+)"/g)].map((m) => [m[1], m[2]!.split(' ').map((p) => Number(p.split(',')[0]))]);
    expect(lines.map((l) => l[0])).toEqual(['chunked', 'token-sequential']);
    for (const [, xs] of lines) expect(xs).toEqual([...(xs as number[])].sort((a, b) => a - b));
    expect(svg).toContain('>128<'); // a tick at each power of two of T
    expect(lineChart([], { x: 'T', y: 'ms' })).toMatch(/^<svg[^>]*><\/svg>$/);
  });
});
