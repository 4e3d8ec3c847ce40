// The float64 CPU reference: the naive token-by-token recurrence, driven by the same spec the
// kernels are generated from. Tests hold it to FLA's fixtures, and the kernels to it.
import { DEFAULT_L2NORM_EPS, evaluate, inputStrides, qkHeaded, type Dim, type ProblemSize, type Role, type VariantDef } from '../dsl/index.js';

export type HostArray = Float64Array | Float32Array;
export interface ReferenceOutput { o: Float64Array; ht: Float64Array }

export function defaultScale(def: VariantDef, K: number): number {
  return def.scale === 'rsqrtK' ? 1 / Math.sqrt(K) : def.scale;
}

/** Visits a role's index space [B,T,H,J] (J = K, V or 1) in row-major order; `read(name)`
 * gives an input's value at the current index, `offset(name)` its element offset. */
export function visitRole(
  def: VariantDef, inputs: Record<string, HostArray>, size: ProblemSize, axis: 'K' | 'V' | null,
  visit: (p: number, read: (name: string) => number, offset: (name: string) => number, head: number) => void,
): void {
  const J = axis ? size[axis] : 1;
  const G = size.G ?? 1;
  const strides = new Map(def.inputs.map((d) => [d.name, inputStrides(def, d, size)]));
  // Under grouped heads, value head h reads query/key head floor(h / G).
  const grouped = new Set(G > 1 ? def.inputs.filter((d) => qkHeaded(def, d.name)).map((d) => d.name) : []);
  const idx: Record<Dim, number> = { B: 0, T: 0, H: 0, K: 0, V: 0 };
  const offset = (name: string) => {
    const s = strides.get(name)!;
    const h = grouped.has(name) ? Math.floor(idx.H / G) : idx.H;
    return idx.B * s.B + idx.T * s.T + h * s.H + idx.K * s.K + idx.V * s.V;
  };
  const read = (name: string) => inputs[name]![offset(name)]!;
  let p = 0;
  for (let b = 0; b < size.B; b++) for (let t = 0; t < size.T; t++) for (let h = 0; h < size.H; h++) {
    for (let j = 0; j < J; j++) {
      idx.B = b; idx.T = t; idx.H = h; idx.K = axis === 'K' ? j : 0; idx.V = axis === 'V' ? j : 0;
      visit(p++, read, offset, h);
    }
  }
}

/** Evaluates a role's expression over its whole index space [B,T,H,J] (J = K, V or 1). */
export function materializeRole(
  def: VariantDef, role: Role, inputs: Record<string, HostArray>, size: ProblemSize, axis: 'K' | 'V' | null,
): Float64Array {
  const node = def.roles[role];
  if (!node) throw new Error(`variant '${def.name}' has no '${role}' role`);
  const out = new Float64Array(size.B * size.T * size.H * (axis ? size[axis] : 1));
  visitRole(def, inputs, size, axis, (p, read, _offset, head) => { out[p] = evaluate(node, read, head); });
  return out;
}

/** FLA's l2norm epsilon, the default of a spec's (VariantDef.l2normEps): x * rsqrt(sum(x^2) + eps). */
export const L2NORM_EPS = DEFAULT_L2NORM_EPS;

/** The q or k role over [B,T,H,K], L2-normalized per row when the spec says so; `rn` holds each
 * row's 1/sqrt(sum x^2 + eps) with the spec's eps (null when not normalized). */
export function materializeQK(def: VariantDef, role: 'q' | 'k', inputs: Record<string, HostArray>, size: ProblemSize): { x: Float64Array; rn: Float64Array | null } {
  const x = materializeRole(def, role, inputs, size, 'K');
  if (!def.l2norm.includes(role)) return { x, rn: null };
  const K = size.K;
  const rn = new Float64Array(x.length / K);
  for (let r = 0; r < rn.length; r++) {
    let s = 0;
    for (let j = 0; j < K; j++) s += x[r * K + j]! ** 2;
    rn[r] = 1 / Math.sqrt(s + def.l2normEps);
    for (let j = 0; j < K; j++) x[r * K + j]! *= rn[r]!;
  }
  return { x, rn };
}

/** Gradient w.r.t. a normalized row -> w.r.t. the raw row: rn (dn - n (n . dn)), in place. */
export function unnormalizeGrad(dn: Float64Array, n: Float64Array, rn: Float64Array, K: number): void {
  for (let r = 0; r < rn.length; r++) {
    let dot = 0;
    for (let j = 0; j < K; j++) dot += dn[r * K + j]! * n[r * K + j]!;
    for (let j = 0; j < K; j++) dn[r * K + j] = rn[r]! * (dn[r * K + j]! - n[r * K + j]! * dot);
  }
}

