// The per-adapter tuning cache that `lae tune` writes (runtime/tune.ts) and createEngine reads:
// a JSON file of the winning engine tuning per adapter (its identity: vendor, architecture,
// device, description, driver where the adapter reports one) and compute tier. This module is
// the file's format and its checks, with no file system: runtime/tuning-file.ts reads it in
// Node (a browser gets runtime/tuning-file-browser.ts, which reads nothing).
import { OUTPUT_SCORES, DQK_FORMS, MIN_FRAGMENT_MEMORY, OUTPUT_TILES, STEP_COLUMNS, validFragmentMemory, type OutputScores, type DqkForm } from '../codegen/index.js';
import { describeValue } from './options.js';
import { defaultCachePath, readCacheText } from './tuning-file.js';
import type { Tier } from './tier.js';

/** The engine's tuning knobs (EngineOptions.tuning). */
export interface Tuning { scalarLoads?: boolean; fragmentMemory?: number; outputTile?: number; unverifiedFragments?: boolean; stepColumns?: number; unrollStaging?: boolean; outputScores?: OutputScores; dqkForm?: DqkForm }

/** What names an adapter in the cache: GPUAdapterInfo's fields (driver where the adapter has one). */
export interface AdapterIdentity { vendor: string; architecture: string; device: string; description: string; driver?: string }

export const CACHE_FORMAT = 'lae-tuning/1';

/** One candidate of a tune: its tuning and what became of it. */
export interface CandidateResult {
  label: string;
  tuning: Tuning;
  /** 'ok': timed; 'failed': its process died, timed out, or threw; 'does not fit': a plan of a
   * tuned variant threw a ConfigError (its layouts do not fit that budget at this shape). */
  status: 'ok' | 'failed' | 'does not fit';
  /** ms per tuned variant, and their sum (status 'ok'). */
  ms?: Record<string, number>;
  totalMs?: number;
  /** Built-in variants (not tuned) whose plans this tuning cannot make at the tuned K, V. */
  misfits?: string[];
  /** Why it failed or does not fit: the error, the exit code or signal, stderr's last lines. */
  error?: string;
  exitCode?: number | null;
  signal?: string | null;
}

/** A tune's result for one adapter and tier. `tuning` is what createEngine applies. */
export interface CacheEntry {
  tuning: Tuning;
  winner: string;
  what: 'forward' | 'train';
  variants: string[];
  shape: { B: number; T: number; H: number; K: number; V: number };
  timing: 'gpu timestamps' | 'wall time';
  date: string;
  laeVersion: string;
  adapterName: string;
  candidates: CandidateResult[];
}

export interface CacheFile {
  format: typeof CACHE_FORMAT;
  /** By adapterKey(identity): the identity, and an entry per tier. */
  adapters: Record<string, { adapter: AdapterIdentity; tiers: Partial<Record<Tier, CacheEntry>> }>;
}

/** The cache's key of an adapter: its identity's fields, ' | '-joined. */
export function adapterKey(id: AdapterIdentity): string {
  return [id.vendor, id.architecture, id.device, id.description, ...(id.driver ? [id.driver] : [])].join(' | ');
}

/** The knobs a cache entry may set: every tuning knob but unverifiedFragments (stages awaiting
 * their GPU check are never turned on by a file). */
export const CACHED_KNOBS: readonly (keyof Tuning)[] = ['scalarLoads', 'fragmentMemory', 'outputTile', 'stepColumns', 'unrollStaging', 'outputScores', 'dqkForm'];

/** What is wrong with a tuning's values (createEngine's messages), or undefined. */
export function tuningProblem(t: Tuning): string | undefined {
  const fm = t.fragmentMemory;
  if (fm !== undefined && !validFragmentMemory(fm)) return `tuning.fragmentMemory must be a whole number of bytes, at least ${MIN_FRAGMENT_MEMORY}; got ${describeValue(fm)}`;
  const ot = t.outputTile;
  if (ot !== undefined && !OUTPUT_TILES.includes(ot)) return `tuning.outputTile must be one of ${OUTPUT_TILES.join(', ')}; got ${describeValue(ot)}`;
  const ds = t.outputScores;
  if (ds !== undefined && !(OUTPUT_SCORES as readonly unknown[]).includes(ds)) return `tuning.outputScores must be one of ${OUTPUT_SCORES.join(', ')}; got ${describeValue(ds)}`;
  const df = t.dqkForm;
  if (df !== undefined && !(DQK_FORMS as readonly unknown[]).includes(df)) return `tuning.dqkForm must be one of ${DQK_FORMS.join(', ')}; got ${describeValue(df)}`;
  const sc = t.stepColumns;
  if (sc !== undefined && !(STEP_COLUMNS as readonly unknown[]).includes(sc)) return `tuning.stepColumns must be one of ${STEP_COLUMNS.join(', ')}; got ${describeValue(sc)}`;
  for (const k of ['scalarLoads', 'unverifiedFragments', 'unrollStaging'] as const) {
    if (t[k] !== undefined && typeof t[k] !== 'boolean') return `tuning.${k} must be true or false; got ${describeValue(t[k])}`;
  }
  return undefined;
}

