// The delta rule's per-chunk prep on the fragment layer (tensor-core tier), per (chunk, b*h):
// the gate cumsum, the keys decayed to the chunk's end (kg16, for the delta scan), A = beta K K^T
// (strictly lower, decayed; tc-scores.ts) kept in f32, and the triangular inverse T = (I + A)^-1
// in f32, whose strictly lower part goes to tmat for the backward and, with its unit diagonal, as
// f16 to t16, the left operand of the WY factors (tc-wy-factors.ts), which load its fragments
// straight from there. The inverse is blocked by 16 rows: each diagonal block by forward substitution (a
// thread per column), then each row block I of off-diagonal blocks as
//   T_IJ = -T_II sum_{M=J}^{I-1} A_IM T_MJ,   J < I,
// which only reads finished blocks of T above it.
import type { KernelSource } from './common.js';
import { ConfigError } from '../plan.js';
import { FRAG_NAMES, type Fragments, fragmentBudget } from './fragments.js';
import { emitTcScores, tcScoresWords } from './tc-scores.js';
import { emitGateCumsum } from './prep.js';
import { emitDecayedKeys } from './tc-states.js';
import { extendScope, joinWgsl, wgsl, type Wgsl } from '../wgsl.js';

interface PrepLayout { slab: number; f16: number; f32: number; sA: number; aux: number; scoresF32: number }

/** f32: [A, then T (C x C) | the scores' region, then the inverse's off-diagonal blocks];
 * f16: the scores' staging. The widest slab that fits. */
export function tcPrepLayout(ks: KernelSource): PrepLayout {
  const C = ks.cfg.chunk;
  const budget = fragmentBudget(ks.cfg);
  for (const slab of [32, 16]) {
    const sc = tcScoresWords(ks, slab, 1);
    const aux = C * C;
    // Row block I's off-diagonal blocks take I * 256 words, I < C / 16.
    const f32 = aux + Math.max(sc.f32, (C / 16 - 1) * 256);
    const f16 = sc.f16;
    if (2 * f16 + 4 * f32 <= budget) return { slab, f16, f32, sA: 0, aux, scoresF32: aux };
  }
  throw new ConfigError(`no prep tiling of the tensor-core tier fits ${budget} bytes of workgroup memory (K = ${ks.cfg.K}, V = ${ks.cfg.V}, chunk ${ks.cfg.chunk}); raise tuning.fragmentMemory`);
}

export function emitTcPrep(ks: KernelSource, fr: Fragments): Wgsl {
  const { cfg } = ks;
  const C = cfg.chunk;
  const nb = C / 16;
  const lay = tcPrepLayout(ks);
  const beta = ks.roleFn('beta');
  const tmat = ks.use('tmat', 'read_write');
  const t16 = ks.use('t16', 'read_write', false, 'f16');
  const sA = (r: string, c: string) => wgsl`wf[${lay.sA}u + (${r}) * C + ${c}]`;
  // The stage's opening, and the names it and the fragment layer declare.
  const stage = ks.chunkStageXY(fr.builtins());
  const s = extendScope(stage.s, FRAG_NAMES);
  const scores = emitTcScores(ks, fr, s, {
    left: 'k', strict: true, post: (r) => beta(s.b, wgsl`${s.t0} + min(${r}, ${s.rows} - 1u)`, s.h, '0u'), slab: lay.slab,
    store: (r, c, val) => wgsl`${sA(r, c)} = ${val};`,
    wh: 'wh', whBase: 0, wf: 'wf', wfBase: lay.scoresF32, perPass: 1,
  });
  // Off-diagonal row blocks of the inverse, I = 1 .. nb-1, each two barriers.
  const offDiag: Wgsl[] = [];
  for (let I = 1; I < nb; I++) {
    offDiag.push(wgsl`for (var el = lid; el < ${I * 256}u; el += WG) {
    let bJ = el / 256u;
    let rr = (el % 256u) / 16u;
    let cc = el % 16u;
    var acc = 0.0;
    for (var m = bJ * 16u; m < ${I * 16}u; m++) {
      // T[m, 16 bJ + cc]: unit diagonal, strictly lower part in wf.
      let col = bJ * 16u + cc;
      let tv = select(select(0.0, ${sA('m', 'col')}, m > col), 1.0, m == col);
      acc += ${sA(wgsl`${16 * I}u + rr`, 'm')} * tv;
    }
    wf[${lay.aux}u + el] = acc;
  }
  workgroupBarrier();
  for (var el = lid; el < ${I * 256}u; el += WG) {
    let bJ = el / 256u;
    let rr = (el % 256u) / 16u;
    let cc = el % 16u;
    var acc = wf[${lay.aux}u + bJ * 256u + rr * 16u + cc];
    for (var m = 0u; m < rr; m++) { acc += ${sA(wgsl`${16 * I}u + rr`, wgsl`${16 * I}u + m`)} * wf[${lay.aux}u + bJ * 256u + m * 16u + cc]; }
    ${sA(wgsl`${16 * I}u + rr`, 'bJ * 16u + cc')} = -acc;
  }
  workgroupBarrier();`);
  }
  return wgsl`
${fr.workspace(lay.f16, lay.f32)}

${stage.open}
  ${fr.opening()}
  ${ks.decayed ? emitGateCumsum(ks, ks.cfg.chunk) : ''}
  ${emitDecayedKeys(ks)}
  ${scores}
  // The diagonal blocks of T: thread (block, column c) substitutes down its column. Both loops
  // run over constant bounds with the triangle as a predicate, so a compiler that unrolls them
  // indexes tcol by constants and keeps it in registers (a loop from dc would index it by a
  // variable: local memory).
  var tcol: array<f32, 16>;
  let dblk = lid / 16u;
  let dc = lid % 16u;
  if (lid < ${nb * 16}u) {
    let base = dblk * 16u;
    for (var i = 0u; i < 16u; i++) {
      var acc = 0.0;
      for (var m = 0u; m < 16u; m++) {
        if (m >= dc && m < i) { acc += ${sA('base + i', 'base + m')} * tcol[m]; }
      }
      tcol[i] = select(select(0.0, 1.0, i == dc), -acc, i > dc);
    }
  }
  workgroupBarrier();
  if (lid < ${nb * 16}u) {
    for (var i = dc + 1u; i < 16u; i++) { ${sA('dblk * 16u + i', 'dblk * 16u + dc')} = tcol[i]; }
  }
  workgroupBarrier();
  ${joinWgsl(offDiag, '\n  ')}
  for (var e = lid; e < C * C; e += WG) {
    let tv = wf[${lay.sA}u + e];
    ${tmat}[(bh * P.NT + n) * C * C + e] = tv;
    ${t16}[(bh * P.NT + n) * C * C + e] = f16(tv + select(0.0, 1.0, e / C == e % C));
  }
}`;
}
