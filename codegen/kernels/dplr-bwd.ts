// The generalized delta rule's backward, token by token, after the token-sequential forward.
// In FLA's K-first orientation, per token:  sa = S_{t-1}^T a,  S_t = D S_{t-1} + b sa^T + k v^T,
// o = scale S_t^T q. Reverse mode, with dS the gradient w.r.t. S_t:
//   dS += scale q do^T;  dv = dS^T k;  dsa = dS^T b;  dS_{t-1} = D dS + a dsa^T
//   dq = scale S_t do;  dk = dS v;  db = dS sa;  da = S_{t-1} dsa;  dlogD = D (dS . S_{t-1}) per row
// The V-vectors (sa, dv, dsa) are sums over a state column and the K-vectors (dq, dk, da, db,
// dlogD) sums over a row, so two kernels each keep what they sum over in one thread:
//   dplrBwdCols   one thread per column: the forward for sa, then the reverse scan of dS (which
//                 never reads S) for dv, dsa and dh0. Writes sa and dsa (`sad`), and S and dS at
//                 each chunk's boundary (`hsd`: S before its first token, dS after its last).
//   dplrBwdRows   one thread per row, a workgroup per head: per chunk in reverse, the rows of
//                 S_{t-1} recomputed from the chunk's S (rows need only sa, not the other rows)
//                 into `srows`, then the row of dS walked back with dsa. Writes the K-side role
//                 gradients into `grad_keys` (q, k, a, b) and grad_logDecay.
//   dplrBwdSplit  grad_keys to grad_q, grad_k, grad_a, grad_b, which the chain kernels read:
//                 one buffer in the rows kernel keeps it within 8 storage buffers.
import { columnMain } from './recurrent.js';
import type { KernelSource } from './common.js';
import { joinWgsl, wgsl, type Wgsl } from '../wgsl.js';

/** Roles whose gradients the rows kernel writes into grad_keys, in this order. */
export const DPLR_KEY_ROLES = ['q', 'k', 'a', 'b'] as const;

/** Per-token loads of the K-side roles into workgroup arrays (sG: the decay factors). */
function stageKeys(ks: KernelSource, roles: readonly ('q' | 'k' | 'a' | 'b')[]): { decls: Wgsl; loads: Wgsl; scalarDecay: Wgsl | '' } {
  const arr = (n: string) => wgsl`var<workgroup> ${n}: array<f32, KP>;`;
  const names = { q: 'sQ', k: 'sK', a: 'sA', b: 'sB' } as const;
  const decls = joinWgsl([...roles.map((r) => arr(names[r])), ...(ks.diag ? [arr('sG')] : [])], '\n');
  const ld = ks.decayed ? ks.roleFn('logDecay') : null;
  const loads = wgsl`for (var d = lid; d < KD; d += WG) {
      ${joinWgsl(roles.map((r) => wgsl`${names[r]}[d] = ${ks.roleFn(r)('b', 't', 'h', 'd')};`), '\n      ')}
      ${ld && ks.diag ? wgsl`sG[d] = exp(${ld('b', 't', 'h', 'd')});` : ''}
    }`;
  const scalarDecay = ld && !ks.diag ? wgsl`let e = exp(${ld('b', 't', 'h', '0u')});` : '';
  return { decls, loads, scalarDecay };
}

