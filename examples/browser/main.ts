// The demo page's script (examples/browser/index.html, served by `lae serve`): wires the form to
// the engine. Each run evaluates the editor's spec, so a built-in and an edited spec go the same way.
import { createEngine, VARIANT_NAMES, type Engine, type ForwardMode } from '../../index.js';
import { lineChart } from './chart.js';
import { checkForward, sweepT, type ChunkSize, type SweepPoint } from './run.js';
import { builtinSource, evaluateSpec } from './spec-source.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const variant = $<HTMLSelectElement>('variant');
const spec = $<HTMLTextAreaElement>('spec');
const runButton = $<HTMLButtonElement>('run');
const sweepButton = $<HTMLButtonElement>('sweep');

/** Shows a state and message on a status line; tests read data-state. */
function status(id: 'status' | 'sweep-status', state: 'idle' | 'running' | 'done' | 'error', text: string): void {
  const el = $(id);
  el.dataset.state = state;
  el.textContent = text;
}

/** A positive integer from a number field, or an error naming the field. */
function intField(id: string): number {
  const v = Number($<HTMLInputElement>(id).value);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${id} must be a positive integer, got "${$<HTMLInputElement>(id).value}"`);
  return v;
}

function form() {
  return {
    size: { B: 1, T: intField('T'), H: intField('H'), K: intField('K'), V: intField('V') },
    chunk: Number($<HTMLSelectElement>('chunk').value) as ChunkSize,
    mode: $<HTMLSelectElement>('mode').value as ForwardMode,
  };
}

/** Runs `work` with the buttons disabled; an error goes to the status line. */
async function busy(line: 'status' | 'sweep-status', work: () => Promise<string>): Promise<void> {
  runButton.disabled = sweepButton.disabled = true;
  status(line, 'running', 'running...');
  try {
    status(line, 'done', await work());
  } catch (e) {
    status(line, 'error', `${(e as Error).name}: ${(e as Error).message}`);
  } finally {
    runButton.disabled = sweepButton.disabled = false;
  }
}

function showWgsl(kernels: { name: string; wgsl: string }[]): void {
  const select = $<HTMLSelectElement>('kernel');
  select.replaceChildren(...kernels.map((k, i) => new Option(`${k.name} (${k.wgsl.split('\n').length} lines)`, String(i))));
  const show = () => { $('wgsl').textContent = kernels[Number(select.value)]?.wgsl ?? ''; };
  select.onchange = show;
  show();
}

async function run(engine: Engine): Promise<string> {
  const { size, chunk, mode } = form();
  const def = await evaluateSpec(spec.value);
  const t0 = performance.now();
  const r = await checkForward(engine, def, size, chunk, mode);
  const cls = (err: number) => (err < r.bound ? 'ok' : 'bad');
  $('err-o').innerHTML = `<span class="${cls(r.errO)}">${r.errO.toExponential(2)}</span>`;
  $('err-ht').innerHTML = `<span class="${cls(r.errHt)}">${r.errHt.toExponential(2)}</span>`;
  $('bound').textContent = `${r.bound} (${engine.tier} tier)`;
  $('time').textContent = `${r.ms.toFixed(3)} ms (${r.timer}; inputs already on the GPU)`;
  $('time').dataset.ms = String(r.ms);
  showWgsl(r.kernels);
  $('result').hidden = false;
  const ok = r.errO < r.bound && r.errHt < r.bound;
  return `${def.name}, (B,T,H,K,V) = (1,${size.T},${size.H},${size.K},${size.V}), ${mode}: ${ok ? 'matches' : 'DOES NOT match'} the float64 reference (${((performance.now() - t0) / 1000).toFixed(1)} s with compiling)`;
}

async function sweep(engine: Engine): Promise<string> {
  const { size, chunk } = form();
  const Ts = $<HTMLInputElement>('sweep-T').value.split(',').map((s) => Number(s.trim()));
  if (Ts.length === 0 || Ts.some((T) => !Number.isInteger(T) || T < 1)) throw new Error('T values must be positive integers separated by commas');
  const def = await evaluateSpec(spec.value);
  const points: SweepPoint[] = [];
  const draw = () => {
    $('chart').innerHTML = lineChart([
      { name: 'chunked', color: '#1f77b4', points: points.filter((p) => p.mode === 'chunked').map((p) => ({ x: p.T, y: p.ms })) },
      { name: 'token-sequential', color: '#d62728', points: points.filter((p) => p.mode === 'recurrent').map((p) => ({ x: p.T, y: p.ms })) },
    ], { x: 'T (tokens)', y: 'ms per forward' });
  };
  await sweepT(engine, def, size, Ts, chunk, (p) => { points.push(p); draw(); status('sweep-status', 'running', `T = ${p.T}, ${p.mode}: ${p.ms.toFixed(3)} ms`); });
  return `${def.name}: ${points.length} points, H = ${size.H}, K = ${size.K}, V = ${size.V}, chunk ${chunk}`;
}

async function loadBuiltin(): Promise<void> {
  try {
    spec.value = await builtinSource(variant.value);
  } catch (e) {
    status('status', 'error', (e as Error).message);
  }
}

async function main(): Promise<void> {
  variant.replaceChildren(...VARIANT_NAMES.map((n) => new Option(n, n, n === 'gla', n === 'gla')));
  variant.onchange = () => { void loadBuiltin(); };
  await loadBuiltin();
  let engine: Engine;
  try {
    engine = await createEngine();
  } catch (e) {
    $('adapter').textContent = `${(e as Error).name}: ${(e as Error).message}`;
    $('adapter').className = 'bad';
    return;
  }
  const limits = engine.device.limits;
  $('adapter').textContent = `WebGPU adapter: ${engine.adapterName}; tier ${engine.tier} (${engine.tierNote}); `
    + `${limits.maxStorageBuffersPerShaderStage} storage buffers per stage, ${limits.maxComputeWorkgroupStorageSize / 1024} KiB workgroup memory`;
  runButton.onclick = () => { void busy('status', () => run(engine)); };
  sweepButton.onclick = () => { void busy('sweep-status', () => sweep(engine)); };
  runButton.disabled = sweepButton.disabled = false;
}

void main();
