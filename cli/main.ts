#!/usr/bin/env node
// lae: list variants, generate kernels, run the demo and the benchmarks.
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { VARIANTS, VARIANT_NAMES, TOKEN_SEQUENTIAL_VARIANTS, TOKEN_SEQUENTIAL_NAMES } from '../variants/index.js';
import { describeRoles, type VariantDef } from '../dsl/index.js';
import { createEngine } from '../runtime/engine.js';
import { benchForward, SEED_SHAPES, TABLE_HEADER } from '../bench/forward.js';
import { benchTrain, TRAIN_HEADER } from '../bench/backward.js';
import { benchStep, STEP_HEADER } from '../bench/step.js';
import { benchVarlen, VARLEN_HEADER, VARLEN_LENGTHS } from '../bench/varlen.js';
import { runDemo } from './demo.js';
import { TENSOR_CORE_OPTIONS, type TensorCoreOption } from '../runtime/tier.js';
import { DEFAULT_DQK_FORM, DQK_FORMS, WG_MEMORY_TIERS, type OutputScores, type DqkForm, type FragmentLowering, type WorkgroupMemoryTier } from '../codegen/index.js';

// commander, typescript and ts-morph serve only the CLI: they are optional peer dependencies of
// lae, so an engine-only install (Node or browser) does not carry them.
const missing = (e: unknown, names: string[]) =>
  (e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && names.some((n) => String((e as Error).message).includes(`'${n}'`));
let commander: typeof import('commander');
try {
  commander = await import('commander');
} catch (e) {
  if (!missing(e, ['commander'])) throw e;
  console.error('the lae CLI needs commander: npm i -D commander (and, for lae gen, typescript and ts-morph)');
  process.exit(1);
}
const { Command, InvalidArgumentError } = commander;

const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
  return n;
};
const chunkArg = (v: string) => {
  const n = Number(v);
  if (![16, 32, 64].includes(n)) throw new InvalidArgumentError('chunk must be 16, 32 or 64');
  return n as 16 | 32 | 64;
};

const wgMemoryArg = (v: string) => {
  const n = Number(v);
  if (!(WG_MEMORY_TIERS as readonly number[]).includes(n)) throw new InvalidArgumentError(`must be one of ${WG_MEMORY_TIERS.join(', ')} (bytes)`);
  return n as WorkgroupMemoryTier;
};

const tensorCoresArg = (v: string) => {
  if (!(TENSOR_CORE_OPTIONS as readonly string[]).includes(v)) throw new InvalidArgumentError(`must be one of ${TENSOR_CORE_OPTIONS.join(', ')}`);
  return v as TensorCoreOption;
};
const tensorCoresList = (v: string) => v.split(',').map(tensorCoresArg);
const dqkFormList = (v: string) => v.split(',').map((x) => {
  if (!(DQK_FORMS as readonly string[]).includes(x)) throw new InvalidArgumentError(`must be a comma-separated list of ${DQK_FORMS.join(', ')}`);
  return x as DqkForm;
});

const program = new Command('lae').description('the linear attention engine for WebGPU');

program.command('list').description('list the built-in variants').action(() => {
  const line = (name: string, d: VariantDef) => {
    const roles = Object.entries(describeRoles(d)).map(([r, e]) => `${r}=${e}`).join(' ');
    return `${name.padEnd(17)} decay=${d.decay.padEnd(8)} correction=${d.correction.padEnd(5)} bonus=${d.bonus.padEnd(4)} ${roles}`;
  };
  for (const name of VARIANT_NAMES) console.log(line(name, VARIANTS[name]));
  console.log('token by token (the generalized delta rule\'s forward also chunked on the tensor-core tier):');
  for (const name of TOKEN_SEQUENTIAL_NAMES) {
    const d = TOKEN_SEQUENTIAL_VARIANTS[name];
    console.log(`${line(name, d)}${d.normalize === 'exp' ? ' normalize=exp' : ''}`);
  }
});

