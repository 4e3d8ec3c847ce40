// The decode step, written for memory speed: one dispatch, each state element read once and
// written once, in vec4 words along the state's contiguous axis.
//
// A workgroup owns the K x BV block of columns [c0, c0 + BV) of one (sequence, head) state and
// keeps it in registers across the step's tokens. Per token, every term the recurrence needs
// from the state is a sum over K per column, and all of them are taken in ONE reduction:
//   A[c] = sum_d q[d] X[d,c]          (X: the decayed state; the state before decay for the bonus)
//   B[c] = sum_d k[d] S_a[d,c]        (the delta rule's k^T S, on the decayed state S_a)
// plus per-token scalars over K alone: q.k (q.(u*k) for the bonus), and sum q^2, sum k^2 for
// the roles the spec L2-normalizes (so the normalization is fused here too: the raw rows are
// used, and their 1/norm is applied to the reduced terms). Then, per column,
//   delta:  vp = beta (v - rk B);  S' = S_a + k (rk vp);  o = scale rq (A + rk qk vp)
//   plain:  S' = S_a + k (rk v);                          o = scale rq (A + rk qk v)
//   bonus:  o = scale rq (A + rk quk v);  S' = a * S + k (rk v)
// (rq, rk: the 1/norms, or 1), since q^T S' = q^T S_a + (q.k) vp. The reduction is two-level:
// partial sums per thread, then NS slices of the partial rows, then one sum per column.
//
// Thread layout, by the state's layout:
//  - 'kv' ([K, V], V contiguous): thread (tx, ty) holds W columns c0 + W tx .. of rows
//    ty, ty + TY, ...; a warp reads whole row segments of BV columns.
//  - 'vk' ([V, K], K contiguous; mamba2's state): thread (tx, ty) holds W rows W tx .. (and
//    W (tx + TX), ...) of columns c0 + ty, c0 + ty + TY, ...; a warp reads a column's K run.
// W is 4 (vec4 words) where the contiguous axis is a multiple of 4, else 1. With a bf16 state
// (CodegenConfig.stateDtype) a word is 4 bf16 values in a vec2<u32>, unpacked on load and
// rounded to nearest even on store; W must then be 4.
//
// Stage 'step' updates one state buffer in place ([B,H,...] like h0); 'stepPool' addresses
// sequence b's state at slot idx[b] of a larger pool.
import { DEFAULT_L2NORM_EPS } from '../../dsl/index.js';
import { wgslFloat } from '../wgsl-expr.js';
import { joinWgsl, wgsl, wgslFn, type Wgsl, type WgslFn } from '../wgsl.js';
import type { KernelSource } from './common.js';
import { ConfigError, nextPow2, type CodegenConfig } from '../plan.js';
import type { VariantDef } from '../../dsl/index.js';
import { add as addIndex, renderIndex } from '../index-expr.js';

/** Invocations per workgroup of the step kernel. */
export const STEP_WG = 128;
/** Reduction slices of the two-level column sums. */
const NS = 4;

export interface StepLayout {
  /** The state's layout: V contiguous ('kv') or K contiguous ('vk'). */
  readonly kv: boolean;
  /** Elements per state word: 4 (vec4) or 1. */
  readonly W: 1 | 4;
  /** Columns (V) per workgroup. */
  readonly BV: number;
  /** Thread grid: TX x TY = STEP_WG. */
  readonly TX: number;
  readonly TY: number;
  /** Row items (of W rows in 'vk', 1 row in 'kv') and column items (of 1 column in 'vk'; 'kv'
   * has one item of W columns) per thread. */
  readonly RI: number;
  readonly CI: number;
  /** Partial rows of the reduction: the threads that share a column (TY in 'kv', TX in 'vk'). */
  readonly NPART: number;
}

/** Columns per workgroup: 32 keeps B*H*V/32 workgroups (128 at batch 1, H = 32, V = 128). */
export function stepColumns(cfg: CodegenConfig): number {
  return Math.min(Math.max(4, nextPow2(cfg.V)), cfg.stepColumns ?? 32);
}

