// lae in a real browser: Debian's Chromium, headless, WebGPU on SwiftShader, driven by
// playwright-core. The page loads a browser bundle of the published entry point (dist/index.js,
// built by vitest's globalSetup: test/helpers/build-once.ts) from 127.0.0.1 and runs forward,
// backward and step of every variant and of a spec written in the page against the float64
// reference: with the adapter's limits (as createEngine asks) and on a device made with WebGPU's
// default limits; the fast tier runs each variant on one of the two (see ON_ADAPTER_LIMITS).
// Then the demo page (examples/browser/), served by `lae serve`'s handler, runs a variant end to end.
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PageResult } from './browser/page.js';
import { serveDemo } from '../cli/serve.js';
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

  // The fast tier runs each built-in once in the browser (SwiftShader), the nine split between
  // the two devices: on the adapter's limits those ON_DEFAULT_LIMITS leaves out, on WebGPU's
  // default limits the variants test/default-limits.test.ts does not run there in Node; the page's
  // spec on both. The full tier runs all nine on both.
  const ON_DEFAULT_LIMITS = FULL ? undefined : ['linear_attn', 'simple_gla', 'retention', 'delta_rule'];
  const ON_ADAPTER_LIMITS = FULL ? undefined : ['gla', 'gated_delta_rule', 'kda', 'rwkv6', 'mamba2_ssd'];

  it('every variant and a spec written in the page: forward, backward and step match float64 (adapter limits)', async () => {
    const page = await openPage();
    const r = await page.evaluate((only) => (globalThis as unknown as { laeRun: (d: boolean, only?: string[]) => Promise<PageResult> }).laeRun(false, only), ON_ADAPTER_LIMITS);
    await page.close();
    console.log(`browser, adapter limits: ${r.errors.length} comparisons in ${(r.ms / 1000).toFixed(1)} s, max relL2 ${Math.max(...r.errors.map((e) => e.err)).toExponential(2)}`);
    check(r, (ON_ADAPTER_LIMITS?.length ?? 9) + 1);
  }, 300_000);

  it('the same on a device with WebGPU\'s default limits (requestDevice() without requiredLimits)', async () => {
    const page = await openPage();
    const r = await page.evaluate((only) => (globalThis as unknown as { laeRun: (d: boolean, only?: string[]) => Promise<PageResult> }).laeRun(true, only), ON_DEFAULT_LIMITS);
    await page.close();
    console.log(`browser, default limits: ${r.errors.length} comparisons in ${(r.ms / 1000).toFixed(1)} s, max relL2 ${Math.max(...r.errors.map((e) => e.err)).toExponential(2)}`);
    expect(r.limits).toEqual({ maxStorageBuffersPerShaderStage: 8, maxComputeWorkgroupStorageSize: 16384, maxComputeInvocationsPerWorkgroup: 256 });
    check(r, (ON_DEFAULT_LIMITS?.length ?? 9) + 1);
  }, 300_000);

  it('the demo page (lae serve): a variant runs end to end, shows its error vs float64, a time and the WGSL; the sweep draws both kernels', async () => {
    const t0 = performance.now();
    const demo = await serveDemo({ root: ROOT, port: 0 });
    const page = await browser.newPage();
    try {
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(demo.url);
      await page.waitForSelector('#run:not([disabled])', { timeout: 30_000 });
      expect(await page.textContent('#adapter')).toMatch(/^WebGPU adapter: google swiftshader; tier f32/);
      // A spec with a TypeScript annotation: refused with what to do, before any GPU work.
      await page.fill('#spec', "import { defineVariant } from 'lae';\nconst x: number = 1;\nexport default defineVariant({});");
      await page.click('#run');
      await page.waitForSelector('#status[data-state=error]');
      expect(await page.textContent('#status')).toMatch(/without TypeScript's type annotations/);
      // A built-in, from the source the page loads into the editor, at a small size.
      await page.selectOption('#variant', 'simple_gla');
      await page.waitForFunction(() => (document.getElementById('spec') as HTMLTextAreaElement).value.includes("name: 'simple_gla'"));
      for (const [id, v] of [['T', '40'], ['H', '1'], ['K', '16'], ['V', '8']] as const) await page.fill(`#${id}`, v);
      await page.click('#run');
      await page.waitForSelector('#status:not([data-state=running])', { timeout: 60_000 });
      expect(await page.getAttribute('#status', 'data-state')).toBe('done');
      expect(await page.textContent('#status')).toMatch(/matches the float64 reference/);
      for (const id of ['#err-o', '#err-ht']) expect(Number(await page.textContent(id))).toBeLessThan(TOL);
      expect(Number(await page.getAttribute('#time', 'data-ms'))).toBeGreaterThan(0);
      expect(await page.textContent('#wgsl')).toMatch(/@compute @workgroup_size/);
      // Forward time against T: a line per kernel, a point per T.
      await page.fill('#sweep-T', '16,32');
      await page.click('#sweep');
      await page.waitForSelector('#sweep-status:not([data-state=running])', { timeout: 60_000 });
      expect(await page.getAttribute('#sweep-status', 'data-state')).toBe('done');
      const lines = await page.$$eval('#chart polyline', (ps) => ps.map((p) => [p.getAttribute('data-series'), p.getAttribute('points')!.split(' ').length]));
      expect(lines).toEqual([['chunked', 2], ['token-sequential', 2]]);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
      demo.server.close();
    }
    console.log(`browser, demo page: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }, 120_000);
});
