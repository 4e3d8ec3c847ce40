enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
// lae kernel 'gated_delta_rule_wyDv' (wyDv) for variant 'gated_delta_rule'
// spec hash f24d6bf0f465f5b6; config {"K":128,"V":128,"chunk":64,"fragments":"subgroup-matrix","unverifiedFragments":true,"wgMemory":49152}; tiles {"KP":128,"VP":128,"outBV":128,"prepSlab":32,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=scalar correction=delta bonus=none state=kv

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> b_dU: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> b_X1: array<f32>;
@group(0) @binding(3) var<storage, read_write> b_grad_v: array<f32>;
@group(0) @binding(4) var<storage, read> in_beta: array<f32>;
@group(0) @binding(5) var<storage, read> b_t16: array<f16>;

const C: u32 = 64u;
const KD: u32 = 128u;
const VD: u32 = 128u;
const KP: u32 = 128u;
const VP: u32 = 128u;
const DG: u32 = 1u;
const WG: u32 = 128u;
const WG_X: u32 = 128u;
const LOG2E: f32 = 1.4426950408889634;

fn lae_sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn lae_softplus(x: f32) -> f32 { return select(log(1.0 + exp(x)), x, x > 20.0); }
fn lae_silu(x: f32) -> f32 { return x * lae_sigmoid(x); }

fn role_beta(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_beta[((b) * P.T + t) * P.H + h]; }
fn lae_nan() -> f32 { var bits = 0x7fc00000u; return bitcast<f32>(bits); }

