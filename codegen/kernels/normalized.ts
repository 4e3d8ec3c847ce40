// The normalized form's token-sequential kernel (NormalizeKind 'exp', RWKV-4's wkv): one thread
// per state column as in recurrent.ts, holding its column of the numerator aa (scaled by e^-pp)
// and, redundantly in every thread (the same arithmetic, so the same values), the rows'
// denominator bb and running maximum pp: each exp() takes an exponent minus a maximum, <= 0, so
// nothing overflows whatever the keys. The first column's thread writes bb and pp back (state
// columns V and V + 1). Stages 'step' and 'stepPool' as in recurrent.ts.
import type { KernelSource } from './common.js';
import { columnMain, sequentialIO } from './recurrent.js';
import { wgsl, type Wgsl } from '../wgsl.js';

export function emitNormalizedRecurrent(ks: KernelSource): Wgsl {
  const { q, k, v, step, h0, ht, o, slot, add, gate, ld } = sequentialIO(ks);
  const logDecay = ks.diag ? wgsl`sW[d]` : ks.decayed ? wgsl`lw` : wgsl`0.0`;
  const at = (c: string) => ks.stateIndex('slot', 'h', 'd', c);
  // The rows' output exponent: the state's maximum, or with the bonus max(pp, u + k).
  const pOut = ks.bonus ? wgsl`max(pp[d], sU[d] + sK[d])` : wgsl`pp[d]`;
  const rowTerms = ks.bonus
    ? wgsl`let ww = sU[d] + sK[d];
        let e1 = exp(pp[d] - pd);
        let e2 = exp(ww - pd);
        num += r * (e1 * s[d] + e2 * vc);
        den += r * (e1 * z[d] + e2);`
    : wgsl`num += r * s[d];
        den += r * z[d];`;
  const output = wgsl`var m = -3.0e38;
      for (var d = 0u; d < KD; d++) { m = max(m, ${pOut}); }
      var num = 0.0;
      var den = 0.0;
      for (var d = 0u; d < KD; d++) {
        let pd = ${pOut};
        let r = sQ[d] * exp(pd - m);
        ${rowTerms}
      }
      ${o}[((b * P.T + t) * P.H + h) * VD + cg] = (P.scale * num / den${add})${gate};`;
  const update = wgsl`for (var d = 0u; d < KD; d++) {
        let ww = ${logDecay} + pp[d];
        let p = max(ww, sK[d]);
        let e1 = exp(ww - p);
        let e2 = exp(sK[d] - p);
        s[d] = e1 * s[d] + e2 * vc;
        z[d] = e1 * z[d] + e2;
        pp[d] = p;
      }`;
  return wgsl`
var<workgroup> sQ: array<f32, KP>;
var<workgroup> sK: array<f32, KP>;
${ks.diag ? wgsl`var<workgroup> sW: array<f32, KP>;` : ''}
${ks.bonus ? wgsl`var<workgroup> sU: array<f32, KP>;` : ''}

${columnMain(ks)}
  var z: array<f32, KP>;
  var pp: array<f32, KP>;
  let slot = ${slot};
  for (var d = 0u; d < KD; d++) {
    s[d] = 0.0;
    z[d] = 0.0;
    pp[d] = -1.0e38;
    if (live && ${step ? 'true' : 'P.has_h0 != 0u'}) {
      s[d] = ${h0}[${at('cg')}];
      z[d] = ${h0}[${at('VD')}];
      pp[d] = ${h0}[${at('VD + 1u')}];
    }
  }
  ${ks.bonus ? wgsl`for (var d = lid; d < KD; d += WG) { sU[d] = ${ks.roleFn('u')('0u', '0u', 'h', 'd')}; }` : ''}
  for (var t = tBegin; t < tEnd; t++) {
    for (var d = lid; d < KD; d += WG) {
      sQ[d] = ${q('b', 't', 'h', 'd')};
      sK[d] = ${k('b', 't', 'h', 'd')};
      ${ld && ks.diag ? wgsl`sW[d] = ${ld('b', 't', 'h', 'd')};` : ''}
    }
    ${ld && !ks.diag ? wgsl`let lw = ${ld('b', 't', 'h', '0u')};` : ''}
    workgroupBarrier();
    if (live) {
      let vc = ${v('b', 't', 'h', 'cg')};
      ${ks.bonus ? wgsl`${output}\n      ${update}` : wgsl`${update}\n      ${output}`}
    }
    workgroupBarrier();
  }
  // The step updates its state in place: every thread has read the shared columns before the
  // first one writes them (the plan gives this kernel one workgroup per head, all V columns).
  workgroupBarrier();
  if (live) {
    for (var d = 0u; d < KD; d++) {
      ${ht}[${at('cg')}] = s[d];
      if (cg == 0u) {
        ${ht}[${at('VD')}] = z[d];
        ${ht}[${at('VD + 1u')}] = pp[d];
      }
    }
  }
}`;
}
