// The float64 reference backward: reverse mode through the token recurrence (states kept per
// step), then the chain rule from each role to the inputs it reads, with the role expressions
// differentiated symbolically (dsl/diff.ts). Loss convention, as in FLA's fixtures:
// L = sum(o * do) + sum(ht * dht). Gradients are named 'd' + input name, plus dh0.
import { diff, evaluate, type ProblemSize, type Role, type VariantDef } from '../dsl/index.js';
import { normalizedRoleGradients } from './reference-normalized-backward.js';
import { defaultScale, referenceForward, materializeQK, materializeRole, unnormalizeGrad, visitRole, type HostArray } from './reference.js';

export interface BackwardSeeds { do: HostArray; dht?: HostArray | null }

export function referenceBackward(
  def: VariantDef, inputs: Record<string, HostArray>, size: ProblemSize, seeds: BackwardSeeds,
  opts: { scale?: number; h0?: HostArray | null } = {},
): Record<string, Float64Array> {
  const { B, T, H, K, V } = size;
  const scale = opts.scale ?? defaultScale(def, K);
  const diag = def.decay === 'diagonal';
  const qn = materializeQK(def, 'q', inputs, size);
  const kn = materializeQK(def, 'k', inputs, size);
  const q = qn.x, k = kn.x;
  const v = materializeRole(def, 'v', inputs, size, 'V');
  const g = def.decay === 'none' ? null : materializeRole(def, 'logDecay', inputs, size, diag ? 'K' : null);
  const beta = def.correction === 'delta' ? materializeRole(def, 'beta', inputs, size, null) : null;
  // The generalized delta rule: S_t = diag(a) S_{t-1} + rb (ra^T S_{t-1}) + k v^T.
  const dplr = def.correction === 'dplr';
  const ra = dplr ? materializeRole(def, 'a', inputs, size, 'K') : null;
  const rb = dplr ? materializeRole(def, 'b', inputs, size, 'K') : null;
  const uSize = { ...size, B: 1, T: 1 };
  const u = def.bonus === 'u' ? materializeRole(def, 'u', inputs, uSize, 'K') : null;
  // An output gate: o = pre * gate, so the recurrence sees do * gate, and d gate = do * pre.
  const gate = def.roles.outputGate ? materializeRole(def, 'outputGate', inputs, size, 'V') : null;
  const dOut = gate ? Float64Array.from(seeds.do, (x, i) => x * gate[i]!) : seeds.do;
  if (def.normalize === 'exp') {
    const r = normalizedRoleGradients(def, inputs, size, { dOut, dht: seeds.dht }, { scale, h0: opts.h0 });
    return chainToInputs(def, inputs, size, seeds.do, dOut, gate, { scale, h0: opts.h0 },
      { q: r.dq, k: r.dk, v: r.dv, logDecay: r.dg, u: r.du }, r.dh0);
  }
  const kv = def.stateLayout === 'kv';
  const sIdx = (b: number, h: number, d: number, c: number) =>
    kv ? ((b * H + h) * K + d) * V + c : ((b * H + h) * V + c) * K + d;

  const dq = new Float64Array(q.length), dk = new Float64Array(k.length), dv = new Float64Array(v.length);
  const dg = g ? new Float64Array(g.length) : null;
  const dbeta = beta ? new Float64Array(beta.length) : null;
  const dra = ra ? new Float64Array(ra.length) : null;
  const drb = rb ? new Float64Array(rb.length) : null;
  const sa = new Float64Array(V), dsa = new Float64Array(V);
  const du = u ? new Float64Array(u.length) : null;
  const dh0 = new Float64Array(B * H * K * V);
  const KV = K * V;
  const prev = new Float64Array(T * KV); // S_{t-1} for every t
  const S = new Float64Array(KV), dS = new Float64Array(KV), tilde = new Float64Array(KV);
  const vp = new Float64Array(V), kvv = new Float64Array(V), dvp = new Float64Array(V), w = new Float64Array(V);
  const a = new Float64Array(K);

  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
    const decay = (row: number) => {
      for (let d = 0; d < K; d++) a[d] = g ? Math.exp(diag ? g[row * K + d]! : g[row]!) : 1;
    };
    // sa = ra^T S_{t-1}: what the generalized delta rule's rank-one term reads.
    const saOf = (row: number, St: Float64Array) => {
      for (let c = 0; c < V; c++) {
        let acc = 0;
        for (let d = 0; d < K; d++) acc += ra![row * K + d]! * St[d * V + c]!;
        sa[c] = acc;
      }
    };
    // Forward, keeping S_{t-1}.
    for (let d = 0; d < K; d++) for (let c = 0; c < V; c++) S[d * V + c] = opts.h0 ? opts.h0[sIdx(b, h, d, c)]! : 0;
    for (let t = 0; t < T; t++) {
      const row = (b * T + t) * H + h;
      prev.set(S, t * KV);
      decay(row);
      if (u) {
        for (let d = 0; d < K; d++) for (let c = 0; c < V; c++) S[d * V + c] = a[d]! * S[d * V + c]! + k[row * K + d]! * v[row * V + c]!;
        continue;
      }
      if (ra) saOf(row, S);
      for (let d = 0; d < K; d++) for (let c = 0; c < V; c++) S[d * V + c]! *= a[d]!;
      if (rb) for (let d = 0; d < K; d++) for (let c = 0; c < V; c++) S[d * V + c]! += rb[row * K + d]! * sa[c]!;
      for (let c = 0; c < V; c++) {
        let acc = 0;
        if (beta) for (let d = 0; d < K; d++) acc += S[d * V + c]! * k[row * K + d]!;
        vp[c] = beta ? beta[row]! * (v[row * V + c]! - acc) : v[row * V + c]!;
      }
      for (let d = 0; d < K; d++) for (let c = 0; c < V; c++) S[d * V + c]! += k[row * K + d]! * vp[c]!;
    }
    // Backward from dS = dht.
    for (let d = 0; d < K; d++) for (let c = 0; c < V; c++) dS[d * V + c] = seeds.dht ? seeds.dht[sIdx(b, h, d, c)]! : 0;
    for (let t = T - 1; t >= 0; t--) {
      const row = (b * T + t) * H + h;
      const qo = row * K, ko = row * K, vo = row * V;
      const Sp = prev.subarray(t * KV, (t + 1) * KV);
      const dO = (c: number) => dOut[vo + c]!;
      decay(row);
      if (u) {
        // o = scale q^T (S_{t-1} + diag(u) k v^T); S_t = a * S_{t-1} + k v^T
        let vdo = 0, quk = 0;
        for (let c = 0; c < V; c++) vdo += v[vo + c]! * dO(c);
        for (let d = 0; d < K; d++) quk += q[qo + d]! * u[h * K + d]! * k[ko + d]!;
        for (let d = 0; d < K; d++) {
          let sdo = 0, dsv = 0, da = 0;
          for (let c = 0; c < V; c++) {
            sdo += Sp[d * V + c]! * dO(c);
            dsv += dS[d * V + c]! * v[vo + c]!;
            da += dS[d * V + c]! * Sp[d * V + c]!;
          }
          dq[qo + d]! += scale * (sdo + u[h * K + d]! * k[ko + d]! * vdo);
          du![h * K + d]! += scale * q[qo + d]! * k[ko + d]! * vdo;
          dk[ko + d]! += scale * q[qo + d]! * u[h * K + d]! * vdo + dsv;
          if (dg) dg[diag ? row * K + d : row]! += da * a[d]!;
        }
        for (let c = 0; c < V; c++) {
          let dsk = 0;
          for (let d = 0; d < K; d++) dsk += dS[d * V + c]! * k[ko + d]!;
          dv[vo + c]! += scale * quk * dO(c) + dsk;
        }
        for (let d = 0; d < K; d++) for (let c = 0; c < V; c++) dS[d * V + c] = a[d]! * dS[d * V + c]! + scale * q[qo + d]! * dO(c);
        continue;
      }
      // o = scale S_t^T q: S_t itself is S~ + k v'^T, recomputed from S_{t-1}.
      for (let d = 0; d < K; d++) for (let c = 0; c < V; c++) tilde[d * V + c] = a[d]! * Sp[d * V + c]!;
      if (rb) {
        // Only for the output: S_t = S~ + rb sa^T + k v^T, with S~ here including rb sa^T.
        saOf(row, Sp);
        for (let d = 0; d < K; d++) for (let c = 0; c < V; c++) tilde[d * V + c]! += rb[ko + d]! * sa[c]!;
      }
      for (let c = 0; c < V; c++) {
        let acc = 0;
        if (beta) for (let d = 0; d < K; d++) acc += tilde[d * V + c]! * k[ko + d]!;
        kvv[c] = acc;
        vp[c] = beta ? beta[row]! * (v[vo + c]! - acc) : v[vo + c]!;
      }
      for (let d = 0; d < K; d++) {
        let acc = 0;
        for (let c = 0; c < V; c++) acc += (tilde[d * V + c]! + k[ko + d]! * vp[c]!) * dO(c);
        dq[qo + d]! += scale * acc;
        for (let c = 0; c < V; c++) dS[d * V + c]! += scale * q[qo + d]! * dO(c);
      }
      for (let d = 0; d < K; d++) {
        let acc = 0;
        for (let c = 0; c < V; c++) acc += dS[d * V + c]! * vp[c]!;
        dk[ko + d]! += acc;
      }
      for (let c = 0; c < V; c++) {
        let acc = 0;
        for (let d = 0; d < K; d++) acc += dS[d * V + c]! * k[ko + d]!;
        dvp[c] = acc;
      }
      if (beta) {
        // v' = beta (v - S~^T k)
        let db = 0;
        for (let c = 0; c < V; c++) {
          db += dvp[c]! * (v[vo + c]! - kvv[c]!);
          dv[vo + c]! += beta[row]! * dvp[c]!;
          w[c] = -beta[row]! * dvp[c]!;
        }
        dbeta![row]! += db;
        for (let d = 0; d < K; d++) {
          let acc = 0;
          for (let c = 0; c < V; c++) {
            acc += tilde[d * V + c]! * w[c]!;
            dS[d * V + c]! += k[ko + d]! * w[c]!; // now d/dS~
          }
          dk[ko + d]! += acc;
        }
      } else {
        for (let c = 0; c < V; c++) dv[vo + c]! += dvp[c]!;
      }
      if (rb) {
        // S_t = a * S_{t-1} + rb sa^T + ..., sa = S_{t-1}^T ra: dS is d/dS_t here.
        for (let d = 0; d < K; d++) {
          let acc = 0;
          for (let c = 0; c < V; c++) acc += dS[d * V + c]! * sa[c]!;
          drb![ko + d]! += acc;
        }
        for (let c = 0; c < V; c++) {
          let acc = 0;
          for (let d = 0; d < K; d++) acc += dS[d * V + c]! * rb[ko + d]!;
          dsa[c] = acc;
        }
      }
      // S~ = a * S_{t-1}
      for (let d = 0; d < K; d++) {
        let da = 0;
        for (let c = 0; c < V; c++) {
          da += dS[d * V + c]! * Sp[d * V + c]!;
          dS[d * V + c]! *= a[d]!;
        }
        if (dg) dg[diag ? row * K + d : row]! += da * a[d]!;
      }
      if (ra) {
        // ... + rb (ra^T S_{t-1}): dS_{t-1} += ra dsa^T, d ra = S_{t-1} dsa.
        for (let d = 0; d < K; d++) {
          let acc = 0;
          for (let c = 0; c < V; c++) {
            acc += Sp[d * V + c]! * dsa[c]!;
            dS[d * V + c]! += ra[ko + d]! * dsa[c]!;
          }
          dra![ko + d]! += acc;
        }
      }
    }
    for (let d = 0; d < K; d++) for (let c = 0; c < V; c++) dh0[sIdx(b, h, d, c)] = dS[d * V + c]!;
  }

  // Through the L2 normalization (when the spec has it): gradients w.r.t. the raw roles.
  if (qn.rn) unnormalizeGrad(dq, q, qn.rn, K);
  if (kn.rn) unnormalizeGrad(dk, k, kn.rn, K);
  return chainToInputs(def, inputs, size, seeds.do, dOut, gate, { scale, h0: opts.h0 },
    { q: dq, k: dk, v: dv, logDecay: dg, beta: dbeta, a: dra, b: drb, u: du }, dh0);
}

