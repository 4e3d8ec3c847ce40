// Loads a user's variant spec, a TypeScript file whose default export is `defineVariant({...})`,
// with no build step: the TypeScript compiler type-checks it against lae's own declarations,
// transpiles it to an ES module whose imports of lae point at this package's built dist/, and
// the module is imported from a temporary .mjs file.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import type { VariantDef } from '../dsl/index.js';

/** The spec file could not be read, type-checked, loaded, or does not export a variant. */
export class SpecLoadError extends Error {
  constructor(message: string) { super(message); this.name = 'SpecLoadError'; }
}

const PACKAGE_NAME = 'lae';

/** This package's root: the nearest folder above this module whose package.json names `lae`
 * (dist/cli/ when compiled, cli/ when run from source by the tests). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === PACKAGE_NAME) return dir;
      } catch { /* not ours; keep looking */ }
    }
    const up = dirname(dir);
    if (up === dir) throw new SpecLoadError(`cannot find the '${PACKAGE_NAME}' package root above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

interface PackageFiles {
  root: string;
  /** What `import ... from 'lae'` type-checks against and loads at run time. */
  typesEntry: string;
  runtimeEntry: string;
}

function packageFiles(): PackageFiles {
  const root = packageRoot();
  const runtimeEntry = join(root, 'dist', 'index.js');
  const dslEntry = join(root, 'dist', 'dsl', 'index.js');
  if (!existsSync(runtimeEntry) || !existsSync(dslEntry)) {
    throw new SpecLoadError(`lae's build output is missing (${relative(process.cwd(), dslEntry) || dslEntry}); ` +
      'run `npm run build` first: spec files are loaded against the built package');
  }
  return { root, typesEntry: join(root, 'dist', 'index.d.ts'), runtimeEntry };
}

const COMPILER_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  // 'bundler' resolution: `./x.js` finds `./x.ts`, independent of the nearest package.json's "type".
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
  types: [],
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  esModuleInterop: true,
  allowImportingTsExtensions: true,
  resolveJsonModule: false,
};

/** Where a module specifier of the spec resolves for the type check. `lae` is always this package. */
function resolveForCheck(name: string, containingFile: string, pkg: PackageFiles, host: ts.ModuleResolutionHost): ts.ResolvedModuleFull | undefined {
  if (name === PACKAGE_NAME || name.startsWith(`${PACKAGE_NAME}/`)) {
    if (name !== PACKAGE_NAME) return undefined; // the package exports only its root
    return { resolvedFileName: pkg.typesEntry, extension: ts.Extension.Dts, isExternalLibraryImport: false };
  }
  return ts.resolveModuleName(name, containingFile, COMPILER_OPTIONS, host).resolvedModule;
}

/** Node's types (so a spec may use `node:` modules) when @types/node is installed near the spec
 * or near lae; nothing else from @types leaks into the check. */
function nodeTypes(file: string, pkg: PackageFiles): Pick<ts.CompilerOptions, 'types' | 'typeRoots'> {
  const roots: string[] = [];
  for (const start of [dirname(file), pkg.root]) {
    for (let dir = start; ; dir = dirname(dir)) {
      const candidate = join(dir, 'node_modules', '@types');
      if (existsSync(join(candidate, 'node')) && !roots.includes(candidate)) roots.push(candidate);
      if (dirname(dir) === dir) break;
    }
  }
  return roots.length ? { types: ['node'], typeRoots: roots } : { types: [] };
}

function formatDiagnostics(diags: readonly ts.Diagnostic[]): string {
  return diags.map((d) => {
    const msg = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (d.file && d.start !== undefined) {
      const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
      return `${d.file.fileName}:${line + 1}:${character + 1}: error TS${d.code}: ${msg}`;
    }
    return `error TS${d.code}: ${msg}`;
  }).join('\n');
}

/** Parsed declaration files (TypeScript's libs, @types, lae's own .d.ts) by path, language
 * version and mtime: a process that loads several specs (lae serve, the tests) parses them once;
 * most of a spec's check was parsing them again. The spec file itself is never cached. */
const parsedDeclarations = new Map<string, { mtimeMs: number; source: ts.SourceFile | undefined }>();

