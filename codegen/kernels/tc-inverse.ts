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
import { FRAG_WG, fragmentBudget } from './fragments.js';
import { joinWgsl, wgsl, type Wgsl } from '../wgsl.js';

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
    ${joinWgsl(blocks.map((J) => wgsl`${sA(wgsl`${16 * I}u + r`, wgsl`${16 * J}u + cc`)} = -${acc(0, J)};
    ${sA(wgsl`${16 * I + 8}u + r`, wgsl`${16 * J}u + cc`)} = -${acc(1, J)};`), '\n    ')}
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
    ${tmat}[${tmatBlock(ks)} + e] = tv;
    ${t16}[(bh * P.NT + n) * C * C + e] = f16(tv + select(0.0, 1.0, e / C == e % C));
  }
`;
}

/** tmat's words per chunk for the generalized delta rule: A_ab (then T), then A_ak (tc-prep.ts). */
export const dplrTmatWords = (C: number) => 2 * C * C;

/** The first word of chunk (n, bh)'s block of tmat: C x C words, or for the generalized delta
 * rule 2 C x C (A_ab, then A_ak; tc-prep.ts). */
function tmatBlock(ks: KernelSource): Wgsl {
  return ks.dplr ? wgsl`(bh * P.NT + n) * ${dplrTmatWords(ks.cfg.chunk)}u` : wgsl`(bh * P.NT + n) * C * C`;
}

/** The generalized delta rule's M = T A_ak (C x C, strictly lower), after the inverse left T's
 * strictly lower part in wf: thread (row i, half) sums its row's C / 2 columns in f32 over
 * m <= i (T is unit lower triangular), reading A_ak from the second half of the chunk's tmat
 * block; M goes to m16 as f16, the left operand of U = M V (tc-wy-factors.ts). */
function emitDplrM(ks: KernelSource): Wgsl {
  const C = ks.cfg.chunk;
  const half = C / 2;
  const tmat = ks.use('tmat', 'read_write');
  const m16 = ks.use('m16', 'read_write', false, 'f16');
  return wgsl`
  if (lid < ${2 * C}u) {
    let i = lid / 2u;
    let c0 = (lid % 2u) * ${half}u;
    let ak = ${tmatBlock(ks)} + C * C;
    var acc: array<f32, ${half}>;
    for (var m = 0u; m <= i; m++) {
      let tv = select(wf[i * C + m], 1.0, m == i);
      for (var x = 0u; x < ${half}u; x++) { acc[x] += tv * ${tmat}[ak + m * C + c0 + x]; }
    }
    for (var x = 0u; x < ${half}u; x++) { ${m16}[(bh * P.NT + n) * C * C + i * C + c0 + x] = f16(acc[x]); }
  }
`;
}

export function emitTcInverse(ks: KernelSource): Wgsl {
  const C = ks.cfg.chunk;
  const bytes = 4 * tcInverseWords(C);
  if (bytes > fragmentBudget(ks.cfg)) {
    throw new ConfigError(`the delta rule's triangular inverse at chunk ${C} needs ${bytes} bytes of workgroup memory, past ${fragmentBudget(ks.cfg)}; raise tuning.fragmentMemory or use a smaller chunk`);
  }
  const tmat = ks.use('tmat', 'read_write');
  const stage = ks.chunkStageXY();
  return wgsl`
var<workgroup> wf: array<f32, ${tcInverseWords(C)}>;

${stage.open}
  for (var e = lid; e < C * C; e += WG) {
    wf[e] = ${tmat}[${tmatBlock(ks)} + e];
  }
  workgroupBarrier();
  ${emitInverseSteps(ks)}${ks.dplr ? emitDplrM(ks) : ''}
}`;
}
