// dq and dk from the scores' gradient and the state terms, per chunk n, with S_n its start state
// (saved by the forward), dS'_n the gradient of its end state (from the scan), dA from bwdDScores
// and F the scores' decay factor (bwd-scores.ts), and do S_n^T, u dS'_n^T from bwdInter
// (bwd-dqk-inter.ts):
//   bwdDq:      dq_i = scale (sum_{j<=i} dA[i,j] k_j F(i,j) + 2^Gq_i (S_n do_i))
//   bwdDk:      dk_i = scale sum_{j>=i} dA[j,i] q_j F(j,i) + 2^(G_last - G_i) (dS'_n u_i)
//               (chunk matmuls when F does not depend on the key column, else per element;
//               the per-key decay's on the tensor-core tier: tc-bwd-dqk.ts, by 16-row blocks)
//   bwdBonus:   du_bonus_i = scale dA[i,i] q_i k_i (bonus form)
// and the per-token terms of the gate gradient, q . dq in dbq and -k . dk in dbk (bwd-dg.ts
// says why). Each stage binds at most 8 storage buffers (WebGPU's default limit).
import type { KernelSource } from './common.js';
import { bwdFns } from './bwd-common.js';
import { emitContraction } from './bwd-contraction.js';
import { emitChunkMatmul, type ChunkMatmulScope } from './chunk-matmul.js';
import { times, wgsl, type Wgsl, type WgslArg, type WgslFn } from '../wgsl.js';

/** F(ti, tj, d) for tj <= ti: the decay between a query row and a key column:
 * fqk(b, h, ti, tj, t0, d). */
function decayFactor(ks: KernelSource): WgslFn<6> {
  const hp = bwdFns(ks);
  const g = hp.g(); const gq = hp.gq();
  const diagonal = ks.bonus ? ks.roleFn('u')('0u', '0u', 'h', 'd') : wgsl`exp2(${gq('b', 'h', 'ti', 't0', 'd')} - ${g('b', 'h', 'ti', 'd')})`;
  return ks.helperFn('fqk', 6, wgsl`fn fqk(b: u32, h: u32, ti: u32, tj: u32, t0: u32, d: u32) -> f32 {
  if (ti == tj) { return ${diagonal}; }
  return exp2(${gq('b', 'h', 'ti', 't0', 'd')} - ${g('b', 'h', 'tj', 'd')});
}`);
}

/** The per-token part of dbk: the chunk-end term bwdChunkEnd left at the chunk's last token, or
 * 0 elsewhere. */
function chunkEndAt(ks: KernelSource, at: WgslArg, last: WgslArg): Wgsl {
  return wgsl`select(0.0, ${ks.use('dbk', 'read_write')}[${at}], ${last})`;
}

/** dq_i = scale (sum_{j<=i} dA[i,j] k_j F(i,j) + 2^Gq_i (S_n do_i)), per element, where the
 * decay depends on the key column (a per-key gate) or a bonus sits on the diagonal; dbq_i =
 * q_i (dq_i - the bonus term). */
export function emitBwdDqContraction(ks: KernelSource): Wgsl {
  const hp = bwdFns(ks);
  const { cc, tok, bth } = hp;
  const f = decayFactor(ks);
  const gq = hp.gq();
  const q = ks.roleFn('q'); const k = ks.roleFn('k');
  const daqk = ks.use('daqk', 'read');
  return emitContraction(ks, ({ b, h, bh, n, t0, i, r, t, x }) => {
    // dq less the bonus term (dq itself without a bonus).
    const dqLessBonus = ks.bonus ? wgsl`(dq - scale * ${daqk}[${cc()(bh, n, i, i)}] * ${k(b, t, h, x)} * uu)` : 'dq';
    const tr = wgsl`${t0} + ${r}`;
    return {
      cols: 'KD', accs: ['dqa'],
      setup: wgsl`let scale = P.scale;${ks.decayed ? wgsl`\n  let qi = ${q(b, t, h, x)};` : ''}${ks.bonus ? wgsl`\n  let uu = ${ks.roleFn('u')('0u', '0u', h, x)};` : ''}`,
      loops: [{ to: wgsl`${i} + 1u`, body: wgsl`dqa += ${daqk}[${cc()(bh, n, i, r)}] * ${k(b, tr, h, x)} * ${f(b, h, t, tr, t0, x)};` }],
      finish: wgsl`let at = ${tok()(bh, t, x, 'KD')};
  let dq = scale * dqa + scale * exp2(${gq(b, h, t, t0, x)}) * ${hp.inter('dqi', 'read', 'at')};
  ${ks.use('grad_q', 'read_write')}[${bth()(b, t, h, x, 'KD')}] = dq;${ks.decayed ? wgsl`
  ${ks.use('dbq', 'read_write')}[${tok()(bh, t, x, 'KD')}] = qi * ${dqLessBonus};` : ''}`,
    };
  });
}

