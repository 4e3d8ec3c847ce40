// The output's intra-chunk scores as a stage of their own (tensor-core tier), for a per-key
// decay without the delta rule (gla, rwkv6) where the scores are computed before the output
// (plan.ts scoresInPrep), per (chunk, b*h), right after the prep whose gate cumsum it reads:
//   aqk16 = scale A_qk,   A_qk[i,j] = sum_d q_i 2^(G_i - G_j) k_j   (j <= i; the bonus form's
//   u on the diagonal, the query side with the exclusive gate), anchored (tc-scores.ts)
// in f16, C x C per chunk, which the output stage loads as fragments and the backward's
// bwdDvLocal reads (no bwdScores), as FLA's chunk_gla_fwd_intra makes A for chunk_gla_fwd_o
// and keeps it for the backward. Not in the prep itself: the prep binds the state walk's
// operands (gcum, kg16, v16) and the inputs; with q, the bonus's u, aqk16 and packed sequences'
// chunk table it would bind 10 storage buffers, past the tier's 9 (runtime/tier.ts). kda and
// the generalized delta rule compute theirs in their prep, beside A_kk (tc-prep.ts).
// The backward's bwdScores is the same kernel storing f32 (emitTcBwdScores), for the variants
// whose forward does not keep the scores.
import type { KernelSource } from './common.js';
import { ConfigError, scoresInPrep } from '../plan.js';
import { firstFit, FRAG_NAMES, type Fragments } from './fragments.js';
import { emitTcScores, tcScoresWords } from './tc-scores.js';
import { extendScope, wgsl, type Wgsl } from '../wgsl.js';

interface ScoresStageLayout { readonly slab: number; readonly f16: number; readonly f32: number }

/** The scores' staging (f16) and their f32 region: the widest slab that fits a budget. */
export function tcScoresStageLayout(ks: KernelSource): ScoresStageLayout {
  const layouts = [32, 16].map((slab): ScoresStageLayout => ({ slab, ...tcScoresWords(ks, 'q', slab, 1) }));
  return firstFit(ks.cfg, layouts, (budget) => new ConfigError(`no tiling of the tensor-core tier's scores stage fits ${budget} bytes of workgroup memory (K = ${ks.cfg.K}, chunk ${ks.cfg.chunk}); raise tuning.fragmentMemory`));
}

export function emitTcScoresStage(ks: KernelSource, fr: Fragments): Wgsl {
  if (ks.delta || ks.dplr || !scoresInPrep(ks.def, ks.cfg)) throw new Error("internal: the scores stage is the plain per-key decays' where the scores come before the output");
  const aqk16 = ks.use('aqk16', 'read_write', false, 'f16');
  return emitScoresKernel(ks, fr, (r, c, v) => wgsl`${aqk16}[(bh * P.NT + n) * C * C + (${r}) * C + ${c}] = f16(${v});`);
}

/** The backward's bwdScores on the fragment layer, per (chunk, b*h): the same scale A_qk, in
 * f32 into aqk (the f32 tier's bwd-scores.ts layout), for bwdDvLocal; where the forward did not
 * keep the scores (the factored ones of a scalar or no decay, or outputScores 'output'). */
export function emitTcBwdScores(ks: KernelSource, fr: Fragments): Wgsl {
  const aqk = ks.use('aqk', 'read_write');
  return emitScoresKernel(ks, fr, (r, c, v) => wgsl`${aqk}[(bh * P.NT + n) * C * C + (${r}) * C + ${c}] = ${v};`);
}

function emitScoresKernel(ks: KernelSource, fr: Fragments, store: (r: string, c: string, v: string) => Wgsl): Wgsl {
  const lay = tcScoresStageLayout(ks);
  const stage = ks.chunkStageXY(fr.builtins());
  const s = extendScope(stage.s, FRAG_NAMES);
  const scores = emitTcScores(ks, fr, s, {
    left: 'q', strict: false, post: () => 'P.scale', slab: lay.slab, store,
    wh: 'wh', whBase: 0, wf: 'wf', wfBase: 0, perPass: 1,
  });
  return wgsl`
${fr.workspace(lay.f16, lay.f32)}

${stage.open}
  ${fr.opening()}
  ${scores}
}`;
}
