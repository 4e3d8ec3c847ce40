// `lae tune`: times candidate engine tunings on this machine's adapter and writes the fastest to
// the per-adapter tuning cache (runtime/tuning-cache.ts), which createEngine then applies. Each
// candidate runs in a child process of its own (runtime/tune-worker.ts): some pipeline
// configurations crash Dawn's process, and a child that dies, is killed, prints no result or
// runs past the timeout is recorded as failed while the tune goes on. Node only (not in index.ts).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OUTPUT_TILES, validFragmentMemory } from '../codegen/index.js';
import { VARIANT_NAMES, TOKEN_SEQUENTIAL_NAMES } from '../variants/index.js';
import { adapterKey, CACHE_FORMAT, defaultCachePath, parseCache, type CacheEntry, type CacheFile, type CandidateResult, type Tuning } from './tuning-cache.js';
import { readCacheText } from './tuning-file.js';
import { RESULT_MARK, type CandidateReport, type ProbeReport, type WorkerJob } from './tune-worker.js';
import type { TensorCoreOption } from './tier.js';

export const DEFAULT_TUNE_VARIANTS = ['linear_attn', 'gla', 'gated_delta_rule'];
/** fragmentMemory budgets tried besides the default layouts' search, up to the device's tier. */
export const FRAGMENT_MEMORY_CANDIDATES = [16384, 24576, 32768, 49152];
export const OUTPUT_TILE_CANDIDATES = [64, 128];

export interface TuneOptions {
  variants?: string[];
  shape?: { B: number; T: number; H: number; K: number; V: number };
  what?: 'forward' | 'train';
  /** The cache file; default defaultCachePath(). */
  cache?: string;
  tensorCores?: TensorCoreOption;
  /** Seconds a candidate's process may run (Dawn's start and the compiles included). */
  timeoutS?: number;
  /** The candidates' knobs: 'default' is fragmentMemory left out (the layouts' own search). */
  fragmentMemory?: (number | 'default')[];
  outputTile?: number[];
  repeat?: number;
  samples?: number;
  log?: (line: string) => void;
}

export interface TuneResult {
  /** The cache entry written; undefined when there was nothing to tune or no candidate ran. */
  entry?: CacheEntry;
  cachePath: string;
  probe: ProbeReport;
  candidates: CandidateResult[];
  /** Why nothing was written, when nothing was. */
  note?: string;
}

/** What one child process gave: its report, or how it ended. */
interface ChildOutcome { report?: unknown; exitCode: number | null; signal: string | null; stderrTail: string; timedOut: boolean }

/** The worker's compiled module beside this one (dist/runtime/tune-worker.js). */
function workerPath(): string {
  const path = fileURLToPath(new URL('./tune-worker.js', import.meta.url));
  if (!existsSync(path)) throw new Error(`the tuner's worker ${path} does not exist: run lae tune from the built package (npm run build)`);
  return path;
}

/** Runs one job in a child process; never throws for what the child does. */
function runChild(job: WorkerJob, timeoutS: number): Promise<ChildOutcome> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [workerPath(), JSON.stringify(job)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-8000); });
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutS * 1000);
    const done = (exitCode: number | null, signal: string | null) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_MARK));
      let report: unknown;
      try {
        report = line === undefined ? undefined : JSON.parse(line.slice(RESULT_MARK.length));
      } catch {
        report = undefined;
      }
      const tail = stderr.split('\n').map((l) => l.trimEnd()).filter(Boolean).slice(-6).join('\n');
      resolve({ report, exitCode, signal, stderrTail: tail, timedOut });
    };
    child.on('error', (e) => { stderr += `\n${e.message}`; done(null, null); });
    child.on('close', done);
  });
}

/** How a child that gave no report ended, in words. */
function failure(o: ChildOutcome, timeoutS: number): string {
  const how = o.timedOut ? `timed out after ${timeoutS} s (killed)`
    : o.signal ? `killed by ${o.signal}` : o.exitCode !== 0 ? `exited with code ${o.exitCode}` : 'exited without a result';
  return o.stderrTail ? `${how}; stderr ends:\n${o.stderrTail}` : how;
}

