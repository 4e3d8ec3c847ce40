// The spec editor's text: a built-in variant's source to start from, and the edited text turned
// into a VariantDef. The text is an ES module like a spec file of `lae gen` (`export default
// defineVariant({...})`, importing from 'lae'), in JavaScript: the browser runs it as it is, so
// TypeScript's type annotations are not allowed.
import type { VariantDef } from '../../index.js';

/** A built-in's spec as an editable module, from its compiled file in the package
 * (dist/variants/<name>.js: tsc keeps the spec's text, comments included, and drops the types). */
export async function builtinSource(name: string): Promise<string> {
  const url = new URL(`../../variants/${name}.js`, import.meta.url);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`could not load the spec of ${name} from ${url} (HTTP ${res.status}): is the page served by lae serve?`);
  return specModule(await res.text());
}

/** The first defineVariant({...}) call of a compiled variant file, as a module of its own: its
 * leading comment, the DSL names it imports (now from 'lae'), and the call as the default export.
 * (mamba2_ssd's file also defines mamba2Ssd(), which the page does not need.) */
export function specModule(js: string): string {
  const comment = js.match(/^(\/\/[^\n]*\n)+/)?.[0] ?? '';
  const names = js.match(/import \{([^}]*)\} from '\.\.\/dsl\/index\.js';/)?.[1]?.trim() ?? 'defineVariant';
  const start = js.indexOf('defineVariant({');
  if (start < 0) throw new Error('no defineVariant({...}) call in the variant file');
  let depth = 0;
  let end = start + 'defineVariant('.length;
  for (; end < js.length; end++) {
    if (js[end] === '(' || js[end] === '{' || js[end] === '[') depth++;
    else if (js[end] === ')' || js[end] === '}' || js[end] === ']') {
      if (depth === 0) break;
      depth--;
    }
  }
  return `${comment}import { ${names} } from 'lae';\n\nexport default ${js.slice(start, end + 1)};\n`;
}

/** Runs the editor's module and returns its default export, checked to be a spec. The module is
 * imported from a blob: URL, so its `from 'lae'` resolves through the page's import map to the
 * same engine modules the page runs. */
export async function evaluateSpec(source: string): Promise<VariantDef> {
  const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
  let mod: { default?: unknown };
  try {
    mod = await import(/* webpackIgnore: true */ url) as { default?: unknown };
  } catch (e) {
    const hint = e instanceof SyntaxError
      ? ' (the editor takes JavaScript: a spec file without TypeScript\'s type annotations)'
      : '';
    throw new Error(`the spec did not load: ${(e as Error).message}${hint}`);
  } finally {
    URL.revokeObjectURL(url);
  }
  const def = mod.default as Partial<VariantDef> | undefined;
  if (!def || typeof def !== 'object' || !Array.isArray(def.inputs) || typeof def.decay !== 'string') {
    throw new Error("the spec module must end with `export default defineVariant({ ... })` (defineVariant imported from 'lae')");
  }
  return def as VariantDef;
}
