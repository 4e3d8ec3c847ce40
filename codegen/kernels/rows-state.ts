// A chunk's rows times its K x V state: acc[i, c] += sum_d left(t0 + i, d) * state[n][d, c] for
// the thread's RM x RN register tile (rows ty + TY*a, columns vt*BV + tx + TX*c), K streamed in
// slabs of SK through workgroup memory. The forward's output stage ((Q 2^Gq) S_n) and the
// backward's dv ((K 2^(G_last - G)) D_n) are this product with different operands. The caller
// declares acc (zeroed), sL [SK * C], sS [SK * BV] and the constants, and has t0, rows, n, bh.
import { emitTileMac } from './tiles.js';
import { emitStagedLoad } from './staged.js';
import { wgsl, type Wgsl } from '../wgsl.js';

/** `left`: WGSL over t and d; `state`: the per-chunk [B*H, NT, K, V] buffer. */
export function emitRowsTimesState(left: string, state: string): Wgsl {
  return wgsl`for (var d0 = 0u; d0 < KD; d0 += SK) {
    ${emitStagedLoad({
    count: 'C * SK',
    index: 'let t = t0 + min(e / SK, rows - 1u); let d = min(d0 + e % SK, KD - 1u);',
    loads: [{ name: 'l', expr: left }],
    storeIndex: 'let i = e / SK; let dd = e % SK;',
    valid: 'i < rows && d0 + dd < KD',
    store: (v) => wgsl`sL[dd * C + i] = ${v('l')};`,
  })}
    ${emitStagedLoad({
    count: 'SK * BV',
    index: 'let d = min(d0 + e / BV, KD - 1u); let cg = min(vt * BV + e % BV, VD - 1u);',
    loads: [{ name: 's', expr: wgsl`${state}[((bh * P.NT + n) * KD + d) * VD + cg]` }],
    storeIndex: '',
    valid: 'd0 + e / BV < KD && vt * BV + e % BV < VD',
    store: (v) => wgsl`sS[e] = ${v('s')};`,
  })}
    workgroupBarrier();
    ${emitTileMac({
    acc: 'acc', step: 'dd', steps: 'SK', rows: 'RM', cols: 'RN',
    left: 'sL[dd * C + ty + TY * a]', right: 'sS[dd * BV + tx + TX * c]',
  })}
    workgroupBarrier();
  }`;
}
