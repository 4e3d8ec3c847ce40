// `lae serve`: the demo page (examples/browser/) on 127.0.0.1, with node:http alone.
//
// The page runs the package's own ES modules from dist/ as they are published, through an import
// map, not a bundle: an installed lae has no bundler (esbuild is a devDependency), and a prebuilt
// bundle would ship the engine twice. The import map maps the bare name 'lae' to the package's
// entry (so a spec typed in the page can `import { defineVariant } from 'lae'`), and carries the
// `browser` field of package.json, as a bundler would apply it: dist/runtime/dawn.js (which
// imports Node's `webgpu` package) becomes dist/runtime/dawn-browser.js.
//
// Nothing here imports commander, so a test (or a script) can start the server without the CLI.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the page lives in the package, and its script once compiled. */
export const PAGE_HTML = 'examples/browser/index.html';
export const PAGE_SCRIPT = 'dist/examples/browser/main.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.map': 'application/json', '.css': 'text/css; charset=utf-8',
};

/** The package's root: the nearest folder above this module with a package.json (dist/cli/ in an
 * install or a build, cli/ when the TypeScript runs directly). */
export function packageRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

/** The page's import map: 'lae' is the package's entry, and the `browser` field's swaps. */
export function importMap(root: string): { imports: Record<string, string> } {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    exports?: { '.'?: { default?: string } }; main?: string; browser?: Record<string, string>;
  };
  const url = (path: string) => `/${path.replace(/^\.\//, '')}`;
  const imports: Record<string, string> = { lae: url(pkg.exports?.['.']?.default ?? pkg.main ?? './dist/index.js') };
  for (const [from, to] of Object.entries(pkg.browser ?? {})) imports[url(from)] = url(to);
  return { imports };
}

/** The request handler: '/' is the page (with its import map written in), '/dist/...' the
 * package's compiled modules and '/examples/browser/...' the page's other files. Nothing else
 * of the package, nor anything outside it, is served. */
export function demoHandler(root = packageRoot()): (req: IncomingMessage, res: ServerResponse) => void {
  for (const need of [PAGE_HTML, PAGE_SCRIPT]) {
    if (!existsSync(join(root, need))) {
      throw new Error(`the demo page needs ${need} under ${root}: in a checkout of lae, run npm run build first`);
    }
  }
  const servable = [join(root, 'dist') + sep, join(root, 'examples', 'browser') + sep];
  return (req, res) => {
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    } catch {
      return send(res, 400, 'text/plain', 'malformed URL');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'GET only');
    if (path === '/' || path === '/index.html') {
      const html = readFileSync(join(root, PAGE_HTML), 'utf8')
        .replace('<!-- importmap -->', `<script type="importmap">${JSON.stringify(importMap(root))}</script>`);
      return send(res, 200, TYPES['.html']!, html);
    }
    const file = normalize(join(root, path));
    const type = TYPES[extname(file)];
    if (!type || !servable.some((dir) => file.startsWith(dir)) || !existsSync(file) || !statSync(file).isFile()) {
      return send(res, 404, 'text/plain', `not found: ${path}`);
    }
    send(res, 200, type, readFileSync(file));
  };
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-cache' });
  res.end(body);
}

/** Serves the page on host:port (port 0: any free one); resolves once listening, with its URL. */
export async function serveDemo(opts: { port?: number; host?: string; root?: string } = {}): Promise<{ server: Server; url: string }> {
  const host = opts.host ?? '127.0.0.1';
  const server = createServer(demoHandler(opts.root));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE'
      ? new Error(`port ${opts.port} on ${host} is in use: pick another with --port (0 takes any free one)`)
      : e));
    server.listen(opts.port ?? 0, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://${host}:${port}/` };
}
