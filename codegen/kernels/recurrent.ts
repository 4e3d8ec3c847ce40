// The token-sequential kernel: one thread per state column, the whole K-column of S in
// registers, one token after another. This is what ORT Web and web-rwkv run today; lae keeps
// it as the baseline the chunked path is measured against. (The decode step has a kernel of its
// own, written for memory speed: step.ts. The specs it does not take, the generalized delta rule,
// step with this emitter: stage 'step' reads and writes one state buffer in place ([B,H,...] like
// h0), and 'stepPool' addresses sequence b's state at slot idx[b] of a larger pool.) The
// generalized delta rule (correction 'dplr') reads a^T S_{t-1} from the column before it decays,
// then adds b times it.
import { KernelSource } from './common.js';
import { wgsl, type Wgsl, type WgslFn } from '../wgsl.js';

/** What a token-sequential kernel (this one, the normalized form's) binds and reads: the roles
 * (function holes), the state in and out (one buffer, in place, for a step; idx's slot for a
 * pooled step), o, and the output's add and gate terms for column cg. */
export function sequentialIO(ks: KernelSource) {
  const q = ks.roleFn('q'); const k = ks.roleFn('k'); const v = ks.roleFn('v');
  const step = ks.stage === 'step' || ks.stage === 'stepPool';
  const h0 = step ? ks.use('state', 'read_write') : ks.use('h0', 'read');
  const ht = step ? h0 : ks.use('ht', 'read_write');
  const o = ks.use('o', 'read_write');
  const slot = ks.stage === 'stepPool' ? wgsl`${ks.use('idx', 'read', false, 'u32')}[sq]` : wgsl`sq`;
  const add = ks.def.roles.outputAdd ? wgsl` + ${ks.roleFn('outputAdd')('b', 't', 'h', 'cg')}` : '';
  const gate = ks.def.roles.outputGate ? wgsl` * ${ks.roleFn('outputGate')('b', 't', 'h', 'cg')}` : '';
  const ld: WgslFn<4> | null = ks.decayed ? ks.roleFn('logDecay') : null;
  return { q, k, v, step, h0, ht, o, slot, add, gate, ld };
}

/** The opening of a kernel with one thread per state column (cg, live while cg < V) over a
 * sequence's tokens, the column in registers `s`. */
export function columnMain(ks: KernelSource): Wgsl {
  return wgsl`${ks.sequenceStage().open}
  let cg = wid.x * WG + lid;
  let live = cg < VD;
  var s: array<f32, KP>;`;
}

export function emitRecurrent(ks: KernelSource): Wgsl {
  const { q, k, v, step, h0, ht, o, slot, add, gate, ld } = sequentialIO(ks);
  const decayAt = ks.diag ? 'sG[d]' : 'a';
  const dplr = ks.def.correction === 'dplr';
  const update = ks.bonus
    ? wgsl`var acc = 0.0;
      for (var d = 0u; d < KD; d++) { acc += sQ[d] * (s[d] + sU[d] * sK[d] * vc); }
      ${o}[((b * P.T + t) * P.H + h) * VD + cg] = (P.scale * acc${add})${gate};
      for (var d = 0u; d < KD; d++) { s[d] = ${ks.decayed ? wgsl`${decayAt} * ` : ''}s[d] + sK[d] * vc; }`
    : wgsl`${dplr ? wgsl`var sa = 0.0;
      for (var d = 0u; d < KD; d++) { sa += sA[d] * s[d]; }` : ''}
      ${ks.decayed ? wgsl`for (var d = 0u; d < KD; d++) { s[d] *= ${decayAt}; }` : ''}
      ${dplr ? wgsl`for (var d = 0u; d < KD; d++) { s[d] += sB[d] * sa; }` : ''}
      ${ks.delta
        ? wgsl`var kv = 0.0;
      for (var d = 0u; d < KD; d++) { kv += s[d] * sK[d]; }
      let vp = beta * (vc - kv);
      for (var d = 0u; d < KD; d++) { s[d] += sK[d] * vp; }`
        : wgsl`for (var d = 0u; d < KD; d++) { s[d] += sK[d] * vc; }`}
      var acc = 0.0;
      for (var d = 0u; d < KD; d++) { acc += sQ[d] * s[d]; }
      ${o}[((b * P.T + t) * P.H + h) * VD + cg] = (P.scale * acc${add})${gate};`;
  return wgsl`
var<workgroup> sQ: array<f32, KP>;
var<workgroup> sK: array<f32, KP>;
${ks.diag ? wgsl`var<workgroup> sG: array<f32, KP>;` : ''}
${ks.bonus ? wgsl`var<workgroup> sU: array<f32, KP>;` : ''}
${dplr ? wgsl`var<workgroup> sA: array<f32, KP>;\nvar<workgroup> sB: array<f32, KP>;` : ''}

${columnMain(ks)}
  let slot = ${slot};
  for (var d = 0u; d < KD; d++) {
    s[d] = 0.0;
    if (live && ${step ? 'true' : 'P.has_h0 != 0u'}) { s[d] = ${h0}[${ks.stateIndex('slot', 'h', 'd', 'cg')}]; }
  }
  ${ks.bonus ? wgsl`for (var d = lid; d < KD; d += WG) { sU[d] = ${ks.roleFn('u')('0u', '0u', 'h', 'd')}; }` : ''}
  for (var t = tBegin; t < tEnd; t++) {
    for (var d = lid; d < KD; d += WG) {
      sQ[d] = ${q('b', 't', 'h', 'd')};
      sK[d] = ${k('b', 't', 'h', 'd')};
      ${ld && ks.diag ? wgsl`sG[d] = exp(${ld('b', 't', 'h', 'd')});` : ''}
      ${dplr ? wgsl`sA[d] = ${ks.roleFn('a')('b', 't', 'h', 'd')};
      sB[d] = ${ks.roleFn('b')('b', 't', 'h', 'd')};` : ''}
    }
    ${ld && !ks.diag ? wgsl`let a = exp(${ld('b', 't', 'h', '0u')});` : ''}
    ${ks.delta ? wgsl`let beta = ${ks.roleFn('beta')('b', 't', 'h', '0u')};` : ''}
    workgroupBarrier();
    if (live) {
      let vc = ${v('b', 't', 'h', 'cg')};
      ${update}
    }
    workgroupBarrier();
  }
  if (live) {
    for (var d = 0u; d < KD; d++) { ${ht}[${ks.stateIndex('slot', 'h', 'd', 'cg')}] = s[d]; }
  }
}`;
}
