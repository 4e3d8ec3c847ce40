// dq and dk from the scores' gradient and the state terms, per chunk n, with S_n its start state
// (saved by the forward), dS'_n the gradient of its end state (from the scan), dA from bwdDScores
// and F the scores' decay factor (bwd-scores.ts), and do S_n^T, u dS'_n^T from bwdInter
// (bwd-dqk-inter.ts):
//   bwdDq:      dq_i = scale (sum_{j<=i} dA[i,j] k_j F(i,j) + 2^Gq_i (S_n do_i))
//   bwdDk:      dk_i = scale sum_{j>=i} dA[j,i] q_j F(j,i) + 2^(G_last - G_i) (dS'_n u_i)
//               (chunk matmuls when F does not depend on the key column, else per element)
//   bwdBonus:   du_bonus_i = scale dA[i,i] q_i k_i (bonus form)
// and the per-token terms of the gate gradient, q . dq in dbq and -k . dk in dbk (bwd-dg.ts
// says why). Each stage binds at most 8 storage buffers (WebGPU's default limit).
import type { KernelSource } from './common.js';
import { bwdHelpers } from './bwd-common.js';
import { emitContraction } from './bwd-contraction.js';
import { emitChunkMatmul } from './chunk-matmul.js';

/** F(ti, tj, d) for tj <= ti: the decay between a query row and a key column. */
function decayFactor(ks: KernelSource): string {
  const hp = bwdHelpers(ks);
  const g = hp.g(); const gq = hp.gq();
  const diagonal = ks.bonus ? `${ks.role('u')}(0u, 0u, h, d)` : `exp2(${gq}(b, h, ti, t0, d) - ${g}(b, h, ti, d))`;
  return ks.helper('fqk', `fn fqk(b: u32, h: u32, ti: u32, tj: u32, t0: u32, d: u32) -> f32 {
  if (ti == tj) { return ${diagonal}; }
  return exp2(${gq}(b, h, ti, t0, d) - ${g}(b, h, tj, d));
}`);
}

/** The per-token part of dbk: the chunk-end term bwdChunkEnd left at the chunk's last token, or
 * 0 elsewhere. */
function chunkEndAt(ks: KernelSource, at: string, last: string): string {
  return `select(0.0, ${ks.use('dbk', 'read_write')}[${at}], ${last})`;
}

/** dq_i = scale (sum_{j<=i} dA[i,j] k_j F(i,j) + 2^Gq_i (S_n do_i)), per element, where the
 * decay depends on the key column (a per-key gate) or a bonus sits on the diagonal; dbq_i =
 * q_i (dq_i - the bonus term). */
export function emitBwdDqContraction(ks: KernelSource): string {
  const hp = bwdHelpers(ks);
  const { cc, tok, bth } = hp;
  const f = decayFactor(ks);
  const gq = hp.gq();
  const q = ks.role('q'); const k = ks.role('k');
  const daqk = ks.use('daqk', 'read');
  const bonusQ = ks.bonus ? `scale * ${daqk}[${cc()}(bh, n, i, i)] * ${k}(b, t, h, x) * uu` : '0.0';
  return emitContraction(ks, {
    cols: 'KD', accs: ['dqa'],
    setup: `let scale = P.scale;${ks.decayed ? `\n  let qi = ${q}(b, t, h, x);` : ''}${ks.bonus ? `\n  let uu = ${ks.role('u')}(0u, 0u, h, x);` : ''}`,
    loops: [{ to: 'i + 1u', body: `dqa += ${daqk}[${cc()}(bh, n, i, r)] * ${k}(b, t0 + r, h, x) * ${f}(b, h, t, t0 + r, t0, x);` }],
    finish: `let at = ${tok()}(bh, t, x, KD);
  let dq = scale * dqa + scale * exp2(${gq}(b, h, t, t0, x)) * ${hp.inter('dqi', 'read', 'at')};
  ${ks.use('grad_q', 'read_write')}[${bth()}(b, t, h, x, KD)] = dq;${ks.decayed ? `
  ${ks.use('dbq', 'read_write')}[${tok()}(bh, t, x, KD)] = qi * (dq - ${bonusQ});` : ''}`,
  });
}

/** dk_i = scale sum_{j>=i} dA[j,i] q_j F(j,i) + 2^(G_last - G_i) (dS'_n u_i), per element (see
 * emitBwdDqContraction); dbk_i = the chunk-end term - k_i (dk_i - the bonus term). */
