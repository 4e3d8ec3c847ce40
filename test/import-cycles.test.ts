// No module of runtime/ imports itself back through others (type-only imports count too): each
// can be read, and embedded or replaced, on its own.
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The relative imports (and re-exports) of every .ts file under `dir`, as paths from the root. */
function graph(dir: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const name of readdirSync(join(ROOT, dir)).filter((f) => f.endsWith('.ts'))) {
    const file = `${dir}/${name}`;
    const text = readFileSync(join(ROOT, file), 'utf8');
    const specs = [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?\bfrom\s+['"](\.[^'"]+)['"]/gm), ...text.matchAll(/^\s*import\s+['"](\.[^'"]+)['"]/gm)]
      .map((m) => posix.join(dir, m[1]!).replace(/\.js$/, '.ts'));
    out.set(file, specs);
  }
  return out;
}

function findCycle(g: Map<string, string[]>): string[] | undefined {
  const done = new Set<string>();
  const walk = (file: string, path: string[]): string[] | undefined => {
    if (path.includes(file)) return [...path.slice(path.indexOf(file)), file];
    if (done.has(file) || !g.has(file)) return undefined;
    for (const dep of g.get(file)!) {
      const cycle = walk(dep, [...path, file]);
      if (cycle) return cycle;
    }
    done.add(file);
    return undefined;
  };
  for (const file of g.keys()) {
    const cycle = walk(file, []);
    if (cycle) return cycle;
  }
  return undefined;
}

describe('import cycles', () => {
  it('runtime/ has none', () => {
    const g = graph('runtime');
    expect(g.get('runtime/engine.ts')).toContain('runtime/backward.ts');
    expect(findCycle(g)?.join(' -> ')).toBeUndefined();
  });
});