program.command('gen')
  .description('write the WGSL of every kernel and a typed TS module that loads and calls them')
  .argument('<variant>', 'a built-in variant name or a path to a spec .ts file')
  .requiredOption('--out <dir>', 'output directory')
  .option('--chunk <C>', 'chunk size 16 | 32 | 64 (default: the largest the workgroup memory fits, 32 at 16384 bytes)', chunkArg)
  .option('--wg-memory <bytes>', 'workgroup memory the kernels may use: 16384 (WebGPU\'s default limit, so any device runs them; the default), 32768 (chunks of 64; the default with --tensor-cores) or 49152; past 16384 the device needs the module\'s REQUIRED_LIMITS', wgMemoryArg)
  .option('--K <K>', 'key head dim', int('K'), 128)
  .option('--V <V>', 'value head dim', int('V'), 128)
  .option('--varlen', 'kernels for packed variable-length sequences: the module takes cuSeqlens')
  .option('--compact-loops', 'for software adapters (SwiftShader, lavapipe): loops stay rolled, so their JIT compiles in seconds, not minutes')
  .option('--tensor-cores [lowering]', 'the tensor-core tier: subgroup-matrix (default; needs shader-f16, subgroups, chromium-experimental-subgroup-matrix) or portable (plain WGSL, needs shader-f16)')
  .action(async (variant: string, o: { out: string; chunk?: 16 | 32 | 64; wgMemory?: WorkgroupMemoryTier; K: number; V: number; varlen?: boolean; tensorCores?: string | true; compactLoops?: boolean }) => {
    // Loaded on demand: gen pulls in the TypeScript compiler and ts-morph.
    let gen: typeof import('./gen.js');
    try {
      gen = await import('./gen.js');
    } catch (e) {
      if (!missing(e, ['typescript', 'ts-morph'])) throw e;
      console.error('lae gen needs typescript and ts-morph: npm i -D typescript ts-morph');
      process.exit(1);
    }
    const { runGen } = gen;
    const tensorCores = o.tensorCores === true ? 'subgroup-matrix' : o.tensorCores as FragmentLowering | undefined;
    const files = await runGen({ variant, out: o.out, chunk: o.chunk, wgMemory: o.wgMemory, K: o.K, V: o.V, varlen: o.varlen, tensorCores, compactLoops: o.compactLoops });
    for (const f of files) console.log(f);
  });

program.command('demo')
  .description('run every variant on the default WebGPU device against the float64 reference')
  .option('--B <B>', 'batch', int('B'), 1)
  .option('--T <T>', 'sequence length', int('T'), 200)
  .option('--H <H>', 'heads', int('H'), 2)
  .option('--K <K>', 'key head dim', int('K'), 32)
  .option('--V <V>', 'value head dim', int('V'), 32)
  .option('--chunk <C>', 'chunk size', chunkArg, 64)
  .option('--dtype <dtype>', 'storage of every input and o: f32, bf16 or f16', 'f32')
  .option('--tensor-cores <mode>', 'auto (tensor cores where the adapter has them), off (f32 kernels), portable (their tiles in plain WGSL)', tensorCoresArg, 'auto')
  .action(async (o: { B: number; T: number; H: number; K: number; V: number; chunk: 16 | 32 | 64; dtype: 'f32' | 'bf16' | 'f16'; tensorCores: TensorCoreOption }) => {
    const ok = await runDemo({ B: o.B, T: o.T, H: o.H, K: o.K, V: o.V }, o.chunk, (s) => console.log(s), o.dtype, o.tensorCores);
    process.exitCode = ok ? 0 : 1;
  });

program.command('serve')
  .description('serve the demo page (examples/browser/) on 127.0.0.1: run a variant or a spec of your own in your browser\'s WebGPU')
  .option('--port <port>', 'port to listen on (0: any free one)', (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('port must be an integer from 0 to 65535');
    return n;
  }, 5190)
  .action(async (o: { port: number }) => {
    const { serveDemo } = await import('./serve.js');
    const { url } = await serveDemo({ port: o.port });
    console.log(`lae demo page: ${url}  (open it in a browser with WebGPU; Ctrl-C stops the server)`);
  });