export function emitDplrBwdColumns(ks: KernelSource): Wgsl {
  const { decls, loads, scalarDecay } = stageKeys(ks, ['q', 'k', 'a', 'b']);
  const e = ks.diag ? wgsl`sG[d] * ` : ks.decayed ? wgsl`e * ` : '';
  const h0 = ks.use('h0', 'read');
  const dht = ks.use('dht', 'read');
  const sad = ks.use('sad', 'read_write');
  const hsd = ks.use('hsd', 'read_write');
  const gv = ks.use('grad_v', 'read_write');
  const dO = ks.seedDo();
  return wgsl`
${decls}

${columnMain(ks)}
  for (var d = 0u; d < KD; d++) {
    s[d] = 0.0;
    if (live && P.has_h0 != 0u) { s[d] = ${h0}[${ks.stateIndex('sq', 'h', 'd', 'cg')}]; }
  }
  let sh = sq * P.H + h;
  // The forward again, for sa = S_{t-1}^T a.
  for (var t = tBegin; t < tEnd; t++) {
    if (live && (t - tBegin) % C == 0u) {
      let at = ((sh * P.NT + (t - tBegin) / C) * 2u * KD) * VD + cg;
      for (var d = 0u; d < KD; d++) { ${hsd}[at + d * VD] = s[d]; }
    }
    ${loads}
    ${scalarDecay}
    workgroupBarrier();
    if (live) {
      var acc = 0.0;
      for (var d = 0u; d < KD; d++) { acc += sA[d] * s[d]; }
      ${sad}[((b * P.T + t) * P.H + h) * VD + cg] = acc;
      let vc = ${ks.roleFn('v')('b', 't', 'h', 'cg')};
      for (var d = 0u; d < KD; d++) { s[d] = ${e}s[d] + sB[d] * acc + sK[d] * vc; }
    }
    workgroupBarrier();
  }
  // The reverse scan of dS (s now holds a column of dS), from dht.
  for (var d = 0u; d < KD; d++) {
    s[d] = 0.0;
    if (live && P.has_dht != 0u) { s[d] = ${dht}[${ks.stateIndex('sq', 'h', 'd', 'cg')}]; }
  }
  for (var tt = tEnd; tt > tBegin; tt--) {
    let t = tt - 1u;
    if (live && ((tt - tBegin) % C == 0u || tt == tEnd)) {
      // The gradient w.r.t. the state after the chunk's last token, before its o.
      let at = (((sh * P.NT + (t - tBegin) / C) * 2u + 1u) * KD) * VD + cg;
      for (var d = 0u; d < KD; d++) { ${hsd}[at + d * VD] = s[d]; }
    }
    ${loads}
    ${scalarDecay}
    workgroupBarrier();
    if (live) {
      let row = (b * P.T + t) * P.H + h;
      let doc = ${dO}[row * VD + cg];
      var dv = 0.0;
      var ds = 0.0;
      for (var d = 0u; d < KD; d++) {
        s[d] += P.scale * sQ[d] * doc;
        dv += s[d] * sK[d];
        ds += s[d] * sB[d];
      }
      ${gv}[row * VD + cg] = dv;
      ${sad}[P.B * P.T * P.H * VD + row * VD + cg] = ds;
      for (var d = 0u; d < KD; d++) { s[d] = ${e}s[d] + sA[d] * ds; }
    }
    workgroupBarrier();
  }
  if (live) {
    for (var d = 0u; d < KD; d++) { ${ks.use('dh0', 'read_write')}[${ks.stateIndex('sq', 'h', 'd', 'cg')}] = s[d]; }
  }
}`;
}

