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
import { FRAG_NAMES, FRAG_WG, type Fragments, fragmentBudget, fragmentBudgets } from './fragments.js';
import { emitTcScores, tcScoresWords } from './tc-scores.js';
import { emitGateCumsum } from './prep.js';
import { emitDecayedKeys } from './tc-states.js';
import { extendScope, joinWgsl, wgsl, type Wgsl } from '../wgsl.js';

interface PrepLayout { slab: number; f16: number; f32: number; sA: number; aux: number; scoresF32: number }

/** f32: [A, then T (C x C) | the scores' region, then the inverse's off-diagonal blocks];
 * f16: the scores' staging. The widest slab that fits. */
export function tcPrepLayout(ks: KernelSource): PrepLayout {
  const C = ks.cfg.chunk;
  for (const budget of fragmentBudgets(ks.cfg)) {
    for (const slab of [32, 16]) {
      const sc = tcScoresWords(ks, 'k', slab, 1);
      const aux = C * C;
      // Row block I's off-diagonal blocks take I * 256 words, I < C / 16.
      const f32 = aux + Math.max(sc.f32, (C / 16 - 1) * 256);
      const f16 = sc.f16;
      if (2 * f16 + 4 * f32 <= budget) return { slab, f16, f32, sA: 0, aux, scoresF32: aux };
    }
  }
  throw new ConfigError(`no prep tiling of the tensor-core tier fits ${fragmentBudget(ks.cfg)} bytes of workgroup memory (K = ${ks.cfg.K}, V = ${ks.cfg.V}, chunk ${ks.cfg.chunk}); raise tuning.fragmentMemory`);
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
  // Off-diagonal row blocks of the inverse, I = 1 .. nb-1, each two barriers. Thread (r, cc),
  // r = lid / 16 < 8, holds rows r and r + 8 of the row block, column cc of every block J < I:
  // 2 I independent sums that share their loads (A's two rows, T's row m once per block), where
  // a thread per element summed one chain alone. Each sum adds the same terms in the same order
  // (m ascending from 16 J), so the values are those of the per-element loops.
  if (FRAG_WG !== 128) throw new Error("internal: the prep's inverse maps 128 threads onto a 16-row block");
  const offDiag: Wgsl[] = [];
  for (let I = 1; I < nb; I++) {
    const blocks = [...Array(I).keys()];
    const acc = (q: number, J: number) => `x${q}_${J}`;
    // T[m, 16 J + cc] as tv: unit diagonal, strictly lower part in wf; rows m of block seg
    // reach the sums of blocks J <= seg.
    const segments = blocks.map((seg) => wgsl`for (var m = ${16 * seg}u; m < ${16 * seg + 16}u; m++) {
      let a0 = ${sA(wgsl`${16 * I}u + r`, 'm')};
      let a1 = ${sA(wgsl`${16 * I + 8}u + r`, 'm')};
      ${joinWgsl(blocks.filter((J) => J <= seg).map((J) => wgsl`{
        let tv = select(select(0.0, ${sA('m', wgsl`${16 * J}u + cc`)}, m > ${16 * J}u + cc), 1.0, m == ${16 * J}u + cc);
        ${acc(0, J)} += a0 * tv;
        ${acc(1, J)} += a1 * tv;
      }`), '\n      ')}
    }`);
    offDiag.push(wgsl`{
    let r = lid / 16u;
    let cc = lid % 16u;
    ${joinWgsl(blocks.map((J) => wgsl`var ${acc(0, J)} = 0.0;
    var ${acc(1, J)} = 0.0;`), '\n    ')}
    ${joinWgsl(segments, '\n    ')}
    ${joinWgsl(blocks.map((J) => wgsl`wf[${lay.aux + J * 256}u + r * 16u + cc] = ${acc(0, J)};
    wf[${lay.aux + J * 256 + 128}u + r * 16u + cc] = ${acc(1, J)};`), '\n    ')}
  }
  workgroupBarrier();
  {
    let r = lid / 16u;
    let cc = lid % 16u;
    ${joinWgsl(blocks.map((J) => wgsl`var ${acc(0, J)} = wf[${lay.aux + J * 256}u + r * 16u + cc];
    var ${acc(1, J)} = wf[${lay.aux + J * 256 + 128}u + r * 16u + cc];`), '\n    ')}
    for (var m = 0u; m < 16u; m++) {
      // T_II's strictly lower part (rows r and r + 8) against the sums' row m.
      let t0 = ${sA(wgsl`${16 * I}u + r`, wgsl`${16 * I}u + m`)};
      let t1 = ${sA(wgsl`${16 * I + 8}u + r`, wgsl`${16 * I}u + m`)};
      ${joinWgsl(blocks.map((J) => wgsl`{
        let xm = wf[${lay.aux + J * 256}u + m * 16u + cc];
        ${acc(0, J)} += select(0.0, t0 * xm, m < r);
        ${acc(1, J)} += select(0.0, t1 * xm, m < r + 8u);
      }`), '\n      ')}
    }
    ${joinWgsl(blocks.map((J) => wgsl`${sA(wgsl`${16 * I}u + r`, wgsl`${16 * J}u + cc`)} = -${acc(0, J)};
    ${sA(wgsl`${16 * I + 8}u + r`, wgsl`${16 * J}u + cc`)} = -${acc(1, J)};`), '\n    ')}
  }
  workgroupBarrier();`);
  }
  return wgsl`
${fr.workspace(lay.f16, lay.f32)}

${stage.open}
  ${fr.opening()}
  ${ks.decayed ? emitGateCumsum(ks, ks.cfg.chunk, (i) => `wf[${lay.aux}u + ${i}]`) : ''}
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
