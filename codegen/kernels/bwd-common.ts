// Index helpers over the layouts the backward's buffers share (per-chunk C x C matrices, per-token
// scratch, the inputs' own layout, per-chunk states, bwdInter's state terms) and the gate
// exponents, so that every stage addresses them alike. Each is declared in a kernel on first use.
import type { KernelSource } from './common.js';

/** Index helpers over the layouts the backward uses; declared in the kernel on first use. */
export function bwdHelpers(ks: KernelSource) {
  return {
    /** Per-chunk C x C matrices, [BH, NT, C, C]. */
    cc: () => ks.helper('cc', 'fn cc(bh: u32, n: u32, i: u32, j: u32) -> u32 { return ((bh * P.NT + n) * C + i) * C + j; }'),
    /** Per-token scratch [BH, T, width]. */
    tok: () => ks.helper('tok', 'fn tok(bh: u32, t: u32, x: u32, width: u32) -> u32 { return (bh * P.T + t) * width + x; }'),
    /** Tensors in the inputs' own layout [B, T, H, width] (do, role gradients). */
    bth: () => ks.helper('bth', 'fn bth(b: u32, t: u32, h: u32, x: u32, width: u32) -> u32 { return ((b * P.T + t) * P.H + h) * width + x; }'),
    /** Per-chunk states [BH, NT, K, V] (the forward's hs, the backward's dhs). */
    st: () => ks.helper('st', 'fn st(bh: u32, n: u32, d: u32, c: u32) -> u32 { return ((bh * P.NT + n) * KD + d) * VD + c; }'),
    /** Element `i` (a [BH, T, K] index) of one of the state terms bwdInter leaves for dq, dk and
     * dW (the delta rule): one buffer, `dinter`, of two or three [BH, T, K] parts, so that
     * bwdInter binds one buffer for its outputs. */
    inter: (part: 'dqi' | 'dki' | 'dW', access: 'read' | 'read_write', i: string) => {
      const buf = ks.use('dinter', access);
      const at = ks.helper('dint', 'fn dint(part: u32, i: u32) -> u32 { return part * (P.B * P.H * P.T * KD) + i; }');
      return `${buf}[${at}(${['dqi', 'dki', 'dW'].indexOf(part)}u, ${i})]`;
    },
    /** 2^(G[t,d]): the cumulative in-chunk decay of token t (1 without decay). */
    g: () => ks.helper('gate', ks.decayed
      ? `fn gate(b: u32, h: u32, t: u32, d: u32) -> f32 { return ${ks.gcs()}(b, h, t, d); }`
      : 'fn gate(b: u32, h: u32, t: u32, d: u32) -> f32 { return 0.0; }'),
    /** The query-side exponent (exclusive for the bonus form), 0 without decay. */
    gq: () => ks.helper('gateq', ks.decayed
      ? `fn gateq(b: u32, h: u32, t: u32, t0: u32, d: u32) -> f32 { return ${ks.gq()}(b, h, t, t0, d); }`
      : 'fn gateq(b: u32, h: u32, t: u32, t0: u32, d: u32) -> f32 { return 0.0; }'),
  };
}
