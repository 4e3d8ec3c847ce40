// What `lae gen` copies into the modules it writes: declarations of lae's own TypeScript sources,
// by name, with every declaration they use (from the same file, or imported from another file
// that may be embedded), in dependency order and with their doc comments. The text is the source
// that `npm run build` type-checks and compiles, so a generated module runs the very plan runner
// the engine runs. A declaration that uses anything imported from a file outside the list is an
// error naming it: the embedded modules must stay self-contained.
import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import ts from 'typescript';

export class EmbedError extends Error {
  constructor(message: string) { super(message); this.name = 'EmbedError'; }
}

/** Names wanted from one source file (a path relative to the package root, with `/`). */
export interface EmbedRequest {
  readonly file: string;
  readonly names: readonly string[];
}

interface Parsed {
  readonly source: ts.SourceFile;
  /** Top-level declarations by name (a function's overloads share one name). */
  readonly decls: ReadonlyMap<string, readonly ts.Statement[]>;
  /** Imported names: the file (relative to the root) and the name declared there. */
  readonly imports: ReadonlyMap<string, { readonly file: string; readonly name: string; readonly spec: string }>;
}

/** The names a top-level statement declares. */
function declaredNames(st: ts.Statement): string[] {
  if (ts.isVariableStatement(st)) {
    return st.declarationList.declarations.flatMap((d) => (ts.isIdentifier(d.name) ? [d.name.text] : []));
  }
  if ((ts.isFunctionDeclaration(st) || ts.isClassDeclaration(st) || ts.isInterfaceDeclaration(st) || ts.isTypeAliasDeclaration(st) ||
    ts.isEnumDeclaration(st)) && st.name) return [st.name.text];
  return [];
}

function parse(root: string, file: string): Parsed {
  let text: string;
  try {
    text = readFileSync(join(root, file), 'utf8');
  } catch {
    throw new EmbedError(`cannot read ${file} under ${root}: lae gen embeds its source in the modules it writes`);
  }
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const decls = new Map<string, ts.Statement[]>();
  const imports = new Map<string, { file: string; name: string; spec: string }>();
  for (const st of source.statements) {
    for (const name of declaredNames(st)) decls.set(name, [...(decls.get(name) ?? []), st]);
    if (!ts.isImportDeclaration(st) || !ts.isStringLiteral(st.moduleSpecifier)) continue;
    const spec = st.moduleSpecifier.text;
    const target = spec.startsWith('.') ? posix.join(posix.dirname(file), spec).replace(/\.js$/, '.ts') : spec;
    const clause = st.importClause;
    if (clause?.name) imports.set(clause.name.text, { file: target, name: 'default', spec });
    const bindings = clause?.namedBindings;
    if (bindings && ts.isNamedImports(bindings)) {
      for (const el of bindings.elements) imports.set(el.name.text, { file: target, name: (el.propertyName ?? el.name).text, spec });
    } else if (bindings) {
      imports.set(bindings.name.text, { file: target, name: '*', spec });
    }
  }
  return { source, decls, imports };
}

/** Whether an identifier names something (rather than being a property, member or own name). */
function isReference(id: ts.Identifier): boolean {
  const p = id.parent;
  if ((ts.isPropertyAccessExpression(p) || ts.isQualifiedName(p)) && (ts.isPropertyAccessExpression(p) ? p.name : p.right) === id) return false;
  if (ts.isBindingElement(p) && p.propertyName === id) return false;
  const named = ts.isPropertyAssignment(p) || ts.isPropertySignature(p) || ts.isPropertyDeclaration(p) || ts.isMethodDeclaration(p) ||
    ts.isMethodSignature(p) || ts.isGetAccessor(p) || ts.isSetAccessor(p) || ts.isEnumMember(p) || ts.isFunctionDeclaration(p) ||
    ts.isClassDeclaration(p) || ts.isInterfaceDeclaration(p) || ts.isTypeAliasDeclaration(p) || ts.isVariableDeclaration(p) ||
    ts.isParameter(p) || ts.isTypeParameterDeclaration(p) || ts.isBindingElement(p);
  return !(named && (p as ts.NamedDeclaration).name === id);
}