program.command('tune')
  .description('time candidate tunings of the tensor-core tier (fragmentMemory x outputTile), each in a child process of its own, and write the fastest to the per-adapter tuning cache that createEngine reads')
  .option('--variants <list>', 'comma-separated variant names (default linear_attn,gla,gated_delta_rule)', (v: string) => v.split(','))
  .option('--T <T>', 'sequence length', int('T'), 4096)
  .option('--H <H>', 'heads', int('H'), 32)
  .option('--D <D>', 'head dim K = V', int('D'), 128)
  .option('--what <what>', 'forward, or train (forward + backward)', 'forward')
  .option('--cache <file>', 'the cache file (default $LAE_TUNING_CACHE, else $XDG_CACHE_HOME/lae/tuning.json, else ~/.cache/lae/tuning.json)')
  .option('--tensor-cores <mode>', 'auto, portable (the tier\'s tiles in plain WGSL) or off (the f32 tier: nothing to tune)', tensorCoresArg, 'auto')
  .option('--timeout <s>', 'seconds per candidate\'s process (Dawn\'s start and the compiles included)', int('timeout'), 300)
  .option('--fragment-memory <list>', 'candidate workgroup-memory budgets, bytes or default (default: default and 16384, 24576, 32768, 49152 up to the device\'s)', (v: string) => v.split(',').map((x) => (x === 'default' ? 'default' as const : int('fragment-memory')(x))))
  .option('--output-tile <list>', 'candidate output tiles (default 64,128)', (v: string) => v.split(',').map((x) => int('output-tile')(x)))
  .option('--repeat <R>', 'runs per timing', int('repeat'), 10)
  .option('--samples <S>', 'timings (median)', int('samples'), 5)
  .action(async (o: { variants?: string[]; T: number; H: number; D: number; what: string; cache?: string; tensorCores: TensorCoreOption; timeout: number; fragmentMemory?: (number | 'default')[]; outputTile?: number[]; repeat: number; samples: number }) => {
    if (o.what !== 'forward' && o.what !== 'train') throw new Error(`--what takes forward or train; got ${o.what}`);
    const { runTune } = await import('../runtime/tune.js');
    const r = await runTune({
      variants: o.variants, shape: { B: 1, T: o.T, H: o.H, K: o.D, V: o.D }, what: o.what, cache: o.cache, tensorCores: o.tensorCores,
      timeoutS: o.timeout, fragmentMemory: o.fragmentMemory, outputTile: o.outputTile, repeat: o.repeat, samples: o.samples,
    });
    if (!r.entry && r.candidates.length) process.exitCode = 1;
  });

