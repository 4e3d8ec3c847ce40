// cli/embed.ts, device-free: what `lae gen` copies into a module is lae's source, declaration by
// declaration with what each uses, and a declaration that imports from outside the embeddable
// files is refused by name (the plan runner and the varlen tables must stay self-contained).
import { describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { embedDeclarations, EmbedError } from '../cli/embed.js';
import { EMBEDDED_SOURCES, embedRequests } from '../cli/gen.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'lae-embed-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe('embedDeclarations', () => {
  it('takes the named declarations with what they use, each file after the files it imports from', () => {
    const root = tree({
      'rt/run.ts': "import type { Decl } from '../cg/plan.js';\nimport { Oops } from './err.js';\n\n/** Runs. */\nexport function run(d: Decl): number {\n  if (!d.name) throw new Oops('x');\n  return helper(d);\n}\nconst helper = (d: Decl) => d.name.length;\nexport function unused(): void {}\n",
      'rt/err.ts': "export class Oops extends Error {}\n",
      'cg/plan.ts': "import { big } from './big.js';\nexport type Kind = 'a' | 'b';\nexport interface Decl { readonly name: string; readonly kind: Kind }\nexport const other = big;\n",
    });
    try {
      const text = embedDeclarations(root, ['rt/run.ts', 'rt/err.ts', 'cg/plan.ts'], [{ file: 'rt/run.ts', names: ['run'] }]);
      expect(text).toContain('/** Runs. */\nexport function run(d: Decl): number {');
      expect(text).toContain('const helper = (d: Decl) => d.name.length;');
      expect(text).toContain("export type Kind = 'a' | 'b';");
      expect(text).toContain('export class Oops extends Error {}');
      expect(text).not.toContain('unused');
      expect(text).not.toContain('big');
      expect(text).not.toMatch(/^import /m);
      const order = ['cg/plan.ts', 'rt/err.ts', 'rt/run.ts'].map((f) => text.indexOf(`: ${f} ----`));
      expect(order.every((at) => at >= 0)).toBe(true);
      expect(order[2]).toBeGreaterThan(Math.max(order[0]!, order[1]!));
      // A declaration that uses an import from a file outside the list is refused, named.
      expect(() => embedDeclarations(root, ['rt/run.ts', 'cg/plan.ts'], [{ file: 'rt/run.ts', names: ['run'] }]))
        .toThrow(/rt\/run\.ts: 'run' uses 'Oops' from '\.\/err\.js', which lae gen does not embed; keep rt\/run\.ts self-contained/);
      expect(() => embedDeclarations(root, ['rt/run.ts'], [{ file: 'rt/run.ts', names: ['nope'] }])).toThrow(EmbedError);
      expect(() => embedDeclarations(root, ['rt/run.ts'], [{ file: 'rt/run.ts', names: ['nope'] }])).toThrow(/declares no top-level 'nope'/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("the plan runner and the varlen tables are self-contained, and what gen embeds ships with the package", () => {
    // Every declaration of the two modules embeds: they import types and runtime/errors.ts only.
    const whole = ['runtime/plan-run.ts', 'runtime/varlen.ts'].map((file) => ({
      file, names: [...readFileSync(join(ROOT, file), 'utf8').matchAll(/^export (?:async )?(?:function|class|interface|type|const) (\w+)/gm)].map((m) => m[1]!),
    }));
    expect(whole[0]!.names).toContain('PlanRunner');
    expect(() => embedDeclarations(ROOT, EMBEDDED_SOURCES, whole)).not.toThrow();
    expect(() => embedDeclarations(ROOT, EMBEDDED_SOURCES, embedRequests(true))).not.toThrow();
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
    for (const f of EMBEDDED_SOURCES) expect(pkg.files, `package.json files lists ${f}`).toContain(f);
  });
});
