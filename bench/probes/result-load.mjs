// Probe of one subgroup-matrix primitive that gave wrong values on the H200 (2026-12-02, see
// bench/RESULTS.md): a result fragment (subgroup_matrix_result<f32, 16, 16>) loaded from a
// storage buffer. Run on the device machine from the project root after .gpu-kit/enter.sh. Each
// case loads one fragment per subgroup from storage (read-only or read_write binding, scalar
// f32 array), with an offset and a row stride, stores it to another buffer, and compares with
// the source: also the same data through workgroup memory (the form that works), and the load
// followed by a multiply-accumulate (as an accumulator start). One line per case; exits 0.
import { device, HDR, runOneWorkgroup } from './probe-device.mjs';

// 4 subgroups; subgroup sg's fragment is rows 16 sg .. 16 sg + 15, columns c0 .. c0 + 15 of a
// [64, stride] f32 matrix starting at `base`; the output is the 64 x 16 block, row-major.
const cases = [];
for (const access of ['read', 'read_write']) {
  for (const [base, stride, c0] of [[0, 16, 0], [0, 128, 32], [4096, 128, 16], [257 * 16, 64, 48]]) {
    for (const via of ['storage', 'workgroup', 'storage+mma']) cases.push({ access, base, stride, c0, via });
  }
}
for (const c of cases) {
  const n = c.base + 64 * c.stride;
  const src = Float32Array.from({ length: n }, (_, i) => Math.sin(0.37 * i) + 0.01 * i);
  const load = c.via === 'workgroup'
    ? `for (var e = lid; e < 1024u; e += 128u) { sW[e] = S[${c.base}u + (e / 16u) * ${c.stride}u + ${c.c0}u + e % 16u]; }
  workgroupBarrier();
  var r = subgroupMatrixLoad<subgroup_matrix_result<f32, 16, 16>>(&sW, sg * 256u, false, 16u);`
    : `var r = subgroupMatrixLoad<subgroup_matrix_result<f32, 16, 16>>(&S, ${c.base}u + sg * 16u * ${c.stride}u + ${c.c0}u, false, ${c.stride}u);`;
  // storage+mma: r += 0 * 0 through a multiply-accumulate, as an accumulator started from storage.
  const mma = c.via === 'storage+mma'
    ? `let z = subgroup_matrix_left<f16, 16, 16>();
  let zr = subgroup_matrix_right<f16, 16, 16>();
  r = subgroupMatrixMultiplyAccumulate(z, zr, r);` : '';
  const code = `${HDR}
@group(0) @binding(0) var<storage, ${c.access}> S: array<f32>;
@group(0) @binding(1) var<storage, read_write> O: array<f32>;
var<workgroup> sW: array<f32, 1024>;
@compute @workgroup_size(128)
fn main(@builtin(subgroup_id) sg: u32, @builtin(local_invocation_index) lid: u32) {
  ${load}
  ${mma}
  subgroupMatrixStore(&O, sg * 256u, r, false, 16u);
}`;
  const label = `${c.via} ${c.access} base ${c.base} stride ${c.stride} col ${c.c0}`;
  const got = await runOneWorkgroup(label, code, src, new Float32Array(1024).fill(Number.NaN), 1024);
  if (!got) continue;
  let bad = 0; let first = -1;
  for (let i = 0; i < 1024; i++) {
    const want = src[c.base + Math.floor(i / 16) * c.stride + c.c0 + (i % 16)];
    if (!(Math.abs(got[i] - want) <= 1e-6 * Math.max(1, Math.abs(want)))) { bad++; if (first < 0) first = i; }
  }
  console.log(`${label}: ${bad ? `WRONG ${bad} of 1024 (first at ${first}: got ${got[first]}, want ${src[c.base + Math.floor(first / 16) * c.stride + c.c0 + (first % 16)]})` : 'right'}`);
}
device.destroy();
