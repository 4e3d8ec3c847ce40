// lae in a real browser: Debian's Chromium, headless, WebGPU on SwiftShader, driven by
// playwright-core. The page loads a browser bundle of the published entry point (dist/index.js,
// built by vitest's globalSetup: test/helpers/build-once.ts) from 127.0.0.1 and runs forward,
// backward and step of every variant and of a spec written in the page against the float64
// reference: once with the adapter's limits (as createEngine asks), once on a device made with
// WebGPU's default limits (in the fast tier only for what test/default-limits.test.ts leaves out).
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PageResult } from './browser/page.js';
import { FULL } from './helpers/tier.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const TOL = 1e-4; // the tolerance of test/backward.test.ts and test/forward-random.test.ts
/** Debian's chromium package (scripts/install-lavapipe.sh installs it next to lavapipe). */
const CHROMIUM = ['/usr/lib/chromium/chromium', '/usr/bin/chromium'].find((p) => existsSync(p));
const FLAGS = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-angle=swiftshader', '--use-webgpu-adapter=swiftshader', '--no-sandbox'];

describe('lae in headless Chromium (WebGPU on SwiftShader)', () => {
  let server: Server;
  let browser: Browser;
  let url: string;
  let bundleInputs: string[];
  beforeAll(async () => {
    if (!CHROMIUM) throw new Error("Debian's chromium is not installed: npm run setup (or apt-get install chromium)");
    const built = await esbuild.build({
      entryPoints: [join(ROOT, 'test', 'browser', 'page.ts')], bundle: true, platform: 'browser', format: 'esm', target: 'es2022',
      write: false, metafile: true, logLevel: 'silent', outfile: 'page.js',
      plugins: [{ name: 'lae-entry', setup: (b) => { b.onResolve({ filter: /^lae$/ }, () => ({ path: join(ROOT, 'dist', 'index.js') })); } }],
    });
    expect(built.warnings).toEqual([]);
    bundleInputs = Object.keys(built.metafile.inputs);
    const js = built.outputFiles.find((f) => f.path.endsWith('.js'))!.text;
    const html = '<!doctype html><meta charset="utf-8"><title>lae</title><script type="module" src="/page.js"></script>';
    server = createServer((req, res) => {
      if (req.url === '/page.js') { res.setHeader('content-type', 'text/javascript'); res.end(js); return; }
      if (req.url === '/') { res.setHeader('content-type', 'text/html'); res.end(html); return; }
      res.statusCode = 404; res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    server?.close();
  });

  async function openPage(): Promise<Page> {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    await page.waitForFunction(() => 'laeRun' in globalThis, undefined, { timeout: 30_000 });
    expect(errors).toEqual([]);
    return page;
  }

  function check(r: PageResult, variantCount: number) {
    expect(r.adapter.vendor).toBe('google');
    expect(r.adapter.architecture).toBe('swiftshader');
    const variants = new Set(r.errors.map((e) => e.variant));
    expect(variants.size).toBe(variantCount);
    expect(variants.has('page_gla')).toBe(true);
    const bad = r.errors.filter((e) => !(e.err < TOL));
    expect(bad).toEqual([]);
  }

  it('the bundle is the browser build: the Dawn loader is swapped for its stub', () => {
    expect(bundleInputs.some((p) => p.endsWith('dist/runtime/dawn-browser.js'))).toBe(true);
    expect(bundleInputs.filter((p) => p.endsWith('dist/runtime/dawn.js') || p.includes('node_modules/webgpu/'))).toEqual([]);
  });

  it('every variant and a spec written in the page: forward, backward and step match float64 (adapter limits)', async () => {
    const page = await openPage();
    const r = await page.evaluate(() => (globalThis as unknown as { laeRun: (d: boolean) => Promise<PageResult> }).laeRun(false));
    await page.close();
    console.log(`browser, adapter limits: ${r.errors.length} comparisons in ${(r.ms / 1000).toFixed(1)} s, max relL2 ${Math.max(...r.errors.map((e) => e.err)).toExponential(2)}`);
    check(r, 10);
  }, 300_000);

  // The fast tier runs here the built-in variants test/default-limits.test.ts does not run on
  // WebGPU's default limits (in Node), and the page's spec; the full tier runs all nine.
  const ON_DEFAULT_LIMITS = FULL ? undefined : ['linear_attn', 'simple_gla', 'retention', 'delta_rule'];
  it('the same on a device with WebGPU\'s default limits (requestDevice() without requiredLimits)', async () => {
    const page = await openPage();
    const r = await page.evaluate((only) => (globalThis as unknown as { laeRun: (d: boolean, only?: string[]) => Promise<PageResult> }).laeRun(true, only), ON_DEFAULT_LIMITS);
    await page.close();
    console.log(`browser, default limits: ${r.errors.length} comparisons in ${(r.ms / 1000).toFixed(1)} s, max relL2 ${Math.max(...r.errors.map((e) => e.err)).toExponential(2)}`);
    expect(r.limits).toEqual({ maxStorageBuffersPerShaderStage: 8, maxComputeWorkgroupStorageSize: 16384, maxComputeInvocationsPerWorkgroup: 256 });
    check(r, (ON_DEFAULT_LIMITS?.length ?? 9) + 1);
  }, 300_000);
});
