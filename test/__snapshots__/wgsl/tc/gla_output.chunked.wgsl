enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
// lae kernel 'gla_output' (output) for variant 'gla'
// spec hash 4f7810925b4783ac; config {"K":128,"V":128,"chunk":64,"fragments":"subgroup-matrix","unverifiedFragments":true,"wgMemory":49152}; tiles {"KP":128,"VP":128,"outBV":128,"prepSlab":16,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=diagonal correction=none bonus=none state=kv

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> in_q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b_gcum: array<f32>;
@group(0) @binding(3) var<storage, read> b_hs: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> b_o: array<f32>;
@group(0) @binding(5) var<storage, read> in_v: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> b_aqk16: array<f16>;

const C: u32 = 64u;
const KD: u32 = 128u;
const VD: u32 = 128u;
const KP: u32 = 128u;
const VP: u32 = 128u;
const DG: u32 = 128u;
const WG: u32 = 128u;
const WG_X: u32 = 128u;
const LOG2E: f32 = 1.4426950408889634;

fn lae_sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn lae_softplus(x: f32) -> f32 { return select(log(1.0 + exp(x)), x, x > 20.0); }
fn lae_silu(x: f32) -> f32 { return x * lae_sigmoid(x); }

fn role_q(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_q[((((b) * P.T + t) * P.H + h) * KD + j) >> 2u][((((b) * P.T + t) * P.H + h) * KD + j) & 3u]; }
fn role_v(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_v[((((b) * P.T + t) * P.H + h) * VD + j) >> 2u][((((b) * P.T + t) * P.H + h) * VD + j) & 3u]; }
fn role4_q(b: u32, t: u32, h: u32, j: u32) -> vec4<f32> { return in_q[((((b) * P.T + t) * P.H + h) * KD + j) >> 2u]; }
fn gcs(b: u32, h: u32, t: u32, d: u32) -> f32 { return b_gcum[((b * P.H + h) * P.T + t) * DG + d]; }
fn gq(b: u32, h: u32, t: u32, t0: u32, d: u32) -> f32 { return gcs(b, h, t, d); }
fn role4_v(b: u32, t: u32, h: u32, j: u32) -> vec4<f32> { return in_v[((((b) * P.T + t) * P.H + h) * VD + j) >> 2u]; }
fn lae_nan() -> f32 { var bits = 0x7fc00000u; return bitcast<f32>(bits); }