export function stepLayout(def: VariantDef, cfg: CodegenConfig): StepLayout {
  const BV = stepColumns(cfg);
  if (def.stateLayout === 'kv') {
    const W = cfg.V % 4 === 0 ? 4 : 1;
    const TX = BV / W;
    const TY = STEP_WG / TX;
    return { kv: true, W, BV, TX, TY, RI: Math.ceil(cfg.K / TY), CI: 1, NPART: TY };
  }
  const W = cfg.K % 4 === 0 ? 4 : 1;
  const KW = Math.ceil(cfg.K / W);
  // A warp along K, unless the reduction's partial rows (one per tx) would pass WebGPU's
  // default 16 KiB of workgroup memory (the delta rule at 64 columns).
  let TX = Math.min(nextPow2(KW), 32);
  while (TX > 1 && stepWorkgroupBytes(def, BV, TX) > 16384) TX /= 2;
  const TY = STEP_WG / TX;
  return { kv: false, W, BV, TX, TY, RI: Math.ceil(KW / TX), CI: Math.ceil(BV / TY), NPART: TX };
}

/** Words per partial row of the reduction: A (and the delta rule's B) per column, then the
 * per-token scalars (q.k, and the squared norms of the L2-normalized roles). */
const reductionWidth = (def: VariantDef, BV: number) => (def.correction === 'delta' ? 2 : 1) * BV + 1 + def.l2norm.length;

/** The step kernel's workgroup memory, bytes: the partial rows, the slices, the column updates. */
export function stepWorkgroupBytes(def: VariantDef, BV: number, npart: number): number {
  const RW = reductionWidth(def, BV);
  return 4 * (npart * RW + NS * RW + BV);
}