const labelOf = (t: Tuning) => `fm=${t.fragmentMemory ?? 'default'},ot=${t.outputTile ?? 'default'}`;

/** The candidate tunings: fragmentMemory x outputTile, fragmentMemory up to the device's tier. */
export function tuneCandidates(memoryTier: number, fragmentMemory?: (number | 'default')[], outputTile?: number[]): Tuning[] {
  const fms = fragmentMemory ?? ['default', ...FRAGMENT_MEMORY_CANDIDATES.filter((b) => b <= memoryTier)];
  const tiles = outputTile ?? OUTPUT_TILE_CANDIDATES;
  for (const f of fms) if (f !== 'default' && !validFragmentMemory(f)) throw new Error(`fragment memory ${f} is not a whole number of bytes >= 8192`);
  for (const t of tiles) if (!OUTPUT_TILES.includes(t)) throw new Error(`output tile ${t} must be one of ${OUTPUT_TILES.join(', ')}`);
  return fms.flatMap((f) => tiles.map((t) => ({ ...(f === 'default' ? {} : { fragmentMemory: f }), outputTile: t })));
}

/** package.json's version (the package root is the first parent with lae's package.json). */
export function laeVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'lae' && pkg.version) return pkg.version;
    } catch { /* not here */ }
    dir = dirname(dir);
  }
  return 'unknown';
}

/** Writes an entry into the cache file (other adapters' and tiers' entries kept; an unreadable
 * file is replaced, with a warning), through a temporary file and a rename. */
