// The generalized delta rule (correction 'dplr': RWKV-7, FLA's chunk_dplr_delta_rule) in its
// chunked form, in float64: the algorithm its chunked kernels are to follow, held to the
// token-by-token reference (runtime/reference.ts) by test/reference.test.ts. With the state
// S (K x V) and per-key decay D_t = diag(e^{g_t}),
//   S_t = D_t S_{t-1} + b_t (a_t^T S_{t-1}) + k_t v_t^T,   o_t = scale S_t^T q_t.
// In a chunk of rows i = 0 .. L-1 from the state S0 it came in with, G_i = sum_{m <= i} g_m per
// key (G_{-1} = 0) and u_i = a_i^T S_{i-1} (a row of V), so that
//   S_i = e^{G_i} (S0 + sum_{j <= i} e^{-G_j} (b_j u_j + k_j v_j^T)).
// Then, with the decayed products (j < i for the a rows, j <= i for the q rows)
//   A_ab[i,j] = sum_d a_i e^{G_{i-1} - G_j} b_j,  A_ak[i,j] = sum_d a_i e^{G_{i-1} - G_j} k_j,
//   A_qb[i,j] = sum_d q_i e^{G_i - G_j} b_j,      A_qk[i,j] = sum_d q_i e^{G_i - G_j} k_j,
// the rows u solve the unit lower-triangular system (I - A_ab) u = (a e^{G_{i-1}}) S0 + A_ak V,
// i.e. u = W S0 + U with T = (I - A_ab)^-1, W = T (a e^{G_{i-1}}), U = T A_ak V (the WY form; the
// state walk needs only W and U per chunk), and
//   o_i = scale ((q_i e^{G_i})^T S0 + sum_j A_qb[i,j] u_j + A_qk[i,j] v_j),
//   S_L = e^{G_{L-1}} S0 + sum_j (b_j e^{G_{L-1} - G_j}) u_j^T + (k_j e^{G_{L-1} - G_j}) v_j^T.
// Every exponent of a term that reaches o or the state is <= 0 where the log-decays are; the
// kernels will keep them so by anchoring within 16-row blocks, as kda's scores do.
import type { ProblemSize, VariantDef } from '../dsl/index.js';
import { defaultScale, materializeQK, materializeRole, type HostArray, type ReferenceOutput } from './reference.js';

export function referenceChunkedDplr(
  def: VariantDef, inputs: Record<string, HostArray>, size: ProblemSize,
  opts: { chunk: number; scale?: number; h0?: HostArray | null },
): ReferenceOutput {
  if (def.correction !== 'dplr' || def.decay !== 'diagonal') throw new Error(`referenceChunkedDplr: '${def.name}' is not the generalized delta rule with per-key decay`);
  if (def.stateLayout !== 'kv' || def.bonus !== 'none' || def.roles.outputAdd || def.roles.outputGate) {
    throw new Error(`referenceChunkedDplr: '${def.name}' has a state layout, bonus or output role this reference does not take`);
  }
  const { B, T, H, K, V } = size;
  const C = opts.chunk;
  const scale = opts.scale ?? defaultScale(def, K);
  const q = materializeQK(def, 'q', inputs, size).x;
  const k = materializeQK(def, 'k', inputs, size).x;
  const v = materializeRole(def, 'v', inputs, size, 'V');
  const g = materializeRole(def, 'logDecay', inputs, size, 'K');
  const a = materializeRole(def, 'a', inputs, size, 'K');
  const b = materializeRole(def, 'b', inputs, size, 'K');
  const o = new Float64Array(B * T * H * V);
  const ht = new Float64Array(B * H * K * V);
  const S = new Float64Array(K * V);
  const G = new Float64Array((C + 1) * K); // row i + 1 holds G_i; row 0 is G_{-1} = 0
  const u = new Float64Array(C * V);
  for (let bb = 0; bb < B; bb++) for (let h = 0; h < H; h++) {
    const at = (t: number) => (bb * T + t) * H + h;
    for (let e = 0; e < K * V; e++) S[e] = opts.h0 ? opts.h0[((bb * H + h) * K) * V + e]! : 0;
    for (let t0 = 0; t0 < T; t0 += C) {
      const L = Math.min(C, T - t0);
      for (let i = 0; i < L; i++) for (let d = 0; d < K; d++) G[(i + 1) * K + d] = G[i * K + d]! + g[at(t0 + i) * K + d]!;
      /** sum_d x_i[d] e^{G[ri] - G_j} y_j[d] (ri a row of G: i for G_{i-1}, i + 1 for G_i). */
      const dot = (x: Float64Array, i: number, ri: number, y: Float64Array, j: number) => {
        let s = 0;
        for (let d = 0; d < K; d++) s += x[at(t0 + i) * K + d]! * Math.exp(G[ri * K + d]! - G[(j + 1) * K + d]!) * y[at(t0 + j) * K + d]!;
        return s;
      };
      /** (x_i e^{G[ri]})^T S0, column c. */
      const fromState = (x: Float64Array, i: number, ri: number, c: number) => {
        let s = 0;
        for (let d = 0; d < K; d++) s += x[at(t0 + i) * K + d]! * Math.exp(G[ri * K + d]!) * S[d * V + c]!;
        return s;
      };
      // u by forward substitution of (I - A_ab) u = (a e^{G_{i-1}}) S0 + A_ak V.
      for (let i = 0; i < L; i++) {
        const ab = Array.from({ length: i }, (_, j) => dot(a, i, i, b, j));
        const ak = Array.from({ length: i }, (_, j) => dot(a, i, i, k, j));
        for (let c = 0; c < V; c++) {
          let s = fromState(a, i, i, c);
          for (let j = 0; j < i; j++) s += ab[j]! * u[j * V + c]! + ak[j]! * v[at(t0 + j) * V + c]!;
          u[i * V + c] = s;
        }
      }
      for (let i = 0; i < L; i++) {
        const qb = Array.from({ length: i + 1 }, (_, j) => dot(q, i, i + 1, b, j));
        const qk = Array.from({ length: i + 1 }, (_, j) => dot(q, i, i + 1, k, j));
        for (let c = 0; c < V; c++) {
          let s = fromState(q, i, i + 1, c);
          for (let j = 0; j <= i; j++) s += qb[j]! * u[j * V + c]! + qk[j]! * v[at(t0 + j) * V + c]!;
          o[at(t0 + i) * V + c] = scale * s;
        }
      }
      // The state at the chunk's end.
      for (let d = 0; d < K; d++) {
        const last = G[L * K + d]!;
        for (let c = 0; c < V; c++) {
          let s = Math.exp(last) * S[d * V + c]!;
          for (let j = 0; j < L; j++) {
            const f = Math.exp(last - G[(j + 1) * K + d]!);
            s += f * (b[at(t0 + j) * K + d]! * u[j * V + c]! + k[at(t0 + j) * K + d]! * v[at(t0 + j) * V + c]!);
          }
          S[d * V + c] = s;
        }
      }
    }
    for (let e = 0; e < K * V; e++) ht[((bb * H + h) * K) * V + e] = S[e]!;
  }
  return { o, ht };
}
