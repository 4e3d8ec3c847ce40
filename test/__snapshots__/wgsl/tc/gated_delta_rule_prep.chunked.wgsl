enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
// lae kernel 'gated_delta_rule_prep' (prep) for variant 'gated_delta_rule'
// spec hash f24d6bf0f465f5b6; config {"K":128,"V":128,"chunk":64,"fragments":"subgroup-matrix","unverifiedFragments":true,"wgMemory":49152}; tiles {"KP":128,"VP":128,"outBV":128,"prepSlab":32,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=scalar correction=delta bonus=none state=kv

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> in_beta: array<f32>;
@group(0) @binding(2) var<storage, read_write> b_tmat: array<f32>;
@group(0) @binding(3) var<storage, read> in_k: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> b_gcum: array<f32>;
@group(0) @binding(5) var<storage, read> in_g: array<f32>;
@group(0) @binding(6) var<storage, read_write> b_kg16: array<f16>;
@group(0) @binding(7) var<storage, read_write> b_t16: array<f16>;

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
fn role_k(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_k[((((b) * P.T + t) * P.H + h) * KD + j) >> 2u][((((b) * P.T + t) * P.H + h) * KD + j) & 3u]; }
fn role_logDecay(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_g[((b) * P.T + t) * P.H + h]; }
fn role4_k(b: u32, t: u32, h: u32, j: u32) -> vec4<f32> { return in_k[((((b) * P.T + t) * P.H + h) * KD + j) >> 2u]; }
fn gcs(b: u32, h: u32, t: u32, d: u32) -> f32 { return b_gcum[((b * P.H + h) * P.T + t) * DG]; }
const LOG2_FLOOR: f32 = -160.0;
fn decay_floor(x: f32) -> f32 {
  let nan = (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
  return select(max(x, LOG2_FLOOR), x, nan);
}

var<workgroup> wh: array<f16, 1024>;
var<workgroup> wf: array<f32, 5184>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let n = wid.x;
  let bh = wid.y;
  let b = bh / P.H;
  let h = bh % P.H;
  let t0 = n * C;
  let rows = min(C, P.T - t0);
  
  
  for (var i = lid; i < rows; i += WG) { wf[4096u + i] = decay_floor(role_logDecay(b, t0 + i, h, 0u) * LOG2E); }
  workgroupBarrier();
  for (var i = lid; i < rows; i += WG) {
    var acc = 0.0;
    for (var k = 0u; k <= i; k++) { acc += wf[4096u + k]; }
    b_gcum[(bh * P.T + t0 + i) * DG] = acc;
  }
  storageBarrier();
  workgroupBarrier();
  {
      var x_v: array<vec4<f32>, (((C * 128u) / 4u) + WG - 1u) / WG>;
      for (var stg = 0u; stg < (((C * 128u) / 4u) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, ((C * 128u) / 4u) - 1u) * 4u;
        let t = t0 + min(e / 128u, rows - 1u); let d = min(e % 128u, KD - 4u);
        x_v[stg] = role4_k(b, t, h, d) * exp2(gcs(b, h, t0 + rows - 1u, d) - gcs(b, h, t, d));
      }
      for (var stg = 0u; stg < (((C * 128u) / 4u) + WG - 1u) / WG; stg++) {
        let e4 = lid + stg * WG;
        if (e4 < ((C * 128u) / 4u)) {
          let e = e4 * 4u;
          let r = e / 128u; let d = e % 128u;
          let valid = r < rows && d < KD;
          { let hv = vec4<f16>(select(vec4<f32>(0.0), x_v[stg], valid)); b_kg16[((bh * P.NT + n) * C + r) * 128u + d] = hv.x; b_kg16[((bh * P.NT + n) * C + r) * 128u + d + 1u] = hv.y; b_kg16[((bh * P.NT + n) * C + r) * 128u + d + 2u] = hv.z; b_kg16[((bh * P.NT + n) * C + r) * 128u + d + 3u] = hv.w; }
        }
      }
    }
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
    wf[5120u + i] = gcs(b, h, t, 0u);
  }
  for (var d0 = 0u; d0 < KD; d0 += 16u) {
    {
      var x_v: array<vec4<f32>, (((C * 16u) / 4u) + WG - 1u) / WG>;
      for (var stg = 0u; stg < (((C * 16u) / 4u) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, ((C * 16u) / 4u) - 1u) * 4u;
        let t = t0 + min(e / 16u, rows - 1u); let d = min(d0 + e % 16u, KD - 4u);
        x_v[stg] = role4_k(b, t, h, d);
      }
      for (var stg = 0u; stg < (((C * 16u) / 4u) + WG - 1u) / WG; stg++) {
        let e4 = lid + stg * WG;
        if (e4 < ((C * 16u) / 4u)) {
          let e = e4 * 4u;
          
          let valid = e / 16u < rows && d0 + e % 16u < KD;
          { let hv = vec4<f16>(select(vec4<f32>(0.0), x_v[stg], valid)); wh[0u + e] = hv.x; wh[0u + e + 1u] = hv.y; wh[0u + e + 2u] = hv.z; wh[0u + e + 3u] = hv.w; }
        }
      }
    }
    workgroupBarrier();
    if (factive) {
      for (var kk = 0u; kk < 16u; kk += 16u) {
        {
      let fl0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, 0u + fsr * 512u + kk, false, 16u);
      let fl1 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, 0u + (fsr * 2u + 1u) * 256u + kk, false, 16u);
      let fr0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wh, 0u + fsc * 512u + kk, true, 16u);
      let fr1 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wh, 0u + (fsc * 2u + 1u) * 256u + kk, true, 16u);
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
    subgroupMatrixStore(&wf, 4096u + sg * 256u, sc_0_0, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = fsr * 32u + el / 16u;
      let c = fsc * 32u + el % 16u;
      let slot = 0u + x;
      let value = wf[4096u + sg * 256u + el];
      var a = 0.0;
      if (c < r && r < rows) { a = value * role_beta(b, t0 + min(r, rows - 1u), h, 0u) * exp2(wf[5120u + r] - wf[5120u + c]); }
      wf[(r) * C + c] = a;
    }
  }
  workgroupBarrier();
  if (factive) {
    subgroupMatrixStore(&wf, 4096u + sg * 256u, sc_0_1, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = fsr * 32u + el / 16u;
      let c = (fsc * 2u + 1u) * 16u + el % 16u;
      let slot = 8u + x;
      let value = wf[4096u + sg * 256u + el];
      var a = 0.0;
      if (c < r && r < rows) { a = value * role_beta(b, t0 + min(r, rows - 1u), h, 0u) * exp2(wf[5120u + r] - wf[5120u + c]); }
      wf[(r) * C + c] = a;
    }
  }
  workgroupBarrier();
  if (factive) {
    subgroupMatrixStore(&wf, 4096u + sg * 256u, sc_1_0, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = (fsr * 2u + 1u) * 16u + el / 16u;
      let c = fsc * 32u + el % 16u;
      let slot = 16u + x;
      let value = wf[4096u + sg * 256u + el];
      var a = 0.0;
      if (c < r && r < rows) { a = value * role_beta(b, t0 + min(r, rows - 1u), h, 0u) * exp2(wf[5120u + r] - wf[5120u + c]); }
      wf[(r) * C + c] = a;
    }
  }
  workgroupBarrier();
  if (factive) {
    subgroupMatrixStore(&wf, 4096u + sg * 256u, sc_1_1, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = (fsr * 2u + 1u) * 16u + el / 16u;
      let c = (fsc * 2u + 1u) * 16u + el % 16u;
      let slot = 24u + x;
      let value = wf[4096u + sg * 256u + el];
      var a = 0.0;
      if (c < r && r < rows) { a = value * role_beta(b, t0 + min(r, rows - 1u), h, 0u) * exp2(wf[5120u + r] - wf[5120u + c]); }
      wf[(r) * C + c] = a;
    }
  }
  workgroupBarrier();
}
  
  // The diagonal blocks of T: thread (block, column c) substitutes down its column. Both loops
  // run over constant bounds with the triangle as a predicate, so a compiler that unrolls them
  // indexes tcol by constants and keeps it in registers (a loop from dc would index it by a
  // variable: local memory).
  var tcol: array<f32, 16>;
  let dblk = lid / 16u;
  let dc = lid % 16u;
  if (lid < 64u) {
    let base = dblk * 16u;
    for (var i = 0u; i < 16u; i++) {
      var acc = 0.0;
      for (var m = 0u; m < 16u; m++) {
        if (m >= dc && m < i) { acc += wf[(base + i) * C + base + m] * tcol[m]; }
      }
      tcol[i] = select(select(0.0, 1.0, i == dc), -acc, i > dc);
    }
  }
  workgroupBarrier();
  if (lid < 64u) {
    for (var i = dc + 1u; i < 16u; i++) { wf[(dblk * 16u + i) * C + dblk * 16u + dc] = tcol[i]; }
  }
  workgroupBarrier();
  {
    let r = lid / 16u;
    let cc = lid % 16u;
    var x0_0 = 0.0;
    var x1_0 = 0.0;
    for (var m = 0u; m < 16u; m++) {
      let a0 = wf[(16u + r) * C + m];
      let a1 = wf[(24u + r) * C + m];
      {
        let tv = select(select(0.0, wf[(m) * C + cc], m > cc), 1.0, m == cc);
        x0_0 += a0 * tv;
        x1_0 += a1 * tv;
      }
    }
    wf[4096u + r * 16u + cc] = x0_0;
    wf[4224u + r * 16u + cc] = x1_0;
  }
  workgroupBarrier();
  {
    let r = lid / 16u;
    let cc = lid % 16u;
    var x0_0 = wf[4096u + r * 16u + cc];
    var x1_0 = wf[4224u + r * 16u + cc];
    for (var m = 0u; m < 16u; m++) {
      // T_II's strictly lower part (rows r and r + 8) against the sums' row m.
      let t0 = wf[(16u + r) * C + 16u + m];
      let t1 = wf[(24u + r) * C + 16u + m];
      {
        let xm = wf[4096u + m * 16u + cc];
        x0_0 += select(0.0, t0 * xm, m < r);
        x1_0 += select(0.0, t1 * xm, m < r + 8u);
      }
    }
    wf[(16u + r) * C + cc] = -x0_0;
    wf[(24u + r) * C + cc] = -x1_0;
  }
  workgroupBarrier();
  {
    let r = lid / 16u;
    let cc = lid % 16u;
    var x0_0 = 0.0;
    var x1_0 = 0.0;
    var x0_1 = 0.0;
    var x1_1 = 0.0;
    for (var m = 0u; m < 16u; m++) {
      let a0 = wf[(32u + r) * C + m];
      let a1 = wf[(40u + r) * C + m];
      {
        let tv = select(select(0.0, wf[(m) * C + cc], m > cc), 1.0, m == cc);
        x0_0 += a0 * tv;
        x1_0 += a1 * tv;
      }
    }
    for (var m = 16u; m < 32u; m++) {
      let a0 = wf[(32u + r) * C + m];
      let a1 = wf[(40u + r) * C + m];
      {
        let tv = select(select(0.0, wf[(m) * C + cc], m > cc), 1.0, m == cc);
        x0_0 += a0 * tv;
        x1_0 += a1 * tv;
      }
      {
        let tv = select(select(0.0, wf[(m) * C + 16u + cc], m > 16u + cc), 1.0, m == 16u + cc);
        x0_1 += a0 * tv;
        x1_1 += a1 * tv;
      }
    }
    wf[4096u + r * 16u + cc] = x0_0;
    wf[4224u + r * 16u + cc] = x1_0;
    wf[4352u + r * 16u + cc] = x0_1;
    wf[4480u + r * 16u + cc] = x1_1;
  }
  workgroupBarrier();
  {
    let r = lid / 16u;
    let cc = lid % 16u;
    var x0_0 = wf[4096u + r * 16u + cc];
    var x1_0 = wf[4224u + r * 16u + cc];
    var x0_1 = wf[4352u + r * 16u + cc];
    var x1_1 = wf[4480u + r * 16u + cc];
    for (var m = 0u; m < 16u; m++) {
      // T_II's strictly lower part (rows r and r + 8) against the sums' row m.
      let t0 = wf[(32u + r) * C + 32u + m];
      let t1 = wf[(40u + r) * C + 32u + m];
      {
        let xm = wf[4096u + m * 16u + cc];
        x0_0 += select(0.0, t0 * xm, m < r);
        x1_0 += select(0.0, t1 * xm, m < r + 8u);
      }
      {
        let xm = wf[4352u + m * 16u + cc];
        x0_1 += select(0.0, t0 * xm, m < r);
        x1_1 += select(0.0, t1 * xm, m < r + 8u);
      }
    }
    wf[(32u + r) * C + cc] = -x0_0;
    wf[(40u + r) * C + cc] = -x1_0;
    wf[(32u + r) * C + 16u + cc] = -x0_1;
    wf[(40u + r) * C + 16u + cc] = -x1_1;
  }
  workgroupBarrier();
  {
    let r = lid / 16u;
    let cc = lid % 16u;
    var x0_0 = 0.0;
    var x1_0 = 0.0;
    var x0_1 = 0.0;
    var x1_1 = 0.0;
    var x0_2 = 0.0;
    var x1_2 = 0.0;
    for (var m = 0u; m < 16u; m++) {
      let a0 = wf[(48u + r) * C + m];
      let a1 = wf[(56u + r) * C + m];
      {
        let tv = select(select(0.0, wf[(m) * C + cc], m > cc), 1.0, m == cc);
        x0_0 += a0 * tv;
        x1_0 += a1 * tv;
      }
    }
    for (var m = 16u; m < 32u; m++) {
      let a0 = wf[(48u + r) * C + m];
      let a1 = wf[(56u + r) * C + m];
      {
        let tv = select(select(0.0, wf[(m) * C + cc], m > cc), 1.0, m == cc);
        x0_0 += a0 * tv;
        x1_0 += a1 * tv;
      }
      {
        let tv = select(select(0.0, wf[(m) * C + 16u + cc], m > 16u + cc), 1.0, m == 16u + cc);
        x0_1 += a0 * tv;
        x1_1 += a1 * tv;
      }
    }
    for (var m = 32u; m < 48u; m++) {
      let a0 = wf[(48u + r) * C + m];
      let a1 = wf[(56u + r) * C + m];
      {
        let tv = select(select(0.0, wf[(m) * C + cc], m > cc), 1.0, m == cc);
        x0_0 += a0 * tv;
        x1_0 += a1 * tv;
      }
      {
        let tv = select(select(0.0, wf[(m) * C + 16u + cc], m > 16u + cc), 1.0, m == 16u + cc);
        x0_1 += a0 * tv;
        x1_1 += a1 * tv;
      }
      {
        let tv = select(select(0.0, wf[(m) * C + 32u + cc], m > 32u + cc), 1.0, m == 32u + cc);
        x0_2 += a0 * tv;
        x1_2 += a1 * tv;
      }
    }
    wf[4096u + r * 16u + cc] = x0_0;
    wf[4224u + r * 16u + cc] = x1_0;
    wf[4352u + r * 16u + cc] = x0_1;
    wf[4480u + r * 16u + cc] = x1_1;
    wf[4608u + r * 16u + cc] = x0_2;
    wf[4736u + r * 16u + cc] = x1_2;
  }
  workgroupBarrier();
  {
    let r = lid / 16u;
    let cc = lid % 16u;
    var x0_0 = wf[4096u + r * 16u + cc];
    var x1_0 = wf[4224u + r * 16u + cc];
    var x0_1 = wf[4352u + r * 16u + cc];
    var x1_1 = wf[4480u + r * 16u + cc];
    var x0_2 = wf[4608u + r * 16u + cc];
    var x1_2 = wf[4736u + r * 16u + cc];
    for (var m = 0u; m < 16u; m++) {
      // T_II's strictly lower part (rows r and r + 8) against the sums' row m.
      let t0 = wf[(48u + r) * C + 48u + m];
      let t1 = wf[(56u + r) * C + 48u + m];
      {
        let xm = wf[4096u + m * 16u + cc];
        x0_0 += select(0.0, t0 * xm, m < r);
        x1_0 += select(0.0, t1 * xm, m < r + 8u);
      }
      {
        let xm = wf[4352u + m * 16u + cc];
        x0_1 += select(0.0, t0 * xm, m < r);
        x1_1 += select(0.0, t1 * xm, m < r + 8u);
      }
      {
        let xm = wf[4608u + m * 16u + cc];
        x0_2 += select(0.0, t0 * xm, m < r);
        x1_2 += select(0.0, t1 * xm, m < r + 8u);
      }
    }
    wf[(48u + r) * C + cc] = -x0_0;
    wf[(56u + r) * C + cc] = -x1_0;
    wf[(48u + r) * C + 16u + cc] = -x0_1;
    wf[(56u + r) * C + 16u + cc] = -x1_1;
    wf[(48u + r) * C + 32u + cc] = -x0_2;
    wf[(56u + r) * C + 32u + cc] = -x1_2;
  }
  workgroupBarrier();
  for (var e = lid; e < C * C; e += WG) {
    let tv = wf[e];
    b_tmat[(bh * P.NT + n) * C * C + e] = tv;
    b_t16[(bh * P.NT + n) * C * C + e] = f16(tv + select(0.0, 1.0, e / C == e % C));
  }

}
