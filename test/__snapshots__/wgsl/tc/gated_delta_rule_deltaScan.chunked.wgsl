enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
// lae kernel 'gated_delta_rule_deltaScan' (deltaScan) for variant 'gated_delta_rule'
// spec hash f24d6bf0f465f5b6; config {"K":128,"V":128,"chunk":64,"fragments":"subgroup-matrix","unverifiedFragments":true,"wgMemory":49152}; tiles {"KP":128,"VP":128,"outBV":128,"prepSlab":32,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=scalar correction=delta bonus=none state=kv

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> b_hs: array<f32>;
@group(0) @binding(2) var<storage, read_write> b_ht: array<f32>;
@group(0) @binding(3) var<storage, read> b_u: array<f32>;
@group(0) @binding(4) var<storage, read_write> b_vnew: array<f32>;
@group(0) @binding(5) var<storage, read> b_w16: array<f16>;
@group(0) @binding(6) var<storage, read> b_kg16: array<f16>;
@group(0) @binding(7) var<storage, read> b_h0: array<f32>;
@group(0) @binding(8) var<storage, read> b_gcum: array<f32>;

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

fn h0_at(sq: u32, h: u32, d: u32, c: u32) -> f32 {
  if (P.has_h0 == 0u || d >= KD || c >= VD) { return 0.0; }
  return b_h0[((sq * P.H + h) * KD + d) * VD + c];
}
fn gcs(b: u32, h: u32, t: u32, d: u32) -> f32 { return b_gcum[((b * P.H + h) * P.T + t) * DG]; }

