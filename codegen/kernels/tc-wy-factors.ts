// The delta rule's WY factors on the fragment layer (tensor-core tier): W = T (beta 2^G K) and
// U = T (beta V), with T = (I + A)^-1 the chunk's unit lower-triangular inverse, which the prep
// (tc-prep.ts) leaves in t16 (f16, C x C per chunk). One workgroup per (column tile of W or of U,
// chunk, b*h), as FLA's recompute_w_u splits it from the inverse: a grid several times wider than
// the prep's, with a fraction of its registers and workgroup memory. T's fragments load straight
// from t16: staging it through workgroup memory (a loop of f32 loads from tmat, converted) took
// 0.38 of this kernel's 0.64 ms on the H200 (bench/probes/forward-edits.mjs), and the kernel's
// time doubles when its workgroup memory does (fewer workgroups per multiprocessor), so only X
// is staged. W also goes to the delta scan's per-chunk f16 blocks (w16).
import type { KernelSource } from './common.js';
import { ConfigError, type SizeExpr } from '../plan.js';
import { declareFirstBad, emitCausalFixup, emitF16Block, NAN_WGSL, type F16Block } from './staged.js';
import { emitEpilogue, FRAG_NAMES, FRAG_WG, fragCeil, partition, scratchWords, type Fragments, firstFit, subgroupGrid } from './fragments.js';
import { chunkOperandAt } from './tc-states.js';
import { extendScope, joinWgsl, wgsl, type Wgsl } from '../wgsl.js';
import { mul, renderIndex, add } from '../index-expr.js';

/** A workgroup's columns: c0 .. c0 + width of W (which = 0, over K) or of U (1, over V). */
interface ColumnTile { readonly which: 0 | 1; readonly c0: number; readonly width: number }

interface WyFactorsLayout { readonly tiles: readonly ColumnTile[]; readonly SR: number; readonly perPass: number; readonly f16: number; readonly f32: number }

/** Column tiles of at most 64 (two fragments per subgroup each way, 32 accumulator words per
 * thread); f16: X in row slabs of SR, f32: the epilogue's scratch, perPass fragments per
 * subgroup. The first candidate that fits: the whole chunk in one slab (one barrier) and two
 * epilogue passes come first, since the kernel's workgroup memory bounds how many of its
 * workgroups share a multiprocessor (16 KiB at chunk 64). */
export function tcWyFactorsLayout(cfg: { readonly K: number; readonly V: number; readonly chunk: number; readonly wgMemory?: number; readonly fragmentMemory?: number }): WyFactorsLayout {
  const C = cfg.chunk;
  const slabs = [[C, 2], [C, 1], [32, 2], [32, 1], [16, 1]].filter(([SR]) => SR! <= C) as [number, number][];
  const layouts: WyFactorsLayout[] = [];
  for (const tileWidth of [64, 32, 16]) {
    const tiles: ColumnTile[] = [];
    for (const [which, dim] of [[0, cfg.K], [1, cfg.V]] as const) {
      for (let c0 = 0; c0 < dim; c0 += tileWidth) tiles.push({ which, c0, width: Math.min(tileWidth, fragCeil(dim - c0)) });
    }
    for (const [SR, perPass] of slabs) layouts.push({ tiles, SR, perPass, f16: SR * tileWidth, f32: scratchWords(perPass) });
  }
  return firstFit(cfg, layouts, (budget) => new ConfigError(`no tiling of the WY factors on the tensor-core tier fits ${budget} bytes of workgroup memory (chunk ${C}); raise tuning.fragmentMemory`));
}

/** One workgroup per column tile, chunk and b*h. */
export function tcWyFactorsShape(cfg: Parameters<typeof tcWyFactorsLayout>[0]): { wg: number; wgX: number; grid: [SizeExpr, SizeExpr, SizeExpr] } {
  return { wg: FRAG_WG, wgX: FRAG_WG, grid: [[tcWyFactorsLayout(cfg).tiles.length], ['NT'], ['BH']] };
}

