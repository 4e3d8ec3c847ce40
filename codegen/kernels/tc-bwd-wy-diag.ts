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
// lane, both walking the same partition), then arow, whose epilogue forms P and writes dk, x2 and
// dbk as wyDk does (dk and dbk read-modify-written, x2 read then overwritten).
// Staging: the 'pipelined' form of dq and dk (tc-bwd-dqk.ts's dqkPhased, the same skeleton, whose
// forms took bwdDq / bwdDk from 0.72 / 0.93 to 0.49 / 0.54 ms on the H200). The first staged form
// of this kernel (as dq's and dk's 'staged') was correct on the H200 but slower than the f32
// wyDk (1.441 against 1.300 ms): it waited on storage at every staging step (dA, its diagonal,
// beta, then per slab the raw rows, then each anchored region formed from storage again) and at
// every element of the second epilogue (X2, grad_k, dbk, one by one), the likely cause as for dq
// and dk (unmeasured). Now, per workgroup:
// - one first phase issues every load (dA's blocks below the diagonal, f16; its diagonal blocks,
//   f32; beta per chunk row; the first slab's raw k rows and G; the epilogue's grad_k, X2 and dbk
//   at each of the lane's element slots, into registers) before any store;
// - both anchored regions are formed from workgroup memory, without reading storage again:
//   'after' = beta_j k_j 2^(G_j - G_a') (beta from the row words, k and G from the slab), 'before'
//   = k_j 2^(G_a - G_j): the same f32 values as formed from storage, so the same f16 (the results
//   equal the staged form's bit for bit on the portable lowering);
// - in the loop over slabs the next slab's raw rows and G, and its epilogue operands, are loaded
//   into registers before this slab's products and stored (or moved) after its epilogue. The
//   prefetched operands are the next slab's key columns, so this slab's read-modify-writes of
//   grad_k and dbk and its write of x2 (this slab's columns) never overlap them; each workgroup
//   owns its (K-tile, chunk) of those buffers.
// With one slab per workgroup (BK = SK) there is nothing to pipeline: the first phase, then the slab.
// Non-finite values: as for dq and dk, every fragment product pairs a row block with the column
// blocks strictly before it (arow) or after it (Q), all of them unmasked terms of the f32 tier's
// sums (dA is not masked there: every r < i, every r > i), and rows past the chunk's end are 0 in
// both operands (the slab's raw rows, G and beta are staged as 0 there, and anchored elements
// outside the chunk or the keys as 0); so a NaN or Inf reaches only the outputs whose sums hold
// it, with no exact path (tc-bwd-wy.ts needs one: its C x C lefts hold masked zeros). The
// diagonal blocks skip their masked terms. The prefetch changes no value, only when it is read.
// Layout: tcDqkLayout's with one f32 word per chunk row (beta): at chunk 64 and K >= 64, 22.25
// KiB at key slabs of 16 (within the 24 KiB budget); the pipeline adds registers, no workgroup
// memory. Where no layout fits (chunk 64 within 16 KiB) the stage keeps the f32 contraction
// (codegen/backward.ts). Storage: what the f32 wyDk binds (dTA, gcum, k's inputs, beta's,
// grad_k, X2, dbk), one more with packed sequences (the chunk table). tuning.dqkForm, which picks
// among forms of bwdDq and bwdDk, leaves this kernel, its layout and its grid as they are: one
// form here (the staged one replaced, not kept beside it).
import type { KernelSource } from './common.js';
import type { CodegenConfig, StageShape } from '../plan.js';
import { bwdFns } from './bwd-common.js';
import type { Fragments } from './fragments.js';
import { dqkBlocks, dqkPhased, tcDqkLayout, tcDqkTileK, type DqkLayout, type PhaseBlock } from './tc-bwd-dqk.js';
import { wgsl, type Wgsl } from '../wgsl.js';

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
  const { sRow } = lay;
  const C = ks.cfg.chunk;
  const nb = C / 16;
  const { tok, bth } = bwdFns(ks);
  const blocks = dqkBlocks(ks, lay);
  const { G, dAd, R } = blocks;
  const ph = dqkPhased(ks, fr, lay, blocks);
  const dA = ks.use('dTA', 'read');
  const g = ks.gcsFn();
  const k = ks.roleFn('k');
  const beta = ks.roleFn('beta');
  /** beta of a chunk row, staged once per workgroup past the diagonal blocks (0 past the chunk). */
  const B = (row: string) => wgsl`wf[${sRow}u + ${row}]`;
  const betaBlock: PhaseBlock = {
    tag: 'bt', count: C, index: wgsl`let t = t0 + min(e, rows - 1u);`, loads: [{ name: 'b', expr: beta('b', 't', 'h', '0u') }],
    storeIndex: wgsl``, valid: wgsl`e < rows`, store: (v) => wgsl`${B('e')} = select(0.0, ${v('b')}, valid);`,
  };
  // The lane's parked Q, at the element's slot (both epilogues walk the same elements).
  const qBody = (s: string) => wgsl`let kx = k0 + d0 + c;
      var qv = 0.0;
      if (r < rows && kx < KD) {
        let bI = r / 16u;
        let gr = ${G('r')};
        var dg = 0.0;
        for (var j = r + 1u; j < min(bI * 16u + 16u, rows); j++) { dg += ${dAd('j', 'r')} * ${B('j')} * ${R('j')} * exp2(${G('j')} - gr); }
        qv = value * exp2(${G(blocks.anchorRow('after'))} - gr) + dg;
      }
      qpark[${s}] = qv;`;
  const gradK = ks.use('grad_k', 'read_write');
  const x2 = ks.use('X2', 'read_write');
  const dbk = ks.use('dbk', 'read_write');
  // The epilogue's storage operands, prefetched per element slot (ep_g, ep_x, ep_b): its stores
  // go to the same elements, the next slab's prefetch reads other key columns.
  const epi = () => [
    { name: 'g', expr: wgsl`${gradK}[${bth()('b', 't', 'h', 'kx', 'KD')}]` },
    { name: 'x', expr: wgsl`${x2}[tk]` },
    { name: 'b', expr: wgsl`${dbk}[tk]` },
  ];
  const pBody = (s: string) => wgsl`let kx = k0 + d0 + c;
      if (r < rows && kx < KD) {
        let t = t0 + r;
        let bI = r / 16u;
        let gr = ${G('r')};
        var dg = 0.0;
        for (var j = bI * 16u; j < r; j++) { dg += ${dAd('r', 'j')} * ${R('j')} * exp2(gr - ${G('j')}); }
        // Block 0 has no pairs (value is 0); its anchor row would not exist.
        let pairs = select(0.0, value * exp2(gr - ${G(blocks.anchorRow('before'))}), bI > 0u);
        let pv = exp2(gr) * ep_x[${s}] + pairs + dg;
        let qv = qpark[${s}];
        let bi = ${B('r')};
        let kv = ${R('r')};
        let tk = ${tok()('bh', 't', 'kx', 'KD')};
        ${gradK}[${bth()('b', 't', 'h', 'kx', 'KD')}] = ep_g[${s}] + bi * pv + qv;
        ${x2}[tk] = kv * pv;
        ${dbk}[tk] = ep_b[${s}] + kv * (bi * pv - qv);
      }`;
  // Every exponent <= 0: Q's rows j > a' (G_j <= G_a'), arow's rows j <= a; the same f32 values
  // as formed from storage, so the same f16.
  const walk = wgsl`workgroupBarrier();
    ${ph.anchoredStep('after', wgsl`${B('j')} * ${R('j')} * exp2(${G('j')} - ${G('ta')})`)}
    // Q = acol: the blocks after each row block, parked in qpark.
    ${ph.declare('qa')}
    if (factive) {
      ${blocks.products(fr, 'after', 'qa')}
    }
    ${ph.epilogue('qa', qBody)}
    // arow: the blocks before (the anchored region is free: Q's epilogue ended on a barrier).
    ${ph.anchoredStep('before', wgsl`${R('j')} * exp2(${G('ta')} - ${G('j')})`)}
    ${ph.declare('pa')}
    if (factive) {
      ${blocks.products(fr, 'before', 'pa')}
    }
    ${ph.epilogue('pa', pBody)}`;
  return ph.kernel({
    first: [...(nb > 1 ? [blocks.lowerBlock(dA, false)] : []), blocks.diagBlock(dA), betaBlock],
    slab: (tag, dd) => [blocks.rowsBlock(tag, dd, k('b', 't', 'h', 'd'), g)],
    epi,
    walk,
    pipelined: true,
    decl: wgsl`var qpark: array<f32, ${ph.nSlots}>;`,
  });
}
