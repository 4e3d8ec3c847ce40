// Loads the FLA golden cases shipped in test/fixtures/fla-reference (see its README).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type { ProblemSize } from '../../dsl/index.js';
import { VARIANTS, TOKEN_SEQUENTIAL_VARIANTS } from '../../variants/index.js';

const DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'fla-reference');

export interface FixtureCase {
  id: string;
  variant: string;
  size: ProblemSize;
  scale: number;
  tensors: Record<string, Float64Array>;
}

interface ManifestEntry {
  variant: string; B: number; T: number; H: number; K: number; V: number; scale: number; file: string;
  tensors: Record<string, { shape: number[]; offset: number }>;
}

let cache: FixtureCase[] | undefined;
/** The cases of the nine built-in variants ('chunked', what the sweeping tests take), or of the
 * token-sequential ones (the generalized delta rule: test/dplr-fixtures). A case of a variant in
 * neither is an error, not a case left out. */
export function loadFixtures(family: 'chunked' | 'tokenSequential' = 'chunked'): FixtureCase[] {
  const all = loadAll();
  const own = (name: string) => Object.prototype.hasOwnProperty.call(family === 'chunked' ? VARIANTS : TOKEN_SEQUENTIAL_VARIANTS, name);
  return all.filter((c) => own(c.variant));
}

function loadAll(): FixtureCase[] {
  if (cache) return cache;
  const manifest = JSON.parse(readFileSync(join(DIR, 'manifest.json'), 'utf8')) as ManifestEntry[];
  for (const m of manifest) {
    if (!Object.prototype.hasOwnProperty.call(VARIANTS, m.variant) && !Object.prototype.hasOwnProperty.call(TOKEN_SEQUENTIAL_VARIANTS, m.variant)) {
      throw new Error(`fixture ${m.file}: variant '${m.variant}' is no built-in variant`);
    }
  }
  cache = manifest.map((m) => {
    const buf = readFileSync(join(DIR, m.file));
    const all = new Float64Array(buf.buffer, buf.byteOffset, buf.byteLength / 8);
    const tensors: Record<string, Float64Array> = {};
    for (const [name, t] of Object.entries(m.tensors)) {
      const n = t.shape.reduce((a, b) => a * b, 1);
      tensors[name] = all.slice(t.offset, t.offset + n);
    }
    return { id: m.file.replace('.f64', ''), variant: m.variant, size: { B: m.B, T: m.T, H: m.H, K: m.K, V: m.V }, scale: m.scale, tensors };
  });
  return cache;
}