export function emitTcWyFactors(ks: KernelSource, fr: Fragments): Wgsl {
  const { cfg } = ks;
  const C = cfg.chunk;
  const lay = tcWyFactorsLayout(cfg);
  // The delta rule: W = T (beta 2^G K), U = T (beta V). The generalized delta rule: W =
  // T (a 2^{G_{i-1}}), U = M V with M = T A_ak (tc-inverse.ts).
  const dplr = ks.dplr;
  const beta = dplr ? null : ks.roleFn('beta');
  const key = dplr ? 'a' : 'k';
  const k = ks.roleFn(key);
  const v = ks.roleFn('v');
  const t16 = ks.use('t16', 'read', false, 'f16');
  const m16 = dplr ? ks.use('m16', 'read', false, 'f16') : null;
  const w = ks.use('w', 'read_write');
  const uu = ks.use('u', 'read_write');
  const w16 = ks.use('w16', 'read_write', false, 'f16');
  const KF = fragCeil(cfg.K);
  const stage = ks.chunkStage(fr.builtins());
  const s = extendScope(stage.s, FRAG_NAMES);
  const gate = (d: string) => (dplr ? ks.gexFn()('b', 'h', 't', s.t0, d) : ks.gcsFn()('b', 'h', 't', d));
  const decayK = ks.decayed ? wgsl` * exp2(${gate('d')})` : '';
  const decayK4 = !ks.decayed ? '' : ks.diag
    ? wgsl` * exp2(vec4<f32>(${joinWgsl([0, 1, 2, 3].map((x) => gate(renderIndex(add('d', x)))), ', ')}))`
    : wgsl` * exp2(${gate('0u')})`;
  const tileBodies = lay.tiles.map(({ which, c0, width }) => {
    const p = partition(C / 16, width / 16);
    const grid = subgroupGrid(p, 'f');
    const dim = which === 0 ? 'KD' : 'VD';
    const operand = which === 0 ? wgsl`${k('b', 't', 'h', 'd')}${decayK}` : v('b', 't', 'h', 'd');
    const r4 = ks.role4Fn(which === 0 ? key : 'v');
    const operand4 = r4 && (which === 0 ? wgsl`${r4('b', 't', 'h', 'd')}${decayK4}` : r4('b', 't', 'h', 'd'));
    const out = which === 0 ? w : uu;
    // X (or Y) in row slabs, the right operand of the lower-triangular T X: causal for
    // non-finite values, as in the output stage.
    const xBlock: F16Block = {
      count: wgsl`${lay.SR * width}u`,
      unroll: ks.stagingUnroll,
      index: (four) => wgsl`let t = ${s.t0} + min(r0 + e / ${width}u, ${s.rows} - 1u); let d = min(${c0}u + e % ${width}u, ${dim} - ${four ? 4 : 1}u);`,
      value: beta ? wgsl`${beta(s.b, 't', s.h, '0u')} * ${operand}` : operand,
      wide: operand4 && (beta ? wgsl`${beta(s.b, 't', s.h, '0u')} * ${operand4}` : operand4),
      valid: wgsl`r0 + e / ${width}u < ${s.rows} && ${c0}u + e % ${width}u < ${dim}`,
      arr: 'wh', at: (e) => wgsl`${e}`,
      causal: { firstBad: 'firstBad', row: wgsl`r0 + e / ${width}u`, perRow: width, wg: FRAG_WG },
    };
    const fixup = emitCausalFixup(xBlock, s.rows, (e) => wgsl`${c0}u + ${e} % ${width}u`, (r, d) => wgsl`if (${d} < ${dim}) {
        ${out}[(${s.bh} * P.T + ${s.t0} + ${r}) * ${dim} + ${d}] = lae_nan();${which === 0 ? wgsl`
        ${w16}[${chunkOperandAt(KF, r, d)}] = f16(lae_nan());` : ''}
      }`);
    return wgsl`{
    ${grid.decl}
    ${fr.declare('wu', p.fm, p.fn)}
    ${declareFirstBad(xBlock)}
    for (var r0 = 0u; r0 < ${s.rows}; r0 += ${lay.SR}u) {
      ${emitF16Block(xBlock)}
      workgroupBarrier();
      if (factive) {
        for (var kk = 0u; kk < ${lay.SR}u; kk += 16u) {
          ${fr.mma('wu', p.fm, p.fn,
    (i) => ({ arr: which === 1 && m16 ? m16 : t16, offset: wgsl`(${s.bh} * P.NT + ${s.n}) * C * C + ${renderIndex(mul(grid.block.row(i), 16 * C))} + r0 + kk`, stride: C }),
    (j) => ({ arr: 'wh', offset: wgsl`kk * ${width}u + ${grid.map.col(j)}`, stride: width }),
    (i) => wgsl`(r0 + kk) / 16u <= ${renderIndex(grid.block.row(i))}`)}
        }
      }
      workgroupBarrier();
    }
    ${emitEpilogue(fr, 'wu', p.fm, p.fn, {
    scratch: 'wf', scratchBase: 0, perPass: lay.perPass, active: 'factive',
    ...grid.map,
    body: wgsl`let d = ${c0}u + c;
      if (r < ${s.rows} && d < ${dim}) { ${out}[(${s.bh} * P.T + ${s.t0} + r) * ${dim} + d] = value; }${which === 0 ? wgsl`
      ${w16}[${chunkOperandAt(KF, 'r', 'd')}] = f16(select(0.0, value, r < ${s.rows} && d < KD));` : ''}`,
  })}
    // An X row that was not finite (staged as 0) reaches W (U) from its row on.
    storageBarrier();
    ${fixup}
  }`;
  });
  ks.helper('nan', NAN_WGSL);
  // The tile is uniform over the workgroup (wid.x), so the barriers inside its branch are too.
  const dispatch = lay.tiles.length === 1 ? tileBodies[0]! : joinWgsl(tileBodies.map((body, i) => wgsl`if (${s.wid}.x == ${i}u) ${body}`), ' else ');
  return wgsl`
${fr.workspace(lay.f16, lay.f32)}

${stage.open}
  ${fr.opening()}
  ${dispatch}
}`;
}