export function emitDplrBwdRows(ks: KernelSource): Wgsl {
  const ld = ks.decayed ? ks.roleFn('logDecay') : null;
  const decayOf = !ld ? wgsl`1.0` : ks.diag ? wgsl`exp(${ld('b', 't', 'h', 'd')})` : wgsl`exp(${ld('b', 't', 'h', '0u')})`;
  const sad = ks.use('sad', 'read');
  const hsd = ks.use('hsd', 'read');
  const srows = ks.use('srows', 'read_write');
  const dO = ks.seedDo();
  const keys = ks.use('grad_keys', 'read_write');
  const grad = (r: (typeof DPLR_KEY_ROLES)[number]) => wgsl`${keys}[${DPLR_KEY_ROLES.indexOf(r)}u * P.B * P.T * P.H * KD + row * KD + d]`;
  const [q, k, a, bb, v] = [ks.roleFn('q'), ks.roleFn('k'), ks.roleFn('a'), ks.roleFn('b'), ks.roleFn('v')];
  const gl = ks.decayed ? ks.use('grad_logDecay', 'read_write') : '';
  // A per-token decay's gradient sums over the rows: a tree over the workgroup (WG = KP rows).
  const decayGrad = !ks.decayed ? '' : ks.diag
    ? wgsl`if (live) { ${gl}[row * KD + d] = de * e; }`
    : wgsl`sRed[lid] = select(0.0, de * e, live);
      workgroupBarrier();
      for (var w = WG / 2u; w > 0u; w = w / 2u) {
        if (lid < w) { sRed[lid] += sRed[lid + w]; }
        workgroupBarrier();
      }
      if (lid == 0u) { ${gl}[row] = sRed[0]; }`;
  // Loads this token's V-vectors; then the row's S_t = e S_{t-1} + b sa + k v.
  const loadsOf = {
    sSa: wgsl`sSa[c] = ${sad}[((b * P.T + t) * P.H + h) * VD + c];`,
    sV: wgsl`sV[c] = ${v('b', 't', 'h', 'c')};`,
    sDsa: wgsl`sDsa[c] = ${sad}[P.B * P.T * P.H * VD + ((b * P.T + t) * P.H + h) * VD + c];`,
    sDo: wgsl`sDo[c] = ${dO}[((b * P.T + t) * P.H + h) * VD + c];`,
  };
  const stage = (names: readonly (keyof typeof loadsOf)[]) => wgsl`for (var c = lid; c < VD; c += WG) {
      ${joinWgsl(names.map((n) => loadsOf[n]), '\n      ')}
    }`;
  const advance = wgsl`if (live) {
      let e = ${decayOf};
      let bd = ${bb('b', 't', 'h', 'd')};
      let kd = ${k('b', 't', 'h', 'd')};
      for (var c = 0u; c < VD; c++) { sr[c] = e * sr[c] + bd * sSa[c] + kd * sV[c]; }
    }`;
  return wgsl`
var<workgroup> sSa: array<f32, VP>;
var<workgroup> sV: array<f32, VP>;
var<workgroup> sDsa: array<f32, VP>;
var<workgroup> sDo: array<f32, VP>;
${ks.decayed && !ks.diag ? wgsl`var<workgroup> sRed: array<f32, WG>;` : ''}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  ${ks.sequenceSpan()}
  let d = lid;
  let live = d < KD;
  let sh = sq * P.H + h;
  var sr: array<f32, VP>;
  var dr: array<f32, VP>;
  let chunks = (tEnd - tBegin + C - 1u) / C;
  for (var m = 0u; m < chunks; m++) {
    let n = chunks - 1u - m;
    let t0 = tBegin + n * C;
    let t1 = min(t0 + C, tEnd);
    if (live) {
      let at = ((sh * P.NT + n) * 2u * KD + d) * VD;
      for (var c = 0u; c < VD; c++) {
        sr[c] = ${hsd}[at + c];
        dr[c] = ${hsd}[at + KD * VD + c];
      }
    }
    // S_{t-1} of each token of the chunk, recomputed from its start.
    for (var t = t0; t < t1; t++) {
      if (live) {
        let at = ((sh * C + (t - t0)) * KD + d) * VD;
        for (var c = 0u; c < VD; c++) { ${srows}[at + c] = sr[c]; }
      }
      ${stage(['sSa', 'sV'])}
      workgroupBarrier();
      ${advance}
      workgroupBarrier();
    }
    for (var tt = t1; tt > t0; tt--) {
      let t = tt - 1u;
      let row = (b * P.T + t) * P.H + h;
      ${stage(['sSa', 'sV', 'sDsa', 'sDo'])}
      workgroupBarrier();
      var de = 0.0;
      let e = ${ks.diag ? wgsl`select(1.0, ${decayOf}, live)` : decayOf};
      if (live) {
        let qd = ${q('b', 't', 'h', 'd')};
        let kd = ${k('b', 't', 'h', 'd')};
        let ad = ${a('b', 't', 'h', 'd')};
        let bd = ${bb('b', 't', 'h', 'd')};
        let at = ((sh * C + (t - t0)) * KD + d) * VD;
        var dq = 0.0;
        var dk = 0.0;
        var db = 0.0;
        var da = 0.0;
        for (var c = 0u; c < VD; c++) {
          let sp = ${srows}[at + c];
          let st = e * sp + bd * sSa[c] + kd * sV[c];
          dq += st * sDo[c];
          let ds = dr[c] + P.scale * qd * sDo[c];
          dk += ds * sV[c];
          db += ds * sSa[c];
          de += ds * sp;
          da += sp * sDsa[c];
          dr[c] = e * ds + ad * sDsa[c];
        }
        ${grad('q')} = P.scale * dq;
        ${grad('k')} = dk;
        ${grad('a')} = da;
        ${grad('b')} = db;
      }
      ${decayGrad}
      workgroupBarrier();
    }
  }
}`;
}

/** grad_keys' slices to the role gradients the chain kernels read: one thread per element, on
 * the grid (K / WG, T, B*H). */
export function emitDplrBwdSplit(ks: KernelSource): Wgsl {
  const keys = ks.use('grad_keys', 'read');
  const n = 'P.B * P.T * P.H * KD';
  return wgsl`
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let j = wid.x * WG + lid;
  if (j >= KD) { return; }
  let i = (((wid.z / P.H) * P.T + wid.y) * P.H + wid.z % P.H) * KD + j;
  ${joinWgsl(DPLR_KEY_ROLES.map((r, j) => wgsl`${ks.use(`grad_${r}`, 'read_write')}[i] = ${keys}[${j}u * ${n} + i];`), '\n  ')}
}`;
}
