// The normalized form's backward (NormalizeKind 'exp') for one key row and one column per head,
// K = V = 1: RWKV-4's channels as heads. One thread per (sequence, head) walks the tokens forward,
// keeping the state before each token (aa, bb, pp: `nstate`), then back. The gradients w.r.t. the
// unscaled numerator and denominator are carried scaled by e^pp as the state is (G~ = G e^pp), so
// every factor is an exp of an exponent minus a maximum, as in the forward:
//   G~_{t-1} = e1 G~_t (e1 = e^(w + pp_{t-1} - pp_t)),  dv = e2 G~_t,  dk = e2 (G~_t v + H~_t),
//   dlogD = e1 (G~_t aa_{t-1} + H~_t bb_{t-1}), the maximum's own gradient following the winning side.
// The output's terms: with den_s = q bb' (bb' the state it reads), o~ = scale num_s / den_s,
//   G~ += q e1o scale do / den_s,  H~ += -q e1o do o~ / den_s  (e1o = 1 without the bonus)
// and the bonus e^(u+k) adds q e2o (scale do v - do o~) / den_s to du and dk, q e2o scale do / den_s
// to dv. With one row, q cancels in o: dq = 0.
//   normalizedBwd       writes the role gradients into grad_all ([5, B, T, H]: q, k, v, logDecay, u)
//   normalizedBwdSplit  grad_all to grad_<role>, which the chain kernels read (one buffer in the
//                       first kernel keeps it within 8 storage buffers).
import type { KernelSource } from './common.js';
import { joinWgsl, wgsl, type Wgsl } from '../wgsl.js';

/** Roles whose gradients normalizedBwd writes into grad_all, in this order. */
export const NORMALIZED_GRAD_ROLES = ['q', 'k', 'v', 'logDecay', 'u'] as const;

