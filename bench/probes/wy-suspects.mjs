// Probe of the two primitives the fused wyDk/wyX2 (codegen/kernels/tc-bwd-wy.ts) added when it
// went wrong on the H200's subgroup matrices (2026-12-02, bench/RESULTS.md, third session):
//   colmajor: a left f16 fragment loaded column-major from workgroup memory at stride 64 (and
//     128, the form bwdScan uses and that is right), times the identity, stored;
//   branch: the same product and store inside the else-branch of an if on a
//     workgroupUniformLoad flag, with and without a barrier-separated epilogue inside it.
// Outcome (2026-12-02, raw/h200-2026-12-02-s4-wy-suspects.txt): every case at stride 64 wrong,
// but not for either suspect: the one-word `flag` beside the f16 tile misaligns it
// (flag-forms.mjs). Each case runs one workgroup of 4 subgroups, each computing one 16 x 16 fragment, and compares
// with the host's result. Run on the device machine from the project root after
// .gpu-kit/enter.sh. One line per case; exits 0.
import { device, HDR, runOneWorkgroup } from './probe-device.mjs';

// A: S x S f16 matrix in workgroup memory, row-major (A[r][c] at r*S + c). Subgroup sg computes
// the fragment L = A^T restricted to rows 16 sg.., columns 0..15 (loaded column-major: element
// (a, b) of L at offset + b*S + a, offset = 16 sg), times I, and stores it to O[sg*256 ..].
const cases = [];
for (const S of [64, 128]) for (const form of ['plain', 'branch', 'branch+epilogue']) cases.push({ S, form });
for (const { S, form } of cases) {
  const src = Float32Array.from({ length: S * S }, (_, i) => Math.round(64 * Math.sin(0.37 * i)) / 64);
  const product = `let fl = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, sg * 16u, true, ${S}u);
    let fr = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wi, 0u, false, 16u);
    var acc = subgroup_matrix_result<f32, 16, 16>();
    acc = subgroupMatrixMultiplyAccumulate(fl, fr, acc);`;
  const direct = `subgroupMatrixStore(&O, sg * 256u, acc, false, 16u);`;
  const epilogue = `subgroupMatrixStore(&wf, sg * 256u, acc, false, 16u);
    workgroupBarrier();
    for (var x = 0u; x < 8u; x++) { let el = lane + 32u * x; O[sg * 256u + el] = wf[sg * 256u + el]; }
    workgroupBarrier();`;
  const body = form === 'plain' ? `${product}\n  ${direct}` : `${product}
  if (workgroupUniformLoad(&flag[0]) != 0u) {
    for (var x = 0u; x < 8u; x++) { O[sg * 256u + lane + 32u * x] = -1.0; }
  } else {
    ${form === 'branch' ? direct : epilogue}
  }`;
  const code = `${HDR}
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read_write> O: array<f32>;
var<workgroup> wh: array<f16, ${S * S}>;
var<workgroup> wi: array<f16, 256>;
var<workgroup> wf: array<f32, 1024>;
var<workgroup> flag: array<u32, 1>;
@compute @workgroup_size(128)
fn main(@builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32, @builtin(local_invocation_index) lid: u32) {
  if (lid == 0u) { flag[0] = 0u; }
  for (var e = lid; e < ${S * S}u; e += 128u) { wh[e] = f16(A[e]); }
  for (var e = lid; e < 256u; e += 128u) { wi[e] = select(f16(0.0), f16(1.0), e / 16u == e % 16u); }
  workgroupBarrier();
  for (var e = lid; e < 256u; e += 128u) { if (bitcast<u32>(f32(wh[e])) == 0x7fc00000u) { flag[0] = 1u; } }
  ${body}
}`;
  const label = `${form} colMajor left stride ${S}`;
  const got = await runOneWorkgroup(label, code, src, new Float32Array(1024).fill(Number.NaN), 1024);
  if (!got) continue;
  let bad = 0; let first = -1;
  // O[sg*256 + a*16 + b] = L[16 sg + a][b] = A[b][16 sg + a].
  const want = (i) => { const sg = Math.floor(i / 256); const a = Math.floor((i % 256) / 16); const b = i % 16; return src[b * S + 16 * sg + a]; };
  for (let i = 0; i < 1024; i++) if (!(Math.abs(got[i] - want(i)) <= 1e-3)) { bad++; if (first < 0) first = i; }
  console.log(`${label}: ${bad ? `WRONG ${bad} of 1024 (first at ${first}: got ${got[first]}, want ${want(first)})` : 'right'}`);
}
device.destroy();
