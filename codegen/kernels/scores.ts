// The intra-chunk score matrix, shared by the output kernel (A_qk) and the WY prep (A_kk):
//   A[i,j] = post(i) * sum_d L[i,d] R[j,d] * 2^(GL[i,d] - GR[j,d])   for j <= i (j < i if strict)
// For a scalar decay the factor leaves the sum and is applied once per entry; for a per-key
// (diagonal) decay it stays inside, where the mask j <= i keeps every exponent <= 0, so nothing
// overflows (FLA issue #215's failure mode needs a positive exponent). The bonus form (RWKV6)
// puts sum_d L u R on the diagonal. K is streamed through workgroup memory in slabs of SK.
import type { KernelSource } from './common.js';

export interface ScoresOptions {
  /** The left operand's role ('q' for A_qk, 'k' for A_kk); the right one is always 'k'. */
  readonly left: 'q' | 'k';
  /** Strictly lower (A_kk) or lower with the diagonal (A_qk). */
  readonly strict: boolean;
  /** WGSL expression of the per-row factor, in terms of `i` (row in chunk). */
  readonly post: string;
}

export function emitScores(ks: KernelSource, opts: ScoresOptions): string {
  const L = ks.role(opts.left);
  const R = ks.role('k');
  const bonus = ks.bonus && opts.left === 'q';
  const gl = ks.decayed ? (opts.left === 'q' ? ks.gq() : ks.gcs()) : '';
  const gr = ks.decayed ? ks.gcs() : '';
  const glCall = (t: string, d: string) => (opts.left === 'q' ? `${gl}(b, h, ${t}, t0, ${d})` : `${gl}(b, h, ${t}, ${d})`);
  const u = bonus ? ks.role('u') : '';
  const mask = opts.strict ? 'j < i' : 'j <= i';

  let term = 'x';
  if (ks.diag && bonus) term = 'x * select(exp2(sGL[i * SK + dd] - sGR[j * SK + dd]), sU[dd], i == j)';
  else if (ks.diag) term = 'x * exp2(sGL[i * SK + dd] - sGR[j * SK + dd])';
  else if (bonus) term = 'x * select(1.0, sU[dd], i == j)';
  const scalarFactor = ks.decayed && !ks.diag
    ? (bonus ? 'if (i != j) { a = a * exp2(sG1L[i] - sG1R[j]); }' : 'a = a * exp2(sG1L[i] - sG1R[j]);')
    : '';

  return `
const SK: u32 = ${ks.tiles.slab}u;
const NE: u32 = (C * C + WG - 1u) / WG;
var<workgroup> sA: array<f32, C * C>;
var<workgroup> sL: array<f32, C * SK>;
var<workgroup> sR: array<f32, C * SK>;
${ks.diag ? 'var<workgroup> sGL: array<f32, C * SK>;\nvar<workgroup> sGR: array<f32, C * SK>;' : ''}
${ks.decayed && !ks.diag ? 'var<workgroup> sG1L: array<f32, C>;\nvar<workgroup> sG1R: array<f32, C>;' : ''}
${bonus ? 'var<workgroup> sU: array<f32, SK>;' : ''}

fn scores(b: u32, h: u32, t0: u32, rows: u32, lid: u32) {
  var acc: array<f32, NE>;
  for (var r = 0u; r < NE; r++) { acc[r] = 0.0; }
  ${ks.decayed && !ks.diag ? `for (var i = lid; i < C; i += WG) {
    var a = 0.0; var c = 0.0;
    if (i < rows) { a = ${glCall('t0 + i', '0u')}; c = ${gr}(b, h, t0 + i, 0u); }
    sG1L[i] = a; sG1R[i] = c;
  }` : ''}
  for (var d0 = 0u; d0 < KD; d0 += SK) {
    for (var e = lid; e < C * SK; e += WG) {
      let i = e / SK;
      let d = d0 + e % SK;
      var l = 0.0; var rr = 0.0;${ks.diag ? ' var g1 = 0.0; var g2 = 0.0;' : ''}
      if (i < rows && d < KD) {
        let t = t0 + i;
        l = ${L}(b, t, h, d); rr = ${R}(b, t, h, d);${ks.diag ? `
        g1 = ${glCall('t', 'd')}; g2 = ${gr}(b, h, t, d);` : ''}
      }
      sL[e] = l; sR[e] = rr;${ks.diag ? ' sGL[e] = g1; sGR[e] = g2;' : ''}
    }
    ${bonus ? `if (lid < SK) { let d = d0 + lid; var x = 0.0; if (d < KD) { x = ${u}(0u, 0u, h, d); } sU[lid] = x; }` : ''}
    workgroupBarrier();
    for (var r = 0u; r < NE; r++) {
      let e = lid + r * WG;
      let i = e / C;
      let j = e % C;
      if (e < C * C && ${mask}) {
        for (var dd = 0u; dd < SK; dd++) {
          let x = sL[i * SK + dd] * sR[j * SK + dd];
          acc[r] += ${term};
        }
      }
    }
    workgroupBarrier();
  }
  for (var r = 0u; r < NE; r++) {
    let e = lid + r * WG;
    if (e < C * C) {
      let i = e / C;
      let j = e % C;
      var a = 0.0;
      if (i < rows && ${mask}) {
        a = acc[r] * ${opts.post};
        ${scalarFactor}
      }
      sA[e] = a;
    }
  }
  workgroupBarrier();
}
`;
}
