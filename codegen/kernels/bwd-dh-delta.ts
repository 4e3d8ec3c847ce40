// The delta rule's state gradients (and with them du), by the backward's one sequential walk over
// chunks: per (b*h, V-tile), walk the chunks in reverse carrying dS, the gradient of the state at
// the end of the current chunk (seeded by dht):
//   store dS as dS'_n                                   (for bwdInter and bwdChunkEnd)
//   du_j = dvl_j + (k_j * 2^(G_last - G_j)) . dS          (stored: dv, or the delta rule's dU)
//   dS  <- 2^G_last * dS + sum_i (scale q_i * 2^Gq_i) do_i^T  [ - W^T du  for the delta rule ]
// and after chunk 0, dh0 = dS. The delta rule's scan reads dht from dh0, where bwdSeed copied
// it, and adds to the dvl that bwdDvLocal left in dU: two buffers fewer. Laid out like the
// forward's delta scan: the dS tile lives in registers (rows ty + TY*a, columns tx + TX*c) with a
// copy in workgroup memory; the decayed keys, queries and W stream through workgroup memory in
// slabs, loaded branch-free. Only the delta rule runs this stage now (backwardStages): without it
// the state gradients are parallel over chunks (bwd-dh.ts, bwd-du.ts), and this kernel's
// branches for that case (dv, dht, no W) are no longer reached.
import type { KernelSource } from './common.js';
import type { StageShapeRule } from '../plan.js';
import { bwdFns } from './bwd-common.js';
import { TILE_GRID, emitTileMac, tileGridShape } from './tiles.js';
import { emitStagedLoad } from './staged.js';
import { times, wgsl, type Wgsl } from '../wgsl.js';

/** Per (V-tile of scanBV columns, sequence and head): a thread tile over the K x BV state. */
export const bwdScanShape: StageShapeRule = (_d, cfg, tiles) =>
  tileGridShape(tiles.scanBV, Math.min(tiles.KP, cfg.chunk), [[Math.ceil(cfg.V / tiles.scanBV)], ['SH'], [1]]);

