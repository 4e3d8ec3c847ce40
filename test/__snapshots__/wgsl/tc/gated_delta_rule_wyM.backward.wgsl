enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
// lae kernel 'gated_delta_rule_wyM' (wyM) for variant 'gated_delta_rule'
// spec hash f24d6bf0f465f5b6; config {"K":128,"V":128,"chunk":64,"fragments":"subgroup-matrix","unverifiedFragments":true,"wgMemory":49152}; tiles {"KP":128,"VP":128,"outBV":128,"prepSlab":32,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=scalar correction=delta bonus=none state=kv

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> b_dTA: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b_t16: array<f16>;
@group(0) @binding(3) var<storage, read_write> b_M: array<f32>;

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

fn lae_nan() -> f32 { var bits = 0x7fc00000u; return bitcast<f32>(bits); }
fn lae_f16_finite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) <= 0x477fe000u; }
fn cc(bh: u32, n: u32, i: u32, j: u32) -> u32 { return ((bh * P.NT + n) * C + i) * C + j; }

var<workgroup> wh: array<f16, 4096>;
var<workgroup> wf: array<f32, 1024>;
var<workgroup> m_bad_of: array<u32, WG>;
var<workgroup> m_any: array<u32, 4>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let n = wid.x;
  let bh = wid.y;
  let b = bh / P.H;
  let h = bh % P.H;
  let t0 = n * C;
  let rows = min(C, P.T - t0);
  
  let fsr = sg / 2u;
  let fsc = sg % 2u;
  let factive = sg < 4u;
  var mm_0_0 = subgroup_matrix_result<f32, 16, 16>();
  var mm_0_1 = subgroup_matrix_result<f32, 16, 16>();
  var mm_1_0 = subgroup_matrix_result<f32, 16, 16>();
  var mm_1_1 = subgroup_matrix_result<f32, 16, 16>();
  var m_bad = false;
  {
      var x_v: array<f32, ((C * C) + WG - 1u) / WG>;
      for (var stg = 0u; stg < ((C * C) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, (C * C) - 1u);
        let r = min(e / C, rows - 1u); let x = e % C;
        x_v[stg] = b_dTA[(cc(bh, n, r, x)) >> 2u][(cc(bh, n, r, x)) & 3u];
      }
      for (var stg = 0u; stg < ((C * C) + WG - 1u) / WG; stg++) {
        let e = lid + stg * WG;
        if (e < (C * C)) {
          
          let valid = e / C < rows;
          {
          let xv = select(0.0, x_v[stg], valid);
          let bad = (bitcast<u32>(xv) & 0x7fffffffu) > 0x477fe000u;
          m_bad = m_bad || bad;
          wh[e] = f16(select(xv, 0.0, bad));
        }
        }
      }
    }
  m_bad_of[lid] = select(0u, 1u, m_bad);
  workgroupBarrier();
  if (factive) {
    for (var kk = 0u; kk < C; kk += 16u) {
      {
      let fl0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, fsr * 2048u + kk, false, 64u);
      let fl1 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, (fsr * 2u + 1u) * 1024u + kk, false, 64u);
      let fr0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&b_t16, (bh * P.NT + n) * C * C + fsc * 2048u + kk, true, 64u);
      let fr1 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&b_t16, (bh * P.NT + n) * C * C + (fsc * 2u + 1u) * 1024u + kk, true, 64u);
      if (kk / 16u <= fsr * 2u && kk / 16u <= fsc * 2u) { mm_0_0 = subgroupMatrixMultiplyAccumulate(fl0, fr0, mm_0_0); }
      if (kk / 16u <= fsr * 2u && kk / 16u <= fsc * 2u + 1u) { mm_0_1 = subgroupMatrixMultiplyAccumulate(fl0, fr1, mm_0_1); }
      if (kk / 16u <= fsr * 2u + 1u && kk / 16u <= fsc * 2u) { mm_1_0 = subgroupMatrixMultiplyAccumulate(fl1, fr0, mm_1_0); }
      if (kk / 16u <= fsr * 2u + 1u && kk / 16u <= fsc * 2u + 1u) { mm_1_1 = subgroupMatrixMultiplyAccumulate(fl1, fr1, mm_1_1); }
    }
    }
  }
  if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, mm_0_0, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = fsr * 32u + el / 16u;
      let c = fsc * 32u + el % 16u;
      let slot = 0u + x;
      let value = wf[0u + sg * 256u + el];
      if (r < rows) { b_M[cc(bh, n, r, c)] = value; }
    }
  }
  workgroupBarrier();
  if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, mm_0_1, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = fsr * 32u + el / 16u;
      let c = (fsc * 2u + 1u) * 16u + el % 16u;
      let slot = 8u + x;
      let value = wf[0u + sg * 256u + el];
      if (r < rows) { b_M[cc(bh, n, r, c)] = value; }
    }
  }
  workgroupBarrier();
  if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, mm_1_0, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = (fsr * 2u + 1u) * 16u + el / 16u;
      let c = fsc * 32u + el % 16u;
      let slot = 16u + x;
      let value = wf[0u + sg * 256u + el];
      if (r < rows) { b_M[cc(bh, n, r, c)] = value; }
    }
  }
  workgroupBarrier();
  if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, mm_1_1, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = (fsr * 2u + 1u) * 16u + el / 16u;
      let c = (fsc * 2u + 1u) * 16u + el % 16u;
      let slot = 24u + x;
      let value = wf[0u + sg * 256u + el];
      if (r < rows) { b_M[cc(bh, n, r, c)] = value; }
    }
  }
  workgroupBarrier();
  // A row of dT with a value not finite in f16 (staged as 0): M's row from its first such column on.
  if (lid == 0u) {
    var any_bad = 0u;
    for (var i = 0u; i < WG; i++) { any_bad |= m_bad_of[i]; }
    m_any[0] = any_bad;
  }
  if (workgroupUniformLoad(&m_any[0]) != 0u) {
    storageBarrier();
    for (var i = lid; i < rows; i += WG) {
      var first = C;
      for (var x = 0u; x < i; x++) {
        if (first == C && !lae_f16_finite(b_dTA[(cc(bh, n, i, x)) >> 2u][(cc(bh, n, i, x)) & 3u])) { first = x; }
      }
      for (var j = first; j < C; j++) { b_M[cc(bh, n, i, j)] = lae_nan(); }
    }
  }
}
