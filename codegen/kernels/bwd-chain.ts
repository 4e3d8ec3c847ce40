// From role gradients to input gradients: dX = sum over the roles R that read X of
// dR * dR/dX, summed over the dims of R's index space that X lacks (broadcasts). dR/dX is the
// spec's role expression differentiated symbolically (dsl/diff.ts) and rendered to WGSL, so a
// variant's modifiers (mamba2's x*dt, A*dt, D*x, a softplus gate, ...) need no backward code.
// When X lacks B or T (a per-head parameter), one workgroup reduces each element; otherwise
// each thread owns one element of X and loops over the few broadcast dims (H, K or V) it lacks.
import { diff, type Dim, type ExprNode, type Role, type VariantDef } from '../../dsl/index.js';
import type { CodegenConfig } from '../plan.js';
import type { KernelSource } from './common.js';
import { joinWgsl, wgsl, wgslFn, type Wgsl } from '../wgsl.js';
import { add, mul, renderIndex } from '../index-expr.js';

/** Index space of each role's gradient buffer: [B,T,H,axis] (the bonus u is kept per token). */
export function roleAxis(ks: KernelSource, role: Role): 'K' | 'V' | null {
  switch (role) {
    case 'q': case 'k': case 'u': case 'a': case 'b': return 'K';
    case 'v': case 'outputAdd': case 'outputGate': return 'V';
    case 'logDecay': return ks.diag ? 'K' : null;
    case 'beta': return null;
  }
}

/** Roles whose expression depends on input `name`, with d(role)/d(input). */
export function roleDerivatives(ks: KernelSource, name: string): { role: Role; dnode: ExprNode }[] {
  const out: { role: Role; dnode: ExprNode }[] = [];
  for (const [role, node] of Object.entries(ks.def.roles) as [Role, ExprNode][]) {
    const dnode = diff(node, name);
    if (dnode.kind === 'const' && dnode.value === 0) continue;
    out.push({ role, dnode });
  }
  return out;
}

/** The role whose gradient buffer already is input `name`'s gradient, or null. That holds when
 * the input is read by exactly one role, as that role itself (its derivative is 1), in that
 * role's own layout [B,T,H,K|V] (or [B,T,H] for a scalar role), with as many heads (not a
 * grouped q/k input) and no L2 normalization in between: the chain kernel would only copy. */
export function gradientAlias(def: VariantDef, cfg: CodegenConfig, name: string): Role | null {
  const readers = (Object.entries(def.roles) as [Role, ExprNode][]).filter(([, node]) => {
    const d = diff(node, name);
    return !(d.kind === 'const' && d.value === 0);
  });
  if (readers.length !== 1) return null;
  const [role, node] = readers[0]!;
  if (node.kind !== 'input' || node.name !== name || role === 'outputAdd' || role === 'u') return null;
  if ((role === 'q' || role === 'k') && def.l2norm.includes(role)) return null;
  if (cfg.qkInputs?.includes(name)) return null;
  const axis: Dim | null = role === 'q' || role === 'k' || role === 'a' || role === 'b' ? 'K' : role === 'v' || role === 'outputGate' ? 'V'
    : role === 'logDecay' ? (def.decay === 'diagonal' ? 'K' : null) : null;
  const dims = def.inputs.find((i) => i.name === name)!.dims;
  const want: Dim[] = ['B', 'T', 'H', ...(axis ? [axis] : [])];
  return dims.length === want.length && dims.every((d, i) => d === want[i]) ? role : null;
}

/** Whether input `name`'s gradient reduces over B or T (one workgroup per element). */
export function chainReduces(dims: readonly Dim[]): boolean {
  return !dims.includes('B') || !dims.includes('T');
}

