// Packed variable-length sequences: forward and forward + backward on sequences of mixed
// lengths packed along T (cuSeqlens), against the two things a user without it would run: the
// same sequences padded to the longest as a batch, and (to show what the tables cost) the same
// number of tokens as a uniform batch. GPU time by timestamp queries, as the other benches.
import type { Engine } from '../runtime/engine.js';
import { prepareBackward } from '../runtime/backward.js';
import { timeEncoded } from '../runtime/timing.js';
import { sampleInputs, sampleSeeds } from '../runtime/sample.js';
import { VARIANT_NAMES } from '../variants/index.js';
import type { ProblemSize } from '../dsl/index.js';

/** Mixed lengths, 8192 tokens in all, longest 2048: a packed pretraining or SFT batch. */
export const VARLEN_LENGTHS = [1536, 512, 2048, 300, 1000, 1700, 700, 396];

export interface VarlenRow {
  variant: string; H: number; K: number; V: number; lengths: number[];
  packed: { forwardMs: number; trainMs: number };
  padded: { B: number; T: number; forwardMs: number; trainMs: number };
  uniform: { B: number; T: number; forwardMs: number; trainMs: number };
}

async function warm(run: () => Promise<void>) {
  const t0 = performance.now();
  do await run(); while (performance.now() - t0 < 400);
}
const best = async (f: () => Promise<number>) => Math.min(await f(), await f());

/** Forward and forward + backward ms of one configuration. */
async function timeConfig(engine: Engine, name: string, size: ProblemSize, cuSeqlens: Int32Array | undefined, repeat: number) {
  const op = engine.variant(name);
  const inputs = sampleInputs(op.def, size, 3, true);
  // S (the packed sequences, which shape h0 and dht) is not a forward option: cuSeqlens says it.
  const { S: _sequences, ...dims } = size;
  const fwd = await op.prepareForward(inputs, { ...dims, chunkSize: 64, ...(cuSeqlens ? { cuSeqlens } : {}) });
  const bwd = await prepareBackward(engine, op.def, fwd, sampleSeeds(op.def, size));
  try {
    await warm(async () => { await fwd.execute(); await bwd.execute(); });
    const forwardMs = await best(() => timeEncoded(engine.device, fwd.encode, repeat));
    const trainMs = await best(() => timeEncoded(engine.device, (p) => { fwd.encode(p); bwd.encode(p); }, repeat));
    return { forwardMs, trainMs };
  } finally {
    bwd.destroy();
    fwd.destroy();
  }
}

export async function benchVarlen(engine: Engine, opts: { variants?: string[]; H?: number; D?: number; lengths?: number[]; repeat?: number; log?: (l: string) => void } = {}): Promise<VarlenRow[]> {
  const H = opts.H ?? 16, K = opts.D ?? 128, V = opts.D ?? 128;
  const lengths = opts.lengths ?? VARLEN_LENGTHS;
  const total = lengths.reduce((a, b) => a + b, 0);
  const cu = Int32Array.from(lengths.reduce((acc, n) => [...acc, acc[acc.length - 1]! + n], [0]));
  const longest = Math.max(...lengths);
  const repeat = opts.repeat ?? 20;
  // The uniform batch: as many tokens, in sequences of the longest length.
  const uniformB = Math.max(1, Math.round(total / longest));
  const rows: VarlenRow[] = [];
  for (const name of opts.variants ?? VARIANT_NAMES) {
    const packed = await timeConfig(engine, name, { B: 1, T: total, H, K, V, S: lengths.length }, cu, repeat);
    const padded = await timeConfig(engine, name, { B: lengths.length, T: longest, H, K, V }, undefined, repeat);
    const uniform = await timeConfig(engine, name, { B: uniformB, T: longest, H, K, V }, undefined, repeat);
    const row: VarlenRow = {
      variant: name, H, K, V, lengths, packed,
      padded: { B: lengths.length, T: longest, ...padded }, uniform: { B: uniformB, T: longest, ...uniform },
    };
    rows.push(row);
    opts.log?.(formatVarlenRow(row));
  }
  return rows;
}

export const VARLEN_HEADER = '| variant | packed fwd ms | packed fwd+bwd ms | padded fwd+bwd ms (B,T) | padded/packed | uniform fwd+bwd ms (B,T) | packed/uniform |\n|---|---|---|---|---|---|---|';
export function formatVarlenRow(r: VarlenRow): string {
  return `| ${r.variant} | ${r.packed.forwardMs.toFixed(3)} | ${r.packed.trainMs.toFixed(3)} | ${r.padded.trainMs.toFixed(3)} (${r.padded.B},${r.padded.T}) | ` +
    `${(r.padded.trainMs / r.packed.trainMs).toFixed(2)}x | ${r.uniform.trainMs.toFixed(3)} (${r.uniform.B},${r.uniform.T}) | ${(r.packed.trainMs / r.uniform.trainMs).toFixed(2)}x |`;
}
