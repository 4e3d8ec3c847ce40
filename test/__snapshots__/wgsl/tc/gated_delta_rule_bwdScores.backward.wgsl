enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
// lae kernel 'gated_delta_rule_bwdScores' (bwdScores) for variant 'gated_delta_rule'
// spec hash f24d6bf0f465f5b6; config {"K":128,"V":128,"chunk":64,"fragments":"subgroup-matrix","unverifiedFragments":true,"wgMemory":49152}; tiles {"KP":128,"VP":128,"outBV":128,"prepSlab":32,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=scalar correction=delta bonus=none state=kv

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> b_aqk: array<f32>;
@group(0) @binding(2) var<storage, read> in_q: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> in_k: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> b_gcum: array<f32>;

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

fn role_q(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_q[((((b) * P.T + t) * P.H + h) * KD + j) >> 2u][((((b) * P.T + t) * P.H + h) * KD + j) & 3u]; }
fn role_k(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_k[((((b) * P.T + t) * P.H + h) * KD + j) >> 2u][((((b) * P.T + t) * P.H + h) * KD + j) & 3u]; }
fn role4_q(b: u32, t: u32, h: u32, j: u32) -> vec4<f32> { return in_q[((((b) * P.T + t) * P.H + h) * KD + j) >> 2u]; }
fn role4_k(b: u32, t: u32, h: u32, j: u32) -> vec4<f32> { return in_k[((((b) * P.T + t) * P.H + h) * KD + j) >> 2u]; }
fn gcs(b: u32, h: u32, t: u32, d: u32) -> f32 { return b_gcum[((b * P.H + h) * P.T + t) * DG]; }
fn gq(b: u32, h: u32, t: u32, t0: u32, d: u32) -> f32 { return gcs(b, h, t, d); }

