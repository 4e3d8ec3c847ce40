// Stage 3, parallel over (V-tile, chunk, b*h):
//   O = scale * (Q * 2^{Gq}) S_n + A_qk V   (+ the spec's outputAdd)
// with A_qk from emitScores (mask and scale folded in) and V the chunk's values (V_new from the
// scan for the delta rule). Each thread owns an RM x RN register tile of O: rows ty + TY*a,
// columns tx + TX*b.
import { KernelSource } from './common.js';
import { emitScores } from './scores.js';
import { TILE_GRID, emitTileMac, emitTileStores } from './tiles.js';
import { emitStagedLoad } from './staged.js';
import { emitRowsTimesState } from './rows-state.js';
import { times, wgsl, type Wgsl } from '../wgsl.js';

export function emitOutput(ks: KernelSource): Wgsl {
  const { tiles } = ks;
  const scores = emitScores(ks, { left: 'q', strict: false, post: 'P.scale', slab: tiles.slab });
  const q = ks.roleFn('q');
  const hs = ks.use('hs', 'read');
  const o = ks.use('o', 'read_write');
  // The opening binds the chunk table of packed sequences where it is read (in the template),
  // after the operands' bindings, so it is not destructured here.
  const stage = ks.chunkTileStage('vt');
  const { s } = stage;
  // The staged value loads read j and cg, the rows' operand t and d (emitRowsTimesState), the
  // stores t and cg (emitTileStores).
  const value = ks.delta
    ? wgsl`${ks.use('vnew', 'read')}[(${s.bh} * P.T + ${s.t0} + j) * VD + cg]`
    : ks.roleFn('v')(s.b, wgsl`${s.t0} + j`, s.h, 'cg');
  const left = times(q(s.b, 't', s.h, 'd'), ks.decayed ? wgsl`exp2(${ks.gqFn()(s.b, s.h, 't', s.t0, 'd')})` : null);
  const add = ks.def.roles.outputAdd ? wgsl` + ${ks.roleFn('outputAdd')(s.b, 't', s.h, 'cg')}` : '';
  const row = wgsl`((${s.b} * P.T + t) * P.H + ${s.h}) * VD + cg`;
  return wgsl`
${TILE_GRID}
${scores}
const BV: u32 = ${tiles.outBV}u;
const RM: u32 = C / TY;
const RN: u32 = BV / TX;
const SJ: u32 = ${Math.min(16, ks.cfg.chunk)}u;
var<workgroup> sS: array<f32, SK * BV>;
var<workgroup> sV: array<f32, SJ * BV>;

${stage.open}
  scores(${s.b}, ${s.h}, ${s.t0}, ${s.rows}, ${s.lid});
  var acc: array<array<f32, RN>, RM>;
  for (var a = 0u; a < RM; a++) { for (var c = 0u; c < RN; c++) { acc[a][c] = 0.0; } }
  ${emitRowsTimesState(left, hs)}
  for (var a = 0u; a < RM; a++) { for (var c = 0u; c < RN; c++) { acc[a][c] *= P.scale; } }
  for (var j0 = 0u; j0 < rows; j0 += SJ) {
    ${emitStagedLoad({
    count: 'SJ * BV',
    index: 'let j = min(j0 + e / BV, rows - 1u); let cg = min(vt * BV + e % BV, VD - 1u);',
    loads: [{ name: 'v', expr: value }],
    storeIndex: '',
    valid: 'j0 + e / BV < rows && vt * BV + e % BV < VD',
    store: (v) => wgsl`sV[e] = ${v('v')};`,
  })}
    workgroupBarrier();
    ${emitTileMac({
    acc: 'acc', step: 'jj', steps: 'SJ', rows: 'RM', cols: 'RN',
    left: 'sA[(ty + TY * a) * C + j0 + jj]', right: 'sV[jj * BV + tx + TX * c]',
    // Row i sums j <= i only: sA is 0 above the diagonal, but 0 times a later token's NaN is not.
    keep: 'j0 + jj <= ty + TY * a',
  })}
    workgroupBarrier();
  }
  ${emitTileStores('cg', wgsl`${s.vt} * BV + ${s.tx} + TX * c`, 'VD', wgsl`let pre = acc[a][c]${add};
        ${ks.def.roles.outputGate
    ? wgsl`${ks.use('opre', 'read_write')}[${row}] = pre;
        ${o}[${row}] = pre * ${ks.roleFn('outputGate')(s.b, 't', s.h, 'cg')};`
    : wgsl`${o}[${row}] = pre;`}`)}
}`;
}
