// Per-chunk C x C Gram products on the fragment layer (tensor-core tier), per (chunk, b*h); the
// same products as the f32 tier's bwd-gram.ts,
//   out[i,j] = post(sum over the parts' axes x of L(i,x) R(j,x))   for the kept (i, j), else 0,
// the backward's dA = do u^T (bwdDScores) and the WY backward's dT = dU Y^T + dW X^T (wyDT).
// Each part's axis streams through workgroup memory in slabs, both operands as f16 rows (four
// wide where the part gives vec4 forms); R is read column-major, so the product is L R^T. The
// kept entries lie on or below the diagonal (GramKeep), so the fragment blocks above it are
// neither multiplied nor read: their accumulators stay 0 and store as 0.
import type { KernelSource } from './common.js';
import { ConfigError, type StageShape } from '../plan.js';
import { bwdFns } from './bwd-common.js';
import { gramMask, type Gram, type GramScope } from './bwd-gram.js';
import { emitEpilogue, firstFit, FRAG_NAMES, partition, scratchWords, subgroupGrid, type Fragments } from './fragments.js';
import { emitF16Block } from './staged.js';
import { extendScope, joinWgsl, wgsl, type Wgsl } from '../wgsl.js';
import { mul, renderIndex } from '../index-expr.js';

/** f16: L and R slabs (C x SX each); f32: one epilogue pass's scratch. The widest slab that fits. */
function tcGramLayout(ks: KernelSource): { SX: number; f16: number; f32: number } {
  const C = ks.cfg.chunk;
  const layouts = [32, 16].map((SX) => ({ SX, f16: 2 * C * SX, f32: scratchWords(1) }));
  return firstFit(ks.cfg, layouts, (budget) => new ConfigError(`no tiling of the backward's C x C Gram products fits ${budget} bytes of workgroup memory; raise tuning.fragmentMemory`));
}

/** Per (chunk, b*h). */
export const tcBwdGramGrid = (): StageShape['grid'] => [['NT'], ['BH'], [1]];

export function emitTcGram(ks: KernelSource, fr: Fragments, gram: (s: GramScope) => Gram): Wgsl {
  const C = ks.cfg.chunk;
  const { SX, f16, f32 } = tcGramLayout(ks);
  const stage = ks.chunkStageXY(fr.builtins());
  const s = extendScope(extendScope(stage.s, FRAG_NAMES), ['t', 'x', 'i', 'j', 'v']);
  // The pieces first (and what they bind), then the opening, then cc: the bindings' order.
  const g = gram(s);
  const { cc } = bwdFns(ks);
  const p = partition(C / 16, C / 16);
  const grid = subgroupGrid(p, 'f');
  const sL = 0;
  const sR = C * SX;
  const block = (expr: string, expr4: string | null | undefined, len: string, at: number) => emitF16Block({
    count: wgsl`C * ${SX}u`,
    unroll: ks.stagingUnroll,
    index: (four) => wgsl`let t = ${s.t0} + min(e / ${SX}u, ${s.rows} - 1u); let x = min(x0 + e % ${SX}u, ${len} - ${four ? 4 : 1}u);`,
    value: expr, wide: expr4 ?? null,
    valid: wgsl`e / ${SX}u < ${s.rows} && x0 + e % ${SX}u < ${len}`,
    arr: 'wh', at: (e) => wgsl`${at}u + ${e}`,
  });
  const parts = g.parts.map((part) => wgsl`for (var x0 = 0u; x0 < ${part.len}; x0 += ${SX}u) {
    ${block(part.left, part.left4, String(part.len), sL)}
    ${block(part.right, part.right4, String(part.len), sR)}
    workgroupBarrier();
    if (factive) {
      for (var kk = 0u; kk < ${SX}u; kk += 16u) {
        ${fr.mma('ga', p.fm, p.fn,
    (i) => ({ arr: 'wh', offset: wgsl`${sL}u + ${renderIndex(mul(grid.block.row(i), 16 * SX))} + kk`, stride: SX }),
    (j) => ({ arr: 'wh', offset: wgsl`${sR}u + ${renderIndex(mul(grid.block.col(j), 16 * SX))} + kk`, stride: SX, colMajor: true }),
    (i, j) => wgsl`${renderIndex(grid.block.row(i))} >= ${renderIndex(grid.block.col(j))}`)}
      }
    }
    workgroupBarrier();
  }`);
  const epilogue = emitEpilogue(fr, 'ga', p.fm, p.fn, {
    scratch: 'wf', scratchBase: 0, active: 'factive', ...grid.map,
    body: wgsl`if (r < ${s.rows} && c < ${s.rows}) {
        let ${s.i} = r;
        let ${s.j} = c;
        let ${s.v} = value;
        ${g.out}[${cc()(s.bh, s.n, s.i, s.j)}] = select(0.0, ${g.post}, ${gramMask(g.keep, s.i, s.j)});
      }`,
  });
  return wgsl`
${fr.workspace(f16, f32)}

${stage.open}
  ${fr.opening()}
  ${grid.decl}
  ${fr.declare('ga', p.fm, p.fn)}
  ${joinWgsl(parts, '\n  ')}
  ${epilogue}
}`;
}