export function writeCacheEntry(path: string, probe: ProbeReport, entry: CacheEntry, log: (l: string) => void): void {
  let file: CacheFile = { format: CACHE_FORMAT, adapters: {} };
  const text = readCacheText(path);
  if (text !== undefined) {
    const parsed = parseCache(text);
    if ('file' in parsed) file = parsed.file;
    else log(`replacing ${path}: ${parsed.problem}`);
  }
  const key = adapterKey(probe.adapter);
  const at = file.adapters[key];
  const tiers = at && typeof at.tiers === 'object' && at.tiers ? at.tiers : {};
  file.adapters[key] = { adapter: probe.adapter, tiers: { ...tiers, [probe.tier]: entry } };
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(file, null, 2)}\n`);
  renameSync(tmp, path);
}

/** The table of candidates, one row each. */
export function formatCandidates(variants: string[], rows: CandidateResult[], winner?: string): string[] {
  const f = (x: number | undefined) => (x === undefined ? '-' : x.toFixed(3));
  return [
    `| candidate | fragmentMemory | outputTile | ${variants.map((v) => `${v} ms`).join(' | ')} | total ms | status |`,
    `|---|---|---|${variants.map(() => '---|').join('')}---|---|`,
    ...rows.map((r) => `| ${r.label}${r.label === winner ? ' (winner)' : ''} | ${r.tuning.fragmentMemory ?? 'default'} | ${r.tuning.outputTile ?? 'default'} | ` +
      `${variants.map((v) => f(r.ms?.[v])).join(' | ')} | ${f(r.totalMs)} | ${r.status}${r.error ? `: ${r.error.split('\n')[0]}` : ''}${r.misfits?.length ? ` (does not fit ${r.misfits.join(', ')})` : ''} |`),
  ];
}

export async function runTune(opts: TuneOptions = {}): Promise<TuneResult> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const variants = opts.variants ?? DEFAULT_TUNE_VARIANTS;
  for (const v of variants) {
    if (!(VARIANT_NAMES as readonly string[]).includes(v)) {
      throw new Error(`unknown variant '${v}'${(TOKEN_SEQUENTIAL_NAMES as readonly string[]).includes(v) ? ' (its backward runs token by token, and its chunked forward is not among the tuned ones yet)' : ''}; tune takes ${VARIANT_NAMES.join(', ')}`);
    }
  }
  const shape = opts.shape ?? { B: 1, T: 4096, H: 32, K: 128, V: 128 };
  const what = opts.what ?? 'forward';
  const tensorCores = opts.tensorCores ?? 'auto';
  const timeoutS = opts.timeoutS ?? 300;
  const cachePath = opts.cache ?? defaultCachePath()!;

  const probed = await runChild({ mode: 'probe', tensorCores }, timeoutS);
  if (!probed.report) throw new Error(`could not create an engine (tensorCores '${tensorCores}'): ${failure(probed, timeoutS)}`);
  const probe = probed.report as ProbeReport;
  log(`lae tune on ${probe.adapterName}: tier ${probe.tier} (${probe.tierNote}), ${what} of ${variants.join(', ')} at (B,T,H,K,V) = (${shape.B},${shape.T},${shape.H},${shape.K},${shape.V}), ` +
    `${probe.timestamps ? 'GPU timestamps' : 'wall time'}; cache ${cachePath}`);
  if (probe.tier === 'f32') {
    const note = `nothing to tune on the f32 tier: its forward and backward kernels have no tiling knobs (fragmentMemory and outputTile are the tensor-core tier's; the decode step's stepColumns is measured with lae bench --what step --step-columns)`;
    log(note);
    return { cachePath, probe, candidates: [], note };
  }

  const tunings = tuneCandidates(probe.memoryTier, opts.fragmentMemory, opts.outputTile);
  const results: CandidateResult[] = [];
  for (const [i, tuning] of tunings.entries()) {
    const label = labelOf(tuning);
    log(`[${i + 1}/${tunings.length}] ${label} ...`);
    const job: WorkerJob = { mode: 'candidate', tensorCores, label, tuning, variants, shape, what, repeat: opts.repeat ?? 10, samples: opts.samples ?? 5 };
    const out = await runChild(job, timeoutS);
    const report = out.report as CandidateReport | undefined;
    let r: CandidateResult;
    if (!report) {
      r = { label, tuning, status: 'failed', error: failure(out, timeoutS), exitCode: out.exitCode, signal: out.signal };
    } else if (report.tier !== probe.tier) {
      r = { label, tuning, status: 'failed', error: `its engine got tier ${report.tier}, the probe's ${probe.tier}` };
    } else if (report.status === 'does not fit') {
      r = { label, tuning, status: 'does not fit', error: report.error };
    } else {
      const totalMs = variants.reduce((s, v) => s + report.ms[v]!, 0);
      r = { label, tuning, status: 'ok', ms: report.ms, totalMs, ...(report.misfits.length ? { misfits: report.misfits } : {}) };
    }
    results.push(r);
    log(`    ${r.status}${r.totalMs !== undefined ? ` ${r.totalMs.toFixed(3)} ms` : ''}${r.error ? `: ${r.error.split('\n')[0]}` : ''}`);
  }

  // The fastest in total; one whose layouts also fit every built-in variant at this K, V first.
  const ok = results.filter((r) => r.status === 'ok').sort((a, b) => a.totalMs! - b.totalMs!);
  const winner = ok.find((r) => !r.misfits) ?? ok[0];
  log('');
  for (const line of formatCandidates(variants, results, winner?.label)) log(line);
  if (!winner) {
    const note = `no candidate ran: the cache ${cachePath} is unchanged`;
    log(`\n${note}`);
    return { cachePath, probe, candidates: results, note };
  }
  const base = results.find((r) => r.tuning.fragmentMemory === undefined && r.tuning.outputTile === 128 && r.status === 'ok');
  log(`\nwinner: ${winner.label} (${JSON.stringify(winner.tuning)}), ${winner.totalMs!.toFixed(3)} ms in total` +
    `${base && base !== winner ? ` (${base.label}: ${base.totalMs!.toFixed(3)} ms)` : ''}${winner.misfits ? `; its layouts do not fit ${winner.misfits.join(', ')}, and no candidate fits every variant` : ''}`);
  const entry: CacheEntry = {
    tuning: winner.tuning, winner: winner.label, what, variants, shape,
    timing: probe.timestamps ? 'gpu timestamps' : 'wall time', date: new Date().toISOString(), laeVersion: laeVersion(),
    adapterName: probe.adapterName, candidates: results,
  };
  writeCacheEntry(cachePath, probe, entry, log);
  log(`wrote ${cachePath} (adapter ${adapterKey(probe.adapter)}, tier ${probe.tier})`);
  return { entry, cachePath, probe, candidates: results };
}
