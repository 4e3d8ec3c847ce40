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

// FLA's three shapes per variant, (K, V) = (16, 8), (8, 16) and (4, 4), each a plan of its own per
// variant (a backward plan ~20 pipelines, a forward ~5 and a token-sequential kernel; lavapipe
// spends most of the suite compiling). The fast tier takes (16, 8) for all nine, and each of the
// other two for a set of variants that takes every path at that shape: (8, 16) no decay, a scalar
// one, a per-key one, mamba2's chain, the delta rule with a scalar decay; (4, 4) a scalar decay,
// a per-key one with the bonus (rwkv6), the delta rule without a decay and with a per-key one.
// test/backward.test.ts and test/forward-fixtures.test.ts take the same cases, so the forward's
// plans are those the backward's include. The full tier takes all 27.
const AT_8_16: ReadonlySet<string> = new Set(['linear_attn', 'retention', 'gla', 'gated_delta_rule', 'mamba2_ssd']);
/** Whether a case of the nine (loadFixtures('chunked')) is in the fast tier's two of three shapes. */
export const inFastTier = (c: FixtureCase): boolean => c.size.K === 16 || (c.size.K === 8) === AT_8_16.has(c.variant);
