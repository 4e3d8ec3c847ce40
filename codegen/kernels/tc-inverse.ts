// The triangular inverse of the delta rule's chunk (tensor-core tier), per (chunk, b*h):
// T = (I + A)^-1 in f32 from A = beta K K^T, which the prep (tc-prep.ts) left in tmat; T's
// strictly lower part goes back to tmat for the backward and, with its unit diagonal, as f16 to
// t16, the left operand of the WY factors (tc-wy-factors.ts), which load its fragments straight
// from there. Blocked by 16 rows: each diagonal block by forward substitution (a thread per
// column), then each row block I of off-diagonal blocks as
//   T_IJ = -T_II sum_{M=J}^{I-1} A_IM T_MJ,   J < I,
// which only reads finished blocks of T above it. Plain f32 WGSL (no fragments): 19 KiB of
// workgroup memory at chunk 64, two workgroups per H200 multiprocessor.
import type { KernelSource } from './common.js';
import { ConfigError } from '../plan.js';
import { emitEpilogue, FRAG_WG, fragmentBudget, partition, scratchWords, subgroupGrid, type Fragments } from './fragments.js';
import { joinWgsl, wgsl, type Wgsl } from '../wgsl.js';
import { add, mul, renderIndex } from '../index-expr.js';

/** f32 words: A, then T (C x C), then row block I's off-diagonal sums (I * 256 words, I < C / 16). */
export const tcInverseWords = (C: number) => C * C + (C / 16 - 1) * 256;

/** The inverse's statements, in a kernel whose f32 workgroup array `wf` holds A (C x C, row
 * major) from word 0 and has tcInverseWords(C) words, in a chunk stage (bh, n, lid in scope):
 * T replaces A in wf, then goes to tmat and t16. */
export function emitInverseSteps(ks: KernelSource): Wgsl {
  const C = ks.cfg.chunk;
  const nb = C / 16;
  const aux = C * C;
  const tmat = ks.use('tmat', 'read_write');
  const t16 = ks.use('t16', 'read_write', false, 'f16');
  const sA = (r: string, c: string) => wgsl`wf[(${r}) * C + ${c}]`;
  // Off-diagonal row blocks of the inverse, I = 1 .. nb-1, each two barriers. Thread (r, cc),
  // r = lid / 16 < 8, holds rows r and r + 8 of the row block, column cc of every block J < I:
  // 2 I independent sums that share their loads (A's two rows, T's row m once per block), where
  // a thread per element summed one chain alone. Each sum adds the same terms in the same order
  // (m ascending from 16 J), so the values are those of the per-element loops.
  if (FRAG_WG !== 128) throw new Error("internal: the inverse maps 128 threads onto a 16-row block");
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
        let tv = select(select(0.0, ${sA('m', renderIndex(add(16 * J, 'cc')))}, m > ${renderIndex(add(16 * J, 'cc'))}), 1.0, m == ${renderIndex(add(16 * J, 'cc'))});
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
    ${joinWgsl(blocks.map((J) => wgsl`wf[${aux + J * 256}u + r * 16u + cc] = ${acc(0, J)};
    wf[${aux + J * 256 + 128}u + r * 16u + cc] = ${acc(1, J)};`), '\n    ')}
  }
  workgroupBarrier();
  {
    let r = lid / 16u;
    let cc = lid % 16u;
    ${joinWgsl(blocks.map((J) => wgsl`var ${acc(0, J)} = wf[${aux + J * 256}u + r * 16u + cc];
    var ${acc(1, J)} = wf[${aux + J * 256 + 128}u + r * 16u + cc];`), '\n    ')}
    for (var m = 0u; m < 16u; m++) {
      // T_II's strictly lower part (rows r and r + 8) against the sums' row m.
      let t0 = ${sA(wgsl`${16 * I}u + r`, wgsl`${16 * I}u + m`)};
      let t1 = ${sA(wgsl`${16 * I + 8}u + r`, wgsl`${16 * I}u + m`)};
      ${joinWgsl(blocks.map((J) => wgsl`{
        let xm = wf[${aux + J * 256}u + m * 16u + cc];
        ${acc(0, J)} += select(0.0, t0 * xm, m < r);
        ${acc(1, J)} += select(0.0, t1 * xm, m < r + 8u);
      }`), '\n      ')}
    }
    ${joinWgsl(blocks.map((J) => wgsl`${sA(wgsl`${16 * I}u + r`, renderIndex(add(16 * J, 'cc')))} = -${acc(0, J)};
    ${sA(wgsl`${16 * I + 8}u + r`, renderIndex(add(16 * J, 'cc')))} = -${acc(1, J)};`), '\n    ')}
  }
  workgroupBarrier();`);
  }
  return wgsl`
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
    let tv = wf[e];
    ${tmat}[(bh * P.NT + n) * C * C + e] = tv;
    ${t16}[(bh * P.NT + n) * C * C + e] = f16(tv + select(0.0, 1.0, e / C == e % C));
  }
