// The backward's score matrices, per chunk n, with Gq/G the query- and key-side gate cumsums and
// u the chunk's values (V_new for the delta rule, else the v role):
//   bwdScores:  A[i,j] = scale * sum_d q_i[d] k_j[d] F(i,j,d),  F = 2^(Gq_i - G_j) (u[d] on the
//               diagonal for the bonus form), j <= i: the forward output stage's scores,
//               recomputed and kept for the intra-chunk part of du (bwd-du.ts)
//   bwdDScores: dA[i,j] = do_i . u_j, j <= i: their gradient, which dq, dk (bwd-dqk.ts) and the
//               bonus's du read
import type { KernelSource } from './common.js';
import { bwdFns } from './bwd-common.js';
import { emitGram, type Gram, type GramScope } from './bwd-gram.js';
import type { StageShape } from '../plan.js';
import { emitScores } from './scores.js';
import { TILE_GRID } from './tiles.js';
import { wgsl, type Wgsl } from '../wgsl.js';

/** The forward output stage's score tile: 16 x 16 threads per chunk. (bwdDScores, a Gram
 * product, has bwd-gram.ts's GRAM_SHAPE.) */
export const BWD_SCORES_SHAPE: StageShape = { wg: 256, grid: [['NT'], ['BH'], [1]], wgX: 16 };

export function emitBwdScores(ks: KernelSource): Wgsl {
  const { cc } = bwdFns(ks);
  const aqk = ks.use('aqk', 'read_write');
  // The forward output stage's score matrix, kept for bwdDvLocal.
  return wgsl`
${TILE_GRID}
${emitScores(ks, { left: 'q', strict: false, post: 'P.scale', slab: ks.tiles.slab })}
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = wid.x;
  let bh = wid.y;
  ${ks.chunkSpan()}
  scores(bh / P.H, bh % P.H, t0, rows, lid);
  for (var e = lid; e < C * C; e += WG) { ${aqk}[${cc()('bh', 'n', 'e / C', 'e % C')}] = sA[e]; }
}`;
}

/** dA = do u^T as a Gram product (bwd-gram.ts; tc-bwd-gram.ts on the tensor-core tier), the
 * operands four wide where that kernel loads so (F32Reader, role4Fn). */
export const dScoresGram = (ks: KernelSource) => (s: GramScope): Gram => {
  const { bth, tok: tokAt } = bwdFns(ks);
  const by4 = ks.cfg.V % 4 === 0;
  const dO = ks.seedDoReader();
  const at = bth()(s.b, s.t, s.h, s.x, 'VD');
  const vnew = ks.delta ? ks.f32Reader('vnew', by4) : null;
  const tok = vnew ? tokAt()(s.bh, s.t, s.x, 'VD') : '';
  const v4 = ks.delta ? null : ks.role4Fn('v');
  return {
    parts: [{
      len: 'VD', left: dO.at(at), left4: dO.at4?.(at) ?? null,
      right: vnew ? vnew.at(tok) : ks.roleFn('v')(s.b, s.t, s.h, s.x), right4: vnew ? vnew.at4?.(tok) ?? null : v4 && v4(s.b, s.t, s.h, s.x),
    }],
    keep: 'lower', post: s.v, out: ks.use('daqk', 'read_write'),
  };
};

export function emitBwdDScores(ks: KernelSource): Wgsl {
  return emitGram(ks, dScoresGram(ks));
}
