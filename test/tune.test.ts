// `lae tune` (runtime/tune.ts, each candidate in a child process: runtime/tune-worker.ts) and the
// tuning cache it writes, which createEngine reads (runtime/tuning-cache.ts). The CLI runs from
// dist/ (built by the global setup) on the machine's adapter, the tensor-core tier's portable
// lowering (lavapipe here), at a tiny shape. Every cache file lives in a temporary directory.
import { describe, expect, it, vi } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEngine, EngineError } from '../runtime/engine.js';
import { adapterKey, CACHE_FORMAT, type CacheEntry, type CacheFile } from '../runtime/tuning-cache.js';
import { VARIANTS } from '../variants/index.js';
import { sampleInputs } from '../runtime/sample.js';
import { referenceForward } from '../runtime/reference.js';
import { relL2 } from './helpers/numerics.js';
import { getTensorCoreEngine } from './helpers/engine.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(join(tmpdir(), 'lae-tune-'));
const SHAPE = ['--T', '64', '--H', '1', '--D', '16', '--repeat', '2', '--samples', '2', '--tensor-cores', 'portable'];

function tune(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['dist/cli/main.js', 'tune', ...SHAPE, ...args], {
    cwd: ROOT, encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The portable tier's entry for this machine's adapter in a cache file. */
async function entryOf(path: string): Promise<CacheEntry> {
  const file = JSON.parse(readFileSync(path, 'utf8')) as CacheFile;
  expect(file.format).toBe(CACHE_FORMAT);
  const id = (await getTensorCoreEngine()).adapterInfo!;
  const at = file.adapters[adapterKey(id)]!;
  expect(at.adapter).toEqual(id);
  return at.tiers.portable!;
}

/** A cache file holding `tuning` for this adapter's portable tier. */
async function cacheWith(name: string, tuning: unknown): Promise<string> {
  const id = (await getTensorCoreEngine()).adapterInfo!;
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify({ format: CACHE_FORMAT, adapters: { [adapterKey(id)]: { adapter: id, tiers: { portable: { tuning } } } } }));
  return path;
}

describe('lae tune', () => {
  it('times each candidate and writes the winner, every candidate\'s times, the shape and the version to the cache', async () => {
    const cache = join(dir, 'two.json');
    const r = tune(['--variants', 'linear_attn,gla', '--fragment-memory', '18432,default', '--output-tile', '128', '--cache', cache]);
    expect(r.status, r.stderr).toBe(0);
    const e = await entryOf(cache);
    expect(e.candidates.map((c) => [c.label, c.status])).toEqual([['fm=18432,ot=128', 'ok'], ['fm=default,ot=128', 'ok']]);
    for (const c of e.candidates) {
      expect(Object.keys(c.ms!).sort()).toEqual(['gla', 'linear_attn']);
      for (const ms of Object.values(c.ms!)) expect(ms).toBeGreaterThan(0);
      expect(c.totalMs).toBeCloseTo(c.ms!.gla! + c.ms!.linear_attn!, 9);
    }
    // At K = V = 16, 18 KiB layouts do not fit the delta family's stages (its inverse needs more):
    // the winner is the fastest of those whose layouts fit every built-in variant, here the
    // default search.
    expect(e.candidates[0]!.misfits).toEqual(['delta_rule', 'gated_delta_rule', 'kda']);
    expect(e.candidates[1]!.misfits).toBeUndefined();
    expect(e.winner).toBe('fm=default,ot=128');
    expect(e.tuning).toEqual({ outputTile: 128 });
    expect(e).toMatchObject({ what: 'forward', variants: ['linear_attn', 'gla'], shape: { B: 1, T: 64, H: 1, K: 16, V: 16 } });
    expect(e.timing).toBe((await getTensorCoreEngine()).device.features.has('timestamp-query') ? 'gpu timestamps' : 'wall time');
    expect(e.laeVersion).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
    expect(Date.now() - Date.parse(e.date)).toBeLessThan(10 * 60_000);
    expect(r.stdout).toMatch(/\| fm=default,ot=128 \(winner\) \| default \| 128 \|/);
    expect(r.stdout).toContain(`wrote ${cache}`);
  });

  it('records a candidate whose process dies as failed (signal, stderr), one that does not fit as such, and completes', async () => {
    const cache = join(dir, 'crash.json');
    const r = tune(['--variants', 'simple_gla', '--fragment-memory', '16384,default', '--output-tile', '64,128', '--cache', cache], { LAE_TUNE_TEST_CRASH: 'fm=default,ot=64' });
    expect(r.status, r.stderr).toBe(0);
    const e = await entryOf(cache);
    const by = Object.fromEntries(e.candidates.map((c) => [c.label, c]));
    expect(Object.keys(by)).toEqual(['fm=16384,ot=64', 'fm=16384,ot=128', 'fm=default,ot=64', 'fm=default,ot=128']);
    // simple_gla's output stage (its scores and the Q S product) needs more than 16 KiB at chunks
    // of 64: no plan, so no process compiles it.
    for (const l of ['fm=16384,ot=64', 'fm=16384,ot=128']) {
      expect(by[l]!.status, l).toBe('does not fit');
      expect(by[l]!.error, l).toMatch(/^simple_gla: no output tiling of the tensor-core tier fits 16384 bytes of workgroup memory/);
    }
    const crashed = by['fm=default,ot=64']!;
    expect(crashed.status).toBe('failed');
    expect(crashed.signal).toBe('SIGABRT');
    expect(crashed.exitCode).toBeNull();
    expect(crashed.error).toMatch(/^killed by SIGABRT/);
    expect(crashed.ms).toBeUndefined();
    expect(by['fm=default,ot=128']!.status).toBe('ok');
    expect(e.winner).toBe('fm=default,ot=128');
    expect(e.tuning).toEqual({ outputTile: 128 });
    expect(r.stdout).toMatch(/\| fm=default,ot=64 \| default \| 64 \| - \| - \| failed: killed by SIGABRT/);
  });

  it('on the f32 tier says there is nothing to tune and writes nothing', () => {
    const cache = join(dir, 'f32.json');
    const r = tune(['--variants', 'linear_attn', '--cache', cache, '--tensor-cores', 'off']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/nothing to tune on the f32 tier/);
    expect(() => readFileSync(cache)).toThrow(/ENOENT/);
  });
});

describe('createEngine and the tuning cache', () => {
  it('applies the cached tuning of its adapter and tier; an explicit tuning or tuningCache: off wins', async () => {
    const path = await cacheWith('hand.json', { fragmentMemory: 24576, outputTile: 64 });
    const engine = await createEngine({ tensorCores: 'portable', tuningCache: path });
    try {
      expect(engine.tuningSource).toBe(`cache ${path}`);
      expect(engine.tuning).toEqual({ fragmentMemory: 24576, outputTile: 64 });
      const op = engine.variant('linear_attn');
      const cfg = op.plan({ K: 16, V: 16 }).config;
      expect([cfg.fragmentMemory, cfg.outputTile]).toEqual([24576, 64]);
      // The kernels of that tuning compute the forward.
      const size = { B: 1, T: 32, H: 1, K: 16, V: 16 };
      const x = sampleInputs(VARIANTS.linear_attn, size, 7, true);
      const got = await op.forward(x, { ...size, poisonOutputs: true });
      expect(relL2(got.o, referenceForward(VARIANTS.linear_attn, x, size, { h0: x.h0 }).o)).toBeLessThan(3e-3);
    } finally {
      engine.destroy();
    }
    const given = await createEngine({ tensorCores: 'portable', tuningCache: path, tuning: { outputTile: 32 } });
    expect([given.tuningSource, given.tuning]).toEqual(['options', { outputTile: 32 }]);
    given.destroy();
    const off = await createEngine({ tensorCores: 'portable', tuningCache: 'off' });
    expect([off.tuningSource, off.tuning]).toEqual(['default', {}]);
    off.destroy();
    // Another tier's engine finds no entry of its own.
    const f32 = await createEngine({ tensorCores: 'off', tuningCache: path });
    expect([f32.tuningSource, f32.tuning]).toEqual(['default', {}]);
    f32.destroy();
  });

  // The knob's name before 2026-12-03: a cache that sets it keeps working, as outputScores.
  it('reads a cached dplrScores as outputScores', async () => {
    const path = await cacheWith('renamed.json', { dplrScores: 'output' });
    const engine = await createEngine({ tensorCores: 'portable', tuningCache: path });
    try {
      expect([engine.tuningSource, engine.tuning]).toEqual([`cache ${path}`, { outputScores: 'output' }]);
    } finally {
      engine.destroy();
    }
    await expect(createEngine({ tuning: { dplrScores: 'output' } } as never)).rejects.toThrow(/unknown option 'dplrScores' of createEngine tuning: it was renamed outputScores/);
  });

  it('reads what lae tune wrote', async () => {
    const path = join(dir, 'two.json');
    const engine = await createEngine({ tensorCores: 'portable', tuningCache: path });
    expect(engine.tuningSource).toBe(`cache ${path}`);
    expect(engine.tuning).toEqual((await entryOf(path)).tuning);
    engine.destroy();
  });

  it('ignores a corrupt file or an entry with unknown or invalid knobs with one warning naming the file', async () => {
    const notJson = join(dir, 'corrupt.json');
    writeFileSync(notJson, '{"format": "lae-tuning/1", "adap');
    const cases: [string, RegExp][] = [
      [notJson, /not JSON/],
      [await cacheWith('unknown.json', { fragmentMemmory: 24576 }), /unknown tuning knob 'fragmentMemmory'/],
      [await cacheWith('invalid.json', { outputTile: 48 }), /tuning.outputTile must be one of 32, 64, 128; got 48/],
      [await cacheWith('form.json', { dqkForm: 'fast' }), /tuning.dqkForm must be one of staged, prefetch, shared, pipelined, single; got/],
      [await cacheWith('unverified.json', { unverifiedFragments: true }), /unknown tuning knob 'unverifiedFragments'/],
      [await cacheWith('array.json', [64]), /its tuning is an array of 1, not an object/],
    ];
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      for (const [path, why] of cases) {
        warn.mockClear();
        const engine = await createEngine({ tensorCores: 'portable', tuningCache: path });
        expect([engine.tuningSource, engine.tuning], path).toEqual(['default', {}]);
        engine.destroy();
        expect(warn).toHaveBeenCalledTimes(1);
        const line = String(warn.mock.calls[0]![0]);
        expect(line).toContain(path);
        expect(line).toMatch(why);
        expect(line).not.toContain('\n');
      }
    } finally {
      warn.mockRestore();
    }
    await expect(createEngine({ tuningCache: 42 as never })).rejects.toThrow(EngineError);
    await expect(createEngine({ tuningCache: 42 as never })).rejects.toThrow(/tuningCache must be 'auto', 'off' or a file's path; got 42 \(a number\)/);
  });
});