export function emitChain(ks: KernelSource, name: string): Wgsl {
  const decl = ks.def.inputs.find((i) => i.name === name)!;
  const dims = decl.dims;
  const reduces = chainReduces(dims);
  const jDim = dims.includes('K') ? 'KD' : dims.includes('V') ? 'VD' : '1u';
  // Inputs without T (per-head parameters) sum over B*T: PARTS workgroups per element each
  // take a strided share, and emitChainFinish adds the partials.
  const parted = reduces && !dims.includes('T');
  // Grouped value heads: a q/k input's head hx serves value heads hx*G .. hx*G + G-1, whose
  // role gradients it sums; threads past its H / G heads have nothing to do.
  const grouped = (ks.cfg.qkInputs?.includes(name) ?? false) && dims.includes('H');
  const lanes = parted ? 'WG * PARTS' : reduces ? 'WG' : '1u';
  const lane = parted ? 'wid.y * WG + lid' : reduces ? 'lid' : '0u';
  const loops = roleDerivatives(ks, name).map(({ role, dnode }, n) => {
    const axis = roleAxis(ks, role);
    const width = axis === 'K' ? 'KD' : axis === 'V' ? 'VD' : '1u';
    const grad = role === 'outputAdd' ? ks.seedDo() : ks.use(`grad_${role}`, 'read');
    const deriv = wgslFn(ks.exprFn(`d_${role}_d_${name}`, dnode), 4);
    // Free dims: those of the role's space the input lacks, innermost first.
    const free: { dim: string; size: string; fixed: string }[] = [
      { dim: 'j', size: width, fixed: axis !== null && dims.includes(axis) ? 'jx' : '0u' },
      { dim: 'h', size: grouped ? 'P.G' : 'P.H', fixed: dims.includes('H') && !grouped ? 'hx' : '' },
      { dim: 't', size: 'P.T', fixed: dims.includes('T') ? 'tx' : '' },
      { dim: 'b', size: 'P.B', fixed: dims.includes('B') ? 'bx' : '' },
    ];
    const looped = free.filter((f) => f.fixed === '' || (f.dim === 'j' && axis !== null && !dims.includes(axis)));
    const count = looped.map((f) => f.size).join(' * ') || '1u';
    const decode = joinWgsl(free.map((f) => {
      if (!looped.includes(f)) return wgsl`let ${f.dim} = ${f.fixed};`;
      if (f.dim === 'h' && grouped) return 'let h = hx * P.G + rem % P.G; rem = rem / P.G;';
      return wgsl`let ${f.dim} = rem % ${f.size}; rem = rem / ${f.size};`;
    }), ' ');
    return wgsl`  // ${role}
  for (var f${n} = ${lane}; f${n} < ${count}; f${n} += ${lanes}) {
    var rem = f${n};
    ${decode}
    acc += ${grad}[${renderIndex(add(mul('(b * P.T + t) * P.H + h', width === '1u' ? 1 : width), 'j'))}] * ${deriv('b', 't', 'h', 'j')};
  }`;
  });
  const fixed = wgsl`let jx = ${reduces ? 'wid.x' : 'wid.x * WG + lid'};
  let tx = ${parted ? '0u' : 'wid.y'};
  let bx = wid.z / ${dims.includes('H') ? 'P.H' : '1u'};
  let hx = wid.z % ${dims.includes('H') ? 'P.H' : '1u'};${grouped ? '\n  if (hx >= P.H / P.G) { return; }' : ''}`;
  const store = parted ? '' : wgsl`{
    let b = bx; let t = tx; let h = ${grouped ? 'hx * P.G' : 'hx'}; let j = jx;
    ${ks.use(`grad_in_${name}`, 'read_write')}[${ks.inputIndex(name)}] = acc;
  }`;
  if (!reduces) {
    return wgsl`
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  ${fixed}
  if (jx >= ${jDim}) { return; }
  var acc = 0.0;
${joinWgsl(loops, '\n')}
  ${store}
}`;
  }
  return wgsl`
var<workgroup> sRed: array<f32, WG>;
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  ${fixed}
  var acc = 0.0;
${joinWgsl(loops, '\n')}
  sRed[lid] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) { sRed[lid] += sRed[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) {
    acc = sRed[0];
    ${parted ? wgsl`${ks.use(`part_${name}`, 'read_write')}[(${renderIndex(add(mul('wid.z', jDim === '1u' ? 1 : jDim), 'jx'))}) * PARTS + wid.y] = acc;` : store}
  }
}`;
}

/** Partial workgroups per element of a per-head input's gradient. */
export const CHAIN_PARTS = 32;

/** Whether input `name`'s gradient is summed from CHAIN_PARTS partials. */
export function chainParted(dims: readonly Dim[]): boolean {
  return chainReduces(dims) && !dims.includes('T');
}

/** Adds the partials of a per-head input's gradient: one thread per element. */
export function emitChainFinish(ks: KernelSource, name: string): Wgsl {
  const dims = ks.def.inputs.find((i) => i.name === name)!.dims;
  const jDim = dims.includes('K') ? 'KD' : dims.includes('V') ? 'VD' : '1u';
  const part = ks.use(`part_${name}`, 'read');
  const out = ks.use(`grad_in_${name}`, 'read_write');
  return wgsl`
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let jx = wid.x * WG + lid;
  if (jx >= ${jDim}) { return; }
  var acc = 0.0;
  for (var p = 0u; p < PARTS; p++) { acc += ${part}[(${renderIndex(add(mul('wid.z', jDim === '1u' ? 1 : jDim), 'jx'))}) * PARTS + p]; }
  let bx = wid.z / ${dims.includes('H') ? 'P.H' : '1u'};
  let hx = wid.z % ${dims.includes('H') ? 'P.H' : '1u'};
  ${(ks.cfg.qkInputs?.includes(name) ?? false) && dims.includes('H') ? 'if (hx >= P.H / P.G) { return; }\n  let h = hx * P.G;' : 'let h = hx;'}
  let b = bx; let t = 0u; let j = jx;
  ${out}[${ks.inputIndex(name)}] = acc;
}`;
}

/** Grid of the finishing kernel: threads over the K/V elements, z as the chain kernel's. */
export function chainFinishGrid(dims: readonly Dim[], K: number, V: number, wg: number): [(string | number)[], (string | number)[], (string | number)[]] {
  const j = dims.includes('K') ? K : dims.includes('V') ? V : 1;
  return [[Math.ceil(j / wg)], [1], [...(dims.includes('B') ? ['B'] : []), ...(dims.includes('H') ? ['H'] : []), 1]];
}

/** Grid of the chain kernel for an input: x over its K/V elements (threads or workgroups), y over
 * T (or the CHAIN_PARTS partial sums of a per-head input), z over B*H (each factor only where the
 * input has that dim). */
export function chainGrid(dims: readonly Dim[], K: number, V: number, wg: number): [(string | number)[], (string | number)[], (string | number)[]] {
  const j = dims.includes('K') ? K : dims.includes('V') ? V : 1;
  const x = chainReduces(dims) ? j : Math.ceil(j / wg);
  return [[x], dims.includes('T') ? ['T'] : chainParted(dims) ? [CHAIN_PARTS] : [1], [...(dims.includes('B') ? ['B'] : []), ...(dims.includes('H') ? ['H'] : []), 1]];
}
