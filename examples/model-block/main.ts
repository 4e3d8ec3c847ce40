// A Gated DeltaNet block with lae inside, on one device: prefill a prompt, decode token by
// token with the state on the GPU, print tokens per second of each (see block.ts).
//   npm run example:model-block                      (after npm run build)
//   npm run example:model-block -- --prompt 1024 --decode 64 --heads 8 --dim 512 --check
import { pathToFileURL } from 'node:url';
import { createEngine, relL2, type Engine } from '../../index.js';
import { GatedDeltaNetBlock, blockWeights, runBlock, type BlockConfig } from './block.js';
import { referenceBlock } from './reference.js';

export const DEFAULTS: BlockConfig = { D: 256, H: 4, K: 64, V: 64, prompt: 256, decode: 32 };
/** The sizes `--tiny` runs (the test's). */
export const TINY: BlockConfig = { D: 32, H: 2, K: 16, V: 16, prompt: 40, decode: 4, chunkSize: 16 };

export interface MainResult { readonly lines: string[]; readonly prefillError?: number; readonly decodeError?: number }

function parse(argv: readonly string[]): { cfg: BlockConfig; check: boolean } {
  let cfg: BlockConfig = argv.includes('--tiny') ? TINY : DEFAULTS;
  const flags: Record<string, keyof BlockConfig> = { '--dim': 'D', '--heads': 'H', '--head-dim': 'K', '--prompt': 'prompt', '--decode': 'decode' };
  for (let i = 0; i < argv.length; i++) {
    const key = flags[argv[i]!];
    if (!key) {
      if (argv[i] !== '--tiny' && argv[i] !== '--check') throw new Error(`unknown argument ${argv[i]}; takes --tiny, --check, ${Object.keys(flags).join(', ')}`);
      continue;
    }
    const n = Number(argv[++i]);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${argv[i - 1]} needs a positive integer, got ${argv[i]}`);
    cfg = { ...cfg, [key]: n, ...(key === 'K' ? { V: n } : {}) };
  }
  return { cfg, check: argv.includes('--check') };
}

/** Runs the block (twice: the first run compiles the pipelines) and reports; with --check,
 * compares every output row with the float64 reference of the whole sequence. */
export async function main(argv: readonly string[], engine?: Engine): Promise<MainResult> {
  const { cfg, check } = parse(argv);
  const own = !engine;
  const eng = engine ?? await createEngine();
  const lines: string[] = [];
  const say = (s: string) => { lines.push(s); console.log(s); };
  try {
    const weights = blockWeights(cfg);
    const block = new GatedDeltaNetBlock(eng, cfg, weights);
    try {
      await runBlock(block); // warm-up: compiles lae's and the block's pipelines
      const run = await runBlock(block);
      say(`Gated DeltaNet block (D=${cfg.D}, H=${cfg.H}, K=V=${cfg.K}) on ${eng.adapterName}, lae tier ${eng.tier}`);
      say(`prefill: ${cfg.prompt} tokens, ${run.prefillTokensPerSecond.toFixed(1)} tokens/s`);
      say(`decode: ${cfg.decode} tokens, ${run.decodeTokensPerSecond.toFixed(1)} tokens/s (one submit per token, state on the GPU)`);
      if (!check) return { lines };
      const want = referenceBlock(cfg, weights);
      const split = cfg.prompt * cfg.D;
      const prefillError = relL2(run.y.subarray(0, split), want.subarray(0, split));
      const decodeError = relL2(run.y.subarray(split), want.subarray(split));
      say(`check vs the float64 reference of the whole sequence: prefill rel. L2 ${prefillError.toExponential(2)}, decode ${decodeError.toExponential(2)}`);
      return { lines, prefillError, decodeError };
    } finally {
      block.destroy();
    }
  } finally {
    if (own) eng.destroy();
  }
}

const invoked = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invoked) {
  main(process.argv.slice(2)).then(
    (r) => { if ((r.prefillError ?? 0) > 1e-4 || (r.decodeError ?? 0) > 1e-4) process.exitCode = 1; },
    (e: unknown) => { console.error(e instanceof Error ? e.message : e); process.exitCode = 1; },
  );
}
