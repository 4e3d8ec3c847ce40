enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
// lae kernel 'gla_bwdChunkState' (bwdChunkState) for variant 'gla'
// spec hash 4f7810925b4783ac; config {"K":128,"V":128,"chunk":64,"fragments":"subgroup-matrix","unverifiedFragments":true,"wgMemory":49152}; tiles {"KP":128,"VP":128,"outBV":128,"prepSlab":16,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=diagonal correction=none bonus=none state=kv

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> b_do: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> b_dhs: array<f32>;
@group(0) @binding(3) var<storage, read> in_q: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> b_gcum: array<f32>;

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
fn role4_q(b: u32, t: u32, h: u32, j: u32) -> vec4<f32> { return in_q[((((b) * P.T + t) * P.H + h) * KD + j) >> 2u]; }
fn gcs(b: u32, h: u32, t: u32, d: u32) -> f32 { return b_gcum[((b * P.H + h) * P.T + t) * DG + d]; }
fn gq(b: u32, h: u32, t: u32, t0: u32, d: u32) -> f32 { return gcs(b, h, t, d); }

var<workgroup> wh: array<f16, 10240>;
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
  
  let v0 = vt * 32u;
  let fsr = sg / 1u;
  let fsc = sg % 1u;
  let factive = sg < 4u;
  var ls_0_0 = subgroup_matrix_result<f32, 16, 16>();
  var ls_0_1 = subgroup_matrix_result<f32, 16, 16>();
  var ls_1_0 = subgroup_matrix_result<f32, 16, 16>();
  var ls_1_1 = subgroup_matrix_result<f32, 16, 16>();
  {
      var x_v: array<vec4<f32>, (((C * 128u) / 4u) + WG - 1u) / WG>;
      for (var stg = 0u; stg < (((C * 128u) / 4u) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, ((C * 128u) / 4u) - 1u) * 4u;
        let t = t0 + min(e / 128u, rows - 1u); let d = min(e % 128u, KD - 4u);
        x_v[stg] = P.scale * role4_q(b, t, h, d) * exp2(vec4<f32>(gq(b, h, t, t0, d), gq(b, h, t, t0, d + 1u), gq(b, h, t, t0, d + 2u), gq(b, h, t, t0, d + 3u)));
      }
      for (var stg = 0u; stg < (((C * 128u) / 4u) + WG - 1u) / WG; stg++) {
        let e4 = lid + stg * WG;
        if (e4 < ((C * 128u) / 4u)) {
          let e = e4 * 4u;
          
          let valid = e / 128u < rows && e % 128u < KD;
          { let hv = vec4<f16>(select(vec4<f32>(0.0), x_v[stg], valid)); wh[0u + e] = hv.x; wh[0u + e + 1u] = hv.y; wh[0u + e + 2u] = hv.z; wh[0u + e + 3u] = hv.w; }
        }
      }
    }
  {
      var x_v: array<vec4<f32>, (((C * 32u) / 4u) + WG - 1u) / WG>;
      for (var stg = 0u; stg < (((C * 32u) / 4u) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, ((C * 32u) / 4u) - 1u) * 4u;
        let t = t0 + min(e / 32u, rows - 1u); let cg = min(v0 + e % 32u, VD - 4u);
        x_v[stg] = b_do[(((b * P.T + t) * P.H + h) * VD + cg) >> 2u];
      }
      for (var stg = 0u; stg < (((C * 32u) / 4u) + WG - 1u) / WG; stg++) {
        let e4 = lid + stg * WG;
        if (e4 < ((C * 32u) / 4u)) {
          let e = e4 * 4u;
          
          let valid = e / 32u < rows && v0 + e % 32u < VD;
          { let hv = vec4<f16>(select(vec4<f32>(0.0), x_v[stg], valid)); wh[8192u + e] = hv.x; wh[8192u + e + 1u] = hv.y; wh[8192u + e + 2u] = hv.z; wh[8192u + e + 3u] = hv.w; }
        }
      }
    }
  workgroupBarrier();
  if (factive) {
    for (var kk = 0u; kk < C; kk += 16u) {
      {
      let fl0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, 0u + kk * 128u + fsr * 32u, true, 128u);
      let fl1 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, 0u + kk * 128u + (fsr * 2u + 1u) * 16u, true, 128u);
      let fr0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wh, 8192u + kk * 32u + fsc * 32u, false, 32u);
      let fr1 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wh, 8192u + kk * 32u + (fsc * 2u + 1u) * 16u, false, 32u);
      ls_0_0 = subgroupMatrixMultiplyAccumulate(fl0, fr0, ls_0_0);
      ls_0_1 = subgroupMatrixMultiplyAccumulate(fl0, fr1, ls_0_1);
      ls_1_0 = subgroupMatrixMultiplyAccumulate(fl1, fr0, ls_1_0);
      ls_1_1 = subgroupMatrixMultiplyAccumulate(fl1, fr1, ls_1_1);
    }
    }
  }
  if (KD == 128u && v0 + 32u <= VD) {
    if (factive) {
    subgroupMatrixStore(&b_dhs, ((bh * P.NT + n) * KD + fsr * 32u) * VD + v0 + fsc * 32u, ls_0_0, false, VD);
    subgroupMatrixStore(&b_dhs, ((bh * P.NT + n) * KD + fsr * 32u) * VD + v0 + (fsc * 2u + 1u) * 16u, ls_0_1, false, VD);
    subgroupMatrixStore(&b_dhs, ((bh * P.NT + n) * KD + (fsr * 2u + 1u) * 16u) * VD + v0 + fsc * 32u, ls_1_0, false, VD);
    subgroupMatrixStore(&b_dhs, ((bh * P.NT + n) * KD + (fsr * 2u + 1u) * 16u) * VD + v0 + (fsc * 2u + 1u) * 16u, ls_1_1, false, VD);
  }
  } else {
    workgroupBarrier();
    if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, ls_0_0, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = fsr * 32u + el / 16u;
      let c = fsc * 32u + el % 16u;
      let slot = 0u + x;
      let value = wf[0u + sg * 256u + el];
      if (r < KD && v0 + c < VD) { b_dhs[((bh * P.NT + n) * KD + r) * VD + v0 + c] = value; }
    }
  }
  workgroupBarrier();
  if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, ls_0_1, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = fsr * 32u + el / 16u;
      let c = (fsc * 2u + 1u) * 16u + el % 16u;
      let slot = 8u + x;
      let value = wf[0u + sg * 256u + el];
      if (r < KD && v0 + c < VD) { b_dhs[((bh * P.NT + n) * KD + r) * VD + v0 + c] = value; }
    }
  }
  workgroupBarrier();
  if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, ls_1_0, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = (fsr * 2u + 1u) * 16u + el / 16u;
      let c = fsc * 32u + el % 16u;
      let slot = 16u + x;
      let value = wf[0u + sg * 256u + el];
      if (r < KD && v0 + c < VD) { b_dhs[((bh * P.NT + n) * KD + r) * VD + v0 + c] = value; }
    }
  }
  workgroupBarrier();
  if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, ls_1_1, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = (fsr * 2u + 1u) * 16u + el / 16u;
      let c = (fsc * 2u + 1u) * 16u + el % 16u;
      let slot = 24u + x;
      let value = wf[0u + sg * 256u + el];
      if (r < KD && v0 + c < VD) { b_dhs[((bh * P.NT + n) * KD + r) * VD + v0 + c] = value; }
    }
  }
  workgroupBarrier();
  }
}
