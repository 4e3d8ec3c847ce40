// L2 normalization of q and/or k along K (FLA's use_qk_l2norm_in_kernel): per row (b, t, h),
// rn = 1 / sqrt(sum_j x_j^2 + eps) (the spec's l2normEps, 1e-6 by default), kept in rn_q / rn_k; every other kernel reads the
// normalized role as raw * rn. The backward turns the gradient w.r.t. the normalized row n into
// the raw row's, rn (dn - n (n . dn)), in place, before the chain rule to the inputs.
import { DEFAULT_L2NORM_EPS } from '../../dsl/index.js';
import type { KernelSource } from './common.js';
import { f32, joinWgsl, rawWgsl, wgsl, wgslFn, type Wgsl } from '../wgsl.js';

const reduce = rawWgsl(`
  red[lid] = s;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w = w / 2u) {
    if (lid < w) { red[lid] += red[lid + w]; }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier();`);

const head = rawWgsl(`
var<workgroup> red: array<f32, WG>;
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x;
  let bh = wid.y;
  let b = bh / P.H;
  let h = bh % P.H;
  let row = (b * P.T + t) * P.H + h;`);

export function emitL2norm(ks: KernelSource): Wgsl {
  // The default as written before the epsilon was an option, so those kernels keep their text.
  const eps = ks.def.l2normEps === DEFAULT_L2NORM_EPS ? rawWgsl('1e-6') : f32(ks.def.l2normEps);
  const parts = ks.def.l2norm.map((r) => {
    const raw = wgslFn(ks.roleRaw(r), 4);
    const rn = ks.use(`rn_${r}`, 'read_write');
    return wgsl`{
    var s = 0.0;
    for (var j = lid; j < KD; j += WG) { let x = ${raw('b', 't', 'h', 'j')}; s += x * x; }
    ${reduce}
    if (lid == 0u) { ${rn}[row] = inverseSqrt(total + ${eps}); }
  }`;
  });
  return wgsl`${head}
  ${joinWgsl(parts, '\n  ')}
}`;
}

export function emitNormBwd(ks: KernelSource): Wgsl {
  const parts = ks.def.l2norm.map((r) => {
    const n = ks.roleFn(r);
    const grad = ks.use(`grad_${r}`, 'read_write');
    const rn = ks.use(`rn_${r}`, 'read');
    return wgsl`{
    var s = 0.0;
    for (var j = lid; j < KD; j += WG) { s += ${grad}[row * KD + j] * ${n('b', 't', 'h', 'j')}; }
    ${reduce}
    let scale = ${rn}[row];
    for (var j = lid; j < KD; j += WG) { ${grad}[row * KD + j] = scale * (${grad}[row * KD + j] - ${n('b', 't', 'h', 'j')} * total); }
  }`;
  });
  return wgsl`${head}
  ${joinWgsl(parts, '\n  ')}
}`;
}
