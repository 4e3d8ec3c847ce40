// The state terms of dq, dk and dW on the fragment layer (tensor-core tier), per (K-tile, chunk,
// b*h); the same three (C x V) by (V x K) products as the f32 tier's bwd-dqk-inter.ts:
//   dqi = do S_n^T,   dki = u dS'_n^T,   dW = -du S_n^T (delta rule; u is V_new there).
// V streams through workgroup memory in slabs: the three left operands (C x slab) and the two
// states (BK x slab, read transposed) as f16; each subgroup owns an fm x fn block of every
// product's result fragments. A full tile goes straight from the fragments to dinter.
import type { F32Reader, KernelSource } from './common.js';
import { ConfigError, type StageShape } from '../plan.js';
import { emitDirectStores, emitEpilogue, firstFit, fragCeil, partition, scratchWords, type Fragments, subgroupGrid } from './fragments.js';
import { emitF16Block } from './staged.js';
import { keyTileOpening } from './tc-bwd-dqk.js';
import { joinWgsl, u32, wgsl, type Wgsl } from '../wgsl.js';

/** Key columns per workgroup. */
export const tcInterTileK = (K: number) => Math.min(64, fragCeil(K));

interface InterLayout { BK: number; SV: number; sDo: number; sU: number; sDu: number; sS: number; sD: number; f16: number; f32: number }

/** f16: [do | u | du (C x SV each) | S | dS (BK x SV each)]; f32: one epilogue pass's scratch.
 * The widest V slab (32, else 16) that fits. */
export function tcInterLayout(ks: KernelSource): InterLayout {
  const C = ks.cfg.chunk;
  const BK = tcInterTileK(ks.cfg.K);
  const layouts = [32, 16].map((SV): InterLayout => {
    const sDo = 0;
    const sU = sDo + C * SV;
    const sDu = sU + C * SV;
    const sS = sDu + (ks.delta ? C * SV : 0);
    const sD = sS + BK * SV;
    const f16 = sD + BK * SV;
    const f32 = scratchWords(1);
    return { BK, SV, sDo, sU, sDu, sS, sD, f16, f32 };
  });
  return firstFit(ks.cfg, layouts, (budget) => new ConfigError(`no tiling of the backward's state terms fits ${budget} bytes of workgroup memory; raise tuning.fragmentMemory`));
}

/** Per (K-tile, chunk, b*h). */
export const tcBwdInterGrid = (ks: KernelSource): StageShape['grid'] => [[Math.ceil(ks.cfg.K / tcInterTileK(ks.cfg.K))], ['NT'], ['BH']];

