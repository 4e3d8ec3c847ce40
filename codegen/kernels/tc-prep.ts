// The delta rule's per-chunk prep on the fragment layer (tensor-core tier), per (chunk, b*h):
// the gate cumsum, the keys decayed to the chunk's end (kg16, for the delta scan), and
// A = beta K K^T (strictly lower, decayed; tc-scores.ts) in f32, then the triangular inverse
// T = (I + A)^-1 (tc-inverse.ts) into tmat and t16. Fused in one kernel where that fits the
// first layout budget (fragments.ts, fragmentBudgets: two workgroups per H200 multiprocessor at
// 24 KiB); else split, as FLA's chunk_scaled_dot_kkt is from its solve_tril: the prep writes A
// to tmat and the inverse stage turns it into T (kda's fused prep needs 34 KiB, its split one
// 18 KiB at K = 128). With a per-key decay (kda) the prep also computes the output's scale A_qk
// into aqk16 (plan.ts scoresInPrep), in the same anchored pass as A (FLA's chunk_kda_fwd_intra):
// H200, (1,32,4096,128,128), kda's forward 1.79 -> 1.59 ms (prep 0.34 -> 0.43, output 0.49 -> 0.19).
import type { KernelSource } from './common.js';
import { ConfigError, scoresInPrep } from '../plan.js';
import { firstFit, FRAG_NAMES, type Fragments } from './fragments.js';
import { emitTcScores, tcScoresWords } from './tc-scores.js';
import { emitGateCumsum } from './prep.js';
import { emitDecayedKeys } from './tc-states.js';
import { emitInverseSteps, tcInverseWords } from './tc-inverse.js';
import { extendScope, wgsl, type Wgsl } from '../wgsl.js';

interface PrepLayout { readonly slab: number; readonly f16: number; readonly f32: number; readonly fused: boolean }

/** f16: the scores' staging. f32, fused: [A, then T (C x C) | the scores' region, the gate
 * cumsum's terms before it, then the inverse's off-diagonal sums]; split: [the gate cumsum's
 * terms, then the scores' region]. Per budget in turn: fused, then split, the widest slab first. */
export function tcPrepLayout(ks: KernelSource): PrepLayout {
  const C = ks.cfg.chunk;
  const layouts: PrepLayout[] = [];
  for (const fused of [true, false]) {
    for (const slab of [32, 16]) {
      const sc = tcScoresWords(ks, 'k', slab, 1, 'k', false, scoresInPrep(ks.def, ks.cfg));
      const f32 = fused ? C * C + Math.max(sc.f32, tcInverseWords(C) - C * C) : Math.max(sc.f32, C);
      layouts.push({ slab, f16: sc.f16, f32, fused });
    }
  }
  return firstFit(ks.cfg, layouts, (budget) => new ConfigError(`no prep tiling of the tensor-core tier fits ${budget} bytes of workgroup memory (K = ${ks.cfg.K}, V = ${ks.cfg.V}, chunk ${ks.cfg.chunk}); raise tuning.fragmentMemory`));
}

export function emitTcPrep(ks: KernelSource, fr: Fragments): Wgsl {
  const lay = tcPrepLayout(ks);
  const beta = ks.roleFn('beta');
  const tmat = ks.use('tmat', 'read_write');
  // The scores' (and the gate cumsum's) f32 region: after A where the inverse is fused.
  const base = lay.fused ? ks.cfg.chunk * ks.cfg.chunk : 0;
  // The stage's opening, and the names it and the fragment layer declare.
  const stage = ks.chunkStageXY(fr.builtins());
  const s = extendScope(stage.s, FRAG_NAMES);
  // With a per-key decay, the output's scale A_qk too (scoresInPrep), in the same pass as A:
  // the keys' staged and anchored rows and the gates serve both (FLA's chunk_kda_fwd_intra).
  const aqk16 = scoresInPrep(ks.def, ks.cfg) ? ks.use('aqk16', 'read_write', false, 'f16') : null;
  const queries = aqk16 && {
    left: 'q' as const, strict: false, post: () => 'P.scale',
    store: (r: string, c: string, v: string) => wgsl`${aqk16}[(bh * P.NT + n) * C * C + (${r}) * C + ${c}] = f16(${v});`,
  };
  const scores = emitTcScores(ks, fr, s, {
    left: 'k', strict: true, post: (r) => beta(s.b, wgsl`${s.t0} + min(${r}, ${s.rows} - 1u)`, s.h, '0u'), slab: lay.slab,
    store: (r, c, val) => (lay.fused ? wgsl`wf[(${r}) * C + ${c}] = ${val};` : wgsl`${tmat}[(bh * P.NT + n) * C * C + (${r}) * C + ${c}] = ${val};`),
    ...(queries ? { left2: queries } : {}),
    wh: 'wh', whBase: 0, wf: 'wf', wfBase: base, perPass: 1,
  });
  return wgsl`
${fr.workspace(lay.f16, lay.f32)}

${stage.open}
  ${fr.opening()}
  ${ks.decayed ? emitGateCumsum(ks, ks.cfg.chunk, (i) => `wf[${base}u + ${i}]`) : ''}
  ${emitDecayedKeys(ks)}
  ${scores}
  ${lay.fused ? emitInverseSteps(ks) : ''}
}`;
}

