// The float64 reference backward of the normalized form (NormalizeKind 'exp', RWKV-4): reverse
// mode through the exact recurrence, unscaled (so for keys well inside float64's exp range, |k|
// up to ~700), with the state given and returned as BlinkDL's [aa | bb | pp]. In exact terms
// the form is linear attention with value [v, 1], key exp(k) and bonus exp(u):
//   N_t = D_t N_{t-1} + e^k v^T,  Z_t = D_t Z_{t-1} + e^k,  o = scale (q^T N) / (q^T Z)
// (with the bonus, o reads N_{t-1} + e^(u+k) v^T, Z_{t-1} + e^(u+k), and the update follows).
// The state's maximum pp_t = max(logD_t + pp_{t-1}, k_t) only scales aa = N e^-pp and bb = Z e^-pp,
// so it enters the loss through ht (and h0) alone; its gradient follows the winning side of each max.
import type { ProblemSize, VariantDef } from '../dsl/index.js';
import { EMPTY_MAX, defaultScale, materializeQK, materializeRole, unnormalizeGrad, type HostArray } from './reference.js';

export interface NormalizedRoleGradients {
  dq: Float64Array; dk: Float64Array; dv: Float64Array; dg: Float64Array | null; du: Float64Array | null;
  dOut: Float64Array; dh0: Float64Array;
}

/** Gradients w.r.t. the roles q, k, v, logDecay, u ([H,K]) and h0 of L = sum(o * dOut) +
 * sum(ht * dht); dOut is do already through outputGate. */