var<workgroup> wh: array<f16, 3072>;
var<workgroup> wf: array<f32, 2048>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let bh = wid.y;
  let b = bh / P.H;
  let h = bh % P.H;
  let sq = b;
  let nBegin = 0u;
  let nEnd = P.NT;
  let tBegin = 0u;
  let tEnd = P.T;
  let vt = wid.x;
  
  let v0 = vt * 16u;
  let ssr = sg / 1u;
  let ssc = sg % 1u;
  let sactive = sg < 4u;
  let vsr = sg / 1u;
  let vsc = sg % 1u;
  let vactive = sg < 4u;
  var st_0_0 = subgroup_matrix_result<f32, 16, 16>();
  var st_1_0 = subgroup_matrix_result<f32, 16, 16>();
  var vn_0_0 = subgroup_matrix_result<f32, 16, 16>();
  var upre: array<f32, 8>;
  
  if (sactive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = ssr * 32u + el / 16u;
      let c = ssc * 16u + el % 16u;
      let slot = 0u + x;
      wf[0u + sg * 512u + el] = h0_at(sq, h, r, v0 + c);
    }
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = (ssr * 2u + 1u) * 16u + el / 16u;
      let c = ssc * 16u + el % 16u;
      let slot = 8u + x;
      wf[256u + sg * 512u + el] = h0_at(sq, h, r, v0 + c);
    }
  }
  workgroupBarrier();
  if (sactive) {
    st_0_0 = subgroupMatrixLoad<subgroup_matrix_result<f32, 16, 16>>(&wf, 0u + sg * 512u, false, 16u);
    st_1_0 = subgroupMatrixLoad<subgroup_matrix_result<f32, 16, 16>>(&wf, 256u + sg * 512u, false, 16u);
  }
  workgroupBarrier();
  for (var n = nBegin; n < nEnd; n++) {
    let t0 = n * C;
  let rows = min(C, P.T - t0);
    if (vactive) {
      for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = vsr * 16u + el / 16u;
      let c = vsc * 16u + el % 16u;
      let slot = 0u + x;
      upre[slot] = b_u[(bh * P.T + t0 + min(r, rows - 1u)) * VD + min(v0 + c, VD - 1u)];
    }
    }
    
    // S_n for W S_n.
    // Read by the epilogue's update; the portable lowering's epilogue has no barrier before it.
    
    // The state: to b_hs, and as f16 into workgroup memory for this step's product.
    if (sactive) {
    subgroupMatrixStore(&wf, 0u + sg * 512u, st_0_0, false, 16u);
    subgroupMatrixStore(&wf, 256u + sg * 512u, st_1_0, false, 16u);
  }
  workgroupBarrier();
  if (sactive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = ssr * 32u + el / 16u;
      let c = ssc * 16u + el % 16u;
      let slot = 0u + x;
      let value = wf[0u + sg * 512u + el];
      if (r < KD && v0 + c < VD) { b_hs[((bh * P.NT + n) * KD + r) * VD + v0 + c] = value; }
      wh[0u + r * 16u + c] = f16(value);
    }
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = (ssr * 2u + 1u) * 16u + el / 16u;
      let c = ssc * 16u + el % 16u;
      let slot = 8u + x;
      let value = wf[256u + sg * 512u + el];
      if (r < KD && v0 + c < VD) { b_hs[((bh * P.NT + n) * KD + r) * VD + v0 + c] = value; }
      wh[0u + r * 16u + c] = f16(value);
    }
  }
  workgroupBarrier();
    if (sactive) {
      let decay = exp2(gcs(b, h, t0 + rows - 1u, 0u));
      st_0_0 = subgroupMatrixScalarMultiply(st_0_0, decay);
      st_1_0 = subgroupMatrixScalarMultiply(st_1_0, decay);
    }
    // V_new = U - W S_n.
    vn_0_0 = subgroup_matrix_result<f32, 16, 16>();
    if (vactive) {
      for (var d0 = 0u; d0 < 128u; d0 += 16u) {
        {
      let fl0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&b_w16, ((bh * P.NT + n) * C + vsr * 16u) * 128u + d0, false, 128u);
      let fr0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wh, 0u + d0 * 16u + vsc * 16u, false, 16u);
      vn_0_0 = subgroupMatrixMultiplyAccumulate(fl0, fr0, vn_0_0);
    }
      }
    }
    if (vactive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, vn_0_0, false, 16u);
  }
  workgroupBarrier();
  if (vactive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = vsr * 16u + el / 16u;
      let c = vsc * 16u + el % 16u;
      let slot = 0u + x;
      let value = wf[0u + sg * 256u + el];
      var x = 0.0;
      if (r < rows && v0 + c < VD) {
        x = upre[slot] - value;
        b_vnew[(bh * P.T + t0 + r) * VD + v0 + c] = x;
      }
      wh[2048u + r * 16u + c] = f16(x);
    }
  }
  workgroupBarrier();
    // S += (K 2^(G_last - G))^T V_new.
    if (sactive) {
      for (var kk = 0u; kk < C; kk += 16u) {
        {
      let fl0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&b_kg16, ((bh * P.NT + n) * C + kk) * 128u + ssr * 32u, true, 128u);
      let fl1 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&b_kg16, ((bh * P.NT + n) * C + kk) * 128u + (ssr * 2u + 1u) * 16u, true, 128u);
      let fr0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wh, 2048u + kk * 16u + ssc * 16u, false, 16u);
      st_0_0 = subgroupMatrixMultiplyAccumulate(fl0, fr0, st_0_0);
      st_1_0 = subgroupMatrixMultiplyAccumulate(fl1, fr0, st_1_0);
    }
      }
    }
    
  }
  if (sactive) {
    subgroupMatrixStore(&wf, 0u + sg * 512u, st_0_0, false, 16u);
    subgroupMatrixStore(&wf, 256u + sg * 512u, st_1_0, false, 16u);
  }
  workgroupBarrier();
  if (sactive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = ssr * 32u + el / 16u;
      let c = ssc * 16u + el % 16u;
      let slot = 0u + x;
      let value = wf[0u + sg * 512u + el];
      if (r < KD && v0 + c < VD) { b_ht[((sq * P.H + h) * KD + r) * VD + v0 + c] = value; }
    }
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = (ssr * 2u + 1u) * 16u + el / 16u;
      let c = ssc * 16u + el % 16u;
      let slot = 8u + x;
      let value = wf[256u + sg * 512u + el];
      if (r < KD && v0 + c < VD) { b_ht[((sq * P.H + h) * KD + r) * VD + v0 + c] = value; }
    }
  }
  workgroupBarrier();
}