/** Runs the recurrence in float64. h0/ht use the variant's state layout. */
export function referenceForward(
  def: VariantDef, inputs: Record<string, HostArray>, size: ProblemSize,
  opts: { scale?: number; h0?: HostArray | null } = {},
): ReferenceOutput {
  if (def.normalize === 'exp') return normalizedForward(def, inputs, size, opts);
  const { B, T, H, K, V } = size;
  const scale = opts.scale ?? defaultScale(def, K);
  const q = materializeQK(def, 'q', inputs, size).x;
  const k = materializeQK(def, 'k', inputs, size).x;
  const v = materializeRole(def, 'v', inputs, size, 'V');
  const diag = def.decay === 'diagonal';
  const g = def.decay === 'none' ? null : materializeRole(def, 'logDecay', inputs, size, diag ? 'K' : null);
  const beta = def.correction === 'delta' ? materializeRole(def, 'beta', inputs, size, null) : null;
  const dplr = def.correction === 'dplr';
  const ra = dplr ? materializeRole(def, 'a', inputs, size, 'K') : null;
  const rb = dplr ? materializeRole(def, 'b', inputs, size, 'K') : null;
  const u = def.bonus === 'u' ? materializeRole(def, 'u', inputs, { ...size, B: 1, T: 1 }, 'K') : null;
  const add = def.roles.outputAdd ? materializeRole(def, 'outputAdd', inputs, size, 'V') : null;
  const gate = def.roles.outputGate ? materializeRole(def, 'outputGate', inputs, size, 'V') : null;
  const kv = def.stateLayout === 'kv';
  const sIdx = (b: number, h: number, d: number, c: number) =>
    kv ? ((b * H + h) * K + d) * V + c : ((b * H + h) * V + c) * K + d;

  const o = new Float64Array(B * T * H * V);
  const ht = new Float64Array(B * H * K * V);
  const S = new Float64Array(K * V);
  const kvec = new Float64Array(V);
  const sa = new Float64Array(V);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
    for (let d = 0; d < K; d++) for (let c = 0; c < V; c++) S[d * V + c] = opts.h0 ? opts.h0[sIdx(b, h, d, c)]! : 0;
    for (let t = 0; t < T; t++) {
      const row = (b * T + t) * H + h;
      const qo = row * K, ko = row * K, vo = row * V;
      const decayAt = (d: number) => (g ? Math.exp(diag ? g[row * K + d]! : g[row]!) : 1);
      if (u) {
        // RWKV6: the output reads the previous state plus the bonus, then the state decays and updates.
        for (let c = 0; c < V; c++) {
          let acc = 0;
          for (let d = 0; d < K; d++) acc += q[qo + d]! * (S[d * V + c]! + u[h * K + d]! * k[ko + d]! * v[vo + c]!);
          o[vo + c] = (scale * acc + (add ? add[vo + c]! : 0)) * (gate ? gate[vo + c]! : 1);
        }
        for (let d = 0; d < K; d++) {
          const a = decayAt(d);
          for (let c = 0; c < V; c++) S[d * V + c] = a * S[d * V + c]! + k[ko + d]! * v[vo + c]!;
        }
        continue;
      }
      if (ra) {
        // generalized delta rule: a reads the state before this step's decay (FLA's DPLR).
        for (let c = 0; c < V; c++) {
          let acc = 0;
          for (let d = 0; d < K; d++) acc += ra[ko + d]! * S[d * V + c]!;
          sa[c] = acc;
        }
      }
      for (let d = 0; d < K; d++) {
        const a = decayAt(d);
        if (a !== 1) for (let c = 0; c < V; c++) S[d * V + c]! *= a;
      }
      if (rb) for (let d = 0; d < K; d++) for (let c = 0; c < V; c++) S[d * V + c]! += rb[ko + d]! * sa[c]!;
      if (beta) {
        // delta: v' = beta (v - S~^T k), on the already-decayed state.
        for (let c = 0; c < V; c++) {
          let acc = 0;
          for (let d = 0; d < K; d++) acc += S[d * V + c]! * k[ko + d]!;
          kvec[c] = beta[row]! * (v[vo + c]! - acc);
        }
      } else {
        for (let c = 0; c < V; c++) kvec[c] = v[vo + c]!;
      }
      for (let d = 0; d < K; d++) for (let c = 0; c < V; c++) S[d * V + c]! += k[ko + d]! * kvec[c]!;
      for (let c = 0; c < V; c++) {
        let acc = 0;
        for (let d = 0; d < K; d++) acc += q[qo + d]! * S[d * V + c]!;
        o[vo + c] = (scale * acc + (add ? add[vo + c]! : 0)) * (gate ? gate[vo + c]! : 1);
      }
    }
    for (let d = 0; d < K; d++) for (let c = 0; c < V; c++) ht[sIdx(b, h, d, c)] = S[d * V + c]!;
  }
  return { o, ht };
}

/** The lowest running maximum, BlinkDL's -1e38: the maximum of a state that has seen nothing. */
export const EMPTY_MAX = -1e38;