export function emitNormalizedBwd(ks: KernelSource): Wgsl {
  const q = ks.roleFn('q'); const k = ks.roleFn('k'); const v = ks.roleFn('v');
  const ld = ks.decayed ? ks.roleFn('logDecay')('b', 't', 'h', '0u') : wgsl`0.0`;
  const u = ks.bonus ? ks.roleFn('u')('0u', '0u', 'h', '0u') : '';
  const h0 = ks.use('h0', 'read');
  const dht = ks.use('dht', 'read');
  const st = ks.use('nstate', 'read_write');
  const all = ks.use('grad_all', 'read_write');
  const dh0 = ks.use('dh0', 'read_write');
  const dO = ks.seedDo();
  const at = (c: string) => ks.stateIndex('sq', 'h', '0u', c);
  const put = (r: (typeof NORMALIZED_GRAD_ROLES)[number], x: string) => wgsl`${all}[${NORMALIZED_GRAD_ROLES.indexOf(r)}u * P.B * P.T * P.H + row] = ${x};`;
  // The output's terms at token t, reading the state (ra, rb, rp): into G~, H~ of that state.
  const output = wgsl`let qd = ${q('b', 't', 'h', '0u')};
    let dov = ${dO}[row];
    ${ks.bonus
      ? wgsl`let ww = ${u} + kt;
    let po = max(rp, ww);
    let e1o = exp(rp - po);
    let e2o = exp(ww - po);`
      : wgsl`let e1o = 1.0;\n    let e2o = 0.0;`}
    let num = qd * (e1o * ra + e2o * vt);
    let den = qd * (e1o * rb + e2o);
    let ot = P.scale * num / den;
    g += qd * e1o * P.scale * dov / den;
    z -= qd * e1o * dov * ot / den;
    ${ks.bonus ? wgsl`let bonus = qd * e2o * (P.scale * dov * vt - dov * ot) / den;
    dk += bonus;
    du = bonus;
    dv += qd * e2o * P.scale * dov / den;` : ''}`;
  // Back through the update S_t = decay(S_{t-1}) + e^k (v, 1), the maximum included.
  const update = wgsl`let ww1 = lw + a0p;
    let p1 = max(ww1, kt);
    let e1 = exp(ww1 - p1);
    let e2 = exp(kt - p1);
    dv += e2 * g;
    dk += e2 * (g * vt + z);
    var dlog = e1 * (g * a0 + z * b0);
    if (ww1 >= kt) { dlog += dp; } else { dk += dp; dp = 0.0; }
    g = e1 * g;
    z = e1 * z;`;
  return wgsl`
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  ${ks.sequenceSpan()}
  var aa = 0.0;
  var bb = 0.0;
  var pp = -1.0e38;
  if (P.has_h0 != 0u) {
    aa = ${h0}[${at('0u')}];
    bb = ${h0}[${at('1u')}];
    pp = ${h0}[${at('2u')}];
  }
  // Forward, keeping the state before each token.
  for (var t = tBegin; t < tEnd; t++) {
    let row = (b * P.T + t) * P.H + h;
    ${st}[3u * row] = aa;
    ${st}[3u * row + 1u] = bb;
    ${st}[3u * row + 2u] = pp;
    let kt = ${k('b', 't', 'h', '0u')};
    let ww = ${ld} + pp;
    let p = max(ww, kt);
    let e1 = exp(ww - p);
    let e2 = exp(kt - p);
    aa = e1 * aa + e2 * ${v('b', 't', 'h', '0u')};
    bb = e1 * bb + e2;
    pp = p;
  }
  // ht = (aa, bb, pp): G~ = daa, H~ = dbb, and the maximum's gradient less what the scaling takes.
  var g = 0.0;
  var z = 0.0;
  var dp = 0.0;
  if (P.has_dht != 0u) {
    g = ${dht}[${at('0u')}];
    z = ${dht}[${at('1u')}];
    dp = ${dht}[${at('2u')}] - g * aa - z * bb;
  }
  for (var tt = tEnd; tt > tBegin; tt--) {
    let t = tt - 1u;
    let row = (b * P.T + t) * P.H + h;
    let a0 = ${st}[3u * row];
    let b0 = ${st}[3u * row + 1u];
    let a0p = ${st}[3u * row + 2u];
    let kt = ${k('b', 't', 'h', '0u')};
    let vt = ${v('b', 't', 'h', '0u')};
    let lw = ${ld};
    var dk = 0.0;
    var dv = 0.0;
    var du = 0.0;
    ${ks.bonus
      ? wgsl`{
    ${update}
    ${put('logDecay', 'dlog')}
    }
    let ra = a0; let rb = b0; let rp = a0p;
    ${output}`
      : wgsl`{
    let ww1 = lw + a0p;
    let p1 = max(ww1, kt);
    let e1 = exp(ww1 - p1);
    let e2 = exp(kt - p1);
    let ra = e1 * a0 + e2 * vt; let rb = e1 * b0 + e2; let rp = p1;
    ${output}
    }
    {
    ${update}
    ${put('logDecay', 'dlog')}
    }`}
    ${put('q', '0.0')}
    ${put('k', 'dk')}
    ${put('v', 'dv')}
    ${put('u', 'du')}
  }
  ${'' /* h0 = (aa, bb, pp), N_0 = aa e^pp: */}
  ${dh0}[${at('0u')}] = g;
  ${dh0}[${at('1u')}] = z;
  ${dh0}[${at('2u')}] = dp + g * aa0(sq, h) + z * bb0(sq, h);
}

fn aa0(sq: u32, h: u32) -> f32 { if (P.has_h0 == 0u) { return 0.0; } return ${h0}[${ks.stateIndex('sq', 'h', '0u', '0u')}]; }
fn bb0(sq: u32, h: u32) -> f32 { if (P.has_h0 == 0u) { return 0.0; } return ${h0}[${ks.stateIndex('sq', 'h', '0u', '1u')}]; }`;
}

/** grad_all's slices to the role gradients the chain kernels read: one thread per token row, on
 * the grid (T, B*H). */
export function emitNormalizedBwdSplit(ks: KernelSource): Wgsl {
  const all = ks.use('grad_all', 'read');
  const roles = NORMALIZED_GRAD_ROLES.filter((r) => r !== 'logDecay' || ks.decayed).filter((r) => r !== 'u' || ks.bonus);
  return wgsl`
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  if (lid != 0u) { return; }
  let row = (wid.z / P.H * P.T + wid.y) * P.H + wid.z % P.H;
  ${joinWgsl(roles.map((r) => wgsl`${ks.use(`grad_${r}`, 'read_write')}[row] = ${all}[${NORMALIZED_GRAD_ROLES.indexOf(r)}u * P.B * P.T * P.H + row];`), '\n  ')}
}`;
}
