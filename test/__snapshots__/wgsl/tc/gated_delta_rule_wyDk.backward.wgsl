enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
// lae kernel 'gated_delta_rule_wyDk' (wyDk) for variant 'gated_delta_rule'
// spec hash f24d6bf0f465f5b6; config {"K":128,"V":128,"chunk":64,"fragments":"subgroup-matrix","unverifiedFragments":true,"wgMemory":49152}; tiles {"KP":128,"VP":128,"outBV":128,"prepSlab":32,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=scalar correction=delta bonus=none state=kv

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> b_tmat: array<f32>;
@group(0) @binding(2) var<storage, read> b_dinter: array<f32>;
@group(0) @binding(3) var<storage, read> in_k: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> b_dTA: array<f32>;
@group(0) @binding(5) var<storage, read_write> b_grad_k: array<f32>;
@group(0) @binding(6) var<storage, read_write> b_X2: array<f32>;
@group(0) @binding(7) var<storage, read_write> b_dbk: array<f32>;
@group(0) @binding(8) var<storage, read> b_pack_backward: array<u32>;

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

fn role_k(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_k[((((b) * P.T + t) * P.H + h) * KD + j) >> 2u][((((b) * P.T + t) * P.H + h) * KD + j) & 3u]; }
fn role_beta(b: u32, t: u32, h: u32, j: u32) -> f32 { return pk_in_beta(((b) * P.T + t) * P.H + h); }
fn tok(bh: u32, t: u32, x: u32, width: u32) -> u32 { return (bh * P.T + t) * width + x; }
fn dint(part: u32, i: u32) -> u32 { return part * (P.B * P.H * P.T * KD) + i; }
fn cc(bh: u32, n: u32, i: u32, j: u32) -> u32 { return ((bh * P.NT + n) * C + i) * C + j; }
fn gcs(b: u32, h: u32, t: u32, d: u32) -> f32 { return pk_b_gcum(((b * P.H + h) * P.T + t) * DG); }
fn gate(b: u32, h: u32, t: u32, d: u32) -> f32 { return gcs(b, h, t, d); }
fn role4_k(b: u32, t: u32, h: u32, j: u32) -> vec4<f32> { return in_k[((((b) * P.T + t) * P.H + h) * KD + j) >> 2u]; }
fn bth(b: u32, t: u32, h: u32, x: u32, width: u32) -> u32 { return ((b * P.T + t) * P.H + h) * width + x; }