var<workgroup> wh: array<f16, 4096>;
var<workgroup> wf: array<f32, 1152>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let n = wid.x;
  let bh = wid.y;
  let b = bh / P.H;
  let h = bh % P.H;
  let t0 = n * C;
  let rows = min(C, P.T - t0);
  
  {
  let fsr = sg / 2u;
  let fsc = sg % 2u;
  let factive = sg < 4u;
  var sc_0_0 = subgroup_matrix_result<f32, 16, 16>();
  var sc_0_1 = subgroup_matrix_result<f32, 16, 16>();
  var sc_1_0 = subgroup_matrix_result<f32, 16, 16>();
  var sc_1_1 = subgroup_matrix_result<f32, 16, 16>();
  for (var i = lid; i < C; i += WG) {
    let t = t0 + min(i, rows - 1u);
    wf[1024u + i] = gq(b, h, t, t0, 0u);
    wf[1088u + i] = gcs(b, h, t, 0u);
  }
  for (var d0 = 0u; d0 < KD; d0 += 32u) {
    {
      var x_v: array<vec4<f32>, (((C * 32u) / 4u) + WG - 1u) / WG>;
      for (var stg = 0u; stg < (((C * 32u) / 4u) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, ((C * 32u) / 4u) - 1u) * 4u;
        let t = t0 + min(e / 32u, rows - 1u); let d = min(d0 + e % 32u, KD - 4u);
        x_v[stg] = role4_q(b, t, h, d);
      }
      for (var stg = 0u; stg < (((C * 32u) / 4u) + WG - 1u) / WG; stg++) {
        let e4 = lid + stg * WG;
        if (e4 < ((C * 32u) / 4u)) {
          let e = e4 * 4u;
          
          let valid = e / 32u < rows && d0 + e % 32u < KD;
          { let hv = vec4<f16>(select(vec4<f32>(0.0), x_v[stg], valid)); wh[0u + e] = hv.x; wh[0u + e + 1u] = hv.y; wh[0u + e + 2u] = hv.z; wh[0u + e + 3u] = hv.w; }
        }
      }
    }
    {
      var x_v: array<vec4<f32>, (((C * 32u) / 4u) + WG - 1u) / WG>;
      for (var stg = 0u; stg < (((C * 32u) / 4u) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, ((C * 32u) / 4u) - 1u) * 4u;
        let t = t0 + min(e / 32u, rows - 1u); let d = min(d0 + e % 32u, KD - 4u);
        x_v[stg] = role4_k(b, t, h, d);
      }
      for (var stg = 0u; stg < (((C * 32u) / 4u) + WG - 1u) / WG; stg++) {
        let e4 = lid + stg * WG;
        if (e4 < ((C * 32u) / 4u)) {
          let e = e4 * 4u;
          
          let valid = e / 32u < rows && d0 + e % 32u < KD;
          { let hv = vec4<f16>(select(vec4<f32>(0.0), x_v[stg], valid)); wh[2048u + e] = hv.x; wh[2048u + e + 1u] = hv.y; wh[2048u + e + 2u] = hv.z; wh[2048u + e + 3u] = hv.w; }
        }
      }
    }
    workgroupBarrier();
    if (factive) {
      for (var kk = 0u; kk < 32u; kk += 16u) {
        {
      let fl0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, 0u + fsr * 1024u + kk, false, 32u);
      let fl1 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, 0u + (fsr * 2u + 1u) * 512u + kk, false, 32u);
      let fr0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wh, 2048u + fsc * 1024u + kk, true, 32u);
      let fr1 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wh, 2048u + (fsc * 2u + 1u) * 512u + kk, true, 32u);
      if (fsr * 2u >= fsc * 2u) { sc_0_0 = subgroupMatrixMultiplyAccumulate(fl0, fr0, sc_0_0); }
      if (fsr * 2u >= fsc * 2u + 1u) { sc_0_1 = subgroupMatrixMultiplyAccumulate(fl0, fr1, sc_0_1); }
      if (fsr * 2u + 1u >= fsc * 2u) { sc_1_0 = subgroupMatrixMultiplyAccumulate(fl1, fr0, sc_1_0); }
      if (fsr * 2u + 1u >= fsc * 2u + 1u) { sc_1_1 = subgroupMatrixMultiplyAccumulate(fl1, fr1, sc_1_1); }
    }
      }
    }
    workgroupBarrier();
  }
  if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, sc_0_0, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = fsr * 32u + el / 16u;
      let c = fsc * 32u + el % 16u;
      let slot = 0u + x;
      let value = wf[0u + sg * 256u + el];
      var a = 0.0;
      if (c <= r && r < rows) { a = value * P.scale * exp2(wf[1024u + r] - wf[1088u + c]); }
      b_aqk[(bh * P.NT + n) * C * C + (r) * C + c] = a;
    }
  }
  workgroupBarrier();
  if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, sc_0_1, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = fsr * 32u + el / 16u;
      let c = (fsc * 2u + 1u) * 16u + el % 16u;
      let slot = 8u + x;
      let value = wf[0u + sg * 256u + el];
      var a = 0.0;
      if (c <= r && r < rows) { a = value * P.scale * exp2(wf[1024u + r] - wf[1088u + c]); }
      b_aqk[(bh * P.NT + n) * C * C + (r) * C + c] = a;
    }
  }
  workgroupBarrier();
  if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, sc_1_0, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = (fsr * 2u + 1u) * 16u + el / 16u;
      let c = fsc * 32u + el % 16u;
      let slot = 16u + x;
      let value = wf[0u + sg * 256u + el];
      var a = 0.0;
      if (c <= r && r < rows) { a = value * P.scale * exp2(wf[1024u + r] - wf[1088u + c]); }
      b_aqk[(bh * P.NT + n) * C * C + (r) * C + c] = a;
    }
  }
  workgroupBarrier();
  if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, sc_1_1, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = (fsr * 2u + 1u) * 16u + el / 16u;
      let c = (fsc * 2u + 1u) * 16u + el % 16u;
      let slot = 24u + x;
      let value = wf[0u + sg * 256u + el];
      var a = 0.0;
      if (c <= r && r < rows) { a = value * P.scale * exp2(wf[1024u + r] - wf[1088u + c]); }
      b_aqk[(bh * P.NT + n) * C * C + (r) * C + c] = a;
    }
  }
  workgroupBarrier();
}
}
