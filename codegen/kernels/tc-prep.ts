// The delta rule's per-chunk prep on the fragment layer (tensor-core tier), per (chunk, b*h):
// the gate cumsum, A = beta K K^T (strictly lower, decayed; tc-scores.ts) kept in f32, the
// triangular inverse T = (I + A)^-1 in f32, then W = T (beta 2^G K) and U = T (beta V) as
// fragment products with T rounded to f16. The inverse is blocked by 16 rows: each diagonal block
// by forward substitution (a thread per column), then each row block I of off-diagonal blocks as
//   T_IJ = -T_II sum_{M=J}^{I-1} A_IM T_MJ,   J < I,
// which only reads finished blocks of T above it. T's strictly lower part goes to tmat for the
// backward, as the f32 tier stores it; W and the keys decayed to the chunk's end also go to the
// delta scan's per-chunk f16 blocks (w16, kg16).
import type { KernelSource } from './common.js';
import { ConfigError } from '../plan.js';
import { declareFirstBad, emitCausalFixup, emitF16Block, NAN_WGSL, type F16Block } from './staged.js';
import { emitEpilogue, FRAG_NAMES, FRAG_WG, fragCeil, partition, scratchWords, type Fragments, fragmentBudget, subgroupGrid } from './fragments.js';
import { emitTcScores, tcScoresWords } from './tc-scores.js';
import { emitGateCumsum } from './prep.js';
import { chunkOperandAt, emitDecayedKeys } from './tc-states.js';
import { extendScope, joinWgsl, wgsl, type Wgsl } from '../wgsl.js';

interface PrepLayout { slab: number; SR: number; perPass: number; passWidth: number; f16: number; f32: number; sA: number; aux: number; scoresF32: number; sT: number; sX: number }

/** f32: [A or T (C x C) | the scores' region, then the inverse's blocks and the products'
 * scratch]; f16: [the scores' staging] aliased by [T | X slab]. The widest slabs and epilogue
 * passes that fit. */
export function tcPrepLayout(ks: KernelSource): PrepLayout {
  const C = ks.cfg.chunk;
  const budget = fragmentBudget(ks.cfg);
  const widest = Math.max(fragCeil(ks.cfg.K), fragCeil(ks.cfg.V));
  for (const slab of [32, 16]) {
    for (const SR of [32, 16]) {
      for (const [perPass, passWidth] of [[4, 128], [2, 128], [1, 128], [1, 64]] as const) {
        const width = Math.min(passWidth, widest);
        const sc = tcScoresWords(ks, slab, 1);
        const sA = 0;
        const aux = C * C;
        const f32 = aux + Math.max(sc.f32, scratchWords(perPass));
        const sT = 0;
        const sX = C * C;
        const f16 = Math.max(sc.f16, sX + Math.min(SR, C) * width);
        if (2 * f16 + 4 * f32 <= budget) return { slab, SR: Math.min(SR, C), perPass, passWidth, f16, f32, sA, aux, scoresF32: aux, sT, sX };
      }
    }
  }
  throw new ConfigError(`no prep tiling of the tensor-core tier fits ${budget} bytes of workgroup memory (K = ${ks.cfg.K}, V = ${ks.cfg.V}, chunk ${ks.cfg.chunk}); raise tuning.fragmentMemory`);
}

