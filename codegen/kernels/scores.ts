// The intra-chunk score matrix, shared by the output kernel (A_qk) and the WY prep (A_kk):
//   A[i,j] = post(i) * sum_d L[i,d] R[j,d] * 2^(GL[i,d] - GR[j,d])   for j <= i (j < i if strict)
// For a scalar decay the factor leaves the sum and is applied once per entry; for a per-key
// (diagonal) decay it stays inside. With log-decays <= 0 every kept entry (j <= i) has an
// exponent <= 0, so nothing overflows; masked entries may overflow but are dropped by select,
// never multiplied by a mask (which would turn inf * 0 into NaN). The bonus form (RWKV6) puts
// sum_d L u R on the diagonal. K streams through workgroup memory in slabs of SK, stored
// transposed so a warp's reads are broadcasts or unit-stride; each thread owns an RM x RNS
// register tile with rows ty + TY*a and columns tx + TX*b.
import type { KernelSource } from './common.js';
import { emitStagedLoad } from './staged.js';
import { rawWgsl, wgsl, type Wgsl } from '../wgsl.js';

export interface ScoresOptions {
  /** The left operand's role ('q' for A_qk, 'k' for A_kk); the right one is always 'k'. */
  readonly left: 'q' | 'k';
  /** Strictly lower (A_kk) or lower with the diagonal (A_qk). */
  readonly strict: boolean;
  /** WGSL expression of the per-row factor, in terms of `i` (row in chunk). */
  readonly post: string;
  /** K-slab width staged per step. */
  readonly slab: number;
}

/** The gate cumsums at token t, key d, of the left rows (gq for A_qk, gcs for A_kk) and of the
 * right ones (gcs), in the terms of the scores function (b, h, t0). */
function scoreGates(ks: KernelSource, left: 'q' | 'k'): { gl: (t: string, d: string) => Wgsl; gr: (t: string, d: string) => Wgsl } {
  const gq = left === 'q' ? ks.gqFn() : null;
  const gcs = ks.gcsFn();
  return {
    gl: (t, d) => (gq ? gq('b', 'h', t, 't0', d) : gcs('b', 'h', t, d)),
    gr: (t, d) => gcs('b', 'h', t, d),
  };
}

export function emitScores(ks: KernelSource, opts: ScoresOptions): Wgsl {
  const L = ks.roleFn(opts.left);
  const R = ks.roleFn('k');
  const bonus = ks.bonus && opts.left === 'q';
  // Declared only with decay (diag implies it).
  const g = ks.decayed ? scoreGates(ks, opts.left) : null;
  const u = bonus ? ks.roleFn('u') : null;
  const mask = rawWgsl(opts.strict ? 'j < i' : 'j <= i');

  let term = rawWgsl('sL[dd * C + i] * sR[dd * C + j]');
  if (ks.diag && bonus) term = wgsl`${term} * select(exp2(sGL[dd * C + i] - sGR[dd * C + j]), sU[dd], i == j)`;
  else if (ks.diag) term = wgsl`${term} * exp2(sGL[dd * C + i] - sGR[dd * C + j])`;
  else if (bonus) term = wgsl`${term} * select(1.0, sU[dd], i == j)`;
  const scalarFactor = rawWgsl(ks.decayed && !ks.diag
    ? (bonus ? 'if (i != j) { x = x * exp2(sG1L[i] - sG1R[j]); }' : 'x = x * exp2(sG1L[i] - sG1R[j]);')
    : '');

  return wgsl`
const SK: u32 = ${opts.slab}u;
const SRM: u32 = C / TY;
const SRN: u32 = C / TX;
var<workgroup> sA: array<f32, C * C>;
var<workgroup> sL: array<f32, SK * C>;
var<workgroup> sR: array<f32, SK * C>;
${ks.diag ? 'var<workgroup> sGL: array<f32, SK * C>;\nvar<workgroup> sGR: array<f32, SK * C>;' : ''}
${ks.decayed && !ks.diag ? 'var<workgroup> sG1L: array<f32, C>;\nvar<workgroup> sG1R: array<f32, C>;' : ''}
${bonus ? 'var<workgroup> sU: array<f32, SK>;' : ''}

fn scores(b: u32, h: u32, t0: u32, rows: u32, lid: u32) {
  let tx = lid % TX;
  let ty = lid / TX;
  var acc: array<array<f32, SRN>, SRM>;
  for (var a = 0u; a < SRM; a++) { for (var c = 0u; c < SRN; c++) { acc[a][c] = 0.0; } }
  ${g && !ks.diag ? wgsl`for (var i = lid; i < C; i += WG) {
    var x = 0.0; var y = 0.0;
    if (i < rows) { x = ${g.gl('t0 + i', '0u')}; y = ${g.gr('t0 + i', '0u')}; }
    sG1L[i] = x; sG1R[i] = y;
  }` : ''}
  for (var d0 = 0u; d0 < KD; d0 += SK) {
    ${emitStagedLoad({
    count: 'C * SK',
    index: 'let t = min(t0 + e / SK, P.T - 1u); let d = min(d0 + e % SK, KD - 1u);',
    loads: [
      { name: 'l', expr: L('b', 't', 'h', 'd') }, { name: 'rr', expr: R('b', 't', 'h', 'd') },
      ...(ks.diag && g ? [{ name: 'g1', expr: g.gl('t', 'd') }, { name: 'g2', expr: g.gr('t', 'd') }] : []),
    ],
    storeIndex: 'let i = e / SK; let dd = e % SK;',
    valid: 'i < rows && d0 + dd < KD',
    store: (v) => wgsl`sL[dd * C + i] = ${v('l')}; sR[dd * C + i] = ${v('rr')};${ks.diag ? wgsl` sGL[dd * C + i] = ${v('g1')}; sGR[dd * C + i] = ${v('g2')};` : ''}`,
  })}
    ${u ? wgsl`if (lid < SK) { let d = d0 + lid; var x = 0.0; if (d < KD) { x = ${u('0u', '0u', 'h', 'd')}; } sU[lid] = x; }` : ''}
    workgroupBarrier();
    for (var dd = 0u; dd < SK; dd++) {
      for (var a = 0u; a < SRM; a++) {
        let i = ty + TY * a;
        for (var c = 0u; c < SRN; c++) {
          let j = tx + TX * c;
          acc[a][c] += ${term};
        }
      }
    }
    workgroupBarrier();
  }
  for (var a = 0u; a < SRM; a++) {
    let i = ty + TY * a;
    for (var c = 0u; c < SRN; c++) {
      let j = tx + TX * c;
      var v = 0.0;
      if (i < rows && ${mask}) {
        var x = acc[a][c] * ${opts.post};
        ${scalarFactor}
        v = x;
      }
      sA[i * C + j] = v;
    }
  }
  workgroupBarrier();
}
`;
}