function cachingHost(options: ts.CompilerOptions, specFile: string): ts.CompilerHost {
  const host = ts.createCompilerHost(options, true);
  const parse = host.getSourceFile.bind(host);
  host.getSourceFile = (name, language, onError, create) => {
    if (!name.endsWith('.d.ts') || resolve(name) === resolve(specFile)) return parse(name, language, onError, create);
    let mtimeMs: number;
    try { mtimeMs = statSync(name).mtimeMs; } catch { return parse(name, language, onError, create); }
    const key = `${name}\0${typeof language === 'object' ? `${language.languageVersion}/${language.impliedNodeFormat}` : language}`;
    const hit = parsedDeclarations.get(key);
    if (hit && hit.mtimeMs === mtimeMs) return hit.source;
    const source = parse(name, language, onError, create);
    parsedDeclarations.set(key, { mtimeMs, source });
    return source;
  };
  return host;
}

/** Type-checks the spec file alone (errors in files it imports are theirs to report). */
function typeCheck(file: string, pkg: PackageFiles): void {
  const options = { ...COMPILER_OPTIONS, ...nodeTypes(file, pkg) };
  const host = cachingHost(options, file);
  host.resolveModuleNameLiterals = (literals, containingFile) =>
    literals.map((lit) => ({ resolvedModule: resolveForCheck(lit.text, containingFile, pkg, host) }));
  const program = ts.createProgram({ rootNames: [file], options, host });
  const source = program.getSourceFile(file);
  if (!source) throw new SpecLoadError(`cannot read spec file ${file}`);
  const diags = [
    ...program.getOptionsDiagnostics(),
    ...program.getGlobalDiagnostics(),
    ...program.getSyntacticDiagnostics(source),
    ...program.getSemanticDiagnostics(source),
  ].filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (diags.length) {
    throw new SpecLoadError(`spec file ${file} has ${diags.length} type error${diags.length > 1 ? 's' : ''}:\n${formatDiagnostics(diags)}`);
  }
}

const isWithin = (file: string, dir: string) => {
  const rel = relative(dir, file);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
};

/** The URL a specifier of the spec loads from the temporary module. Imports of lae, by name or by
 * a relative path into this package's sources or dist/, load the built dist/ modules (one module
 * graph, so the DSL's classes are the same ones `defineVariant` checks against). */
function runtimeSpecifier(name: string, specFile: string, pkg: PackageFiles): string {
  if (name === PACKAGE_NAME) return pathToFileURL(pkg.runtimeEntry).href;
  if (name.startsWith('node:') || (/^[a-z][a-z0-9+.-]*:/i.test(name) && !name.startsWith('file:'))) return name;
  const relativeSpec = name.startsWith('./') || name.startsWith('../') || name === '.' || name === '..' || isAbsolute(name) || name.startsWith('file:');
  if (relativeSpec) {
    const path = name.startsWith('file:') ? fileURLToPath(name) : resolve(dirname(specFile), name);
    const resolved = ts.resolveModuleName(name.startsWith('file:') ? path : name, specFile, COMPILER_OPTIONS, ts.sys).resolvedModule;
    const target = resolved?.resolvedFileName ?? path;
    if (isWithin(target, pkg.root) && !target.split(sep).includes('node_modules')) {
      // <root>/dsl/index.ts, <root>/dist/dsl/index.d.ts, <root>/dist/dsl/index.js -> <root>/dist/dsl/index.js
      let rel = relative(pkg.root, target).split(sep).join('/');
      if (rel.startsWith('dist/')) rel = rel.slice('dist/'.length);
      rel = rel.replace(/\.d\.(m?)ts$/, '.$1js').replace(/\.(m?)ts$/, '.$1js');
      const built = join(pkg.root, 'dist', ...rel.split('/'));
      if (!existsSync(built)) {
        throw new SpecLoadError(`${specFile} imports '${name}' (${target}), which has no built counterpart ${built}; run \`npm run build\``);
      }
      return pathToFileURL(built).href;
    }
    if (/\.[mc]?ts$/.test(target) && !/\.d\.[mc]?ts$/.test(target)) {
      throw new SpecLoadError(`${specFile} imports '${name}', a TypeScript file: a spec file may import 'lae' and ` +
        'JavaScript modules, but other TypeScript files would need a build step; put the helpers in the spec file');
    }
    return pathToFileURL(resolved && !/\.d\.[mc]?ts$/.test(target) ? target : path).href;
  }
  // A bare package name: resolve it from the spec's folder, since the module runs from a temp folder.
  try {
    return pathToFileURL(createRequire(specFile).resolve(name)).href;
  } catch {
    return name; // a Node built-in or something only the runtime can resolve; let import() report it
  }
}

