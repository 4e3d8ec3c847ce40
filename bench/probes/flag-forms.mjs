// Probe, after col-major-sg.mjs found a four-subgroup column-major load right alone and wrong
// when a loop before it read the f16 tile as scalars and set a workgroup flag where a value was
// not finite (H200, 2026-12-02): which part breaks the load, and which forms of a workgroup
// "some staged value is not finite" flag leave it right. Each case stages A (element e holds
// e - 1024, all finite, so no flag is ever set) as f16, each of 4 subgroups loads one 16 x 16
// left fragment (column-major at stride 64, or row-major at 72 where named), multiplies by the
// identity and stores it; the flag, where there is one, is read with workgroupUniformLoad into
// O[1024] so it stays live. Wrong cases print the first wrong elements as array indices.
import { device, HDR, runOneWorkgroup } from './probe-device.mjs';

const S = 64;
const cases = {
  'read wh after the barrier, no flag': { after: 'var s = 0.0; for (var e = lid; e < 256u; e += 128u) { s += f32(wh[e]); } O[1025u + lid] = s;' },
  'flag set after the barrier from A (no read of wh)': { after: 'for (var e = lid; e < 256u; e += 128u) { if (A[e] > 1.0e30) { flag[0] = 1u; } }', flag: 'plain' },
  'flag set in the staging loop (the kernel form)': { inStage: 'if (A[e] > 1.0e30) { flag[0] = 1u; }', flag: 'plain' },
  'flag set in the staging loop, row-major load': { inStage: 'if (A[e] > 1.0e30) { flag[0] = 1u; }', flag: 'plain', rowMajor: true },
  'private flag, stored unconditionally per thread after staging': { inStage: 'bad = bad || A[e] > 1.0e30;', afterStage: 'flags[lid] = select(0u, 1u, bad);', flag: 'perThread' },
  'private flag, atomicOr once per thread after staging': { inStage: 'bad = bad || A[e] > 1.0e30;', afterStage: 'atomicOr(&aflag, select(0u, 1u, bad));', flag: 'atomic' },
  'private flag, subgroupAny, every lane stores its subgroup word': { inStage: 'bad = bad || A[e] > 1.0e30;', afterStage: 'let sb = subgroupAny(bad); flags[sg] = select(0u, 1u, sb);', flag: 'perSubgroup' },
  // The hypothesis the cases above suggest: a 4-byte workgroup variable beside the f16 tile
  // shifts the tile off 16-byte alignment. The kernel form again with the flag 16 bytes long.
  'flag set in the staging loop, flag array of 4 words': { inStage: 'if (A[e] > 1.0e30) { flag[0] = 1u; }', flag: 'plain', flagWords: 4 },
  'private flag per thread, gathered into a flag of 4 words (tc-wy-dk.ts)': { inStage: 'bad = bad || A[e] > 1.0e30;', afterStage: 'flags[lid] = select(0u, 1u, bad);', flag: 'perThread', flagWords: 4 },
};
for (const [name, c] of Object.entries(cases)) {
  const n = S * S;
  const src = Float32Array.from({ length: n }, (_, e) => (e < 3072 ? e - 1024 : 0));
  const stride = c.rowMajor ? 72 : S;
  const at = c.rowMajor ? '(e / 64u) * 72u + e % 64u' : 'e';
  const readFlag = {
    plain: 'let f = workgroupUniformLoad(&flag[0]);',
    perThread: 'if (lid == 0u) { var a = 0u; for (var i = 0u; i < 128u; i++) { a |= flags[i]; } flag[0] = a; }\n  let f = workgroupUniformLoad(&flag[0]);',
    perSubgroup: 'let f = max(max(workgroupUniformLoad(&flags[0]), workgroupUniformLoad(&flags[1])), max(workgroupUniformLoad(&flags[2]), workgroupUniformLoad(&flags[3])));',
    atomic: 'workgroupBarrier();\n  let f = atomicLoad(&aflag);',
  }[c.flag] ?? 'let f = 0u;';
  const code = `${HDR}
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read_write> O: array<f32>;
var<workgroup> wh: array<f16, ${72 * 64}>;
var<workgroup> wi: array<f16, 256>;
var<workgroup> flag: array<u32, ${c.flagWords ?? 1}>;
var<workgroup> flags: array<u32, 128>;
var<workgroup> aflag: atomic<u32>;
@compute @workgroup_size(128)
fn main(@builtin(subgroup_id) sg: u32, @builtin(local_invocation_index) lid: u32) {
  var bad = false;
  for (var e = lid; e < ${n}u; e += 128u) { wh[${at}] = f16(A[e]); ${c.inStage ?? ''} }
  ${c.afterStage ?? ''}
  for (var e = lid; e < 256u; e += 128u) { wi[e] = select(f16(0.0), f16(1.0), e / 16u == e % 16u); }
  workgroupBarrier();
  ${c.after ?? ''}
  let fl = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, ${c.rowMajor ? 'sg * 16u * 72u' : 'sg * 16u'}, ${c.rowMajor ? 'false' : 'true'}, ${stride}u);
  let fr = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wi, 0u, false, 16u);
  var acc = subgroup_matrix_result<f32, 16, 16>();
  acc = subgroupMatrixMultiplyAccumulate(fl, fr, acc);
  subgroupMatrixStore(&O, sg * 256u, acc, false, 16u);
  ${readFlag}
  if (lid == 0u) { O[1024u] = f32(f); }
}`;
  const got = await runOneWorkgroup(name, code, src, new Float32Array(1200).fill(Number.NaN), 1025);
  if (!got) continue;
  // Column-major: element (a, b) of subgroup s's fragment is A[16 s + b*64 + a] (A is 64 x 64
  // row-major, the fragment its transpose's rows 16 s..); row-major: A[(16 s + a) * 64 + b].
  const want = (i) => {
    const s = Math.floor(i / 256); const a = Math.floor((i % 256) / 16); const b = i % 16;
    return src[c.rowMajor ? (16 * s + a) * 64 + b : 16 * s + b * 64 + a];
  };
  const wrong = [];
  for (let i = 0; i < 1024; i++) if (got[i] !== want(i)) wrong.push(i);
  const show = wrong.slice(0, 4).map((i) => `sg ${Math.floor(i / 256)} (${Math.floor((i % 256) / 16)},${i % 16}) got index ${got[i] + 1024} want ${want(i) + 1024}`);
  console.log(`${name}: ${wrong.length ? `WRONG ${wrong.length} of 1024: ${show.join('; ')}` : 'right'}; flag ${got[1024]}`);
}
device.destroy();
