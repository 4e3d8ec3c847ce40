// The state terms of dq, dk and dW, per chunk: three (C x V) by (V x K) products sharing their
// right operands,
//   dqi = do S_n^T,   dki = u dS'_n^T,   dW = -du S_n^T (delta rule),
// register-tiled like the forward's output stage: V streams through workgroup memory in slabs,
// each thread owns an RM x RN tile of every product (rows ty + TY*a, key columns tx + TX*c of
// this workgroup's K-tile); the three products share one slab read of each right operand.
// bwdDq and bwdDk (bwd-dqk.ts) add the decay factors and the intra-chunk terms.
import type { KernelSource } from './common.js';
import { TILE_GRID, tileGridShape } from './tiles.js';
import { emitStagedLoad } from './staged.js';
import { bwdFns } from './bwd-common.js';
import type { StageShapeRule } from '../plan.js';
import { joinWgsl, wgsl, type Wgsl } from '../wgsl.js';

/** Key columns per workgroup of the inter stage. */
export const interTileK = (KP: number) => Math.min(64, KP);

/** Per (K-tile, chunk, b*h): a thread tile over the C x BK products. */
export const bwdInterShape: StageShapeRule = (_d, cfg, tiles) => {
  const BK = interTileK(tiles.KP);
  return tileGridShape(BK, cfg.chunk, [[Math.ceil(cfg.K / BK)], ['NT'], ['BH']]);
};

export function emitBwdInter(ks: KernelSource): Wgsl {
  const { tok, bth, st, inter } = bwdFns(ks);
  const hs = ks.use('hs', 'read');
  const dhs = ks.use('dhs', 'read');
  const dO = ks.seedDo();
  // The staged operands at token t and value column c (the staging's index), chunk b, h, bh.
  const value = ks.delta ? wgsl`${ks.use('vnew', 'read')}[${tok()('bh', 't', 'c', 'VD')}]` : ks.roleFn('v')('b', 't', 'h', 'c');
  const du = ks.delta ? wgsl`${ks.use('dU', 'read')}[${tok()('bh', 't', 'c', 'VD')}]` : '';
  const accs = ks.delta ? ['aq', 'ak', 'aw'] : ['aq', 'ak'];
  const zero = joinWgsl(accs.map((a) => wgsl`var ${a}: array<array<f32, RN>, RM>;`), ' ');
  const init = joinWgsl(accs.map((a) => wgsl`${a}[a][c] = 0.0;`), ' ');
  return wgsl`
${TILE_GRID}
const BK: u32 = ${interTileK(ks.tiles.KP)}u;
const RM: u32 = C / TY;
const RN: u32 = BK / TX;
const SC: u32 = 8u;
var<workgroup> sDo: array<f32, SC * C>;
var<workgroup> sU: array<f32, SC * C>;
${ks.delta ? 'var<workgroup> sDu: array<f32, SC * C>;' : ''}
var<workgroup> sS: array<f32, SC * BK>;
var<workgroup> sD: array<f32, SC * BK>;

${ks.chunkTileMain('kt')}
  ${zero}
  for (var a = 0u; a < RM; a++) { for (var c = 0u; c < RN; c++) { ${init} } }
  for (var c0 = 0u; c0 < VD; c0 += SC) {
    ${emitStagedLoad({
    count: 'C * SC',
    index: 'let t = t0 + min(e / SC, rows - 1u); let c = min(c0 + e % SC, VD - 1u);',
    loads: [
      { name: 'o', expr: wgsl`${dO}[${bth()('b', 't', 'h', 'c', 'VD')}]` },
      { name: 'u', expr: value },
      ...(ks.delta ? [{ name: 'w', expr: du }] : []),
    ],
    storeIndex: 'let i = e / SC; let cc = e % SC;',
    valid: 'i < rows && c0 + cc < VD',
    store: (v) => wgsl`sDo[cc * C + i] = ${v('o')}; sU[cc * C + i] = ${v('u')};${ks.delta ? wgsl` sDu[cc * C + i] = ${v('w')};` : ''}`,
  })}
    ${emitStagedLoad({
    count: 'BK * SC',
    index: 'let d = min(kt * BK + e / SC, KD - 1u); let c = min(c0 + e % SC, VD - 1u);',
    loads: [{ name: 's', expr: wgsl`${hs}[${st()('bh', 'n', 'd', 'c')}]` }, { name: 'g', expr: wgsl`${dhs}[${st()('bh', 'n', 'd', 'c')}]` }],
    storeIndex: 'let dd = e / SC; let cc = e % SC;',
    valid: 'kt * BK + dd < KD && c0 + cc < VD',
    store: (v) => wgsl`sS[cc * BK + dd] = ${v('s')}; sD[cc * BK + dd] = ${v('g')};`,
  })}
    workgroupBarrier();
    for (var cc = 0u; cc < SC; cc++) {
      for (var a = 0u; a < RM; a++) {
        let i = ty + TY * a;
        let lo = sDo[cc * C + i];
        let lu = sU[cc * C + i];${ks.delta ? '\n        let lw = sDu[cc * C + i];' : ''}
        for (var c = 0u; c < RN; c++) {
          let col = tx + TX * c;
          let s = sS[cc * BK + col];
          aq[a][c] += lo * s;
          ak[a][c] += lu * sD[cc * BK + col];${ks.delta ? '\n          aw[a][c] += lw * s;' : ''}
        }
      }
    }
    workgroupBarrier();
  }
  for (var a = 0u; a < RM; a++) {
    let i = ty + TY * a;
    for (var c = 0u; c < RN; c++) {
      let d = kt * BK + tx + TX * c;
      if (i < rows && d < KD) {
        let at = ${tok()('bh', 't0 + i', 'd', 'KD')};
        ${inter('dqi', 'read_write', 'at')} = aq[a][c];
        ${inter('dki', 'read_write', 'at')} = ak[a][c];${ks.delta ? wgsl`\n        ${inter('dW', 'read_write', 'at')} = -aw[a][c];` : ''}
      }
    }
  }
}`;
}
