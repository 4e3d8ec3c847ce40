// du, the gradient of the values the output read (the v role, or the delta rule's V_new), per
// chunk n:
//   bwdDvLocal: dvl_j = sum_{i>=j} A[i,j] do_i                 (the intra-chunk part; A from
//                                                             bwdScores, bwd-scores.ts, or
//                                                             the forward's prep)
//   bwdDu:      dv_j = dvl_j + (k_j 2^(G_last - G_j)) . D_n      (without the delta rule)
// Without the delta rule the state gradients D_n are known before du (bwd-dh.ts), so bwdDu is a
// register-tiled C x K by K x V product per (V-tile, chunk, b*h), parallel over chunks. The
// delta rule's scan (bwd-dh-delta.ts) adds the state part to dvl itself: its D_n needs du.
import type { KernelSource } from './common.js';
import { bwdFns } from './bwd-common.js';
import { emitChunkMatmul } from './chunk-matmul.js';
import { TILE_GRID, emitTileStores, tileGridShape } from './tiles.js';
import { emitRowsTimesState } from './rows-state.js';
import { scoresInPrep, type StageShapeRule } from '../plan.js';
import { times, wgsl, type Wgsl } from '../wgsl.js';

/** V columns per workgroup of bwdDu. */
export const duTileV = (VP: number) => Math.min(VP, 64);

export function emitBwdDvLocal(ks: KernelSource): Wgsl {
  const { cc, tok, bth } = bwdFns(ks);
  // The output's scores: the forward prep's scale A_qk in f16 where it made them (plan.ts
  // scoresInPrep; the tensor-core tier rounds them so for the forward's A V as well), else
  // bwdScores' f32 recomputation.
  const fromPrep = scoresInPrep(ks.def, ks.cfg);
  const aqk = fromPrep ? ks.use('aqk16', 'read', false, 'f16') : ks.use('aqk', 'read');
  const dO = ks.seedDo();
  // dvl_i = sum_{r>=i} A[r,i] do_r; the delta rule keeps it in dU, where the scan adds the
  // inter-chunk part in place (one buffer fewer in the scan).
  const dvl = ks.use(ks.delta ? 'dU' : 'dvl', 'read_write');
  return emitChunkMatmul(ks, ({ b, h, bh, n, i, r, t, x, value }) => ({
    square: wgsl`select(0.0, ${fromPrep ? wgsl`f32(${aqk}[${cc()(bh, n, r, i)}])` : wgsl`${aqk}[${cc()(bh, n, r, i)}]`}, ${r} >= ${i})`,
    keep: wgsl`${r} >= ${i}`,
    right: wgsl`${dO}[${bth()(b, t, h, x, 'VD')}]`,
    width: 'VD',
    store: wgsl`${dvl}[${tok()(bh, t, x, 'VD')}] = ${value};`,
  }), ks.cfg.V);
}

/** Per (V-tile, chunk, b*h): a thread tile over the C x BV product. */
export const bwdDuShape: StageShapeRule = (_d, cfg, tiles) => {
  const BV = duTileV(tiles.VP);
  return tileGridShape(BV, cfg.chunk, [[Math.ceil(cfg.V / BV)], ['NT'], ['BH']]);
};

export function emitBwdDu(ks: KernelSource): Wgsl {
  const hp = bwdFns(ks);
  const { tok, bth } = hp;
  const g = hp.g();
  const k = ks.roleFn('k');
  const dhs = ks.use('dhs', 'read');
  const dvl = ks.use('dvl', 'read');
  const gradV = ks.use('grad_v', 'read_write');
  const { open, s } = ks.chunkTileStage('vt');
  // The rows' operand reads t and d (emitRowsTimesState's staging); the stores i, t and cg
  // (emitTileStores').
  return wgsl`
${TILE_GRID}
const BV: u32 = ${duTileV(ks.tiles.VP)}u;
const RM: u32 = C / TY;
const RN: u32 = BV / TX;
const SK: u32 = 8u;
var<workgroup> sL: array<f32, SK * C>;
var<workgroup> sS: array<f32, SK * BV>;

${open}${ks.decayed ? wgsl`
  let tl = ${s.t0} + ${s.rows} - 1u;` : ''}
  var acc: array<array<f32, RN>, RM>;
  for (var a = 0u; a < RM; a++) { for (var c = 0u; c < RN; c++) { acc[a][c] = 0.0; } }
  ${emitRowsTimesState(times(k(s.b, 't', s.h, 'd'), hp.pow2(() => wgsl`${g(s.b, s.h, 'tl', 'd')} - ${g(s.b, s.h, 't', 'd')}`)), dhs)}
  ${emitTileStores('cg', wgsl`${s.vt} * BV + ${s.tx} + TX * c`, 'VD', wgsl`${gradV}[${bth()(s.b, 't', s.h, 'cg', 'VD')}] = acc[a][c] + ${dvl}[${tok()(s.bh, 't', 'cg', 'VD')}];`)}
}`;
}