/** dk_i = scale sum_{j>=i} dA[j,i] q_j F(j,i) + 2^(G_last - G_i) (dS'_n u_i), per element (see
 * emitBwdDqContraction); dbk_i = the chunk-end term - k_i (dk_i - the bonus term). */
export function emitBwdDkContraction(ks: KernelSource): Wgsl {
  const hp = bwdFns(ks);
  const { cc, tok, bth } = hp;
  const f = decayFactor(ks);
  const g = hp.g();
  const q = ks.roleFn('q');
  const daqk = ks.use('daqk', 'read');
  return emitContraction(ks, ({ b, h, bh, n, t0, rows, i, r, t, x }) => {
    // dk less the bonus term (dk itself without a bonus).
    const dkLessBonus = ks.bonus ? wgsl`(dk - scale * ${daqk}[${cc()(bh, n, i, i)}] * qi * uu)` : 'dk';
    const tr = wgsl`${t0} + ${r}`;
    return {
      cols: 'KD', accs: ['dka'],
      setup: wgsl`let last = ${i} + 1u == ${rows};
  let scale = P.scale;${ks.bonus ? wgsl`\n  let qi = ${q(b, t, h, x)};\n  let uu = ${ks.roleFn('u')('0u', '0u', h, x)};` : ''}`,
      loops: [{ from: i, to: rows, body: wgsl`dka += ${daqk}[${cc()(bh, n, r, i)}] * ${q(b, tr, h, x)} * ${f(b, h, tr, t, t0, x)};` }],
      finish: wgsl`let at = ${tok()(bh, t, x, 'KD')};
  let dk = scale * dka + exp2(${g(b, h, wgsl`${t0} + ${rows} - 1u`, x)} - ${g(b, h, t, x)}) * ${hp.inter('dki', 'read', 'at')};
  ${ks.use('grad_k', 'read_write')}[${bth()(b, t, h, x, 'KD')}] = dk;${ks.decayed ? wgsl`
  ${ks.use('dbk', 'read_write')}[at] = ${chunkEndAt(ks, 'at', 'last')} - ${ks.roleFn('k')(b, t, h, x)} * ${dkLessBonus};` : ''}`,
    };
  });
}

/** The bonus form's du_i = scale dA[i,i] q_i k_i (RWKV6's u), a kernel of its own so that the dq
 * and dk stages stay within 8 storage buffers. */
export function emitBwdBonus(ks: KernelSource): Wgsl {
  const { cc, bth } = bwdFns(ks);
  const daqk = ks.use('daqk', 'read');
  return emitContraction(ks, ({ b, h, bh, n, i, t, x }) => ({
    cols: 'KD', accs: [], loops: [],
    finish: wgsl`${ks.use('grad_u', 'read_write')}[${bth()(b, t, h, x, 'KD')}] = P.scale * ${daqk}[${cc()(bh, n, i, i)}] * ${ks.roleFn('q')(b, t, h, x)} * ${ks.roleFn('k')(b, t, h, x)};`,
  }));
}

/** Whether dq and dk's intra-chunk parts are plain matmuls: the decay factor 2^(Gq_i - G_r)
 * does not depend on the key column (a scalar gate, or none) and no bonus sits on the
 * diagonal. Then dA (times that factor) is a C x C matrix and bwdDq / bwdDk are chunk-matmul
 * products; otherwise they compute the factor per term. */
