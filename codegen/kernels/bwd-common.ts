// What the backward kernels share. Most backward stages are per-chunk contractions: an output
// matrix of C rows (the chunk's tokens) by some columns, each element a sum over one axis of
// products of operands the forward already has (roles, gate cumsums, saved states, the WY
// factors). `emitContraction` writes such a stage with one thread per output element; the
// stage supplies only its loop body and epilogue, so each reads like its formula.
import type { KernelSource } from './common.js';

export interface Contraction {
  /** Output columns per token row (a WGSL const expression: 'C', 'KD', 'VD', '1u'). */
  readonly cols: string;
  /** Statements once per element, before the loops; `i` (row), `x` (column), `t` in scope. */
  readonly setup?: string;
  /** Loops: each sums `body` over `r` in [from, to). */
  readonly loops: readonly { readonly from?: string; readonly to: string; readonly body: string }[];
  /** f32 accumulators the loops add into (zero-initialized). */
  readonly accs: readonly string[];
  /** Statements after the loops: the stores. */
  readonly finish: string;
}

/** Grid: (ceil(C * cols / WG), NT, B*H). Every element is a thread; threads past the chunk's
 * valid rows return at once (no barriers in these kernels). */
export function emitContraction(ks: KernelSource, c: Contraction): string {
  return `
${ks.chunkMain()}
  let e = wid.x * WG + lid;
  let i = e / (${c.cols});
  let x = e % (${c.cols});
  if (i >= rows) { return; }
  let t = t0 + i;
  ${c.accs.map((a) => `var ${a} = 0.0;`).join(' ')}
  ${c.setup ?? ''}
  ${c.loops.map((l) => `for (var r = ${l.from ?? '0u'}; r < ${l.to}; r++) {
    ${l.body}
  }`).join('\n  ')}
  ${c.finish}
}`;
}

/** Index helpers over the layouts the backward uses; declared in the kernel on first use. */
export function bwdHelpers(ks: KernelSource) {
  const stIndex = () => ks.helper('st', 'fn st(bh: u32, n: u32, d: u32, c: u32) -> u32 { return ((bh * P.NT + n) * KD + d) * VD + c; }');
  return {
    /** Per-chunk C x C matrices, [BH, NT, C, C]. */
    cc: () => ks.helper('cc', 'fn cc(bh: u32, n: u32, i: u32, j: u32) -> u32 { return ((bh * P.NT + n) * C + i) * C + j; }'),
    /** Per-token scratch [BH, T, width]. */
    tok: () => ks.helper('tok', 'fn tok(bh: u32, t: u32, x: u32, width: u32) -> u32 { return (bh * P.T + t) * width + x; }'),
    /** Tensors in the inputs' own layout [B, T, H, width] (do, role gradients). */
    bth: () => ks.helper('bth', 'fn bth(b: u32, t: u32, h: u32, x: u32, width: u32) -> u32 { return ((b * P.T + t) * P.H + h) * width + x; }'),
    /** Per-chunk states [BH, NT, K, V] (the forward's hs, the backward's dhs). */
    st: stIndex,
    /** Element `i` (a [BH, T, K] index) of one of the state terms bwdInter leaves for dq, dk and
     * dW (the delta rule): one buffer, `dinter`, of two or three [BH, T, K] parts, so that
     * bwdInter binds one buffer for its outputs. */
    inter: (part: 'dqi' | 'dki' | 'dW', access: 'read' | 'read_write', i: string) => {
      const buf = ks.use('dinter', access);
      const at = ks.helper('dint', 'fn dint(part: u32, i: u32) -> u32 { return part * (P.B * P.H * P.T * KD) + i; }');
      return `${buf}[${at}(${['dqi', 'dki', 'dW'].indexOf(part)}u, ${i})]`;
    },
    /** dS'_n[x, c] * S_{n+1}[x, c] of chunk n: one term of the gate's chunk-end rowsum, with
     * S_{n+1} read from hs, or from ht (the sequence's) at the sequence's last chunk. */
    chunkEndTerm: (x: string, c: string) => {
      const st = stIndex();
      const next = `select(${ks.use('ht', 'read')}[${ks.stateIndex(ks.chunkSeq('n'), 'h', x, c)}], ${ks.use('hs', 'read')}[${st}(bh, min(n + 1u, P.NT - 1u), ${x}, ${c})], ${ks.chunkHasNext('n')})`;
      return `${ks.use('dhs', 'read')}[${st}(bh, n, ${x}, ${c})] * ${next}`;
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