var<workgroup> wh: array<f16, 6144>;
var<workgroup> wf: array<f32, 1024>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let n = wid.y;
  let bh = wid.z;
  let b = bh / P.H;
  let h = bh % P.H;
  let t0 = n * C;
  let rows = min(C, P.T - t0);
  let vt = wid.x;
  
  let v0 = vt * 128u;
  
  let fsr = sg / 4u;
  let fsc = sg % 4u;
  let factive = sg < 4u;
  var oa_0_0 = subgroup_matrix_result<f32, 16, 16>();
  var oa_0_1 = subgroup_matrix_result<f32, 16, 16>();
  var oa_1_0 = subgroup_matrix_result<f32, 16, 16>();
  var oa_1_1 = subgroup_matrix_result<f32, 16, 16>();
  var oa_2_0 = subgroup_matrix_result<f32, 16, 16>();
  var oa_2_1 = subgroup_matrix_result<f32, 16, 16>();
  var oa_3_0 = subgroup_matrix_result<f32, 16, 16>();
  var oa_3_1 = subgroup_matrix_result<f32, 16, 16>();
  for (var d0 = 0u; d0 < KD; d0 += 32u) {
    {
      var x_v: array<vec4<f32>, (((C * 32u) / 4u) + WG - 1u) / WG>;
      for (var stg = 0u; stg < (((C * 32u) / 4u) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, ((C * 32u) / 4u) - 1u) * 4u;
        let t = t0 + min(e / 32u, rows - 1u); let d = min(d0 + e % 32u, KD - 4u);
        x_v[stg] = P.scale * role4_q(b, t, h, d) * exp2(vec4<f32>(gq(b, h, t, t0, d), gq(b, h, t, t0, d + 1u), gq(b, h, t, t0, d + 2u), gq(b, h, t, t0, d + 3u)));
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
      var x_v: array<vec4<f32>, (((4096u) / 4u) + WG - 1u) / WG>;
      for (var stg = 0u; stg < (((4096u) / 4u) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, ((4096u) / 4u) - 1u) * 4u;
        let d = min(d0 + e / 128u, KD - 1u); let cg = min(v0 + e % 128u, VD - 4u);
        x_v[stg] = b_hs[(((bh * P.NT + n) * KD + d) * VD + cg) >> 2u];
      }
      for (var stg = 0u; stg < (((4096u) / 4u) + WG - 1u) / WG; stg++) {
        let e4 = lid + stg * WG;
        if (e4 < ((4096u) / 4u)) {
          let e = e4 * 4u;
          
          let valid = d0 + e / 128u < KD && v0 + e % 128u < VD;
          { let hv = vec4<f16>(select(vec4<f32>(0.0), x_v[stg], valid)); wh[2048u + e] = hv.x; wh[2048u + e + 1u] = hv.y; wh[2048u + e + 2u] = hv.z; wh[2048u + e + 3u] = hv.w; }
        }
      }
    }
    workgroupBarrier();
    if (factive) {
      for (var kk = 0u; kk < 32u; kk += 16u) {
        {
      let fl0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, 0u + fsr * 2048u + kk, false, 32u);
      let fl1 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, 0u + (fsr * 4u + 1u) * 512u + kk, false, 32u);
      let fl2 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, 0u + (fsr * 4u + 2u) * 512u + kk, false, 32u);
      let fl3 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, 0u + (fsr * 4u + 3u) * 512u + kk, false, 32u);
      let fr0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wh, 2048u + kk * 128u + fsc * 32u, false, 128u);
      let fr1 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wh, 2048u + kk * 128u + (fsc * 2u + 1u) * 16u, false, 128u);
      oa_0_0 = subgroupMatrixMultiplyAccumulate(fl0, fr0, oa_0_0);
      oa_0_1 = subgroupMatrixMultiplyAccumulate(fl0, fr1, oa_0_1);
      oa_1_0 = subgroupMatrixMultiplyAccumulate(fl1, fr0, oa_1_0);
      oa_1_1 = subgroupMatrixMultiplyAccumulate(fl1, fr1, oa_1_1);
      oa_2_0 = subgroupMatrixMultiplyAccumulate(fl2, fr0, oa_2_0);
      oa_2_1 = subgroupMatrixMultiplyAccumulate(fl2, fr1, oa_2_1);
      oa_3_0 = subgroupMatrixMultiplyAccumulate(fl3, fr0, oa_3_0);
      oa_3_1 = subgroupMatrixMultiplyAccumulate(fl3, fr1, oa_3_1);
    }
      }
    }
    workgroupBarrier();
  }
  var firstBad = vec4<u32>(0xffffffffu);
  for (var r0 = 0u; r0 < rows; r0 += 32u) {
    {
      var x_v: array<vec4<f32>, (((4096u) / 4u) + WG - 1u) / WG>;
      for (var stg = 0u; stg < (((4096u) / 4u) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, ((4096u) / 4u) - 1u) * 4u;
        let t = t0 + min(r0 + e / 128u, rows - 1u); let cg = min(v0 + e % 128u, VD - 4u);
        x_v[stg] = role4_v(b, t, h, cg);
      }
      for (var stg = 0u; stg < (((4096u) / 4u) + WG - 1u) / WG; stg++) {
        let e4 = lid + stg * WG;
        if (e4 < ((4096u) / 4u)) {
          let e = e4 * 4u;
          
          let valid = r0 + e / 128u < rows && v0 + e % 128u < VD;
          {
          let xv = select(vec4<f32>(0.0), x_v[stg], valid);
          let bad = (bitcast<vec4<u32>>(xv) & vec4<u32>(0x7fffffffu)) > vec4<u32>(0x477fe000u);
          firstBad = select(firstBad, min(firstBad, vec4<u32>(r0 + e / 128u)), bad);
          { let hv = vec4<f16>(select(xv, vec4<f32>(0.0), bad)); wh[2048u + e] = hv.x; wh[2048u + e + 1u] = hv.y; wh[2048u + e + 2u] = hv.z; wh[2048u + e + 3u] = hv.w; }
        }
        }
      }
    }
    workgroupBarrier();
    if (factive) {
      for (var kk = 0u; kk < 32u; kk += 16u) {
        {
      let fl0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&b_aqk16, (bh * P.NT + n) * C * C + fsr * 4096u + r0 + kk, false, 64u);
      let fl1 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&b_aqk16, (bh * P.NT + n) * C * C + (fsr * 4u + 1u) * 1024u + r0 + kk, false, 64u);
      let fl2 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&b_aqk16, (bh * P.NT + n) * C * C + (fsr * 4u + 2u) * 1024u + r0 + kk, false, 64u);
      let fl3 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&b_aqk16, (bh * P.NT + n) * C * C + (fsr * 4u + 3u) * 1024u + r0 + kk, false, 64u);
      let fr0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wh, 2048u + kk * 128u + fsc * 32u, false, 128u);
      let fr1 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wh, 2048u + kk * 128u + (fsc * 2u + 1u) * 16u, false, 128u);
      if ((r0 + kk) / 16u <= fsr * 4u) { oa_0_0 = subgroupMatrixMultiplyAccumulate(fl0, fr0, oa_0_0); }
      if ((r0 + kk) / 16u <= fsr * 4u) { oa_0_1 = subgroupMatrixMultiplyAccumulate(fl0, fr1, oa_0_1); }
      if ((r0 + kk) / 16u <= fsr * 4u + 1u) { oa_1_0 = subgroupMatrixMultiplyAccumulate(fl1, fr0, oa_1_0); }
      if ((r0 + kk) / 16u <= fsr * 4u + 1u) { oa_1_1 = subgroupMatrixMultiplyAccumulate(fl1, fr1, oa_1_1); }
      if ((r0 + kk) / 16u <= fsr * 4u + 2u) { oa_2_0 = subgroupMatrixMultiplyAccumulate(fl2, fr0, oa_2_0); }
      if ((r0 + kk) / 16u <= fsr * 4u + 2u) { oa_2_1 = subgroupMatrixMultiplyAccumulate(fl2, fr1, oa_2_1); }
      if ((r0 + kk) / 16u <= fsr * 4u + 3u) { oa_3_0 = subgroupMatrixMultiplyAccumulate(fl3, fr0, oa_3_0); }
      if ((r0 + kk) / 16u <= fsr * 4u + 3u) { oa_3_1 = subgroupMatrixMultiplyAccumulate(fl3, fr1, oa_3_1); }
    }
      }
    }
    workgroupBarrier();
  }
  if (rows == C && v0 + 128u <= VD) {
    if (factive) {
    subgroupMatrixStore(&b_o, ((b * P.T + t0 + fsr * 64u) * P.H + h) * VD + v0 + fsc * 32u, oa_0_0, false, P.H * VD);
    subgroupMatrixStore(&b_o, ((b * P.T + t0 + fsr * 64u) * P.H + h) * VD + v0 + (fsc * 2u + 1u) * 16u, oa_0_1, false, P.H * VD);
    subgroupMatrixStore(&b_o, ((b * P.T + t0 + (fsr * 4u + 1u) * 16u) * P.H + h) * VD + v0 + fsc * 32u, oa_1_0, false, P.H * VD);
    subgroupMatrixStore(&b_o, ((b * P.T + t0 + (fsr * 4u + 1u) * 16u) * P.H + h) * VD + v0 + (fsc * 2u + 1u) * 16u, oa_1_1, false, P.H * VD);
    subgroupMatrixStore(&b_o, ((b * P.T + t0 + (fsr * 4u + 2u) * 16u) * P.H + h) * VD + v0 + fsc * 32u, oa_2_0, false, P.H * VD);
    subgroupMatrixStore(&b_o, ((b * P.T + t0 + (fsr * 4u + 2u) * 16u) * P.H + h) * VD + v0 + (fsc * 2u + 1u) * 16u, oa_2_1, false, P.H * VD);
    subgroupMatrixStore(&b_o, ((b * P.T + t0 + (fsr * 4u + 3u) * 16u) * P.H + h) * VD + v0 + fsc * 32u, oa_3_0, false, P.H * VD);
    subgroupMatrixStore(&b_o, ((b * P.T + t0 + (fsr * 4u + 3u) * 16u) * P.H + h) * VD + v0 + (fsc * 2u + 1u) * 16u, oa_3_1, false, P.H * VD);
  }
  } else {
    if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, oa_0_0, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = fsr * 64u + el / 16u;
      let c = fsc * 32u + el % 16u;
      let slot = 0u + x;
      let value = wf[0u + sg * 256u + el];
      let cg = v0 + c;
      if (r < rows && cg < VD) {
        let t = t0 + r;
        let pre = value;
        b_o[((b * P.T + t) * P.H + h) * VD + cg] = pre;
      }
    }
  }
  workgroupBarrier();
  if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, oa_0_1, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = fsr * 64u + el / 16u;
      let c = (fsc * 2u + 1u) * 16u + el % 16u;
      let slot = 8u + x;
      let value = wf[0u + sg * 256u + el];
      let cg = v0 + c;
      if (r < rows && cg < VD) {
        let t = t0 + r;
        let pre = value;
        b_o[((b * P.T + t) * P.H + h) * VD + cg] = pre;
      }
    }
  }
  workgroupBarrier();
  if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, oa_1_0, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = (fsr * 4u + 1u) * 16u + el / 16u;
      let c = fsc * 32u + el % 16u;
      let slot = 16u + x;
      let value = wf[0u + sg * 256u + el];
      let cg = v0 + c;
      if (r < rows && cg < VD) {
        let t = t0 + r;
        let pre = value;
        b_o[((b * P.T + t) * P.H + h) * VD + cg] = pre;
      }
    }
  }
  workgroupBarrier();
  if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, oa_1_1, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = (fsr * 4u + 1u) * 16u + el / 16u;
      let c = (fsc * 2u + 1u) * 16u + el % 16u;
      let slot = 24u + x;
      let value = wf[0u + sg * 256u + el];
      let cg = v0 + c;
      if (r < rows && cg < VD) {
        let t = t0 + r;
        let pre = value;
        b_o[((b * P.T + t) * P.H + h) * VD + cg] = pre;
      }
    }
  }
  workgroupBarrier();
  if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, oa_2_0, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = (fsr * 4u + 2u) * 16u + el / 16u;
      let c = fsc * 32u + el % 16u;
      let slot = 32u + x;
      let value = wf[0u + sg * 256u + el];
      let cg = v0 + c;
      if (r < rows && cg < VD) {
        let t = t0 + r;
        let pre = value;
        b_o[((b * P.T + t) * P.H + h) * VD + cg] = pre;
      }
    }
  }
  workgroupBarrier();
  if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, oa_2_1, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = (fsr * 4u + 2u) * 16u + el / 16u;
      let c = (fsc * 2u + 1u) * 16u + el % 16u;
      let slot = 40u + x;
      let value = wf[0u + sg * 256u + el];
      let cg = v0 + c;
      if (r < rows && cg < VD) {
        let t = t0 + r;
        let pre = value;
        b_o[((b * P.T + t) * P.H + h) * VD + cg] = pre;
      }
    }
  }
  workgroupBarrier();
  if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, oa_3_0, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = (fsr * 4u + 3u) * 16u + el / 16u;
      let c = fsc * 32u + el % 16u;
      let slot = 48u + x;
      let value = wf[0u + sg * 256u + el];
      let cg = v0 + c;
      if (r < rows && cg < VD) {
        let t = t0 + r;
        let pre = value;
        b_o[((b * P.T + t) * P.H + h) * VD + cg] = pre;
      }
    }
  }
  workgroupBarrier();
  if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, oa_3_1, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = (fsr * 4u + 3u) * 16u + el / 16u;
      let c = (fsc * 2u + 1u) * 16u + el % 16u;
      let slot = 56u + x;
      let value = wf[0u + sg * 256u + el];
      let cg = v0 + c;
      if (r < rows && cg < VD) {
        let t = t0 + r;
        let pre = value;
        b_o[((b * P.T + t) * P.H + h) * VD + cg] = pre;
      }
    }
  }
  workgroupBarrier();
  }
  // A value row that was not finite (staged as 0) reaches o from its row on, as in the recurrence.
  storageBarrier();
  for (var stg = 0u; stg < 1u; stg++) {
    let e = (lid + stg * WG) * 4u;
    if (e < (4096u)) {
      for (var q = 0u; q < 4u; q++) { let colq = e % 128u + q; for (var r = firstBad[q]; r < rows; r++) { if (v0 + colq < VD) {
        b_o[((b * P.T + t0 + r) * P.H + h) * VD + v0 + colq] = lae_nan();
      } } }
    }
  }
}