`;
}

/** The generalized delta rule's M = T A_ak (C x C, strictly lower) on the fragment layer, once
 * T is in t16: straight from storage, T's fragments (unit lower triangular) against A_ak's (the
 * prep's ak16, strictly lower), so block (I, J) sums the blocks K in [J, I): the epilogue adds
 * T's diagonal block K = I per element over l <= i only, and writes M to m16 as f16, the left
 * operand of U = M V (tc-wy-factors.ts); A_ak[l, c] is 0 for c >= l, so l starts past c. The
 * diagonal block stays out of the fragments because its zeros above the diagonal would meet
 * A_ak's later rows: 0 * Inf from a key at token t would make M, U and o NaN from the start of
 * t's 16-row block, not from t on. wf is free by then: it is the epilogue's scratch. */
function emitDplrM(ks: KernelSource, fr: Fragments, wfWords: number): Wgsl {
  const C = ks.cfg.chunk;
  const p = partition(C / 16, C / 16);
  const grid = subgroupGrid(p, 'f');
  const t16 = ks.use('t16', 'read_write', false, 'f16');
  const ak16 = ks.use('ak16', 'read', false, 'f16');
  const m16 = ks.use('m16', 'read_write', false, 'f16');
  const block = wgsl`(bh * P.NT + n) * C * C`;
  return wgsl`
  // This chunk's t16, just written, is read back as fragments by every subgroup, and wf's T
  // (read by the stores above) becomes the epilogue's scratch.
  storageBarrier();
  workgroupBarrier();
  {
    ${grid.decl}
    ${fr.declare('mk', p.fm, p.fn)}
    if (factive) {
      for (var kk = 0u; kk < C; kk += 16u) {
        ${fr.mma('mk', p.fm, p.fn,
    (i) => ({ arr: t16, offset: wgsl`${block} + ${renderIndex(mul(grid.block.row(i), 16 * C))} + kk`, stride: C }),
    (j) => ({ arr: ak16, offset: wgsl`${block} + kk * C + ${grid.map.col(j)}`, stride: C }),
    (i, j) => wgsl`kk / 16u < ${renderIndex(grid.block.row(i))} && kk / 16u >= ${renderIndex(grid.block.col(j))}`)}
      }
    }
    ${emitEpilogue(fr, 'mk', p.fm, p.fn, {
    scratch: 'wf', scratchBase: 0, perPass: Math.max(1, Math.min(p.fm * p.fn, Math.floor(wfWords / scratchWords(1)))), active: 'factive', ...grid.map,
    body: wgsl`var m = value;
      for (var l = max((r / 16u) * 16u, c + 1u); l <= r; l++) { m += f32(${t16}[${block} + r * C + l]) * f32(${ak16}[${block} + l * C + c]); }
      ${m16}[${block} + r * C + c] = f16(m);`,
  })}
  }
`;
}

export function emitTcInverse(ks: KernelSource): Wgsl {
  const C = ks.cfg.chunk;
  // wf holds the inverse's words, and for the generalized delta rule at least one fragment per
  // subgroup of M's epilogue.
  const wfWords = ks.dplr ? Math.max(tcInverseWords(C), scratchWords(1)) : tcInverseWords(C);
  const bytes = 4 * wfWords;
  if (bytes > fragmentBudget(ks.cfg)) {
    throw new ConfigError(`the delta rule's triangular inverse at chunk ${C} needs ${bytes} bytes of workgroup memory, past ${fragmentBudget(ks.cfg)}; raise tuning.fragmentMemory or use a smaller chunk`);
  }
  // The generalized delta rule's M = T A_ak is a fragment product: the layer comes first (before
  // any binding), and declares wf (with an unused wh).
  const fr = ks.dplr ? ks.fragments() : null;
  const tmat = ks.use('tmat', 'read_write');
  const stage = ks.chunkStageXY(fr?.builtins() ?? '');
  return wgsl`
${fr ? fr.workspace(8, wfWords) : wgsl`var<workgroup> wf: array<f32, ${wfWords}>;`}

${stage.open}${fr ? wgsl`
  ${fr.opening()}` : ''}
  for (var e = lid; e < C * C; e += WG) {
    wf[e] = ${tmat}[(bh * P.NT + n) * C * C + e];
  }
  workgroupBarrier();
  ${emitInverseSteps(ks)}${fr ? emitDplrM(ks, fr, wfWords) : ''}
}`;
}
