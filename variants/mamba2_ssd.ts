// S_t = exp(A dt_t) S_{t-1} + B_t (x_t dt_t)^T;  y_t = C_t^T S_t + D x_t  (mamba_ssm ssd; state V-first)
//
// Heads as mamba names them: x, dt, A, D and the state have mamba's nheads heads, B and C its
// ngroups; lae's H is ngroups and HV nheads (`{ H: ngroups, HV: nheads }`; K = d_state, V =
// headdim), and value head h reads group h / (nheads / ngroups), as in mamba.
import { defineVariant, mambaDt, silu, type Expr, type VariantDef } from '../dsl/index.js';
import { checkOptionNames, describeValue } from '../runtime/options.js';
import { InputError } from '../runtime/errors.js';

const mamba2_ssd = defineVariant({
  name: 'mamba2_ssd',
  description: 'Mamba-2 SSD: q = C, k = B, v = x dt, log-decay A dt, plus D x',
  inputs: {
    x: ['B', 'T', 'H', 'V'], dt: ['B', 'T', 'H'], A: ['H'],
    Bm: ['B', 'T', 'H', 'K'], Cm: ['B', 'T', 'H', 'K'], D: ['H'],
  },
  q: ({ Cm }) => Cm, k: ({ Bm }) => Bm, v: ({ x, dt }) => x.mul(dt),
  decay: 'scalar', logDecay: ({ A, dt }) => A.mul(dt),
  correction: 'none',
  outputAdd: ({ D, x }) => D.mul(x),
  scale: 1,
  stateLayout: 'vk',
});
export default mamba2_ssd;

/** mamba_chunk_scan_combined's options, as a spec's inputs and preamble (mamba's names in
 * brackets). Every option off is the built-in mamba2_ssd, which takes dt already processed. */
export interface Mamba2SsdOptions {
  /** An input `dt_bias` [H] added to dt (`dt_bias`). */
  dtBias?: boolean;
  /** softplus(dt (+ dt_bias)) (`dt_softplus`). */
  dtSoftplus?: boolean;
  /** Clamp the processed dt to [lo, hi] (`dt_limit`, default (0, inf) as in mamba, applied
   * whenever dtBias or dtSoftplus is set; a bound that cannot bind is left out). */
  dtLimit?: readonly [number, number];
  /** The input is `A_log` [H] and A = -exp(A_log) (the Mamba2 layer's `A = -torch.exp(self.A_log)`),
   * instead of A itself. */
  aLog?: boolean;
  /** An input `z` [B,T,H,V] and y = (C^T S + D x) * silu(z) (`z`). */
  z?: boolean;
}

/**
 * mamba2_ssd as mamba's kernel takes its arguments: `mamba2Ssd({ dtBias: true, dtSoftplus: true,
 * dtLimit: [0.001, 0.1], aLog: true })` is the spec for a Mamba2 layer's raw `dt`, `dt_bias`,
 * `A_log` (dt = clamp(softplus(dt + dt_bias), dt_limit); A = -exp(A_log)). The inputs keep the
 * built-in's names (x, dt, Bm, Cm, D) plus dt_bias, A_log (in place of A) and z as asked for.
 */
export function mamba2Ssd(opts: Mamba2SsdOptions = {}): VariantDef {
  checkOptionNames('mamba2Ssd', opts);
  if (!opts || typeof opts !== 'object' || Array.isArray(opts)) throw new InputError(`mamba2Ssd options must be an object, got ${describeValue(opts)}`);
  for (const name of ['dtBias', 'dtSoftplus', 'aLog', 'z'] as const) {
    if (opts[name] !== undefined && typeof opts[name] !== 'boolean') {
      throw new InputError(`mamba2Ssd option ${name} must be a boolean, got ${describeValue(opts[name])}`);
    }
  }
  const limit = opts.dtLimit;
  if (limit !== undefined) {
    if (!Array.isArray(limit) || limit.length !== 2 || limit.some((x) => typeof x !== 'number' || Number.isNaN(x))) {
      throw new InputError(`mamba2Ssd option dtLimit (mamba's dt_limit) must be [lo, hi], two numbers, got ${describeValue(limit)}${Array.isArray(limit) ? ` ${JSON.stringify(limit)}` : ''}`);
    }
    if (!(limit[0] <= limit[1]) || limit[0] === Infinity || limit[1] === -Infinity) {
      throw new InputError(`mamba2Ssd option dtLimit must have lo <= hi (lo < Infinity, hi > -Infinity), got [${limit[0]}, ${limit[1]}]`);
    }
  }
  const { dtBias = false, dtSoftplus = false, aLog = false, z = false } = opts;
  const processed = dtBias || dtSoftplus || limit !== undefined;
  if (!processed && !aLog && !z) return mamba2_ssd;

  const inputs: Record<string, readonly ('B' | 'T' | 'H' | 'K' | 'V')[]> = {
    x: ['B', 'T', 'H', 'V'], dt: ['B', 'T', 'H'], ...(dtBias ? { dt_bias: ['H'] } : {}), ...(aLog ? { A_log: ['H'] } : { A: ['H'] }),
    Bm: ['B', 'T', 'H', 'K'], Cm: ['B', 'T', 'H', 'K'], D: ['H'], ...(z ? { z: ['B', 'T', 'H', 'V'] } : {}),
  };
  type In = Record<string, Expr>;
  const dtOf = (i: In): Expr => (processed ? mambaDt(i.dt!, { ...(dtBias ? { dtBias: i.dt_bias! } : {}), dtSoftplus, ...(limit ? { dtLimit: limit } : {}) }) : i.dt!);
  const aOf = (i: In): Expr => (aLog ? i.A_log!.exp().neg() : i.A!);
  const what = [dtBias && 'dt_bias', dtSoftplus && 'dt_softplus', limit && `dt_limit [${limit[0]}, ${limit[1]}]`, aLog && 'A_log', z && 'z'].filter(Boolean).join(', ');
  return defineVariant({
    name: 'mamba2_ssd',
    description: `Mamba-2 SSD as mamba_chunk_scan_combined takes it (${what})`,
    inputs,
    q: ({ Cm }) => Cm!, k: ({ Bm }) => Bm!, v: (i) => i.x!.mul(dtOf(i)),
    decay: 'scalar', logDecay: (i) => aOf(i).mul(dtOf(i)),
    correction: 'none',
    outputAdd: ({ D, x }) => D!.mul(x!),
    ...(z ? { outputGate: ({ z: zz }: In) => silu(zz!) } : {}),
    scale: 1,
    stateLayout: 'vk',
  });
}