program.command('bench')
  .description('forward time per variant at the seed shapes vs the token-sequential kernel and the f32 ceiling')
  .option('--variants <list>', 'comma-separated variant names', (v: string) => v.split(','))
  .option('--T <list>', 'comma-separated sequence lengths (default 2048,4096)', (v: string) => v.split(',').map(Number))
  .option('--H <H>', 'heads', int('H'), 32)
  .option('--D <D>', 'head dim K = V', int('D'), 128)
  .option('--repeat <R>', 'forwards per submit', int('repeat'), 10)
  .option('--samples <S>', 'timed submits (median)', int('samples'), 7)
  .option('--json <file>', 'write the rows as JSON', 'bench/results.json')
  .option('--breakdown', 'also time each kernel of the chunked plan alone')
  .option('--no-recurrent', 'skip the token-sequential baseline')
  .option('--dtype <dtype>', 'storage of every input and o: f32, bf16 or f16 (compute is f32)', 'f32')
  .option('--what <list>', 'comma-separated: forward, train (forward + backward), step (decode at batch 1, 32 and 128: GPU and host time), varlen (packed sequences of mixed lengths vs padded)', (v: string) => v.split(','), ['forward'])
  .option('--tensor-cores <list>', 'comma-separated tiers to run, each with its own engine: auto, off, portable', tensorCoresList, ['auto'])
  .option('--unroll-staging', 'tensor-core tier: write the staging slots out one by one (a tuning knob; the default on the subgroup-matrix lowering), not as a loop over a private array')
  .option('--no-unroll-staging', 'tensor-core tier: stage through a loop over a private array (the portable lowering\'s default)')
  .option('--scalar-loads', 'tensor-core tier: stage operands one element per load (a tuning knob), not vec4 words')
  .option('--unverified-fragments', 'tensor-core tier: also run the stages whose subgroup-matrix lowering awaits a check on a GPU')
  .option('--batches <list>', 'step: comma-separated batch sizes (default 1,32,128)', (v: string) => v.split(',').map((x) => int('batches')(x)))
  .option('--step-columns <list>', 'step: comma-separated state columns per workgroup (8, 16, 32, 64), one engine each (a tuning knob; default 32)', (v: string) => v.split(',').map((x) => int('step-columns')(x)))
  .option('--no-host', 'step: skip the host-time loops')
  .option('--state-dtype <list>', 'step: comma-separated state storage dtypes, f32 and/or bf16 (default f32)', (v: string) => v.split(','), ['f32'])
  .option('--fragment-memory <list>', 'tensor-core tier: comma-separated workgroup-memory budgets (bytes, or default: the layouts\' own search) for its kernels\' layouts, one engine each (a tuning knob)', (v: string) => v.split(',').map((x) => (x === 'default' ? undefined : int('fragment-memory')(x))))
  .option('--output-tile <list>', 'tensor-core tier: comma-separated column tiles of the output stage (32, 64, 128), one engine each (a tuning knob; default 128)', (v: string) => v.split(',').map((x) => int('output-tile')(x)))
  .option('--output-scores <list>', 'tensor-core tier: comma-separated places (prep, output) where gla, kda, rwkv6, rwkv7 and dplr_delta_rule compute the output\'s scores, one engine each (a tuning knob; default prep)', (v: string) => v.split(','))
  .option('--dqk-form <list>', `tensor-core tier: comma-separated forms of bwdDq and bwdDk of a per-key decay (${DQK_FORMS.join(', ')}), one engine each (a tuning knob; default ${DEFAULT_DQK_FORM})`, dqkFormList)
  .action(async (o: { variants?: string[]; T?: number[]; H: number; D: number; repeat: number; samples: number; json: string; breakdown?: boolean; recurrent: boolean; what: string[]; dtype: 'f32' | 'bf16' | 'f16'; tensorCores: TensorCoreOption[]; scalarLoads?: boolean; unrollStaging?: boolean; fragmentMemory?: (number | undefined)[]; outputTile?: number[]; outputScores?: string[]; dqkForm?: DqkForm[]; unverifiedFragments?: boolean; batches?: number[]; stepColumns?: number[]; host: boolean; stateDtype: string[] }) => {
    const badState = o.stateDtype.filter((d) => d !== 'f32' && d !== 'bf16');
    if (badState.length) throw new Error(`--state-dtype takes f32, bf16; got ${badState.join(', ')}`);
    const unknown = o.what.filter((w) => !['forward', 'train', 'step', 'varlen'].includes(w));
    if (unknown.length) throw new Error(`--what takes forward, train, step, varlen; got ${unknown.join(', ')}`);
    const runs: Record<string, unknown>[] = [];
    for (const tensorCores of o.tensorCores) {
      for (const fragmentMemory of o.fragmentMemory ?? [undefined]) {
        for (const outputTile of o.outputTile ?? [undefined]) {
          for (const outputScores of o.outputScores ?? [undefined]) {
            for (const dqkForm of o.dqkForm ?? [undefined]) runs.push(await benchTier({ ...o, fragmentMemory, outputTile, outputScores: outputScores as OutputScores | undefined, dqkForm }, tensorCores));
          }
        }
      }
    }
    mkdirSync(dirname(o.json), { recursive: true });
    writeFileSync(o.json, JSON.stringify(runs.length === 1 ? runs[0] : runs, null, 2));
    console.log(`\nwrote ${o.json}`);
  });

