enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
// lae kernel 'gla_chunkStates' (chunkStates) for variant 'gla'
// spec hash 4f7810925b4783ac; config {"K":128,"V":128,"chunk":64,"fragments":"subgroup-matrix","unverifiedFragments":true,"wgMemory":49152}; tiles {"KP":128,"VP":128,"outBV":128,"prepSlab":16,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=diagonal correction=none bonus=none state=kv

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> b_hs: array<f32>;
@group(0) @binding(2) var<storage, read_write> b_ht: array<f32>;
@group(0) @binding(3) var<storage, read> b_kg16: array<f16>;
@group(0) @binding(4) var<storage, read> b_v16: array<f16>;
@group(0) @binding(5) var<storage, read> b_h0: array<f32>;
@group(0) @binding(6) var<storage, read> b_gcum: array<f32>;

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

fn h0_at(sq: u32, h: u32, d: u32, c: u32) -> f32 {
  if (P.has_h0 == 0u || d >= KD || c >= VD) { return 0.0; }
  return b_h0[((sq * P.H + h) * KD + d) * VD + c];
}
fn gcs(b: u32, h: u32, t: u32, d: u32) -> f32 { return b_gcum[((b * P.H + h) * P.T + t) * DG + d]; }

var<workgroup> wf: array<f32, 1056>;

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
  let kt = wid.z;
  
  let k0 = kt * 32u;
  let v0 = vt * 32u;
  let fsr = sg / 2u;
  let fsc = sg % 2u;
  let factive = sg < 4u;
  var st_0_0 = subgroup_matrix_result<f32, 16, 16>();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let slot = 0u + x;
      wf[0u + sg * 256u + el] = h0_at(sq, h, k0 + r, v0 + c);
    }
  }
  workgroupBarrier();
  if (factive) {
    st_0_0 = subgroupMatrixLoad<subgroup_matrix_result<f32, 16, 16>>(&wf, 0u + sg * 256u, false, 16u);
  }
  workgroupBarrier();
  for (var n = nBegin; n < nEnd; n++) {
    let t0 = n * C;
  let rows = min(C, P.T - t0);
    // Read by the epilogue's update; the portable lowering's epilogue has no barrier before it.
    for (var d = lid; d < 32u; d += WG) { wf[1024u + d] = gcs(b, h, t0 + rows - 1u, min(k0 + d, KD - 1u)); }
    workgroupBarrier();
    if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, st_0_0, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let slot = 0u + x;
      let value = wf[0u + sg * 256u + el];
      if (k0 + r < KD && v0 + c < VD) { b_hs[((bh * P.NT + n) * KD + k0 + r) * VD + v0 + c] = value; }
      wf[0u + sg * 256u + el] = value * exp2(wf[1024u + r]);
    }
  }
  workgroupBarrier();
  if (factive) {
    st_0_0 = subgroupMatrixLoad<subgroup_matrix_result<f32, 16, 16>>(&wf, 0u + sg * 256u, false, 16u);
  }
  workgroupBarrier();
    if (factive) {
      
      // S += (K 2^(G_last - G))^T V, operands straight from the prep's per-chunk f16 blocks.
      for (var kk = 0u; kk < C; kk += 16u) {
        {
      let fl0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&b_kg16, ((bh * P.NT + n) * C + kk) * 128u + k0 + fsr * 16u, true, 128u);
      let fr0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&b_v16, ((bh * P.NT + n) * C + kk) * 128u + v0 + fsc * 16u, false, 128u);
      st_0_0 = subgroupMatrixMultiplyAccumulate(fl0, fr0, st_0_0);
    }
      }
    }
  }
  if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, st_0_0, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let slot = 0u + x;
      let value = wf[0u + sg * 256u + el];
      if (k0 + r < KD && v0 + c < VD) { b_ht[((sq * P.H + h) * KD + k0 + r) * VD + v0 + c] = value; }
    }
  }
  workgroupBarrier();
}
