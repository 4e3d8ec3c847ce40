// Probe of column-major subgroup-matrix loads from workgroup memory, after wy-suspects.mjs found
// a left f16 fragment loaded column-major at stride 64 wrong on the H200 (2026-12-02) while the
// kernels that load column-major at stride 128 are right. Per stride, operand (left or right)
// and first-column offset: one subgroup loads a 16 x 16 f16 fragment column-major from an
// S x S array whose element e holds e - 1024 (exact in f16 over the region read), multiplies it
// by the identity on the other side, stores the product row-major, and compares with the host;
// a wrong case prints the first wrong elements as the array index each got. Run on the device
// machine after .gpu-kit/enter.sh. One line per case; exits 0.
import { device, HDR, runOneWorkgroup } from './probe-device.mjs';

for (const S of [16, 32, 48, 64, 72, 80, 96, 128, 136]) {
  for (const side of ['left', 'right']) {
    for (const offset of [0, 16]) {
      if (offset + 16 > S) continue;
      const n = S * S;
      const src = Float32Array.from({ length: n }, (_, e) => (e < 3072 ? e - 1024 : 0));
      const load = `subgroupMatrixLoad<subgroup_matrix_${side}<f16, 16, 16>>(&wh, ${offset}u, true, ${S}u)`;
      const eye = `subgroupMatrixLoad<subgroup_matrix_${side === 'left' ? 'right' : 'left'}<f16, 16, 16>>(&wi, 0u, false, 16u)`;
      const code = `${HDR}
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read_write> O: array<f32>;
var<workgroup> wh: array<f16, ${n}>;
var<workgroup> wi: array<f16, 256>;
@compute @workgroup_size(32)
fn main(@builtin(local_invocation_index) lid: u32) {
  for (var e = lid; e < ${n}u; e += 32u) { wh[e] = f16(A[e]); }
  for (var e = lid; e < 256u; e += 32u) { wi[e] = select(f16(0.0), f16(1.0), e / 16u == e % 16u); }
  workgroupBarrier();
  let m = ${load};
  let id = ${eye};
  var acc = subgroup_matrix_result<f32, 16, 16>();
  acc = subgroupMatrixMultiplyAccumulate(${side === 'left' ? 'm, id' : 'id, m'}, acc);
  subgroupMatrixStore(&O, 0u, acc, false, 16u);
}`;
      const label = `${side} colMajor stride ${S} offset ${offset}`;
      const got = await runOneWorkgroup(label, code, src, new Float32Array(256).fill(Number.NaN), 256);
      if (!got) continue;
      // Element (a, b) of the fragment sits at offset + b*S + a.
      const want = (i) => src[offset + (i % 16) * S + Math.floor(i / 16)];
      const wrong = [];
      for (let i = 0; i < 256; i++) if (got[i] !== want(i)) wrong.push(i);
      const show = wrong.slice(0, 6).map((i) => `(${Math.floor(i / 16)},${i % 16}) got index ${got[i] + 1024} want ${want(i) + 1024}`);
      console.log(`${label}: ${wrong.length ? `WRONG ${wrong.length} of 256: ${show.join('; ')}` : 'right'}`);
    }
  }
}
device.destroy();
