// The gate gradient: the per-token terms bwdDqk (and the WY backward) left in dbq (query side)
// and dbk (key side and the chunk-end term) belong to the in-chunk cumsum G; a log-decay g_s
// feeds every G_t with t >= s in its chunk, so dg_s = sum_{t>=s} dL/dG_t, a reverse cumsum.
// The bonus form's query side reads G_{t-1}, so its term lands one token earlier. A scalar gate
// sums over the key dims.
import type { KernelSource } from './common.js';
import { bwdHelpers } from './bwd-common.js';

export function emitBwdGate(ks: KernelSource): string {
  const { tok, bth } = bwdHelpers(ks);
  const dbq = ks.use('dbq', 'read'); const dbk = ks.use('dbk', 'read');
  const grad = ks.use('grad_logDecay', 'read_write');
  const qAt = ks.bonus ? 'tq = min(t + 1u, P.T - 1u); let hasq = i + 1u < rows;' : 'tq = t; let hasq = true;';
  const term = (d: string) => `${dbk}[${tok()}(bh, t, ${d}, KD)] + select(0.0, ${dbq}[${tok()}(bh, tq, ${d}, KD)], hasq)`;
  if (!ks.diag) {
    // A scalar gate: each thread sums one row's terms over the key dims, then one thread runs
    // the chunk's reverse cumsum (C adds) over them.
    return `
var<workgroup> sTerm: array<f32, C>;

${ks.chunkMain()}
  for (var i = lid; i < C; i += WG) {
    var acc = 0.0;
    if (i < rows) {
      let t = t0 + i;
      let ${qAt}
      for (var d = 0u; d < KD; d++) { acc += ${term('d')}; }
    }
    sTerm[i] = acc;
  }
  workgroupBarrier();
  if (lid == 0u) {
    var acc = 0.0;
    for (var ii = 0u; ii < rows; ii++) {
      let i = rows - 1u - ii;
      acc += sTerm[i];
      ${grad}[${bth()}(b, t0 + i, h, 0u, DG)] = acc;
    }
  }
}`;
  }
  return `
${ks.chunkMain()}
  let dg = wid.x * WG + lid;
  if (dg >= DG) { return; }
  var acc = 0.0;
  for (var ii = 0u; ii < rows; ii++) {
    let i = rows - 1u - ii;
    let t = t0 + i;
    let ${qAt}
    acc += ${term('dg')};
    ${grad}[${bth()}(b, t, h, dg, DG)] = acc;
  }
}`;
}
