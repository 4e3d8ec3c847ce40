// The backward's per-chunk f16 operand blocks that the tensor-core chunk states
// (tc-bwd-dh.ts) and the delta rule's scan (tc-bwd-dh-delta.ts) both stage: the chunk's
// scaled, decayed queries (C x KF) and a V-tile of do (C x BV at v0), zero past the chunk's rows
// and the dims.
import type { KernelSource } from './common.js';
import type { F16Block } from './staged.js';
import { scaledDecayedQuery } from './tc-scores.js';

/** The scaled, decayed queries of chunk (n, b*h) (t0, rows in scope), KF columns, at word `at` of wh. */
export function queryBlock(ks: KernelSource, KF: number, at: number): F16Block {
  const qs = scaledDecayedQuery(ks);
  return {
    count: `C * ${KF}u`,
    unroll: ks.stagingUnroll,
    index: (four) => `let t = t0 + min(e / ${KF}u, rows - 1u); let d = min(e % ${KF}u, KD - ${four ? 4 : 1}u);`,
    value: qs.value,
    wide: qs.wide,
    valid: `e / ${KF}u < rows && e % ${KF}u < KD`,
    arr: 'wh', at: (e) => `${at}u + ${e}`,
  };
}

/** The chunk's do, columns v0 .. v0 + BV, at word `at` of wh. */
export function doBlock(ks: KernelSource, BV: number, at: number): F16Block {
  const dO = ks.seedDo();
  return {
    count: `C * ${BV}u`,
    unroll: ks.stagingUnroll,
    index: () => `let t = t0 + min(e / ${BV}u, rows - 1u); let cg = min(v0 + e % ${BV}u, VD - 1u);`,
    value: `${dO}[((b * P.T + t) * P.H + h) * VD + cg]`, wide: null,
    valid: `e / ${BV}u < rows && v0 + e % ${BV}u < VD`,
    arr: 'wh', at: (e) => `${at}u + ${e}`,
  };
}