/** The chain rule from the roles' gradients to the inputs', through the symbolic derivatives;
 * with the output's terms (outputAdd reads dOut, outputGate the ungated output). */
function chainToInputs(
  def: VariantDef, inputs: Record<string, HostArray>, size: ProblemSize, dO: HostArray, dOut: HostArray, gate: Float64Array | null,
  opts: { scale: number; h0?: HostArray | null }, roles: Partial<Record<Role, Float64Array | null>>, dh0: Float64Array,
): Record<string, Float64Array> {
  const diag = def.decay === 'diagonal';
  const uSize = { ...size, B: 1, T: 1 };
  const { q: dq, k: dk, v: dv, logDecay: dg, beta: dbeta, a: dra, b: drb, u: du } = roles;
  const out: Record<string, Float64Array> = {};
  for (const decl of def.inputs) out[`d${decl.name}`] = new Float64Array(inputs[decl.name]!.length);
  const chain = (role: Role, dRole: Float64Array, axis: 'K' | 'V' | null, s: ProblemSize = size) => {
    const node = def.roles[role]!;
    for (const decl of def.inputs) {
      const dnode = diff(node, decl.name);
      if (dnode.kind === 'const' && dnode.value === 0) continue;
      const target = out[`d${decl.name}`]!;
      visitRole(def, inputs, s, axis, (p, read, offset, head) => {
        target[offset(decl.name)]! += dRole[p]! * evaluate(dnode, read, head);
      });
    }
  };
  chain('q', dq!, 'K');
  chain('k', dk!, 'K');
  chain('v', dv!, 'V');
  if (dg) chain('logDecay', dg, diag ? 'K' : null);
  if (dbeta) chain('beta', dbeta, null);
  if (dra) chain('a', dra, 'K');
  if (drb) chain('b', drb, 'K');
  if (du) chain('u', du, 'K', uSize);
  if (def.roles.outputAdd) chain('outputAdd', Float64Array.from(dOut), 'V');
  if (gate) {
    const { outputGate: _g, ...ungated } = def.roles;
    const pre = referenceForward({ ...def, roles: ungated }, inputs, size, { scale: opts.scale, h0: opts.h0 }).o;
    chain('outputGate', Float64Array.from(dO, (x, i) => x * pre[i]!), 'V');
  }
  out.dh0 = dh0;
  return out;
}