export function emitTcBwdInter(ks: KernelSource, fr: Fragments): Wgsl {
  const lay = tcInterLayout(ks);
  const { BK, SV } = lay;
  const C = ks.cfg.chunk;
  const p = partition(C / 16, BK / 16);
  // Every operand is read four wide along V where V allows (F32Reader, role4Fn).
  const by4 = ks.cfg.V % 4 === 0;
  const hs = ks.f32Reader('hs', by4);
  const dhs = ks.f32Reader('dhs', by4);
  const dO = ks.seedDoReader();
  // The left operands at token t and value column c (the staging's index), chunk b, h, bh: scalar
  // and four-wide (null where not).
  const tok = '(bh * P.T + t) * VD + c';
  const pair = (r: F32Reader, i: string): [Wgsl, Wgsl | null] => [r.at(i), r.at4?.(i) ?? null];
  const v4 = ks.delta ? null : ks.role4Fn('v');
  const value: [Wgsl, Wgsl | null] = ks.delta ? pair(ks.f32Reader('vnew', by4), tok) : [ks.roleFn('v')('b', 't', 'h', 'c'), v4 && v4('b', 't', 'h', 'c')];
  const du: [Wgsl, Wgsl | null] | null = ks.delta ? pair(ks.f32Reader('dU', by4), tok) : null;
  const dinter = ks.use('dinter', 'read_write');
  // The start of dinter's part x and a `+` (bwd-common.ts's dint(x, i) is the same offset),
  // nothing for part 0.
  const plane = (x: number) => (x === 0 ? '' : wgsl`${u32(x)} * (P.B * P.H * P.T * KD) + `);
  const products: { acc: string; left: number; right: number; plane: number; sign: string }[] = [
    { acc: 'aq', left: lay.sDo, right: lay.sS, plane: 0, sign: '' },
    { acc: 'ak', left: lay.sU, right: lay.sD, plane: 1, sign: '' },
    ...(ks.delta ? [{ acc: 'aw', left: lay.sDu, right: lay.sS, plane: 2, sign: '-' }] : []),
  ];
  const grid = subgroupGrid(p, 'f');
  const rowMap = grid.map;
  const leftBlock = ([expr, expr4]: [Wgsl, Wgsl | null], at: number) => emitF16Block({
    count: wgsl`C * ${SV}u`,
    unroll: ks.stagingUnroll,
    index: (four) => wgsl`let t = t0 + min(e / ${SV}u, rows - 1u); let c = min(c0 + e % ${SV}u, VD - ${four ? 4 : 1}u);`,
    value: expr, wide: expr4,
    valid: wgsl`e / ${SV}u < rows && c0 + e % ${SV}u < VD`,
    arr: 'wh', at: (e) => wgsl`${at}u + ${e}`,
  });
  const stateBlock = (buf: F32Reader, at: number) => emitF16Block({
    count: wgsl`${BK * SV}u`,
    unroll: ks.stagingUnroll,
    index: (four) => wgsl`let d = min(k0 + e / ${SV}u, KD - 1u); let c = min(c0 + e % ${SV}u, VD - ${four ? 4 : 1}u);`,
    value: buf.at('((bh * P.NT + n) * KD + d) * VD + c'), wide: buf.at4?.('((bh * P.NT + n) * KD + d) * VD + c') ?? null,
    valid: wgsl`k0 + e / ${SV}u < KD && c0 + e % ${SV}u < VD`,
    arr: 'wh', at: (e) => wgsl`${at}u + ${e}`,
  });
  const direct = joinWgsl(products.map((q) => wgsl`${q.sign ? wgsl`if (factive) {
    ${joinWgsl(Array.from({ length: p.fm * p.fn }, (_, x) => fr.scale(q.acc, Math.floor(x / p.fn), x % p.fn, '-1.0')), '\n    ')}
  }` : ''}
  ${emitDirectStores(fr, q.acc, p.fm, p.fn, 'factive', (i, j) => ({
    arr: dinter, offset: wgsl`${plane(q.plane)}(bh * P.T + t0 + ${rowMap.row(i)}) * KD + k0 + ${rowMap.col(j)}`, stride: 'KD',
  }))}`), '\n  ');
  const epilogues = joinWgsl(products.map((q) => emitEpilogue(fr, q.acc, p.fm, p.fn, {
    scratch: 'wf', scratchBase: 0, active: 'factive', ...rowMap,
    body: wgsl`let d = k0 + c;
      if (r < rows && d < KD) { ${dinter}[${plane(q.plane)}(bh * P.T + t0 + r) * KD + d] = ${q.sign}value; }`,
  })), '\n  ');
  return wgsl`${keyTileOpening(ks, fr, lay, BK, grid.decl)}
  ${joinWgsl(products.map((q) => fr.declare(q.acc, p.fm, p.fn)), '\n  ')}
  for (var c0 = 0u; c0 < VD; c0 += ${SV}u) {
    ${leftBlock(pair(dO, '((b * P.T + t) * P.H + h) * VD + c'), lay.sDo)}
    ${leftBlock(value, lay.sU)}
    ${du ? leftBlock(du, lay.sDu) : ''}
    ${stateBlock(hs, lay.sS)}
    ${stateBlock(dhs, lay.sD)}
    workgroupBarrier();
    if (factive) {
      for (var kk = 0u; kk < ${SV}u; kk += 16u) {
        ${joinWgsl(products.map((q) => fr.mma(q.acc, p.fm, p.fn,
    (i) => ({ arr: 'wh', offset: wgsl`${q.left}u + ${rowMap.row(i)} * ${SV}u + kk`, stride: SV }),
    (j) => ({ arr: 'wh', offset: wgsl`${q.right}u + ${rowMap.col(j)} * ${SV}u + kk`, stride: SV, colMajor: true }))), '\n        ')}
      }
    }
    workgroupBarrier();
  }
  if (rows == C && k0 + ${BK}u <= KD) {
  ${direct}
  } else {
  ${epilogues}
  }
}`;
}
