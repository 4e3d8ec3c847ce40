// The key gradient of the delta rule's WY backward with a per-key decay (decay 'diagonal': kda)
// on the fragment layer (tensor-core tier), per (K-tile, chunk, b*h): the f32 tier's wyDk
// (bwd-wy.ts) as the 16-row sub-block products of dq and dk (tc-bwd-dqk.ts, whose pieces it
// takes: dqkBlocks). X2 = T^T dW comes from wyX2 (on fragments: tc-bwd-wy.ts, emitTcWyX2). With G
// the chunk's gate cumsum (log2, per key d), dA from wyDA (zero on and above the diagonal), per
// row i and key column d:
//   arow_i = sum_{r<i} dA[i,r] k_r 2^(G_i - G_r)            (dq's sum, dA for dTA)
//   acol_i = sum_{r>i} dA[r,i] beta_r k_r 2^(G_r - G_i)     (dk's, beta_r k_r for q_r)
//   P_i = 2^G_i X2_i + arow_i,  Q_i = acol_i
//   dk_i += beta_i P_i + Q_i,  x2_i = k_i P_i (for wyDbeta),  dbk_i += k_i (beta_i P_i - Q_i).
// The factors depend on the key column, so (as for dq and dk) the chunk splits into 16-row
// blocks. Row block I against the blocks after it (J > I), anchored at a' = 16 I + 15:
//   Q[I] += 2^(G_a' - G_i) (dA[J,I]^T (beta_j k_j 2^(G_j - G_a'))_{j in J})
// and against the blocks before it (J < I), anchored at a = 16 I - 1:
//   arow[I] += 2^(G_i - G_a) (dA[I,J] (k_j 2^(G_a - G_j))_{j in J})
// every exponent <= 0, the right operands formed in f32 and rounded to f16, dA's blocks below the
// diagonal in f16 (one copy serves both: dk's side reads it transposed), sums f32, the row factors
// applied per element in f32 in the epilogues. The diagonal blocks are summed per element in f32
// over the unmasked terms only (dA, k, beta and G in f32), as for dq and dk.
// Two passes per key slab, sharing one region of anchored rows and one epilogue scratch fragment:
// Q first (its epilogue adds the diagonal block and the row factor and keeps Q in the lane's
// private `qpark`, at the element's slot: the second epilogue's lane for that element is the same
// lane, both walking the same partition), then arow, whose epilogue reads X2, forms P and writes
// dk, x2 and dbk as wyDk does (dk and dbk read-modify-write, x2 read then overwritten).
// Non-finite values: as for dq and dk, every fragment product pairs a row block with the column
// blocks strictly before it (arow) or after it (Q), all of them unmasked terms of the f32 tier's
// sums (dA is not masked there: every r < i, every r > i), and rows past the chunk's end are 0 in
// both operands; so a NaN or Inf reaches only the outputs whose sums hold it, with no exact path
// (tc-bwd-wy.ts needs one: its C x C lefts hold masked zeros). The diagonal blocks skip their
// masked terms.
// Layout: tcDqkLayout's with one f32 word per chunk row (beta): at chunk 64 and K >= 64, 22.25
// KiB at key slabs of 16 (within the 24 KiB budget); where no layout fits (chunk 64 within 16
// KiB) the stage keeps the f32 contraction (codegen/backward.ts). Storage: what the f32 wyDk binds
// (dTA, gcum, k's inputs, beta's, grad_k, X2, dbk), one more with packed sequences (the chunk table).
// The staging is that of dq's and dk's default form ('staged'); tuning.dqkForm, which picks among
// forms of bwdDq and bwdDk, leaves this kernel, its layout and its grid as they are.
import type { KernelSource } from './common.js';
import type { CodegenConfig, StageShape } from '../plan.js';
import { bwdFns } from './bwd-common.js';
import { emitEpilogue, type Fragments } from './fragments.js';
import { dqkBlocks, tcDqkLayout, tcDqkTileK, type DqkLayout } from './tc-bwd-dqk.js';
import { joinWgsl, wgsl, type Wgsl } from '../wgsl.js';

/** The layout (dq / dk's, and beta per chunk row), or null where none fits: the f32 wyDk then.
 * The default form's (tuning.dqkForm picks among forms of bwdDq and bwdDk only: its 'single'
 * would tile the keys by the slab here too). */
export const tcWyDkDiagLayout = (cfg: CodegenConfig): DqkLayout | null => tcDqkLayout({ ...cfg, dqkForm: undefined }, 1);

/** Per (K-tile, chunk, b*h), by this layout's key tiles (tcBwdDqkGrid follows dqkForm). */
export const tcWyDkDiagGrid = (ks: KernelSource): StageShape['grid'] =>
  [[Math.ceil(ks.cfg.K / (tcWyDkDiagLayout(ks.cfg)?.BK ?? tcDqkTileK(ks.cfg.K)))], ['NT'], ['BH']];