export const dqkAsMatmuls = (def: { decay: string; bonus: string }) => def.decay !== 'diagonal' && def.bonus !== 'u';

/** dA[a,c] * 2^(Gq_a - G_c) for c <= a (chunk rows), for dqkAsMatmuls variants; the chunk
 * matmul's scope s gives b, h, bh, n, t0, rows. */
function decayedDA(ks: KernelSource, s: ChunkMatmulScope, a: Wgsl, c: Wgsl): Wgsl {
  const { cc } = bwdFns(ks);
  const daqk = ks.use('daqk', 'read');
  const tok = (row: Wgsl) => wgsl`${s.t0} + min(${row}, ${s.rows} - 1u)`;
  const factor = ks.decayed ? wgsl` * exp2(${ks.gcsFn()(s.b, s.h, tok(a), '0u')} - ${ks.gcsFn()(s.b, s.h, tok(c), '0u')})` : '';
  return wgsl`select(0.0, ${daqk}[${cc()(s.bh, s.n, a, c)}]${factor}, ${c} <= ${a})`;
}

/** dq_i = scale (sum_{r<=i} dA[i,r] F(i,r) k_r + 2^Gq_i (S_n do_i)); dbq_i = q_i . dq_i. */
export function emitBwdDq(ks: KernelSource): Wgsl {
  const hp = bwdFns(ks);
  const { tok, bth } = hp;
  return emitChunkMatmul(ks, (s) => {
    const { b, h, bh, t0, i, r, t, x, value } = s;
    const at = tok()(bh, t, x, 'KD');
    return {
      square: decayedDA(ks, s, i, r),
      keep: wgsl`${r} <= ${i}`,
      right: ks.roleFn('k')(b, t, h, x),
      width: 'KD',
      store: wgsl`let dq = P.scale * ${value} + ${times('P.scale', hp.pow2(() => hp.gq()(b, h, t, t0, x)), hp.inter('dqi', 'read', at))};
        ${ks.use('grad_q', 'read_write')}[${bth()(b, t, h, x, 'KD')}] = dq;${ks.decayed ? wgsl`
        ${ks.use('dbq', 'read_write')}[${at}] = ${ks.roleFn('q')(b, t, h, x)} * dq;` : ''}`,
    };
  }, ks.cfg.K);
}

/** dk_i = scale sum_{r>=i} dA[r,i] F(r,i) q_r + 2^(G_last - G_i) (dS'_n u_i); dbk_i = -k_i . dk_i,
 * plus the chunk-end term bwdChunkEnd left in dbk at the chunk's last token. */
export function emitBwdDk(ks: KernelSource): Wgsl {
  const hp = bwdFns(ks);
  const { tok, bth } = hp;
  const g = hp.g();
  return emitChunkMatmul(ks, (s) => {
    const { b, h, bh, t0, rows, i, r, t, x, value } = s;
    const at = tok()(bh, t, x, 'KD');
    return {
      square: decayedDA(ks, s, r, i),
      keep: wgsl`${i} <= ${r}`,
      right: wgsl`P.scale * ${ks.roleFn('q')(b, t, h, x)}`,
      width: 'KD',
      store: wgsl`let dk = ${value} + ${times(hp.pow2(() => wgsl`${g(b, h, wgsl`${t0} + ${rows} - 1u`, x)} - ${g(b, h, t, x)}`), hp.inter('dki', 'read', at))};
        ${ks.use('grad_k', 'read_write')}[${bth()(b, t, h, x, 'KD')}] = dk;${ks.decayed ? wgsl`
        var rs = 0.0;
        if (${i} + 1u == ${rows}) { rs = ${ks.use('dbk', 'read_write')}[${at}]; }
        ${ks.use('dbk', 'read_write')}[${at}] = rs - ${ks.roleFn('k')(b, t, h, x)} * dk;` : ''}`,
    };
  }, ks.cfg.K);
}