var<workgroup> wh: array<f16, 8704>;
var<workgroup> wf: array<f32, 1152>;
var<workgroup> wy_bad_of: array<u32, WG>;
var<workgroup> wy_any: array<u32, 4>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let n = wid.y;
  let bh = wid.z;
  let b = bh / P.H;
  let h = bh % P.H;
  let t0 = n * C;
  let rows = min(C, P.T - t0);
  let kt = wid.x;
  
  let k0 = kt * 64u;
  let fsr = sg / 2u;
  let fsc = sg % 2u;
  let factive = sg < 4u;
  var wy_bad = false;
  for (var r = lid; r < C; r += WG) {
    let t = t0 + min(r, rows - 1u);
    wf[1024u + r] = gate(b, h, t, 0u);
    wf[1024u + C + r] = role_beta(b, t, h, 0u);
  }
  workgroupBarrier();
  {
    var qk_0_0 = subgroup_matrix_result<f32, 16, 16>();
  var qk_0_1 = subgroup_matrix_result<f32, 16, 16>();
  var qk_1_0 = subgroup_matrix_result<f32, 16, 16>();
  var qk_1_1 = subgroup_matrix_result<f32, 16, 16>();
    // Phase 1: Q = LQ K, parked in X2.
    {
      var x_v: array<f32, ((4096u) + WG - 1u) / WG>;
      for (var stg = 0u; stg < ((4096u) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, (4096u) - 1u);
        let i = min(e % C, rows - 1u); let r = min(e / C, rows - 1u);
        x_v[stg] = b_dTA[cc(bh, n, r, i)] * wf[1024u + C + r] * exp2(wf[1024u + r] - wf[1024u + i]);
      }
      for (var stg = 0u; stg < ((4096u) + WG - 1u) / WG; stg++) {
        let e = lid + stg * WG;
        if (e < (4096u)) {
          
          let valid = e % C < rows && e / C < rows && e / C > e % C;
          wh[0u + (e) % C * 72u + (e) / C] = f16(select(0.0, x_v[stg], valid));
        }
      }
    }
    {
      var x_v: array<vec4<f32>, (((4096u) / 4u) + WG - 1u) / WG>;
      for (var stg = 0u; stg < (((4096u) / 4u) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, ((4096u) / 4u) - 1u) * 4u;
        let rr = min(e / 64u, rows - 1u); let t = t0 + rr; let x = min(k0 + e % 64u, KD - 4u);
        x_v[stg] = role4_k(b, t, h, x);
      }
      for (var stg = 0u; stg < (((4096u) / 4u) + WG - 1u) / WG; stg++) {
        let e4 = lid + stg * WG;
        if (e4 < ((4096u) / 4u)) {
          let e = e4 * 4u;
          
          let valid = e / 64u < rows && k0 + e % 64u < KD;
          {
          let xv = select(vec4<f32>(0.0), x_v[stg], valid);
          wy_bad = wy_bad || any((bitcast<vec4<u32>>(xv) & vec4<u32>(0x7fffffffu)) > vec4<u32>(0x477fe000u));
          { let hv = vec4<f16>(xv); wh[4608u + e] = hv.x; wh[4608u + e + 1u] = hv.y; wh[4608u + e + 2u] = hv.z; wh[4608u + e + 3u] = hv.w; }
        }
        }
      }
    }
    workgroupBarrier();
    if (factive) {
      for (var kk = 0u; kk < C; kk += 16u) {
        {
      let fl0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, 0u + fsr * 32u * 72u + kk, false, 72u);
      let fl1 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, 0u + (fsr * 2u + 1u) * 16u * 72u + kk, false, 72u);
      let fr0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wh, 4608u + kk * 64u + fsc * 32u, false, 64u);
      let fr1 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wh, 4608u + kk * 64u + (fsc * 2u + 1u) * 16u, false, 64u);
      if (kk + 16u > fsr * 32u) { qk_0_0 = subgroupMatrixMultiplyAccumulate(fl0, fr0, qk_0_0); }
      if (kk + 16u > fsr * 32u) { qk_0_1 = subgroupMatrixMultiplyAccumulate(fl0, fr1, qk_0_1); }
      if (kk + 16u > (fsr * 2u + 1u) * 16u) { qk_1_0 = subgroupMatrixMultiplyAccumulate(fl1, fr0, qk_1_0); }
      if (kk + 16u > (fsr * 2u + 1u) * 16u) { qk_1_1 = subgroupMatrixMultiplyAccumulate(fl1, fr1, qk_1_1); }
    }
      }
    }
    if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, qk_0_0, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = fsr * 32u + el / 16u;
      let c = fsc * 32u + el % 16u;
      let slot = 0u + x;
      let value = wf[0u + sg * 256u + el];
      if (r < rows && k0 + c < KD) { b_X2[tok(bh, t0 + r, k0 + c, KD)] = value; }
    }
  }
  workgroupBarrier();
  if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, qk_0_1, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = fsr * 32u + el / 16u;
      let c = (fsc * 2u + 1u) * 16u + el % 16u;
      let slot = 8u + x;
      let value = wf[0u + sg * 256u + el];
      if (r < rows && k0 + c < KD) { b_X2[tok(bh, t0 + r, k0 + c, KD)] = value; }
    }
  }
  workgroupBarrier();
  if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, qk_1_0, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = (fsr * 2u + 1u) * 16u + el / 16u;
      let c = fsc * 32u + el % 16u;
      let slot = 16u + x;
      let value = wf[0u + sg * 256u + el];
      if (r < rows && k0 + c < KD) { b_X2[tok(bh, t0 + r, k0 + c, KD)] = value; }
    }
  }
  workgroupBarrier();
  if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, qk_1_1, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = (fsr * 2u + 1u) * 16u + el / 16u;
      let c = (fsc * 2u + 1u) * 16u + el % 16u;
      let slot = 24u + x;
      let value = wf[0u + sg * 256u + el];
      if (r < rows && k0 + c < KD) { b_X2[tok(bh, t0 + r, k0 + c, KD)] = value; }
    }
  }
  workgroupBarrier();
  }
  var pk_0_0 = subgroup_matrix_result<f32, 16, 16>();
  var pk_0_1 = subgroup_matrix_result<f32, 16, 16>();
  var pk_1_0 = subgroup_matrix_result<f32, 16, 16>();
  var pk_1_1 = subgroup_matrix_result<f32, 16, 16>();
  // Phase 2: P = LA K (K still staged).
  {
      var x_v: array<f32, ((4096u) + WG - 1u) / WG>;
      for (var stg = 0u; stg < ((4096u) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, (4096u) - 1u);
        let i = min(e / C, rows - 1u); let r = min(e % C, rows - 1u);
        x_v[stg] = b_dTA[cc(bh, n, i, r)] * exp2(wf[1024u + i] - wf[1024u + r]);
      }
      for (var stg = 0u; stg < ((4096u) + WG - 1u) / WG; stg++) {
        let e = lid + stg * WG;
        if (e < (4096u)) {
          
          let valid = e / C < rows && e % C < rows && e % C < e / C;
          wh[0u + (e) / C * 72u + (e) % C] = f16(select(0.0, x_v[stg], valid));
        }
      }
    }
  workgroupBarrier();
  if (factive) {
    for (var kk = 0u; kk < C; kk += 16u) {
      {
      let fl0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, 0u + fsr * 32u * 72u + kk, false, 72u);
      let fl1 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, 0u + (fsr * 2u + 1u) * 16u * 72u + kk, false, 72u);
      let fr0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wh, 4608u + kk * 64u + fsc * 32u, false, 64u);
      let fr1 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wh, 4608u + kk * 64u + (fsc * 2u + 1u) * 16u, false, 64u);
      if (kk < fsr * 32u + 16u) { pk_0_0 = subgroupMatrixMultiplyAccumulate(fl0, fr0, pk_0_0); }
      if (kk < fsr * 32u + 16u) { pk_0_1 = subgroupMatrixMultiplyAccumulate(fl0, fr1, pk_0_1); }
      if (kk < (fsr * 2u + 1u) * 16u + 16u) { pk_1_0 = subgroupMatrixMultiplyAccumulate(fl1, fr0, pk_1_0); }
      if (kk < (fsr * 2u + 1u) * 16u + 16u) { pk_1_1 = subgroupMatrixMultiplyAccumulate(fl1, fr1, pk_1_1); }
    }
    }
  }
  workgroupBarrier();
  // Phase 3: P += LT dW.
  {
      var x_v: array<f32, ((4096u) + WG - 1u) / WG>;
      for (var stg = 0u; stg < ((4096u) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, (4096u) - 1u);
        let i = min(e % C, rows - 1u); let r = min(e / C, rows - 1u);
        x_v[stg] = (b_tmat[cc(bh, n, r, i)] + select(0.0, 1.0, r == i)) * exp2(wf[1024u + i]);
      }
      for (var stg = 0u; stg < ((4096u) + WG - 1u) / WG; stg++) {
        let e = lid + stg * WG;
        if (e < (4096u)) {
          
          let valid = e % C < rows && e / C < rows && e / C >= e % C;
          wh[0u + (e) % C * 72u + (e) / C] = f16(select(0.0, x_v[stg], valid));
        }
      }
    }
  {
      var x_v: array<f32, ((4096u) + WG - 1u) / WG>;
      for (var stg = 0u; stg < ((4096u) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, (4096u) - 1u);
        let rr = min(e / 64u, rows - 1u); let t = t0 + rr; let x = min(k0 + e % 64u, KD - 1u);
        x_v[stg] = b_dinter[dint(2u, tok(bh, t, x, KD))];
      }
      for (var stg = 0u; stg < ((4096u) + WG - 1u) / WG; stg++) {
        let e = lid + stg * WG;
        if (e < (4096u)) {
          
          let valid = e / 64u < rows && k0 + e % 64u < KD;
          {
          let xv = select(0.0, x_v[stg], valid);
          wy_bad = wy_bad || (bitcast<u32>(xv) & 0x7fffffffu) > 0x477fe000u;
          wh[4608u + e] = f16(xv);
        }
        }
      }
    }
  wy_bad_of[lid] = select(0u, 1u, wy_bad);
  workgroupBarrier();
  if (factive) {
    for (var kk = 0u; kk < C; kk += 16u) {
      {
      let fl0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, 0u + fsr * 32u * 72u + kk, false, 72u);
      let fl1 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, 0u + (fsr * 2u + 1u) * 16u * 72u + kk, false, 72u);
      let fr0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wh, 4608u + kk * 64u + fsc * 32u, false, 64u);
      let fr1 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wh, 4608u + kk * 64u + (fsc * 2u + 1u) * 16u, false, 64u);
      if (kk + 16u > fsr * 32u) { pk_0_0 = subgroupMatrixMultiplyAccumulate(fl0, fr0, pk_0_0); }
      if (kk + 16u > fsr * 32u) { pk_0_1 = subgroupMatrixMultiplyAccumulate(fl0, fr1, pk_0_1); }
      if (kk + 16u > (fsr * 2u + 1u) * 16u) { pk_1_0 = subgroupMatrixMultiplyAccumulate(fl1, fr0, pk_1_0); }
      if (kk + 16u > (fsr * 2u + 1u) * 16u) { pk_1_1 = subgroupMatrixMultiplyAccumulate(fl1, fr1, pk_1_1); }
    }
    }
  }
  workgroupBarrier();
  if (lid == 0u) {
    var any_bad = 0u;
    for (var i = 0u; i < WG; i++) { any_bad |= wy_bad_of[i]; }
    wy_any[0] = any_bad;
  }
  if (workgroupUniformLoad(&wy_any[0]) != 0u) {
    for (var el = lid; el < C * 64u; el += WG) {
      let r = el / 64u;
      let c = el % 64u;
      let x = min(k0 + c, KD - 1u);
      var x2s = 0.0;
      for (var j = r; j < rows; j++) {
        let t = t0 + j;
        x2s += (b_tmat[cc(bh, n, j, r)] + select(0.0, 1.0, j == r)) * b_dinter[dint(2u, tok(bh, t, x, KD))];
      }
      var arow = 0.0;
      var acol = 0.0;
      for (var j = 0u; j < min(r, rows); j++) {
        arow += b_dTA[cc(bh, n, r, j)] * role_k(b, t0 + j, h, x) * exp2(wf[1024u + r] - wf[1024u + j]);
      }
      for (var j = r + 1u; j < rows; j++) {
        acol += b_dTA[cc(bh, n, j, r)] * wf[1024u + C + j] * role_k(b, t0 + j, h, x) * exp2(wf[1024u + j] - wf[1024u + r]);
      }
      let pv = exp2(wf[1024u + min(r, C - 1u)]) * x2s + arow;
      if (r < rows && k0 + c < KD) {
        let t = t0 + r;
        let x = k0 + c;
        let bi = wf[1024u + C + r];
        let kv = role_k(b, t, h, x);
        let at = bth(b, t, h, x, KD);
        b_grad_k[at] = b_grad_k[at] + bi * pv + acol;
        b_X2[tok(bh, t, x, KD)] = kv * pv;
        let gb = tok(bh, t, x, KD);
        b_dbk[gb] = b_dbk[gb] + kv * (bi * pv - acol);
      }
    }
  } else {
  if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, pk_0_0, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = fsr * 32u + el / 16u;
      let c = fsc * 32u + el % 16u;
      let slot = 0u + x;
      let value = wf[0u + sg * 256u + el];
      if (r < rows && k0 + c < KD) {
        let t = t0 + r;
        let x = k0 + c;
        let qv = b_X2[tok(bh, t, x, KD)];
        let bi = wf[1024u + C + r];
        let kv = role_k(b, t, h, x);
        let at = bth(b, t, h, x, KD);
        b_grad_k[at] = b_grad_k[at] + bi * value + qv;
        b_X2[tok(bh, t, x, KD)] = kv * value;
        let gb = tok(bh, t, x, KD);
        b_dbk[gb] = b_dbk[gb] + kv * (bi * value - qv);
      }
    }
  }
  workgroupBarrier();
  if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, pk_0_1, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = fsr * 32u + el / 16u;
      let c = (fsc * 2u + 1u) * 16u + el % 16u;
      let slot = 8u + x;
      let value = wf[0u + sg * 256u + el];
      if (r < rows && k0 + c < KD) {
        let t = t0 + r;
        let x = k0 + c;
        let qv = b_X2[tok(bh, t, x, KD)];
        let bi = wf[1024u + C + r];
        let kv = role_k(b, t, h, x);
        let at = bth(b, t, h, x, KD);
        b_grad_k[at] = b_grad_k[at] + bi * value + qv;
        b_X2[tok(bh, t, x, KD)] = kv * value;
        let gb = tok(bh, t, x, KD);
        b_dbk[gb] = b_dbk[gb] + kv * (bi * value - qv);
      }
    }
  }
  workgroupBarrier();
  if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, pk_1_0, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = (fsr * 2u + 1u) * 16u + el / 16u;
      let c = fsc * 32u + el % 16u;
      let slot = 16u + x;
      let value = wf[0u + sg * 256u + el];
      if (r < rows && k0 + c < KD) {
        let t = t0 + r;
        let x = k0 + c;
        let qv = b_X2[tok(bh, t, x, KD)];
        let bi = wf[1024u + C + r];
        let kv = role_k(b, t, h, x);
        let at = bth(b, t, h, x, KD);
        b_grad_k[at] = b_grad_k[at] + bi * value + qv;
        b_X2[tok(bh, t, x, KD)] = kv * value;
        let gb = tok(bh, t, x, KD);
        b_dbk[gb] = b_dbk[gb] + kv * (bi * value - qv);
      }
    }
  }
  workgroupBarrier();
  if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, pk_1_1, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = (fsr * 2u + 1u) * 16u + el / 16u;
      let c = (fsc * 2u + 1u) * 16u + el % 16u;
      let slot = 24u + x;
      let value = wf[0u + sg * 256u + el];
      if (r < rows && k0 + c < KD) {
        let t = t0 + r;
        let x = k0 + c;
        let qv = b_X2[tok(bh, t, x, KD)];
        let bi = wf[1024u + C + r];
        let kv = role_k(b, t, h, x);
        let at = bth(b, t, h, x, KD);
        b_grad_k[at] = b_grad_k[at] + bi * value + qv;
        b_X2[tok(bh, t, x, KD)] = kv * value;
        let gb = tok(bh, t, x, KD);
        b_dbk[gb] = b_dbk[gb] + kv * (bi * value - qv);
      }
    }
  }
  workgroupBarrier();
  }
}

fn pk_in_beta(i: u32) -> f32 { return bitcast<f32>(b_pack_backward[0u + i]); }
fn pk_b_gcum(i: u32) -> f32 { return bitcast<f32>(b_pack_backward[0u + (P.B * P.T * P.H) + i]); }