export function normalizedRoleGradients(
  def: VariantDef, inputs: Record<string, HostArray>, size: ProblemSize,
  seeds: { dOut: ArrayLike<number>; dht?: ArrayLike<number> | null }, opts: { scale?: number; h0?: HostArray | null },
): NormalizedRoleGradients {
  const { B, T, H, K, V } = size;
  const SV = V + 2;
  const scale = opts.scale ?? defaultScale(def, K);
  const qn = materializeQK(def, 'q', inputs, size);
  const q = qn.x;
  const k = materializeRole(def, 'k', inputs, size, 'K');
  const v = materializeRole(def, 'v', inputs, size, 'V');
  const diag = def.decay === 'diagonal';
  const g = def.decay === 'none' ? null : materializeRole(def, 'logDecay', inputs, size, diag ? 'K' : null);
  const u = def.bonus === 'u' ? materializeRole(def, 'u', inputs, { ...size, B: 1, T: 1 }, 'K') : null;
  const kv = def.stateLayout === 'kv';
  const sIdx = (b: number, h: number, d: number, c: number) => (kv ? ((b * H + h) * K + d) * SV + c : ((b * H + h) * SV + c) * K + d);
  const dq = new Float64Array(q.length), dk = new Float64Array(k.length), dv = new Float64Array(v.length);
  const dg = g ? new Float64Array(g.length) : null;
  const du = u ? new Float64Array(H * K) : null;
  const dh0 = new Float64Array(B * H * K * SV);
  const logD = (row: number, d: number) => (g ? (diag ? g[row * K + d]! : g[row]!) : 0);
  const KV = K * V;
  const N = new Float64Array((T + 1) * KV), Z = new Float64Array((T + 1) * K), P = new Float64Array((T + 1) * K);
  const numv = new Float64Array(V), dN = new Float64Array(KV), dZ = new Float64Array(K), dP = new Float64Array(K);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
    const row = (t: number) => (b * T + t) * H + h;
    // Forward, keeping N_t, Z_t (unscaled) and the maximum P_t for t = 0..T.
    for (let d = 0; d < K; d++) {
      P[d] = opts.h0 ? opts.h0[sIdx(b, h, d, V + 1)]! : EMPTY_MAX;
      const s = opts.h0 ? Math.exp(P[d]!) : 0;
      for (let c = 0; c < V; c++) N[d * V + c] = opts.h0 ? opts.h0[sIdx(b, h, d, c)]! * s : 0;
      Z[d] = opts.h0 ? opts.h0[sIdx(b, h, d, V)]! * s : 0;
    }
    for (let t = 0; t < T; t++) {
      const r = row(t);
      for (let d = 0; d < K; d++) {
        const lam = Math.exp(logD(r, d)), ek = Math.exp(k[r * K + d]!);
        for (let c = 0; c < V; c++) N[(t + 1) * KV + d * V + c] = lam * N[t * KV + d * V + c]! + ek * v[r * V + c]!;
        Z[(t + 1) * K + d] = lam * Z[t * K + d]! + ek;
        P[(t + 1) * K + d] = Math.max(logD(r, d) + P[t * K + d]!, k[r * K + d]!);
      }
    }
    // ht = (N_T e^-P, Z_T e^-P, P): its seeds onto N_T, Z_T and P_T.
    for (let d = 0; d < K; d++) {
      const s = Math.exp(-P[T * K + d]!);
      let dp = seeds.dht ? seeds.dht[sIdx(b, h, d, V + 1)]! : 0;
      for (let c = 0; c < V; c++) {
        const seed = seeds.dht ? seeds.dht[sIdx(b, h, d, c)]! : 0;
        dN[d * V + c] = seed * s;
        dp -= seed * N[T * KV + d * V + c]! * s;
      }
      const seedZ = seeds.dht ? seeds.dht[sIdx(b, h, d, V)]! : 0;
      dZ[d] = seedZ * s;
      dp -= seedZ * Z[T * K + d]! * s;
      dP[d] = dp;
    }
    for (let t = T - 1; t >= 0; t--) {
      const r = row(t);
      const read = u ? t : t + 1; // the state the output reads: N_{t-1} (+ the bonus) or N_t
      const bonus = (d: number) => (u ? Math.exp(u[h * K + d]! + k[r * K + d]!) : 0);
      let den = 0;
      for (let c = 0; c < V; c++) numv[c] = 0;
      for (let d = 0; d < K; d++) {
        den += q[r * K + d]! * (Z[read * K + d]! + bonus(d));
        for (let c = 0; c < V; c++) numv[c]! += q[r * K + d]! * (N[read * KV + d * V + c]! + bonus(d) * v[r * V + c]!);
      }
      // o = scale num / den: dnum = scale dOut / den, dden = -scale sum_c dOut num / den^2.
      let dden = 0;
      for (let c = 0; c < V; c++) dden -= scale * seeds.dOut[r * V + c]! * numv[c]! / (den * den);
      const dnum = (c: number) => scale * seeds.dOut[r * V + c]! / den;
      const readGrad = () => {
        for (let d = 0; d < K; d++) {
          let acc = dden * (Z[read * K + d]! + bonus(d));
          for (let c = 0; c < V; c++) acc += dnum(c) * (N[read * KV + d * V + c]! + bonus(d) * v[r * V + c]!);
          dq[r * K + d]! += acc;
          // Into the state read (N, Z at `read`), and through the bonus into u, k, v.
          for (let c = 0; c < V; c++) dN[d * V + c]! += q[r * K + d]! * dnum(c);
          dZ[d]! += q[r * K + d]! * dden;
          if (u) {
            let db = dden;
            for (let c = 0; c < V; c++) {
              db += dnum(c) * v[r * V + c]!;
              dv[r * V + c]! += q[r * K + d]! * bonus(d) * dnum(c);
            }
            const w = q[r * K + d]! * bonus(d) * db;
            du![h * K + d]! += w;
            dk[r * K + d]! += w;
          }
        }
      };
      if (!u) readGrad();
      // The update N_{t+1} = lam N_t + ek v, Z likewise, P_{t+1} = max(logD + P_t, k): back to t.
      for (let d = 0; d < K; d++) {
        const lam = Math.exp(logD(r, d)), ek = Math.exp(k[r * K + d]!);
        let dlam = dZ[d]! * Z[t * K + d]!, dek = dZ[d]!;
        for (let c = 0; c < V; c++) {
          dlam += dN[d * V + c]! * N[t * KV + d * V + c]!;
          dek += dN[d * V + c]! * v[r * V + c]!;
          dv[r * V + c]! += dN[d * V + c]! * ek;
          dN[d * V + c]! *= lam;
        }
        dZ[d]! *= lam;
        dk[r * K + d]! += dek * ek;
        let dlog = dlam * lam;
        if (logD(r, d) + P[t * K + d]! >= k[r * K + d]!) { dlog += dP[d]!; } else { dk[r * K + d]! += dP[d]!; dP[d] = 0; }
        if (dg) dg[diag ? r * K + d : r]! += dlog;
      }
      if (u) readGrad();
    }
    // h0 = (aa, bb, pp) with N_0 = aa e^pp, Z_0 = bb e^pp.
    if (opts.h0) {
      for (let d = 0; d < K; d++) {
        const s = Math.exp(P[d]!);
        let dp = dP[d]!;
        for (let c = 0; c < V; c++) {
          dh0[sIdx(b, h, d, c)] = dN[d * V + c]! * s;
          dp += dN[d * V + c]! * N[d * V + c]!;
        }
        dh0[sIdx(b, h, d, V)] = dZ[d]! * s;
        dh0[sIdx(b, h, d, V + 1)] = dp + dZ[d]! * Z[d]!;
      }
    }
  }
  if (qn.rn) unnormalizeGrad(dq, q, qn.rn, K);
  return { dq, dk, dv, dg, du, dOut: Float64Array.from(seeds.dOut), dh0 };
}