export function emitStep(ks: KernelSource): Wgsl {
  const { def, cfg } = ks;
  const L = stepLayout(def, cfg);
  const { kv, W } = L;
  const SV = W === 4 ? 'vec4<f32>' : 'f32';
  const bf16 = cfg.stateDtype === 'bf16';
  if (bf16 && W !== 4) {
    const [axis, n] = kv ? ['V', cfg.V] : ['K', cfg.K];
    throw new ConfigError(`stateDtype 'bf16' needs the state's contiguous axis (${axis} of [B,H,${kv ? 'K,V' : 'V,K'}]) to be a multiple of 4, got ${axis} = ${n}`);
  }
  const state = ks.use('state', 'read_write', false, bf16 ? 'vec2<u32>' : W === 4 ? 'vec4<f32>' : undefined);
  if (bf16) {
    ks.helper('bf16x4', `fn bf16x4(w: vec2<u32>) -> vec4<f32> {
  return vec4<f32>(bitcast<f32>(w.x << 16u), bitcast<f32>(w.x & 0xffff0000u), bitcast<f32>(w.y << 16u), bitcast<f32>(w.y & 0xffff0000u));
}`);
    // Round to nearest even, as the host's f32ToBf16Bits; NaN stays NaN.
    ks.helper('bf16Bits', `fn bf16Bits(x: f32) -> u32 {
  let u = bitcast<u32>(x);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x7fffffu) != 0u) { return 0x7fc0u; }
  return (u + 0x7fffu + ((u >> 16u) & 1u)) >> 16u;
}`);
    ks.helper('packBf16x4', `fn packBf16x4(x: vec4<f32>) -> vec2<u32> {
  return vec2<u32>(bf16Bits(x.x) | (bf16Bits(x.y) << 16u), bf16Bits(x.z) | (bf16Bits(x.w) << 16u));
}`);
  }
  const loadState = (at: Wgsl) => (bf16 ? wgsl`bf16x4(${state}[${at}])` : wgsl`${state}[${at}]`);
  const storeState = (at: Wgsl, x: string) => wgsl`${state}[${at}] = ${bf16 ? wgsl`packBf16x4(${x})` : x};`;
  const o = ks.use('o', 'read_write');
  const slot = ks.stage === 'stepPool' ? wgsl`${ks.use('idx', 'read', false, 'u32')}[sq]` : wgsl`sq`;
  const normQ = def.l2norm.includes('q');
  const normK = def.l2norm.includes('k');
  // Raw rows: the 1/norms are applied to the reduced terms.
  const q = normQ ? wgslFn(ks.roleRaw('q'), 4) : ks.roleFn('q');
  const k = normK ? wgslFn(ks.roleRaw('k'), 4) : ks.roleFn('k');
  const v = ks.roleFn('v');
  const ld = ks.decayed ? ks.roleFn('logDecay') : null;
  const u = ks.bonus ? ks.roleFn('u') : null;
  const eps = def.l2normEps === DEFAULT_L2NORM_EPS ? '1e-6' : wgslFloat(def.l2normEps);

  // Reduction columns: A per column, B per column (delta), then the scalars.
  const scalars = ['qk', ...(normQ ? ['nq'] : []), ...(normK ? ['nk'] : [])];
  const SC0 = ks.delta ? 2 * L.BV : L.BV;
  const RW = reductionWidth(def, L.BV);

  // Row coefficients of row item ir: a scalar per row ('kv'), or W rows as one word ('vk').
  // Rows past K read as 0 (the decay as 1), so they add nothing.
  const rowWord = (fn: WgslFn<4>, base: string, pad = '0.0'): Wgsl => {
    if (kv || W === 1) return wgsl`select(${pad}, ${fn('b', 't', 'h', base)}, ${base} < KD)`;
    return wgsl`select(${SV}(${pad}), ${SV}(${joinWgsl([0, 1, 2, 3].map((w) => fn('b', 't', 'h', renderIndex(addIndex(base, w)))), ', ')}), ${base} < KD)`;
  };
  const RV = kv ? 'f32' : SV;
  // The horizontal sum of a 'vk' word (the helper hsum, declared below where it always was), or
  // in 'kv' the term as it is, parenthesized.
  const hsumFn = wgslFn('hsum', 1);
  const hsum = (x: string): Wgsl => (kv ? wgsl`(${x})` : hsumFn(x));
  // Column word of the workgroup array upd for item (ir, ic): W columns ('kv') or one ('vk').
  const updWord = kv
    ? (W === 4 ? 'vec4<f32>(upd[W * tx], upd[W * tx + 1u], upd[W * tx + 2u], upd[W * tx + 3u])' : 'upd[tx]')
    : 'upd[ty + TY * ic]';

  // Per item (ir, ic): its row base d, column c, and whether it is in the block.
  const itemAt = kv
    ? wgsl`let d = ty + TY * ir;
      let c = c0 + W * tx;
      let inBlock = d < KD && c < VD;`
    : wgsl`let d = W * (tx + TX * ir);
      let lc = ty + TY * ic;
      let c = c0 + lc;
      let inBlock = d < KD && lc < BV && c < VD;`;
  const stateAt = wgsl`(${ks.stateIndex('slot', 'h', 'd', 'c')})${W === 4 ? ' >> 2u' : ''}`;

  // Partials: 'kv' one word of W columns per thread; 'vk' one scalar per column item.
  const partials = kv
    ? wgsl`var pA = ${SV}();${ks.delta ? wgsl`\n    var pB = ${SV}();` : ''}`
    : wgsl`var pA = array<f32, CI>();${ks.delta ? wgsl`\n    var pB = array<f32, CI>();` : ''}`;
  const addPartials = kv
    ? wgsl`pA += qr * ${ks.bonus ? 'x0' : 's[i]'};${ks.delta ? wgsl`\n          pB += kr * s[i];` : ''}`
    : wgsl`pA[ic] += ${hsum(wgsl`qr * ${ks.bonus ? 'x0' : 's[i]'}`)};${ks.delta ? wgsl`\n          pB[ic] += ${hsum('kr * s[i]')};` : ''}`;
  const lane = (x: string, w: string) => (W === 4 ? wgsl`${x}[${w}]` : x);
  const storePartials = kv
    ? wgsl`for (var w = 0u; w < W; w++) {
      red[ty * RW + W * tx + w] = ${lane('pA', 'w')};${ks.delta ? wgsl`\n      red[ty * RW + BV + W * tx + w] = ${lane('pB', 'w')};` : ''}
    }`
    : wgsl`for (var ic = 0u; ic < CI; ic++) {
      let lc = ty + TY * ic;
      if (lc < BV) {
        red[tx * RW + lc] = pA[ic];${ks.delta ? wgsl`\n        red[tx * RW + BV + lc] = pB[ic];` : ''}
      }
    }`;
  // Scalar partials: from one thread per partial row (tx == 0 in 'kv', ty == 0 in 'vk').
  const scalarTerm: Record<string, Wgsl> = {
    qk: ks.bonus ? hsum('qr * ur * kr') : hsum('qr * kr'),
    nq: hsum('qr * qr'),
    nk: hsum('kr * kr'),
  };
  const part = kv ? 'ty' : 'tx';
  const owner = kv ? 'tx == 0u' : 'ty == 0u';

  const rq = normQ ? wgsl`inverseSqrt(colSum(${SC0 + scalars.indexOf('nq')}u) + ${eps})` : '1.0';
  const rk = normK ? wgsl`inverseSqrt(colSum(${SC0 + scalars.indexOf('nk')}u) + ${eps})` : '1.0';
  // The column's token values are loaded before the reduction, so their latency overlaps it.
  const colLoads = [
    wgsl`vc = ${v('b', 't', 'h', 'c')};`,
    ...(def.roles.outputAdd ? [wgsl`oAdd = ${ks.roleFn('outputAdd')('b', 't', 'h', 'c')};`] : []),
    ...(def.roles.outputGate ? [wgsl`oGate = ${ks.roleFn('outputGate')('b', 't', 'h', 'c')};`] : []),
  ];
  const colVars = wgsl`var vc = 0.0;${def.roles.outputAdd ? ' var oAdd = 0.0;' : ''}${def.roles.outputGate ? ' var oGate = 1.0;' : ''}`;
  const add = def.roles.outputAdd ? ' + oAdd' : '';
  const gate = def.roles.outputGate ? ' * oGate' : '';
  const column = ks.delta
    ? wgsl`let vp = beta * (vc - rk * colSum(BV + lid));
      upd[lid] = rk * vp;
      let ov = rq * (colSum(lid) + rk * colSum(${SC0}u) * vp);`
    : wgsl`upd[lid] = rk * vc;
      let ov = rq * (colSum(lid) + rk * colSum(${SC0}u) * vc);`;
  const decayBy = ks.diag ? 'gr' : 'a';
  const update = ks.bonus
    ? wgsl`s[i] = ${decayBy} * s[i] + kr * ${updWord};`
    : wgsl`s[i] += kr * ${updWord};`;

  // The diagonal decay's row factor e^{logDecay} (declared here, after the column's roles, as before).
  const gexp = ld && ks.diag ? ks.helperFn('gexp', 4, wgsl`fn gexp(b: u32, t: u32, h: u32, d: u32) -> f32 { return exp(${ld('b', 't', 'h', 'd')}); }`) : null;
  const decayRow = gexp ? wgsl`let gr = ${rowWord(gexp, 'd', '1.0')};` : '';
  if (!kv && W === 4) ks.helper('hsum', 'fn hsum(x: vec4<f32>) -> f32 { return (x.x + x.y) + (x.z + x.w); }');
  if (!kv && W === 1) ks.helper('hsum', 'fn hsum(x: f32) -> f32 { return x; }');

  return wgsl`
const BV: u32 = ${L.BV}u;
const W: u32 = ${W}u;
const TX: u32 = ${L.TX}u;
const TY: u32 = ${L.TY}u;
const RI: u32 = ${L.RI}u;
const CI: u32 = ${L.CI}u;
const NI: u32 = ${L.RI * L.CI}u;
const NPART: u32 = ${L.NPART}u;
const RW: u32 = ${RW}u;
const NS: u32 = ${NS}u;
var<workgroup> red: array<f32, ${L.NPART * RW}>;
var<workgroup> red2: array<f32, ${NS * RW}>;
var<workgroup> upd: array<f32, BV>;

/** Sum of reduction column col over the slices. */
fn colSum(col: u32) -> f32 {
  var acc = 0.0;
  for (var sl = 0u; sl < NS; sl++) { acc += red2[sl * RW + col]; }
  return acc;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  ${ks.sequenceSpan()}
  let slot = ${slot};
  let c0 = wid.x * BV;
  let tx = lid % TX;
  let ty = lid / TX;
  var s: array<${SV}, NI>;
  for (var ir = 0u; ir < RI; ir++) {
    for (var ic = 0u; ic < CI; ic++) {
      let i = ir * CI + ic;
      ${itemAt}
      s[i] = ${SV}();
      if (inBlock) { s[i] = ${loadState(stateAt)}; }
    }
  }
  for (var t = tBegin; t < tEnd; t++) {
    ${ld && !ks.diag ? wgsl`let a = exp(${ld('b', 't', 'h', '0u')});` : ''}
    ${ks.delta ? wgsl`let beta = ${ks.roleFn('beta')('b', 't', 'h', '0u')};` : ''}
    let c = c0 + lid;
    let colLive = lid < BV && c < VD;
    ${colVars}
    if (colLive) { ${joinWgsl(colLoads, ' ')} }
    ${partials}
    var pS = array<f32, ${scalars.length}>();
    for (var ir = 0u; ir < RI; ir++) {
      let d = ${kv ? 'ty + TY * ir' : 'W * (tx + TX * ir)'};
      let qr: ${RV} = ${rowWord(q, 'd')};
      let kr: ${RV} = ${rowWord(k, 'd')};
      ${u ? wgsl`let ur: ${RV} = ${rowWord(u, 'd')};` : ''}
      ${decayRow}
      ${joinWgsl(scalars.map((sc, j) => wgsl`pS[${j}] += ${scalarTerm[sc]!};`), '\n      ')}
      for (var ic = 0u; ic < CI; ic++) {
        let i = ir * CI + ic;
        ${ks.bonus ? 'let x0 = s[i];' : ks.decayed ? wgsl`s[i] = ${decayBy} * s[i];` : ''}
        ${addPartials}
      }
    }
    ${storePartials}
    if (${owner}) {
      for (var j = 0u; j < ${scalars.length}u; j++) { red[${part} * RW + ${SC0}u + j] = pS[j]; }
    }
    workgroupBarrier();
    for (var e = lid; e < NS * RW; e += WG) {
      let col = e % RW;
      var acc = 0.0;
      for (var p = e / RW; p < NPART; p += NS) { acc += red[p * RW + col]; }
      red2[e] = acc;
    }
    workgroupBarrier();
    if (colLive) {
      let rq = ${rq};
      let rk = ${rk};
      ${column}
      ${o}[((b * P.T + t) * P.H + h) * VD + c] = (P.scale * ov${add})${gate};
    }
    workgroupBarrier();
    for (var ir = 0u; ir < RI; ir++) {
      let d = ${kv ? 'ty + TY * ir' : 'W * (tx + TX * ir)'};
      let kr: ${RV} = ${rowWord(k, 'd')};
      ${ks.bonus ? decayRow : ''}
      for (var ic = 0u; ic < CI; ic++) {
        let i = ir * CI + ic;
        ${update}
      }
    }
  }
  for (var ir = 0u; ir < RI; ir++) {
    for (var ic = 0u; ic < CI; ic++) {
      let i = ir * CI + ic;
      ${itemAt}
      if (inBlock) { ${storeState(stateAt, 's[i]')} }
    }
  }
}`;
}