export function emitTcWyDkDiag(ks: KernelSource, fr: Fragments): Wgsl {
  const lay = tcWyDkDiagLayout(ks.cfg);
  if (!lay || !ks.diag || !ks.delta) throw new Error('internal: wyDk on sub-blocks takes the delta rule with a per-key decay and a layout that fits');
  const { BK, SK, sG, sRaw, sRow } = lay;
  const { tok, bth } = bwdFns(ks);
  const blocks = dqkBlocks(ks, lay);
  const { p, grid, map, G, dAd, R } = blocks;
  const dA = ks.use('dTA', 'read');
  const g = ks.gcsFn();
  const k = ks.roleFn('k');
  const beta = ks.roleFn('beta');
  /** beta of a chunk row, staged once per workgroup past the diagonal blocks. */
  const B = (row: string) => wgsl`wf[${sRow}u + ${row}]`;
  // Every exponent <= 0: Q's rows j > a' (G_j <= G_a'), arow's rows j <= a.
  const stageAfter = blocks.anchored('after', wgsl`${beta('b', 't', 'h', '0u')} * ${k('b', 't', 'h', 'd')} * exp2(${g('b', 'h', 't', 'd')} - ${g('b', 'h', 'ta', 'd')})`);
  const stageBefore = blocks.anchored('before', wgsl`${k('b', 't', 'h', 'd')} * exp2(${g('b', 'h', 'ta', 'd')} - ${g('b', 'h', 't', 'd')})`);
  const stageDA = blocks.lower(dA);
  const stageDiag = blocks.diagonal(dA);
  const stageRows = blocks.rows(k('b', 't', 'h', 'd'));
  // The lane's parked Q: 8 elements per fragment it walks, fragment row i's at 8 fn i.
  const park = (i: number) => wgsl`qpark[${8 * p.fn * i}u + slot]`;
  const qBody = (i: number) => wgsl`let kx = k0 + d0 + c;
      var qv = 0.0;
      if (r < rows && kx < KD) {
        let bI = r / 16u;
        let gr = ${G('r')};
        var dg = 0.0;
        for (var j = r + 1u; j < min(bI * 16u + 16u, rows); j++) { dg += ${dAd('j', 'r')} * ${B('j')} * ${R('j')} * exp2(${G('j')} - gr); }
        qv = value * exp2(${G(blocks.anchorRow('after'))} - gr) + dg;
      }
      ${park(i)} = qv;`;
  const gradK = ks.use('grad_k', 'read_write');
  const x2 = ks.use('X2', 'read_write');
  const dbk = ks.use('dbk', 'read_write');
  const pBody = (i: number) => wgsl`let kx = k0 + d0 + c;
      if (r < rows && kx < KD) {
        let t = t0 + r;
        let bI = r / 16u;
        let gr = ${G('r')};
        var dg = 0.0;
        for (var j = bI * 16u; j < r; j++) { dg += ${dAd('r', 'j')} * ${R('j')} * exp2(gr - ${G('j')}); }
        // Block 0 has no pairs (value is 0); its anchor row would not exist.
        let pairs = select(0.0, value * exp2(gr - ${G(blocks.anchorRow('before'))}), bI > 0u);
        let tk = ${tok()('bh', 't', 'kx', 'KD')};
        let pv = exp2(gr) * ${x2}[tk] + pairs + dg;
        let qv = ${park(i)};
        let bi = ${B('r')};
        let kv = ${R('r')};
        let at = ${bth()('b', 't', 'h', 'kx', 'KD')};
        ${gradK}[at] = ${gradK}[at] + bi * pv + qv;
        ${x2}[tk] = kv * pv;
        ${dbk}[tk] = ${dbk}[tk] + kv * (bi * pv - qv);
      }`;
  const epilogues = (acc: string, body: (i: number) => Wgsl) => joinWgsl(Array.from({ length: p.fm }, (_, i) => emitEpilogue(fr, `${acc}${i}`, 1, p.fn, {
    scratch: 'wf', scratchBase: 0, active: 'factive', row: () => map.row(i), col: map.col, body: body(i),
  })), '\n    ');
  const declare = (acc: string) => joinWgsl(Array.from({ length: p.fm }, (_, i) => fr.declare(`${acc}${i}`, 1, p.fn)), '\n    ');
  return wgsl`
${fr.workspace(lay.f16, lay.f32)}

${ks.chunkMain(fr.builtins())}
  let kt = wid.x;
  ${fr.opening()}
  let k0 = kt * ${BK}u;
  ${grid.decl}
  ${stageDA}
  ${stageDiag}
  for (var r = lid; r < C; r += WG) { ${B('r')} = ${beta('b', 't0 + min(r, rows - 1u)', 'h', '0u')}; }
  var qpark: array<f32, ${8 * p.fm * p.fn}>;
  for (var d0 = 0u; d0 < min(${BK}u, KD - k0); d0 += ${SK}u) {
    ${stageRows}
    ${stageAfter}
    workgroupBarrier();
    // Q = acol: the blocks after each row block, parked in qpark.
    ${declare('qa')}
    if (factive) {
      ${blocks.products(fr, 'after', 'qa')}
    }
    ${epilogues('qa', qBody)}
    // arow: the blocks before (the anchored region is free: Q's epilogue ended on a barrier).
    ${stageBefore}
    workgroupBarrier();
    ${declare('pa')}
    if (factive) {
      ${blocks.products(fr, 'before', 'pa')}
    }
    ${epilogues('pa', pBody)}
  }
}`;
}