/** Rewrites static imports/exports and `import('literal')` with `map`. */
function rewriteImports(map: (name: string) => string): ts.TransformerFactory<ts.SourceFile> {
  return (ctx) => {
    const f = ctx.factory;
    const visit = (node: ts.Node): ts.Node => {
      if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
        return f.updateImportDeclaration(node, node.modifiers, node.importClause,
          f.createStringLiteral(map(node.moduleSpecifier.text)), node.attributes);
      }
      if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
        return f.updateExportDeclaration(node, node.modifiers, node.isTypeOnly, node.exportClause,
          f.createStringLiteral(map(node.moduleSpecifier.text)), node.attributes);
      }
      if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword &&
        node.arguments.length >= 1 && ts.isStringLiteralLike(node.arguments[0]!)) {
        const [first, ...rest] = node.arguments;
        return f.updateCallExpression(node, node.expression, node.typeArguments,
          [f.createStringLiteral(map((first as ts.StringLiteralLike).text)), ...rest]);
      }
      return ts.visitEachChild(node, visit, ctx);
    };
    return (sf) => ts.visitNode(sf, visit) as ts.SourceFile;
  };
}

function looksLikeVariantDef(x: unknown): x is VariantDef {
  if (!x || typeof x !== 'object') return false;
  const d = x as Record<string, unknown>;
  return typeof d.hash === 'string' && typeof d.name === 'string' && !!d.roles && typeof d.roles === 'object' &&
    Array.isArray(d.inputs);
}

/** Imports an ES module's source text from a temporary .mjs file (removed afterwards). */
export async function importModuleSource(js: string, label: string): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'lae-spec-'));
  const file = join(dir, `${label.replace(/[^A-Za-z0-9_.-]/g, '_')}.mjs`);
  writeFileSync(file, js);
  try {
    return (await import(/* @vite-ignore */ pathToFileURL(file).href)) as Record<string, unknown>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Loads a spec file: type-checks it (errors are thrown as `file:line:col: message` lines),
 * transpiles it, imports it and returns its default export, which must be `defineVariant({...})`.
 * SpecErrors thrown by defineVariant propagate unchanged.
 */
export async function loadSpecFile(path: string): Promise<VariantDef> {
  const file = resolve(path);
  if (!existsSync(file) || !statSync(file).isFile()) throw new SpecLoadError(`spec file not found: ${path}`);
  if (!/\.[mc]?ts$/.test(file) || /\.d\.[mc]?ts$/.test(file)) {
    throw new SpecLoadError(`spec file ${path} must be a TypeScript file (.ts) whose default export is defineVariant({...})`);
  }
  const pkg = packageFiles();
  typeCheck(file, pkg);

  const source = readFileSync(file, 'utf8');
  const out = ts.transpileModule(source, {
    fileName: file,
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, sourceMap: false, inlineSourceMap: false },
    reportDiagnostics: true,
    transformers: { after: [rewriteImports((name) => runtimeSpecifier(name, file, pkg))] },
  });
  const syntax = (out.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (syntax.length) throw new SpecLoadError(`spec file ${file} does not compile:\n${formatDiagnostics(syntax)}`);

  const base = file.slice(dirname(file).length + 1).replace(/\.[mc]?ts$/, '');
  const mod = await importModuleSource(out.outputText, base);
  if (!('default' in mod) || mod.default === undefined) {
    throw new SpecLoadError(`spec file ${path} has no default export; it must \`export default defineVariant({...})\``);
  }
  if (!looksLikeVariantDef(mod.default)) {
    throw new SpecLoadError(`the default export of ${path} is not a variant definition; the file must ` +
      "`export default defineVariant({...})` (with defineVariant imported from 'lae')");
  }
  return mod.default;
}