/** Whether a tuning sets any knob (a tuning of undefined values sets none). */
export function setsKnobs(t: Tuning | undefined): boolean {
  return !!t && Object.values(t).some((v) => v !== undefined);
}

/** A cache file's content, or why it is not one. */
export function parseCache(text: string): { file: CacheFile } | { problem: string } {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    return { problem: `not JSON (${(e as Error).message})` };
  }
  const f = data as Partial<CacheFile> | null;
  if (!f || typeof f !== 'object' || f.format !== CACHE_FORMAT) return { problem: `not a lae tuning cache (format ${describeValue(f && typeof f === 'object' ? f.format : f)}, expected "${CACHE_FORMAT}")` };
  if (!f.adapters || typeof f.adapters !== 'object' || Array.isArray(f.adapters)) return { problem: "its 'adapters' is not an object" };
  return { file: f as CacheFile };
}

/** The stored tuning of an entry, checked: unknown knobs or invalid values give a problem. */
export function entryTuning(entry: unknown): { tuning: Tuning } | { problem: string } {
  const stored = (entry as { tuning?: unknown } | null)?.tuning;
  if (!stored || typeof stored !== 'object' || Array.isArray(stored)) return { problem: `its tuning is ${describeValue(stored)}, not an object` };
  // dplrScores, the knob's name before 2026-12-03, read as outputScores (its values are the same).
  const { dplrScores, ...rest } = stored as Record<string, unknown>;
  const t = dplrScores !== undefined && rest.outputScores === undefined ? { ...rest, outputScores: dplrScores } : stored;
  const unknown = Object.keys(t).filter((k) => !(CACHED_KNOBS as readonly string[]).includes(k));
  if (unknown.length) return { problem: `unknown tuning knob${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (a cache may set ${CACHED_KNOBS.join(', ')})` };
  const problem = tuningProblem(t as Tuning);
  return problem ? { problem } : { tuning: { ...(t as Tuning) } };
}

/** EngineOptions.tuningCache: 'auto' (the default file), 'off', or a file's path. */
export type TuningCacheOption = 'auto' | 'off' | string;

/** The default cache file: $LAE_TUNING_CACHE, else $XDG_CACHE_HOME/lae/tuning.json, else
 * ~/.cache/lae/tuning.json; undefined where there is no file system (a browser). */
export { defaultCachePath };

/** The cached tuning for an adapter and tier, and the file it came from; undefined when the cache
 * is off, absent (no file, no entry), or unusable: an unreadable file, or an entry with unknown
 * knobs or invalid values, is ignored with one warning line naming the file. */
export function cachedTuning(option: TuningCacheOption, id: AdapterIdentity | undefined, tier: Tier,
  warn: (line: string) => void = (l) => console.warn(l)): { tuning: Tuning; path: string } | undefined {
  if (option === 'off' || !id) return undefined;
  const path = option === 'auto' ? defaultCachePath() : option;
  if (path === undefined) return undefined;
  let text: string | undefined;
  try {
    text = readCacheText(path);
  } catch (e) {
    warn(`lae: ignoring the tuning cache ${path}: ${(e as Error).message}`);
    return undefined;
  }
  if (text === undefined) return undefined;
  const parsed = parseCache(text);
  if ('problem' in parsed) {
    warn(`lae: ignoring the tuning cache ${path}: ${parsed.problem}`);
    return undefined;
  }
  const adapter = parsed.file.adapters[adapterKey(id)];
  const entry = adapter && typeof adapter === 'object' && adapter.tiers && typeof adapter.tiers === 'object' ? adapter.tiers[tier] : undefined;
  if (entry === undefined) return undefined;
  const checked = entryTuning(entry);
  if ('problem' in checked) {
    warn(`lae: ignoring the tuning cache ${path} for this adapter's ${tier} tier: ${checked.problem}`);
    return undefined;
  }
  return { tuning: checked.tuning, path };
}