var<workgroup> wh: array<f16, 4096>;
var<workgroup> wf: array<f32, 1024>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let n = wid.y;
  let bh = wid.z;
  let b = bh / P.H;
  let h = bh % P.H;
  let t0 = n * C;
  let rows = min(C, P.T - t0);
  
  let v0 = wid.x * 64u;
  let fsr = sg / 2u;
  let fsc = sg % 2u;
  let factive = sg < 4u;
  var lt_0_0 = subgroup_matrix_result<f32, 16, 16>();
  var lt_0_1 = subgroup_matrix_result<f32, 16, 16>();
  var lt_1_0 = subgroup_matrix_result<f32, 16, 16>();
  var lt_1_1 = subgroup_matrix_result<f32, 16, 16>();
  
  var badEnd = vec4<u32>(0u);
  {
      var x_v: array<vec4<f32>, (((C * 64u) / 4u) + WG - 1u) / WG>;
      for (var stg = 0u; stg < (((C * 64u) / 4u) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, ((C * 64u) / 4u) - 1u) * 4u;
        let t = t0 + min(e / 64u, rows - 1u); let cg = min(v0 + e % 64u, VD - 4u);
        x_v[stg] = b_dU[(bh * P.T * VD + t * VD + cg) >> 2u];
      }
      for (var stg = 0u; stg < (((C * 64u) / 4u) + WG - 1u) / WG; stg++) {
        let e4 = lid + stg * WG;
        if (e4 < ((C * 64u) / 4u)) {
          let e = e4 * 4u;
          
          let valid = e / 64u < rows && v0 + e % 64u < VD;
          {
          let xv = select(vec4<f32>(0.0), x_v[stg], valid);
          let bad = (bitcast<vec4<u32>>(xv) & vec4<u32>(0x7fffffffu)) > vec4<u32>(0x477fe000u);
          badEnd = select(badEnd, max(badEnd, vec4<u32>(e / 64u) + 1u), bad);
          { let hv = vec4<f16>(select(xv, vec4<f32>(0.0), bad)); wh[0u + e] = hv.x; wh[0u + e + 1u] = hv.y; wh[0u + e + 2u] = hv.z; wh[0u + e + 3u] = hv.w; }
        }
        }
      }
    }
  workgroupBarrier();
  if (factive) {
    for (var kk = 0u; kk < C; kk += 16u) {
      {
      let fl0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&b_t16, (bh * P.NT + n) * C * C + kk * C + fsr * 32u, true, 64u);
      let fl1 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&b_t16, (bh * P.NT + n) * C * C + kk * C + (fsr * 2u + 1u) * 16u, true, 64u);
      let fr0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wh, 0u + kk * 64u + fsc * 32u, false, 64u);
      let fr1 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wh, 0u + kk * 64u + (fsc * 2u + 1u) * 16u, false, 64u);
      if (kk / 16u >= fsr * 2u) { lt_0_0 = subgroupMatrixMultiplyAccumulate(fl0, fr0, lt_0_0); }
      if (kk / 16u >= fsr * 2u) { lt_0_1 = subgroupMatrixMultiplyAccumulate(fl0, fr1, lt_0_1); }
      if (kk / 16u >= fsr * 2u + 1u) { lt_1_0 = subgroupMatrixMultiplyAccumulate(fl1, fr0, lt_1_0); }
      if (kk / 16u >= fsr * 2u + 1u) { lt_1_1 = subgroupMatrixMultiplyAccumulate(fl1, fr1, lt_1_1); }
    }
    }
  }
  workgroupBarrier();
  if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, lt_0_0, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = fsr * 32u + el / 16u;
      let c = fsc * 32u + el % 16u;
      let slot = 0u + x;
      let value = wf[0u + sg * 256u + el];
      if (r < rows && v0 + c < VD) { b_X1[(bh * P.T + t0 + r) * VD + v0 + c] = value;
        b_grad_v[((b * P.T + t0 + r) * P.H + h) * VD + v0 + c] = role_beta(b, t0 + r, h, 0u) * value; }
    }
  }
  workgroupBarrier();
  if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, lt_0_1, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = fsr * 32u + el / 16u;
      let c = (fsc * 2u + 1u) * 16u + el % 16u;
      let slot = 8u + x;
      let value = wf[0u + sg * 256u + el];
      if (r < rows && v0 + c < VD) { b_X1[(bh * P.T + t0 + r) * VD + v0 + c] = value;
        b_grad_v[((b * P.T + t0 + r) * P.H + h) * VD + v0 + c] = role_beta(b, t0 + r, h, 0u) * value; }
    }
  }
  workgroupBarrier();
  if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, lt_1_0, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = (fsr * 2u + 1u) * 16u + el / 16u;
      let c = fsc * 32u + el % 16u;
      let slot = 16u + x;
      let value = wf[0u + sg * 256u + el];
      if (r < rows && v0 + c < VD) { b_X1[(bh * P.T + t0 + r) * VD + v0 + c] = value;
        b_grad_v[((b * P.T + t0 + r) * P.H + h) * VD + v0 + c] = role_beta(b, t0 + r, h, 0u) * value; }
    }
  }
  workgroupBarrier();
  if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, lt_1_1, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = (fsr * 2u + 1u) * 16u + el / 16u;
      let c = (fsc * 2u + 1u) * 16u + el % 16u;
      let slot = 24u + x;
      let value = wf[0u + sg * 256u + el];
      if (r < rows && v0 + c < VD) { b_X1[(bh * P.T + t0 + r) * VD + v0 + c] = value;
        b_grad_v[((b * P.T + t0 + r) * P.H + h) * VD + v0 + c] = role_beta(b, t0 + r, h, 0u) * value; }
    }
  }
  workgroupBarrier();
  // A row of R that was not finite (staged as 0) reaches the output rows up to it.
  storageBarrier();
  for (var stg = 0u; stg < 1u; stg++) {
    let e = (lid + stg * WG) * 4u;
    if (e < (C * 64u)) {
      for (var q = 0u; q < 4u; q++) { let colq = e % 64u + q; for (var r = 0u; r < min(badEnd[q], rows); r++) { if (v0 + colq < VD) { b_X1[(bh * P.T + t0 + r) * VD + v0 + colq] = lae_nan();
        b_grad_v[((b * P.T + t0 + r) * P.H + h) * VD + v0 + colq] = lae_nan(); } } }
    }
  }
}
