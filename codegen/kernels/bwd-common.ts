// Index helpers over the layouts the backward's buffers share (per-chunk C x C matrices, per-token
// scratch, the inputs' own layout, per-chunk states, bwdInter's state terms) and the gate
// exponents, so that every stage addresses them alike. Each is declared in a kernel on first use.
import type { KernelSource } from './common.js';
import { u32, wgsl, wgslFn, type Wgsl, type WgslArg, type WgslFn } from '../wgsl.js';

/** The parts of bwdInter's one output buffer `dinter`, in order. */
const INTER_PARTS = ['dqi', 'dki', 'dW'] as const;
export type InterPart = (typeof INTER_PARTS)[number];

/** Index helpers over the layouts the backward uses, as function holes (codegen/wgsl.ts): each
 * call declares the helper in the kernel on first use and returns it, so `cc()(bh, n, i, j)`
 * renders `cc(bh, n, i, j)` with its arity checked. */
export function bwdFns(ks: KernelSource) {
  return {
    /** Per-chunk C x C matrices, [BH, NT, C, C]: cc(bh, n, i, j). */
    cc: (): WgslFn<4> => ks.helperFn('cc', 4, 'fn cc(bh: u32, n: u32, i: u32, j: u32) -> u32 { return ((bh * P.NT + n) * C + i) * C + j; }'),
    /** Per-token scratch [BH, T, width]: tok(bh, t, x, width). */
    tok: (): WgslFn<4> => ks.helperFn('tok', 4, 'fn tok(bh: u32, t: u32, x: u32, width: u32) -> u32 { return (bh * P.T + t) * width + x; }'),
    /** Tensors in the inputs' own layout [B, T, H, width] (do, role gradients): bth(b, t, h, x, width). */
    bth: (): WgslFn<5> => ks.helperFn('bth', 5, 'fn bth(b: u32, t: u32, h: u32, x: u32, width: u32) -> u32 { return ((b * P.T + t) * P.H + h) * width + x; }'),
    /** Per-chunk states [BH, NT, K, V] (the forward's hs, the backward's dhs): st(bh, n, d, c). */
    st: (): WgslFn<4> => ks.helperFn('st', 4, 'fn st(bh: u32, n: u32, d: u32, c: u32) -> u32 { return ((bh * P.NT + n) * KD + d) * VD + c; }'),
    /** Element `i` (a [BH, T, K] index) of one of the state terms bwdInter leaves for dq, dk and
     * dW (the delta rule): one buffer, `dinter`, of two or three [BH, T, K] parts, so that
     * bwdInter binds one buffer for its outputs. */
    inter: (part: InterPart, access: 'read' | 'read_write', i: WgslArg): Wgsl => {
      const buf = ks.use('dinter', access);
      const at = ks.helperFn('dint', 2, 'fn dint(part: u32, i: u32) -> u32 { return part * (P.B * P.H * P.T * KD) + i; }');
      return wgsl`${buf}[${at(u32(INTER_PARTS.indexOf(part)), i)}]`;
    },
    /** G[t,d], the exponent of token t's cumulative in-chunk decay 2^G (the inclusive cumsum of
     * the log-decay, log2 units; 0 without decay): gate(b, h, t, d). Without decay it is declared
     * only where it is called (the stages fold its factors away: pow2). */
    g: (): WgslFn<4> => (ks.decayed
      ? ks.helperFn('gate', 4, wgsl`fn gate(b: u32, h: u32, t: u32, d: u32) -> f32 { return ${ks.gcsFn()('b', 'h', 't', 'd')}; }`)
      : wgslFn('gate', 4, () => ks.helper('gate', 'fn gate(b: u32, h: u32, t: u32, d: u32) -> f32 { return 0.0; }'))),
    /** The query-side exponent (exclusive for the bonus form), 0 without decay: gateq(b, h, t, t0,
     * d); without decay declared only where it is called, as gate. */
    gq: (): WgslFn<5> => (ks.decayed
      ? ks.helperFn('gateq', 5, wgsl`fn gateq(b: u32, h: u32, t: u32, t0: u32, d: u32) -> f32 { return ${ks.gqFn()('b', 'h', 't', 't0', 'd')}; }`)
      : wgslFn('gateq', 5, () => ks.helper('gateq', 'fn gateq(b: u32, h: u32, t: u32, t0: u32, d: u32) -> f32 { return 0.0; }'))),
    /** 2^e for an exponent e of gate and gateq terms, as a factor for times() (codegen/wgsl.ts):
     * null without decay, where every such exponent is 0 and the factor exactly 1, so that it is
     * folded here; `e` is called (and the gate helpers it uses declared) only with decay. */
    pow2: (e: () => WgslArg): Wgsl | null => (ks.decayed ? wgsl`exp2(${e()})` : null),
  };
}