export function emitTcPrep(ks: KernelSource, fr: Fragments): Wgsl {
  const { cfg } = ks;
  const C = cfg.chunk;
  const nb = C / 16;
  const lay = tcPrepLayout(ks);
  const beta = ks.roleFn('beta');
  const k = ks.roleFn('k');
  const v = ks.roleFn('v');
  const w = ks.use('w', 'read_write');
  const uu = ks.use('u', 'read_write');
  const tmat = ks.use('tmat', 'read_write');
  const w16 = ks.use('w16', 'read_write', false, 'f16');
  const KF = fragCeil(cfg.K);
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
  // W (which = 0, columns over K) then U (1, over V), in passes of at most passWidth columns.
  const passes: { which: 0 | 1; c0: number; width: number }[] = [];
  for (const [which, dim] of [[0, cfg.K], [1, cfg.V]] as const) {
    for (let c0 = 0; c0 < dim; c0 += lay.passWidth) passes.push({ which, c0, width: Math.min(lay.passWidth, fragCeil(dim - c0)) });
  }
  const decayK = ks.decayed ? wgsl` * exp2(${ks.gcsFn()('b', 'h', 't', 'd')})` : '';
  const decayK4 = !ks.decayed ? '' : ks.diag
    ? wgsl` * exp2(vec4<f32>(${joinWgsl([0, 1, 2, 3].map((x) => ks.gcsFn()('b', 'h', 't', wgsl`d + ${x}u`)), ', ')}))`
    : wgsl` * exp2(${ks.gcsFn()('b', 'h', 't', '0u')})`;
  const products = passes.map(({ which, c0, width }) => {
    const p = partition(C / 16, width / 16);
    const grid = subgroupGrid(p, 'f');
    const dim = which === 0 ? 'KD' : 'VD';
    const operand = which === 0 ? wgsl`${k('b', 't', 'h', 'd')}${decayK}` : v('b', 't', 'h', 'd');
    const r4 = ks.role4Fn(which === 0 ? 'k' : 'v');
    const operand4 = r4 && (which === 0 ? wgsl`${r4('b', 't', 'h', 'd')}${decayK4}` : r4('b', 't', 'h', 'd'));
    const out = which === 0 ? w : uu;
    // X (or Y) in row slabs, the right operand of the lower-triangular T X: causal for
    // non-finite values, as in the output stage.
    const xBlock: F16Block = {
      count: wgsl`${lay.SR * width}u`,
      unroll: ks.stagingUnroll,
      index: (four) => wgsl`let t = t0 + min(r0 + e / ${width}u, rows - 1u); let d = min(${c0}u + e % ${width}u, ${dim} - ${four ? 4 : 1}u);`,
      value: wgsl`${beta('b', 't', 'h', '0u')} * ${operand}`,
      wide: operand4 && wgsl`${beta('b', 't', 'h', '0u')} * ${operand4}`,
      valid: wgsl`r0 + e / ${width}u < rows && ${c0}u + e % ${width}u < ${dim}`,
      arr: 'wh', at: (e) => wgsl`${lay.sX}u + ${e}`,
      causal: { firstBad: 'firstBad', row: wgsl`r0 + e / ${width}u`, perRow: width, wg: FRAG_WG },
    };
    const fixup = emitCausalFixup(xBlock, 'rows', (e) => wgsl`${c0}u + ${e} % ${width}u`, (r, d) => wgsl`if (${d} < ${dim}) {
        ${out}[(bh * P.T + t0 + ${r}) * ${dim} + ${d}] = lae_nan();${which === 0 ? wgsl`
        ${w16}[${chunkOperandAt(KF, r, d)}] = f16(lae_nan());` : ''}
      }`);
    return wgsl`{
  ${grid.decl}
  ${fr.declare('wu', p.fm, p.fn)}
  ${declareFirstBad(xBlock)}
  for (var r0 = 0u; r0 < rows; r0 += ${lay.SR}u) {
    ${emitF16Block(xBlock)}
    workgroupBarrier();
    if (factive) {
      for (var kk = 0u; kk < ${lay.SR}u; kk += 16u) {
        ${fr.mma('wu', p.fm, p.fn,
    (i) => ({ arr: 'wh', offset: wgsl`${lay.sT}u + (fsr * ${p.fm}u + ${i}u) * ${16 * C}u + r0 + kk`, stride: C }),
    (j) => ({ arr: 'wh', offset: wgsl`${lay.sX}u + kk * ${width}u + (fsc * ${p.fn}u + ${j}u) * 16u`, stride: width }),
    (i) => wgsl`(r0 + kk) / 16u <= fsr * ${p.fm}u + ${i}u`)}
      }
    }
    workgroupBarrier();
  }
  ${emitEpilogue(fr, 'wu', p.fm, p.fn, {
    scratch: 'wf', scratchBase: lay.aux, perPass: lay.perPass, active: 'factive',
    ...grid.map,
    body: wgsl`let d = ${c0}u + c;
      if (r < rows && d < ${dim}) { ${out}[(bh * P.T + t0 + r) * ${dim} + d] = value; }${which === 0 ? wgsl`
      ${w16}[${chunkOperandAt(KF, 'r', 'd')}] = f16(select(0.0, value, r < rows && d < KD));` : ''}`,
  })}
  // An X row that was not finite (staged as 0) reaches W (U) from its row on.
  storageBarrier();
  ${fixup}
}`;
  });
  ks.helper('nan', NAN_WGSL);
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
    wh[${lay.sT}u + e] = f16(tv + select(0.0, 1.0, e / C == e % C));
  }
  workgroupBarrier();
  ${joinWgsl(products, '\n  ')}
}`;
}