export function emitBwdDkContraction(ks: KernelSource): string {
  const hp = bwdHelpers(ks);
  const { cc, tok, bth } = hp;
  const f = decayFactor(ks);
  const g = hp.g();
  const q = ks.role('q');
  const daqk = ks.use('daqk', 'read');
  const bonusK = ks.bonus ? `scale * ${daqk}[${cc()}(bh, n, i, i)] * qi * uu` : '0.0';
  return emitContraction(ks, {
    cols: 'KD', accs: ['dka'],
    setup: `let last = i + 1u == rows;
  let scale = P.scale;${ks.bonus ? `\n  let qi = ${q}(b, t, h, x);\n  let uu = ${ks.role('u')}(0u, 0u, h, x);` : ''}`,
    loops: [{ from: 'i', to: 'rows', body: `dka += ${daqk}[${cc()}(bh, n, r, i)] * ${q}(b, t0 + r, h, x) * ${f}(b, h, t0 + r, t, t0, x);` }],
    finish: `let at = ${tok()}(bh, t, x, KD);
  let dk = scale * dka + exp2(${g}(b, h, t0 + rows - 1u, x) - ${g}(b, h, t, x)) * ${hp.inter('dki', 'read', 'at')};
  ${ks.use('grad_k', 'read_write')}[${bth()}(b, t, h, x, KD)] = dk;${ks.decayed ? `
  ${ks.use('dbk', 'read_write')}[at] = ${chunkEndAt(ks, 'at', 'last')} - ${ks.role('k')}(b, t, h, x) * (dk - ${bonusK});` : ''}`,
  });
}

/** The bonus form's du_i = scale dA[i,i] q_i k_i (RWKV6's u), a kernel of its own so that the dq
 * and dk stages stay within 8 storage buffers. */
export function emitBwdBonus(ks: KernelSource): string {
  const { cc, bth } = bwdHelpers(ks);
  const daqk = ks.use('daqk', 'read');
  return emitContraction(ks, {
    cols: 'KD', accs: [], loops: [],
    finish: `${ks.use('grad_u', 'read_write')}[${bth()}(b, t, h, x, KD)] = P.scale * ${daqk}[${cc()}(bh, n, i, i)] * ${ks.role('q')}(b, t, h, x) * ${ks.role('k')}(b, t, h, x);`,
  });
}

/** Whether dq and dk's intra-chunk parts are plain matmuls: the decay factor 2^(Gq_i - G_r)
 * does not depend on the key column (a scalar gate, or none) and no bonus sits on the
 * diagonal. Then dA (times that factor) is a C x C matrix and bwdDq / bwdDk are chunk-matmul
 * products; otherwise they compute the factor per term. */
export const dqkAsMatmuls = (def: { decay: string; bonus: string }) => def.decay !== 'diagonal' && def.bonus !== 'u';

/** dA[a,b] * 2^(Gq_a - G_b) for b <= a (chunk rows), for dqkAsMatmuls variants. */
function decayedDA(ks: KernelSource, a: string, bb: string): string {
  const { cc } = bwdHelpers(ks);
  const daqk = ks.use('daqk', 'read');
  const tok = (row: string) => `t0 + min(${row}, rows - 1u)`;
  const factor = ks.decayed ? ` * exp2(${ks.gcs()}(b, h, ${tok(a)}, 0u) - ${ks.gcs()}(b, h, ${tok(bb)}, 0u))` : '';
  return `select(0.0, ${daqk}[${cc()}(bh, n, ${a}, ${bb})]${factor}, ${bb} <= ${a})`;
}

/** dq_i = scale (sum_{r<=i} dA[i,r] F(i,r) k_r + 2^Gq_i (S_n do_i)); dbq_i = q_i . dq_i. */
export function emitBwdDq(ks: KernelSource): string {
  const hp = bwdHelpers(ks);
  const { tok, bth } = hp;
  const at = `${tok()}(bh, t, x, KD)`;
  return emitChunkMatmul(ks, {
    square: decayedDA(ks, 'i', 'r'),
    keep: 'r <= i',
    right: `${ks.role('k')}(b, t, h, x)`,
    width: 'KD',
    store: `let dq = P.scale * value + P.scale * exp2(${hp.gq()}(b, h, t, t0, x)) * ${hp.inter('dqi', 'read', at)};
        ${ks.use('grad_q', 'read_write')}[${bth()}(b, t, h, x, KD)] = dq;${ks.decayed ? `
        ${ks.use('dbq', 'read_write')}[${at}] = ${ks.role('q')}(b, t, h, x) * dq;` : ''}`,
  }, ks.cfg.K);
}

/** dk_i = scale sum_{r>=i} dA[r,i] F(r,i) q_r + 2^(G_last - G_i) (dS'_n u_i); dbk_i = -k_i . dk_i,
 * plus the chunk-end term bwdChunkEnd left in dbk at the chunk's last token. */
export function emitBwdDk(ks: KernelSource): string {
  const hp = bwdHelpers(ks);
  const { tok, bth } = hp;
  const g = hp.g();
  const at = `${tok()}(bh, t, x, KD)`;
  return emitChunkMatmul(ks, {
    square: decayedDA(ks, 'r', 'i'),
    keep: 'i <= r',
    right: `P.scale * ${ks.role('q')}(b, t, h, x)`,
    width: 'KD',
    store: `let dk = value + exp2(${g}(b, h, t0 + rows - 1u, x) - ${g}(b, h, t, x)) * ${hp.inter('dki', 'read', at)};
        ${ks.use('grad_k', 'read_write')}[${bth()}(b, t, h, x, KD)] = dk;${ks.decayed ? `
        var rs = 0.0;
        if (i + 1u == rows) { rs = ${ks.use('dbk', 'read_write')}[${at}]; }
        ${ks.use('dbk', 'read_write')}[${at}] = rs - ${ks.role('k')}(b, t, h, x) * dk;` : ''}`,
  }, ks.cfg.K);
}