// The generalized delta rule's prep (correction 'dplr': RWKV-7; runtime/reference-chunked-dplr.ts
// has the algorithm), per (chunk, b*h), as FLA's chunk_dplr_fwd_intra: the gate cumsum; b decayed
// to the chunk's end (bg16, f16: the delta scan's update keys); and the four intra-chunk products
// in one anchored pass (tc-scores.ts), the a rows with the exclusive gate G_{i-1} and the q rows
// with the inclusive one,
//   A_ab[i,j] = sum_d a_i 2^(G_{i-1} - G_j) b_j,   A_ak[i,j] = sum_d a_i 2^(G_{i-1} - G_j) k_j,   j < i,
//   A_qb[i,j] = sum_d q_i 2^(G_i - G_j) b_j,       A_qk[i,j] = sum_d q_i 2^(G_i - G_j) k_j,       j <= i,
// sharing the staged b and k rows, their anchored rows and the gates. -A_ab goes to tmat, where
// the inverse stage turns it into T = (I - A_ab)^-1, A_ak to ak16 (f16), which the inverse stage
// multiplies by T (M = T A_ak, so that U = M V), and scale A_qb, scale A_qk to aqb16, aqk16 (f16,
// C x C per chunk), which the output stage loads as fragments. Under the tuning knob
// outputScores 'output' the output stage computes A_qb and A_qk itself and the prep only the first
// two. The chunkState stage stages its k 2^(G_last - G) and V from the inputs (tc-states.ts), so
// the prep writes neither: 11 storage buffers with q and the two score blocks (rwkv7: r, w, k,
// kk, a, gcum, tmat, ak16, bg16, aqb16, aqk16).

interface DplrPrepLayout { readonly slab: number; readonly f16: number; readonly f32: number }

/** f16: the scores' staging; f32: the gate cumsum's terms, then the scores' region (aliased:
 * the cumsum is done before the scores start). The widest slab that fits a budget. */
export function tcDplrPrepLayout(ks: KernelSource): DplrPrepLayout {
  const C = ks.cfg.chunk;
  const layouts = [32, 16].map((slab): DplrPrepLayout => {
    const sc = tcScoresWords(ks, 'a', slab, 1, 'b', true, scoresInPrep(ks.def, ks.cfg));
    return { slab, f16: sc.f16, f32: Math.max(C, sc.f32) };
  });
  return firstFit(ks.cfg, layouts, (budget) => new ConfigError(`no prep tiling of the generalized delta rule's tensor-core tier fits ${budget} bytes of workgroup memory (K = ${ks.cfg.K}, chunk ${ks.cfg.chunk}); raise tuning.fragmentMemory`));
}

export function emitTcDplrPrep(ks: KernelSource, fr: Fragments): Wgsl {
  const lay = tcDplrPrepLayout(ks);
  const tmat = ks.use('tmat', 'read_write');
  const stage = ks.chunkStageXY(fr.builtins());
  const s = extendScope(stage.s, FRAG_NAMES);
  const ak16 = ks.use('ak16', 'read_write', false, 'f16');
  const block = wgsl`(bh * P.NT + n) * C * C`;
  const f16Store = (buf: string) => (r: string, c: string, v: string) => wgsl`${buf}[${block} + (${r}) * C + ${c}] = f16(${v});`;
  // The q rows' products, scaled (as the output stage scales its scores), where the prep makes them.
  const queries = scoresInPrep(ks.def, ks.cfg)
    ? { left: 'q' as const, strict: false, post: () => 'P.scale', store: f16Store(ks.use('aqb16', 'read_write', false, 'f16')), alsoStore: f16Store(ks.use('aqk16', 'read_write', false, 'f16')) }
    : null;
  // A_ab and A_ak (and A_qb, A_qk) in one pass: the rows, the gates and the diagonal blocks' factors once.
  const scores = emitTcScores(ks, fr, s, {
    left: 'a', right: 'b', exclusive: true, strict: true, post: () => '1.0', slab: lay.slab,
    store: (r, c, v) => wgsl`${tmat}[${block} + (${r}) * C + ${c}] = -(${v});`,
    also: { right: 'k', store: f16Store(ak16) },
    ...(queries ? { left2: queries } : {}),
    wh: 'wh', whBase: 0, wf: 'wf', wfBase: 0, perPass: 1,
  });
  return wgsl`
${fr.workspace(lay.f16, lay.f32)}

${stage.open}
  ${fr.opening()}
  ${emitGateCumsum(ks, ks.cfg.chunk, (i) => `wf[${i}]`)}
  ${emitDecayedKeys(ks, 'b', 'bg16')}
  ${scores}
}`;
}
