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

export function emitOutput(ks: KernelSource): string {
  const { tiles } = ks;
  const scores = emitScores(ks, { left: 'q', strict: false, post: 'P.scale', slab: tiles.slab });
  const qRole = ks.role('q');
  const hs = ks.use('hs', 'read');
  const o = ks.use('o', 'read_write');
  const value = ks.delta ? `${ks.use('vnew', 'read')}[(bh * P.T + t0 + j) * VD + cg]` : `${ks.role('v')}(b, t0 + j, h, cg)`;
  const qDecay = ks.decayed ? ` * exp2(${ks.gq()}(b, h, t, t0, d))` : '';
  const add = ks.def.roles.outputAdd ? ` + ${ks.role('outputAdd')}(b, t, h, cg)` : '';
  return `
${TILE_GRID}
${scores}
const BV: u32 = ${tiles.outBV}u;
const RM: u32 = C / TY;
const RN: u32 = BV / TX;
const SJ: u32 = ${Math.min(16, ks.cfg.chunk)}u;
var<workgroup> sS: array<f32, SK * BV>;
var<workgroup> sV: array<f32, SJ * BV>;

${ks.chunkTileMain('vt')}
  scores(b, h, t0, rows, lid);
  var acc: array<array<f32, RN>, RM>;
  for (var a = 0u; a < RM; a++) { for (var c = 0u; c < RN; c++) { acc[a][c] = 0.0; } }
  ${emitRowsTimesState(`${qRole}(b, t, h, d)${qDecay}`, hs)}
  for (var a = 0u; a < RM; a++) { for (var c = 0u; c < RN; c++) { acc[a][c] *= P.scale; } }
  for (var j0 = 0u; j0 < rows; j0 += SJ) {
    ${emitStagedLoad({
    count: 'SJ * BV',
    index: 'let j = min(j0 + e / BV, rows - 1u); let cg = min(vt * BV + e % BV, VD - 1u);',
    loads: [{ name: 'v', expr: value }],
    storeIndex: '',
    valid: 'j0 + e / BV < rows && vt * BV + e % BV < VD',
    store: (v) => `sV[e] = ${v('v')};`,
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
  ${emitTileStores('cg', 'vt * BV + tx + TX * c', 'VD', `let pre = acc[a][c]${add};
        ${ks.def.roles.outputGate
    ? `${ks.use('opre', 'read_write')}[((b * P.T + t) * P.H + h) * VD + cg] = pre;
        ${o}[((b * P.T + t) * P.H + h) * VD + cg] = pre * ${ks.role('outputGate')}(b, t, h, cg);`
    : `${o}[((b * P.T + t) * P.H + h) * VD + cg] = pre;`}`)}
}`;
}
