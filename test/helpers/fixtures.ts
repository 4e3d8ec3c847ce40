// Loads the FLA golden cases shipped in test/fixtures/fla-reference (see its README).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type { ProblemSize } from '../../dsl/index.js';

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
export function loadFixtures(): FixtureCase[] {
  if (cache) return cache;
  const manifest = JSON.parse(readFileSync(join(DIR, 'manifest.json'), 'utf8')) as ManifestEntry[];
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
