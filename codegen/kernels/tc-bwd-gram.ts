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
import { emitEpilogue, firstFit, FRAG_NAMES, FRAG_WG, partition, scratchWords, subgroupGrid, workspaceBytes, type Fragments } from './fragments.js';
import { emitF16Block, F16_FINITE_WGSL, NAN_WGSL, nonFiniteGather } from './staged.js';
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

// The WY backward's M = dT T^T (wyM, bwd-wy.ts) on the fragment layer, per (chunk, b*h):
//   M[i,j] = sum_{r < i, r <= j} dT[i,r] T[j,r]
// dT (C x C, f32, strictly lower: wyDT's) is staged as f16; T^T's fragments are T's read
// column-major straight from the forward's t16. Blocks past both masks (r-block above i's or
// j's) are skipped. Fragments cannot skip the zeros of T^T in a diagonal block, so a value of dT
// not finite in f16 would reach M[i, j] for j before its column: it is staged as 0, and, only in
// a workgroup that staged one (nonFiniteGather), each row's first such column r0 sets
// M[i, j] = NaN for j >= r0 afterwards, as the f32 sums give.

const wyMNonFinite = nonFiniteGather('m');

/** f16: dT (C x C); f32: one epilogue pass's scratch; beside them the non-finite flags. */
function tcWyMLayout(ks: KernelSource): { f16: number; f32: number } {
  const C = ks.cfg.chunk;
  return firstFit(ks.cfg, [{ f16: C * C, f32: scratchWords(1) }], (budget) => new ConfigError(`no tiling of the WY backward's M = dT T^T fits ${budget} bytes of workgroup memory; raise tuning.fragmentMemory`),
    (l) => workspaceBytes(l) + wyMNonFinite.bytes(FRAG_WG));
}

export function emitTcWyM(ks: KernelSource, fr: Fragments): Wgsl {
  const C = ks.cfg.chunk;
  const lay = tcWyMLayout(ks);
  const stage = ks.chunkStageXY(fr.builtins());
  const s = extendScope(stage.s, FRAG_NAMES);
  const { cc } = bwdFns(ks);
  const dT = ks.f32Reader('dTA', true);
  const t16 = ks.use('t16', 'read', false, 'f16');
  const M = ks.use('M', 'read_write');
  const p = partition(C / 16, C / 16);
  const grid = subgroupGrid(p, 'f');
  ks.helper('nan', NAN_WGSL);
  ks.helper('f16finite', F16_FINITE_WGSL);
  const stageDT = emitF16Block({
    count: wgsl`C * C`,
    unroll: ks.stagingUnroll,
    index: () => wgsl`let r = min(e / C, ${s.rows} - 1u); let x = e % C;`,
    value: dT.at(cc()('bh', 'n', 'r', 'x')), wide: null,
    valid: wgsl`e / C < ${s.rows}`,
    arr: 'wh', at: (e) => e,
    nonFiniteFlag: { flag: wyMNonFinite.flag, staged: 'zero' },
  });
  return wgsl`
${fr.workspace(lay.f16, lay.f32)}
${wyMNonFinite.decl}

${stage.open}
  ${fr.opening()}
  ${grid.decl}
  ${fr.declare('mm', p.fm, p.fn)}
  ${wyMNonFinite.init}
  ${stageDT}
  ${wyMNonFinite.publish}
  workgroupBarrier();
  if (factive) {
    for (var kk = 0u; kk < C; kk += 16u) {
      ${fr.mma('mm', p.fm, p.fn,
    (i) => ({ arr: 'wh', offset: wgsl`${renderIndex(mul(grid.block.row(i), 16 * C))} + kk`, stride: C }),
    (j) => ({ arr: t16, offset: wgsl`(bh * P.NT + n) * C * C + ${renderIndex(mul(grid.block.col(j), 16 * C))} + kk`, stride: C, colMajor: true }),
    (i, j) => wgsl`kk / 16u <= ${renderIndex(grid.block.row(i))} && kk / 16u <= ${renderIndex(grid.block.col(j))}`)}
    }
  }
  ${emitEpilogue(fr, 'mm', p.fm, p.fn, {
    scratch: 'wf', scratchBase: 0, active: 'factive', ...grid.map,
    body: wgsl`if (r < ${s.rows}) { ${M}[${cc()('bh', 'n', 'r', 'c')}] = value; }`,
  })}
  // A row of dT with a value not finite in f16 (staged as 0): M's row from its first such column on.
  ${wyMNonFinite.branch(wgsl`storageBarrier();
    for (var i = ${s.lid}; i < ${s.rows}; i += WG) {
      var first = C;
      for (var x = 0u; x < i; x++) {
        if (first == C && !lae_f16_finite(${dT.at(cc()('bh', 'n', 'i', 'x'))})) { first = x; }
      }
      for (var j = first; j < C; j++) { ${M}[${cc()('bh', 'n', 'i', 'j')}] = lae_nan(); }
    }`)}
}`;
}
