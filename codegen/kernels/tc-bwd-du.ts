// The value gradient of each chunk without the delta rule, on the fragment layer (tensor-core
// tier), per (V-tile, chunk, b*h), and its intra-chunk part (below); the same products as the
// f32 tier's bwd-du.ts:
//   dv_j = dvl_j + (k_j 2^(G_last - G_j)) . D_n
// The decayed keys come straight from the forward's per-chunk f16 block (kg16, the state walk's
// operand); D_n (dhs, f32, read four wide where V allows) is staged as f16 in K-slabs; the
// epilogue adds dvl. (Starting the accumulators from dvl, a result fragment loaded from
// storage, gave wrong values on the H200, 2026-12-02.)
import type { KernelSource } from './common.js';
import { ConfigError, scoresInPrep, type StageShape } from '../plan.js';
import { emitEpilogue, firstFit, fragCeil, partition, scratchWords, type Fragments, subgroupGrid } from './fragments.js';
import { doBlock } from './tc-bwd-dh.js';
import { emitStateTerm, emitTransposedProduct, stateSlab, tcDuTileV } from './tc-transposed.js';
import { wgsl, type Wgsl } from '../wgsl.js';

/** f16: a K-slab of D_n (SK x BV); f32: one epilogue pass's scratch. The widest slab that fits. */
function tcDuLayout(ks: KernelSource): { SK: number; f16: number; f32: number } {
  const BV = tcDuTileV(ks.cfg.V);
  const layouts = [Math.min(128, fragCeil(ks.cfg.K)), 64, 32, 16].map((SK) => ({ SK, f16: SK * BV, f32: scratchWords(1) }));
  return firstFit(ks.cfg, layouts, (budget) => new ConfigError(`no tiling of the backward's value gradient fits ${budget} bytes of workgroup memory; raise tuning.fragmentMemory`));
}

/** Per (V-tile, chunk, b*h). */
export const tcBwdDuGrid = (ks: KernelSource): StageShape['grid'] => [[Math.ceil(ks.cfg.V / tcDuTileV(ks.cfg.V))], ['NT'], ['BH']];

export function emitTcBwdDu(ks: KernelSource, fr: Fragments): Wgsl {
  const C = ks.cfg.chunk;
  const BV = tcDuTileV(ks.cfg.V);
  const { SK, f16, f32 } = tcDuLayout(ks);
  const p = partition(C / 16, BV / 16);
  // Bound first, as before the state term's emitter was shared: the bindings' order is part of
  // the pipeline's text.
  ks.use('kg16', 'read', false, 'f16');
  const slab = stateSlab(ks, BV, SK);
  const dvl = ks.use('dvl', 'read');
  const gradV = ks.use('grad_v', 'read_write');
  const grid = subgroupGrid(p, 'f');
  const rowMap = grid.map;
  const at = (r: string, c: string) => wgsl`((b * P.T + t0 + ${r}) * P.H + h) * VD + v0 + ${c}`;
  return wgsl`
${fr.workspace(f16, f32)}

${ks.chunkMain(fr.builtins())}
  let vt = wid.x;
  ${fr.opening()}
  let v0 = vt * ${BV}u;
  ${grid.decl}
  ${fr.declare('dv', p.fm, p.fn)}
  ${emitStateTerm(ks, fr, 'dv', p, SK, BV, slab)}
  ${emitEpilogue(fr, 'dv', p.fm, p.fn, {
    scratch: 'wf', scratchBase: 0, active: 'factive', ...rowMap,
    body: wgsl`if (r < rows && v0 + c < VD) { ${gradV}[${at('r', 'c')}] = value + ${dvl}[(bh * P.T + t0 + r) * VD + v0 + c]; }`,
  })}
}`;
}

// bwdDvLocal, the intra-chunk part (the f32 tier's bwd-du.ts):
//   dvl_j = sum_{r >= j} A[r,j] do_r,   i.e. dvl = A^T do
// a transposed product (tc-transposed.ts); into dvl, or for the delta rule dU, where the scan
// adds the state part in place. Without the delta rule, bwdDu can make it itself ('bwdDu:local',
// backward.ts): dv = A^T do + (k 2^(G_last - G)) . D_n in one kernel, no dvl.

export function emitTcBwdDvLocal(ks: KernelSource, fr: Fragments): Wgsl {
  const out = ks.use(ks.delta ? 'dU' : 'dvl', 'read_write');
  return emitLocalDv(ks, fr, out, (r, c) => wgsl`(bh * P.T + t0 + ${r}) * VD + v0 + ${c}`, 'VD', false);
}

/** bwdDu with its intra-chunk part (the form 'bwdDu:local', backward.ts): dv = A^T do +
 * (k 2^(G_last - G)) . D_n in one kernel, straight to grad_v: no bwdDvLocal, no dvl. */
export function emitTcBwdDuLocal(ks: KernelSource, fr: Fragments): Wgsl {
  const gradV = ks.use('grad_v', 'read_write');
  return emitLocalDv(ks, fr, gradV, (r, c) => wgsl`((b * P.T + t0 + ${r}) * P.H + h) * VD + v0 + ${c}`, 'P.H * VD', true);
}

/** A^T do (and with `stateTerm` bwdDu's state term) into `out` at element `at(r, c)` of the
 * tile, chunk rows `stride` apart. */
function emitLocalDv(ks: KernelSource, fr: Fragments, out: string, at: (r: string, c: string) => Wgsl, stride: string, stateTerm: boolean): Wgsl {
  return emitTransposedProduct(ks, fr, {
    lower: scoresInPrep(ks.def, ks.cfg) ? { f16: 'aqk16' } : { f32: 'aqk' },
    rows: (s, base) => doBlock(ks, s, tcDuTileV(ks.cfg.V), base),
    store: () => wgsl`${out}[${at('r', 'c')}] = value;`,
    direct: (r, c) => ({ arr: out, offset: at(r, c), stride }),
    nan: (_s, r, c) => wgsl`${out}[${at(r, c)}] = lae_nan();`,
    ...(stateTerm ? { stateTerm: true as const } : {}),
  });
}
