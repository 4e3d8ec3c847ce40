// The backward's per-chunk stages around the reverse state scan. Per chunk n, with S_n its start
// state (saved by the forward), dS'_n the gradient of its end state (from the scan), Gq/G the
// query- and key-side gate cumsums, u the chunk's values (V_new for the delta rule), and
//   A[i,j] = scale * sum_d q_i[d] k_j[d] F(i,j,d),  F = 2^(Gq_i - G_j) (u[d] on the diagonal
//            for the bonus form), j <= i
// they compute
//   bwdScores:  A, stored per chunk
//   bwdDvLocal: dvl_j = sum_{i>=j} A[i,j] do_i                 (the intra-chunk part of du)
//   bwdDScores: dA[i,j] = do_i . u_j, j <= i
//   bwdDqk:     (bwd-dqk.ts) dq_i = scale (sum_{j<=i} dA[i,j] k_j F(i,j) + 2^Gq_i (S_n do_i))
//               dk_i = scale sum_{j>=i} dA[j,i] q_j F(j,i) + 2^(G_last - G_i) (dS'_n u_i)
//               dW_i = -S_n du_i (delta rule), du_bonus_i = scale dA[i,i] q_i k_i (bonus form)
//   and the per-token terms of the gate gradient: since every gate factor is 2^(G_a - G_b) with
//   q on the `a` side and k on the `b` side, dL/dG (per unit of natural log) at a token is
//   q . dq - k . dk there, plus rowsum(dS'_n * S_{n+1}) at the chunk's last token; the gate
//   stage turns these into dg by a reverse in-chunk cumsum.
import type { KernelSource } from './common.js';
import { bwdHelpers, emitContraction } from './bwd-common.js';
import { emitGram } from './bwd-gram.js';
import { emitScores } from './scores.js';
import { TILE_GRID } from './tiles.js';

/** The values the output read in chunk n: V_new for the delta rule, else the v role. */
function valueAt(ks: KernelSource, t: string, c: string): string {
  return ks.delta ? `${ks.use('vnew', 'read')}[${bwdHelpers(ks).tok()}(bh, ${t}, ${c}, VD)]` : `${ks.role('v')}(b, ${t}, h, ${c})`;
}

export function emitBwdScores(ks: KernelSource): string {
  const { cc } = bwdHelpers(ks);
  const aqk = ks.use('aqk', 'read_write');
  // The forward output stage's score matrix, kept for bwdDvLocal.
  return `
${TILE_GRID}
${emitScores(ks, { left: 'q', strict: false, post: 'P.scale', slab: ks.tiles.slab })}
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = wid.x;
  let bh = wid.y;
  ${ks.chunkSpan()}
  scores(bh / P.H, bh % P.H, t0, rows, lid);
  for (var e = lid; e < C * C; e += WG) { ${aqk}[${cc()}(bh, n, e / C, e % C)] = sA[e]; }
}`;
}

export function emitBwdDvLocal(ks: KernelSource): string {
  const { cc, tok, bth } = bwdHelpers(ks);
  const aqk = ks.use('aqk', 'read');
  const dO = ks.seedDo();
  const dvl = ks.use('dvl', 'read_write');
  return emitContraction(ks, {
    cols: 'VD', accs: ['acc'],
    loops: [{ from: 'i', to: 'rows', body: `acc += ${aqk}[${cc()}(bh, n, r, i)] * ${dO}[${bth()}(b, t0 + r, h, x, VD)];` }],
    finish: `${dvl}[${tok()}(bh, t, x, VD)] = acc;`,
  });
}

export function emitBwdDScores(ks: KernelSource): string {
  const { bth } = bwdHelpers(ks);
  const dO = ks.seedDo();
  return emitGram(ks, {
    parts: [{ len: 'VD', left: `${dO}[${bth()}(b, t, h, x, VD)]`, right: valueAt(ks, 't', 'x') }],
    mask: 'j <= i', post: 'v', out: ks.use('daqk', 'read_write'),
  });
}