/**
 * The normalized form (NormalizeKind 'exp') in float64, as BlinkDL's RWKV-4 wkv computes it per
 * key row d: aa (the numerator row, scaled by e^-pp), bb (the denominator, scaled alike) and pp
 * (the running maximum of the exponents). With the bonus u the output reads the state before the
 * token plus e^(u + k) v; then the state decays by e^w and adds e^k v (and e^k). Without it the
 * state updates first. Rows combine as o = scale sum_d q_d e^(p_d - M) num_d / sum_d q_d e^(p_d - M) den_d,
 * M the largest p_d. The state's columns are [aa (V) | bb | pp].
 */
function normalizedForward(
  def: VariantDef, inputs: Record<string, HostArray>, size: ProblemSize, opts: { scale?: number; h0?: HostArray | null },
): ReferenceOutput {
  const { B, T, H, K, V } = size;
  const SV = V + 2;
  const scale = opts.scale ?? defaultScale(def, K);
  const q = materializeQK(def, 'q', inputs, size).x;
  const k = materializeRole(def, 'k', inputs, size, 'K');
  const v = materializeRole(def, 'v', inputs, size, 'V');
  const diag = def.decay === 'diagonal';
  const g = def.decay === 'none' ? null : materializeRole(def, 'logDecay', inputs, size, diag ? 'K' : null);
  const u = def.bonus === 'u' ? materializeRole(def, 'u', inputs, { ...size, B: 1, T: 1 }, 'K') : null;
  const add = def.roles.outputAdd ? materializeRole(def, 'outputAdd', inputs, size, 'V') : null;
  const gate = def.roles.outputGate ? materializeRole(def, 'outputGate', inputs, size, 'V') : null;
  const kv = def.stateLayout === 'kv';
  const sIdx = (b: number, h: number, d: number, c: number) => (kv ? ((b * H + h) * K + d) * SV + c : ((b * H + h) * SV + c) * K + d);
  const o = new Float64Array(B * T * H * V);
  const ht = new Float64Array(B * H * K * SV);
  const aa = new Float64Array(K * V), bb = new Float64Array(K), pp = new Float64Array(K);
  const num = new Float64Array(K * V), den = new Float64Array(K), pOut = new Float64Array(K);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
    for (let d = 0; d < K; d++) {
      for (let c = 0; c < V; c++) aa[d * V + c] = opts.h0 ? opts.h0[sIdx(b, h, d, c)]! : 0;
      bb[d] = opts.h0 ? opts.h0[sIdx(b, h, d, V)]! : 0;
      pp[d] = opts.h0 ? opts.h0[sIdx(b, h, d, V + 1)]! : EMPTY_MAX;
    }
    for (let t = 0; t < T; t++) {
      const row = (b * T + t) * H + h;
      const update = () => {
        for (let d = 0; d < K; d++) {
          const kd = k[row * K + d]!;
          const ww = (g ? (diag ? g[row * K + d]! : g[row]!) : 0) + pp[d]!;
          const p = Math.max(ww, kd);
          const e1 = Math.exp(ww - p), e2 = Math.exp(kd - p);
          for (let c = 0; c < V; c++) aa[d * V + c] = e1 * aa[d * V + c]! + e2 * v[row * V + c]!;
          bb[d] = e1 * bb[d]! + e2;
          pp[d] = p;
        }
      };
      if (!u) update();
      for (let d = 0; d < K; d++) {
        if (!u) {
          for (let c = 0; c < V; c++) num[d * V + c] = aa[d * V + c]!;
          den[d] = bb[d]!;
          pOut[d] = pp[d]!;
          continue;
        }
        const ww = u[h * K + d]! + k[row * K + d]!;
        const p = Math.max(pp[d]!, ww);
        const e1 = Math.exp(pp[d]! - p), e2 = Math.exp(ww - p);
        for (let c = 0; c < V; c++) num[d * V + c] = e1 * aa[d * V + c]! + e2 * v[row * V + c]!;
        den[d] = e1 * bb[d]! + e2;
        pOut[d] = p;
      }
      let M = -Infinity;
      for (let d = 0; d < K; d++) M = Math.max(M, pOut[d]!);
      let dsum = 0;
      for (let d = 0; d < K; d++) dsum += q[row * K + d]! * Math.exp(pOut[d]! - M) * den[d]!;
      for (let c = 0; c < V; c++) {
        let nsum = 0;
        for (let d = 0; d < K; d++) nsum += q[row * K + d]! * Math.exp(pOut[d]! - M) * num[d * V + c]!;
        o[row * V + c] = (scale * nsum / dsum + (add ? add[row * V + c]! : 0)) * (gate ? gate[row * V + c]! : 1);
      }
      if (u) update();
    }
    for (let d = 0; d < K; d++) {
      for (let c = 0; c < V; c++) ht[sIdx(b, h, d, c)] = aa[d * V + c]!;
      ht[sIdx(b, h, d, V)] = bb[d]!;
      ht[sIdx(b, h, d, V + 1)] = pp[d]!;
    }
  }
  return { o, ht };
}
