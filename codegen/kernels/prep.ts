// Stage 1, parallel over (chunk, b*h): the gate cumsum in log2 units and, for the delta rule,
// the WY/UT factors: T = (I + A_kk)^-1 by forward substitution in workgroup memory, then
// W = T (beta * 2^G * K) and U = T (beta * V).
import { KernelSource } from './common.js';
import { emitScores } from './scores.js';

export function emitPrep(ks: KernelSource): string {
  const cumsum = ks.decayed ? `
  for (var d = lid; d < DG; d += WG) {
    var acc = 0.0;
    for (var i = 0u; i < rows; i++) {
      let t = t0 + i;
      acc += ${ks.role('logDecay')}(b, t, h, d) * LOG2E;
      ${ks.use('gcum', 'read_write')}[(bh * P.T + t) * DG + d] = acc;
    }
  }
  storageBarrier();
  workgroupBarrier();` : '';

  let wy = '';
  let prelude = '';
  if (ks.delta) {
    const beta = ks.role('beta');
    prelude = `var<workgroup> sBeta: array<f32, C>;\n${emitScores(ks, { left: 'k', strict: true, post: 'sBeta[i]' })}`;
    const kRole = ks.role('k');
    const vRole = ks.role('v');
    const decayK = ks.decayed ? ` * exp2(${ks.gcs()}(b, h, tj, d))` : '';
    wy = `
  for (var i = lid; i < C; i += WG) {
    var x = 0.0;
    if (i < rows) { x = ${beta}(b, t0 + i, h, 0u); }
    sBeta[i] = x;
  }
  workgroupBarrier();
  scores(b, h, t0, rows, lid);
  // T = (I + A)^-1, row by row; row i of sA turns from A into T once rows < i are T.
  for (var i = 1u; i < C; i++) {
    var x = 0.0;
    if (lid < i) {
      x = -sA[i * C + lid];
      for (var j = lid + 1u; j < i; j++) { x -= sA[i * C + j] * sA[j * C + lid]; }
    }
    workgroupBarrier();
    if (lid < i) { sA[i * C + lid] = x; }
    workgroupBarrier();
  }
  for (var e = lid; e < C * KD; e += WG) {
    let i = e / KD;
    let d = e % KD;
    if (i < rows) {
      var a = 0.0;
      for (var j = 0u; j <= i; j++) {
        let tj = t0 + j;
        a += select(sA[i * C + j], 1.0, j == i) * sBeta[j] * ${kRole}(b, tj, h, d)${decayK};
      }
      ${ks.use('w', 'read_write')}[(bh * P.T + t0 + i) * KD + d] = a;
    }
  }
  for (var e = lid; e < C * VD; e += WG) {
    let i = e / VD;
    let c = e % VD;
    if (i < rows) {
      var a = 0.0;
      for (var j = 0u; j <= i; j++) {
        a += select(sA[i * C + j], 1.0, j == i) * sBeta[j] * ${vRole}(b, t0 + j, h, c);
      }
      ${ks.use('u', 'read_write')}[(bh * P.T + t0 + i) * VD + c] = a;
    }
  }`;
  }
  return `
${prelude}
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = wid.x;
  let bh = wid.y;
  let b = bh / P.H;
  let h = bh % P.H;
  let t0 = n * C;
  let rows = min(C, P.T - t0);
${cumsum}
${wy}
}`;
}