/** One tier's benchmarks, on an engine of its own. */
async function benchTier(o: { variants?: string[]; T?: number[]; H: number; D: number; repeat: number; samples: number; breakdown?: boolean; recurrent: boolean; what: string[]; dtype: 'f32' | 'bf16' | 'f16'; scalarLoads?: boolean; unrollStaging?: boolean; fragmentMemory?: number; outputTile?: number; outputScores?: OutputScores; dqkForm?: DqkForm; unverifiedFragments?: boolean; batches?: number[]; stepColumns?: number[]; host: boolean; stateDtype: string[] }, tensorCores: TensorCoreOption): Promise<Record<string, unknown>> {
  // Full-resolution timestamps (Dawn quantizes them by default).
  const engine = await createEngine({ dawnFlags: ['disable-dawn-features=timestamp_quantization'], tensorCores, tuning: { scalarLoads: o.scalarLoads, unrollStaging: o.unrollStaging, fragmentMemory: o.fragmentMemory, outputTile: o.outputTile, outputScores: o.outputScores, dqkForm: o.dqkForm, unverifiedFragments: o.unverifiedFragments } });
  try {
    const shapes = o.T ? o.T.map((T) => ({ B: 1, H: o.H, T, K: o.D, V: o.D })) : SEED_SHAPES.map((s) => ({ ...s, H: o.H, K: o.D, V: o.D }));
    console.log(`lae bench on ${engine.adapterName}, ${new Date().toISOString()}, storage ${o.dtype}, tier ${engine.tier} (${engine.tierNote}), tuning ${engine.tuningSource}${Object.keys(engine.tuning).length ? ` ${JSON.stringify(engine.tuning)}` : ''}${o.scalarLoads ? ', scalar loads' : ''}${o.unrollStaging === true ? ', unrolled staging' : o.unrollStaging === false ? ', rolled staging' : ''}${o.fragmentMemory ? `, fragment memory ${o.fragmentMemory} B` : ''}${o.outputTile ? `, output tile ${o.outputTile}` : ''}${o.outputScores ? `, output scores in the ${o.outputScores}` : ''}${o.dqkForm ? `, dq/dk form ${o.dqkForm}` : ''}${o.unverifiedFragments ? ', unverified stages on' : ''}\n`);
    const log = (l: string) => console.log(l);
    const result: Record<string, unknown> = { adapter: engine.adapterName, date: new Date().toISOString(), tier: engine.tier, tensorCores, tuningSource: engine.tuningSource, tuning: engine.tuning };
    if (o.what.includes('forward')) {
      console.log(TABLE_HEADER);
      result.rows = await benchForward(engine, {
        variants: o.variants, shapes, repeat: o.repeat, samples: o.samples, breakdown: o.breakdown,
        recurrentMaxT: o.recurrent ? Infinity : 0, log, dtype: o.dtype,
      });
    }
    if (o.what.includes('train')) {
      console.log(`\n${TRAIN_HEADER}`);
      result.train = await benchTrain(engine, { variants: o.variants, shapes: o.T ? shapes : undefined, breakdown: o.breakdown, log, dtype: o.dtype });
    }
    if (o.what.includes('step')) {
      // One engine per column width asked for (the knob is the engine's); the default on this one.
      const steps: unknown[] = [];
      for (const stepColumns of o.stepColumns ?? [undefined]) {
        const own = stepColumns === undefined ? undefined : await createEngine({ dawnFlags: ['disable-dawn-features=timestamp_quantization'], tensorCores, tuning: { stepColumns } });
        try {
          for (const stateDtype of o.stateDtype as ('f32' | 'bf16')[]) {
            console.log(`\nDecode step, ${stateDtype} state${stepColumns ? `, ${stepColumns} state columns per workgroup` : ''}\n${STEP_HEADER}`);
            const rows = await benchStep(own ?? engine, { variants: o.variants, H: o.H, D: o.D, batches: o.batches, host: o.host, stateDtype, log });
            steps.push(stepColumns === undefined && o.stateDtype.length === 1 ? rows : { stepColumns, stateDtype, rows });
          }
        } finally {
          own?.destroy();
        }
      }
      result.step = steps.length === 1 ? steps[0] : steps;
    }
    if (o.what.includes('varlen')) {
      console.log(`\nPacked sequences (cuSeqlens) of lengths ${VARLEN_LENGTHS.join(', ')}, H = 16, K = V = ${o.D}, f32\n${VARLEN_HEADER}`);
      result.varlen = await benchVarlen(engine, { variants: o.variants, D: o.D, log });
    }
    return result;
  } finally {
    engine.destroy();
  }
}

program.parseAsync(process.argv).catch((e: Error) => {
  console.error(`lae: ${e.message}`);
  process.exit(1);
});
