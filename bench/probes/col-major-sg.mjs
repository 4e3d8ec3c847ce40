// Probe, after col-major.mjs found every column-major load right for one subgroup with a constant
// offset while wy-suspects.mjs's four-subgroup form was wrong at stride 64 (H200, 2026-12-02):
// the four-subgroup case with one factor changed at a time. Element e of the S x S f16 array
// holds e - 1024 (exact in f16 over what is read, S <= 64 region); subgroup s loads the left
// fragment at offset off(s) column-major at stride S, multiplies by the identity and stores it
// row-major at O[256 s]. Wrong cases print the first wrong elements as array indices.
import { device, HDR, runOneWorkgroup } from './probe-device.mjs';

const cases = [
  { name: 'base (4 subgroups, subgroup_id, offset 16 sg, flag scan)', S: 64, wg: 128, off: 'sg * 16u', flag: true },
  { name: 'no flag scan', S: 64, wg: 128, off: 'sg * 16u', flag: false },
  { name: 'offset from lid / 32', S: 64, wg: 128, off: '(lid / 32u) * 16u', flag: false },
  { name: 'offset 0 for all', S: 64, wg: 128, off: '0u', flag: false },
  { name: 'one subgroup', S: 64, wg: 32, off: 'sg * 16u', flag: false },
  { name: 'stride 128', S: 128, wg: 128, off: 'sg * 16u', flag: false },
  { name: 'stride 72', S: 72, wg: 128, off: 'sg * 16u', flag: false },
  { name: 'row-major', S: 64, wg: 128, off: 'sg * 16u', flag: false, rowMajor: true },
];
for (const c of cases) {
  const n = c.S * c.S;
  const subgroups = c.wg / 32;
  const src = Float32Array.from({ length: n }, (_, e) => (e < 3072 ? e - 1024 : 0));
  const code = `${HDR}
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read_write> O: array<f32>;
var<workgroup> wh: array<f16, ${n}>;
var<workgroup> wi: array<f16, 256>;
var<workgroup> flag: array<u32, 1>;
@compute @workgroup_size(${c.wg})
fn main(@builtin(subgroup_id) sg: u32, @builtin(local_invocation_index) lid: u32) {
  for (var e = lid; e < ${n}u; e += ${c.wg}u) { wh[e] = f16(A[e]); }
  for (var e = lid; e < 256u; e += ${c.wg}u) { wi[e] = select(f16(0.0), f16(1.0), e / 16u == e % 16u); }
  workgroupBarrier();
  ${c.flag ? `for (var e = lid; e < 256u; e += ${c.wg}u) { if (bitcast<u32>(f32(wh[e])) == 0x7fc00000u) { flag[0] = 1u; } }` : ''}
  let fl = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, ${c.off}, ${c.rowMajor ? 'false' : 'true'}, ${c.S}u);
  let fr = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wi, 0u, false, 16u);
  var acc = subgroup_matrix_result<f32, 16, 16>();
  acc = subgroupMatrixMultiplyAccumulate(fl, fr, acc);
  subgroupMatrixStore(&O, sg * 256u, acc, false, 16u);
}`;
  const words = 256 * subgroups;
  const got = await runOneWorkgroup(c.name, code, src, new Float32Array(1024).fill(Number.NaN), words);
  if (!got) continue;
  const offOf = (s) => (c.off === '0u' ? 0 : 16 * s);
  const want = (i) => {
    const s = Math.floor(i / 256); const a = Math.floor((i % 256) / 16); const b = i % 16;
    return src[offOf(s) + (c.rowMajor ? a * c.S + b : b * c.S + a)];
  };
  const wrong = [];
  for (let i = 0; i < words; i++) if (got[i] !== want(i)) wrong.push(i);
  const show = wrong.slice(0, 5).map((i) => `sg ${Math.floor(i / 256)} (${Math.floor((i % 256) / 16)},${i % 16}) got index ${got[i] + 1024} want ${want(i) + 1024}`);
  console.log(`${c.name}: ${wrong.length ? `WRONG ${wrong.length} of ${words}: ${show.join('; ')}` : 'right'}`);
}
device.destroy();