export function emitBwdScan(ks: KernelSource): Wgsl {
  const hp = bwdFns(ks);
  const { tok, bth } = hp;
  const g = hp.g(); const gq = hp.gq();
  const q = ks.roleFn('q'); const k = ks.roleFn('k');
  const dO = ks.seedDo();
  // The intra-chunk part of du: in dvl, or for the delta rule already in dU, added to in place.
  const dvl = ks.use(ks.delta ? 'dU' : 'dvl', ks.delta ? 'read_write' : 'read');
  const dhs = ks.use('dhs', 'read_write');
  // The delta rule keeps du as dU for the WY backward; otherwise du is the v role's gradient.
  const duStore = ks.delta
    ? (t: string, c: string) => wgsl`${ks.use('dU', 'read_write')}[${tok()('bh', t, c, 'VD')}]`
    : (t: string, c: string) => wgsl`${ks.use('grad_v', 'read_write')}[${bth()('b', t, 'h', c, 'VD')}]`;
  const dh0 = ks.use('dh0', 'read_write');
  const dht = ks.delta ? dh0 : ks.use('dht', 'read');
  const seeded = ks.delta ? '' : 'P.has_dht != 0u && ';
  const w = ks.delta ? ks.use('w', 'read') : '';
  const rb = ks.tiles.KP >= 256 ? ((ks.cfg.wgMemory ?? 32768) < 32768 ? 2 : 4) : 8;
  // A walk over the sequence's chunks in reverse, opened by hand: vt comes before the sequence's
  // span (ks.sequenceMain would put it after).
  return wgsl`
${TILE_GRID}
const BV: u32 = ${ks.tiles.scanBV}u;
const RM: u32 = KP / TY;
const RN: u32 = BV / TX;
const JM: u32 = C / TY;
const SK: u32 = 8u;
const RB: u32 = ${rb}u;
var<workgroup> sD: array<f32, KP * BV>;
var<workgroup> sDu: array<f32, C * BV>;
var<workgroup> sKg: array<f32, SK * C>;
var<workgroup> sQg: array<f32, RB * KP>;
${ks.delta ? 'var<workgroup> sW: array<f32, RB * KP>;' : ''}
var<workgroup> sDo: array<f32, RB * BV>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let vt = wid.x;
  ${ks.sequenceSpan()}
  let tx = lid % TX;
  let ty = lid / TX;
  var ds: array<array<f32, RN>, RM>;
  for (var a = 0u; a < RM; a++) {
    let d = ty + TY * a;
    for (var c = 0u; c < RN; c++) {
      let cg = vt * BV + tx + TX * c;
      var x = 0.0;
      if (${seeded}d < KD && cg < VD) { x = ${dht}[${ks.stateIndex('sq', 'h', 'd', 'cg')}]; }
      ds[a][c] = x;
    }
  }
  for (var nn = nBegin; nn < nEnd; nn++) {
    let n = nBegin + nEnd - 1u - nn;
    ${ks.chunkSpan()}${ks.decayed ? `
    let tl = t0 + rows - 1u;` : ''}
    for (var a = 0u; a < RM; a++) {
      let d = ty + TY * a;
      for (var c = 0u; c < RN; c++) {
        let cl = tx + TX * c;
        let cg = vt * BV + cl;
        sD[d * BV + cl] = ds[a][c];
        if (d < KD && cg < VD) { ${dhs}[((bh * P.NT + n) * KD + d) * VD + cg] = ds[a][c]; }
      }
    }
    workgroupBarrier();
    // du = dvl + Kg dS: rows j = ty + TY*a, K streamed in slabs of decayed keys.
    var du: array<array<f32, RN>, JM>;
    for (var a = 0u; a < JM; a++) { for (var c = 0u; c < RN; c++) { du[a][c] = 0.0; } }
    for (var d0 = 0u; d0 < KD; d0 += SK) {
      ${emitStagedLoad({
    count: 'C * SK',
    index: 'let t = t0 + min(e / SK, rows - 1u); let d = min(d0 + e % SK, KD - 1u);',
    loads: [{ name: 'kg', expr: times(k('b', 't', 'h', 'd'), hp.pow2(() => wgsl`${g('b', 'h', 'tl', 'd')} - ${g('b', 'h', 't', 'd')}`)) }],
    storeIndex: 'let j = e / SK; let dd = e % SK;',
    valid: 'j < rows && d0 + dd < KD',
    store: (v) => wgsl`sKg[dd * C + j] = ${v('kg')};`,
  })}
      workgroupBarrier();
      ${emitTileMac({
    acc: 'du', step: 'dd', steps: 'SK', rows: 'JM', cols: 'RN', stepSetup: 'let srow = min(d0 + dd, KP - 1u) * BV;',
    left: 'sKg[dd * C + ty + TY * a]', right: 'sD[srow + tx + TX * c]',
  })}
      workgroupBarrier();
    }
    for (var a = 0u; a < JM; a++) {
      let j = ty + TY * a;
      for (var c = 0u; c < RN; c++) {
        let cl = tx + TX * c;
        let cg = vt * BV + cl;
        var x = 0.0;
        if (j < rows && cg < VD) {
          let t = t0 + j;
          x = du[a][c] + ${dvl}[${tok()('bh', 't', 'cg', 'VD')}];
          ${duStore('t', 'cg')} = x;
        }
        sDu[j * BV + cl] = x;
      }
    }
    // dS <- 2^G_last dS + Qg^T do [- W^T du], rows of the chunk in slabs of RB.${ks.decayed ? wgsl`
    for (var a = 0u; a < RM; a++) {
      let d = min(ty + TY * a, KD - 1u);
      let decay = exp2(${g('b', 'h', 'tl', 'd')});
      for (var c = 0u; c < RN; c++) { ds[a][c] *= decay; }
    }` : ''}
    workgroupBarrier();
    for (var i0 = 0u; i0 < rows; i0 += RB) {
      ${emitStagedLoad({
    count: 'RB * KP',
    index: 'let t = t0 + min(i0 + e / KP, rows - 1u); let d = min(e % KP, KD - 1u);',
    loads: [
      { name: 'qg', expr: times('P.scale', q('b', 't', 'h', 'd'), hp.pow2(() => gq('b', 'h', 't', 't0', 'd'))) },
      ...(ks.delta ? [{ name: 'w', expr: wgsl`${w}[${tok()('bh', 't', 'd', 'KD')}]` }] : []),
    ],
    storeIndex: '',
    valid: 'i0 + e / KP < rows && e % KP < KD',
    store: (v) => wgsl`sQg[e] = ${v('qg')};${ks.delta ? wgsl` sW[e] = ${v('w')};` : ''}`,
  })}
      ${emitStagedLoad({
    count: 'RB * BV',
    index: 'let t = t0 + min(i0 + e / BV, rows - 1u); let cg = min(vt * BV + e % BV, VD - 1u);',
    loads: [{ name: 'o', expr: wgsl`${dO}[${bth()('b', 't', 'h', 'cg', 'VD')}]` }],
    storeIndex: '',
    valid: 'i0 + e / BV < rows && vt * BV + e % BV < VD',
    store: (v) => wgsl`sDo[e] = ${v('o')};`,
  })}
      workgroupBarrier();
      for (var ii = 0u; ii < RB; ii++) {
        for (var a = 0u; a < RM; a++) {
          let d = ty + TY * a;
          let lq = sQg[ii * KP + d];${ks.delta ? '\n          let lw = sW[ii * KP + d];' : ''}
          for (var c = 0u; c < RN; c++) {
            let cl = tx + TX * c;
            ds[a][c] += lq * sDo[ii * BV + cl]${ks.delta ? ' - lw * sDu[min(i0 + ii, C - 1u) * BV + cl]' : ''};
          }
        }
      }
      workgroupBarrier();
    }
  }
  for (var a = 0u; a < RM; a++) {
    let d = ty + TY * a;
    for (var c = 0u; c < RN; c++) {
      let cg = vt * BV + tx + TX * c;
      if (d < KD && cg < VD) { ${dh0}[${ks.stateIndex('sq', 'h', 'd', 'cg')}] = ds[a][c]; }
    }
  }
}`;
}

/** One thread per element of the K x V state. */
export const bwdSeedShape: StageShapeRule = (_d, cfg) => ({ wg: 256, grid: [[Math.ceil((cfg.K * cfg.V) / 256)], ['SH'], [1]] });

/** dh0 = dht (or 0 without it), before the delta rule's scan, which reads its seed from dh0 and
 * overwrites it with dh0 (each element by the workgroup that read it). */
export function emitBwdSeed(ks: KernelSource): Wgsl {
  const dht = ks.use('dht', 'read');
  const dh0 = ks.use('dh0', 'read_write');
  return wgsl`
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let e = wid.x * WG + lid;
  if (e >= KD * VD) { return; }
  let sq = wid.y / P.H;
  let h = wid.y % P.H;
  let d = e / VD;
  let c = e % VD;
  let at = ${ks.stateIndex('sq', 'h', 'd', 'c')};
  var x = 0.0;
  if (P.has_dht != 0u) { x = ${dht}[at]; }
  ${dh0}[at] = x;
}`;
}