function references(st: ts.Statement): Set<string> {
  const out = new Set<string>();
  const visit = (n: ts.Node) => {
    if (ts.isIdentifier(n) && isReference(n)) out.add(n.text);
    n.forEachChild(visit);
  };
  st.forEachChild(visit);
  return out;
}

/** The embedded text: for each file (dependencies first) a line naming it, then the wanted
 * declarations in source order, doc comments and `export` as written there. `allowed` lists the
 * files whose declarations may be embedded; `version` goes into each file's line. */
export function embedDeclarations(root: string, allowed: readonly string[], requests: readonly EmbedRequest[], version = ''): string {
  const parsed = new Map<string, Parsed>();
  const get = (file: string) => {
    let p = parsed.get(file);
    if (!p) parsed.set(file, (p = parse(root, file)));
    return p;
  };
  const wanted = new Map<string, Set<string>>();
  const owner = new Map<string, string>();
  /** The files each file's embedded declarations import from. */
  const uses = new Map<string, Set<string>>();
  const add = (file: string, name: string, why: string) => {
    if (!allowed.includes(file)) throw new EmbedError(`lae gen does not embed ${file} (${why}); it embeds ${allowed.join(', ')}`);
    if (wanted.get(file)?.has(name)) return;
    const other = owner.get(name);
    if (other !== undefined && other !== file) throw new EmbedError(`'${name}' is declared in both ${other} and ${file}; embedded names must be unique`);
    const p = get(file);
    const decls = p.decls.get(name);
    if (!decls) throw new EmbedError(`${file} declares no top-level '${name}' (${why}); re-exports are not followed`);
    owner.set(name, file);
    wanted.set(file, (wanted.get(file) ?? new Set()).add(name));
    for (const st of decls) {
      for (const ref of references(st)) {
        if (ref !== name && p.decls.has(ref)) {
          add(file, ref, `used by ${name}`);
        } else if (p.imports.has(ref)) {
          const imp = p.imports.get(ref)!;
          if (imp.name !== ref) throw new EmbedError(`${file}: '${name}' uses '${ref}', imported under another name from '${imp.spec}'; embedding needs the declared name`);
          if (!allowed.includes(imp.file)) {
            throw new EmbedError(`${file}: '${name}' uses '${ref}' from '${imp.spec}', which lae gen does not embed; keep ${file} self-contained ` +
              `(it may import only from ${allowed.join(', ')})`);
          }
          uses.set(file, (uses.get(file) ?? new Set()).add(imp.file));
          add(imp.file, ref, `imported by ${file} for ${name}`);
        }
      }
    }
  };
  for (const r of requests) for (const name of r.names) add(r.file, name, 'requested');
  // Each file after the files it imports from (declarations that run at load time may use them).
  const order: string[] = [];
  const visit = (file: string, path: readonly string[]) => {
    if (order.includes(file)) return;
    if (path.includes(file)) throw new EmbedError(`embedded files import each other: ${[...path, file].join(' -> ')}`);
    for (const dep of uses.get(file) ?? []) visit(dep, [...path, file]);
    order.push(file);
  };
  for (const r of requests) visit(r.file, []);
  return order.map((file) => {
    const p = parsed.get(file)!;
    const names = wanted.get(file)!;
    const statements = p.source.statements.filter((st) => declaredNames(st).some((n) => names.has(n)));
    const body = statements.map((st) => st.getFullText(p.source).replace(/^\s*\n/, '')).join('\n\n');
    return `// ---- from lae${version ? ` ${version}` : ''}: ${file} ----\n${body.trim()}\n`;
  }).join('\n');
}
