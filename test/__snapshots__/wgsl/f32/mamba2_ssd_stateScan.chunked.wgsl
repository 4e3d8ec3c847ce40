// lae kernel 'mamba2_ssd_stateScan' (stateScan) for variant 'mamba2_ssd'
// spec hash 363a6cffa32466b6; config {"K":64,"V":64,"chunk":64}; tiles {"KP":64,"VP":64,"outBV":64,"prepSlab":16,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=scalar correction=none bonus=none state=vk

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> b_hs: array<f32>;
@group(0) @binding(2) var<storage, read> b_h0: array<f32>;
@group(0) @binding(3) var<storage, read_write> b_ht: array<f32>;
@group(0) @binding(4) var<storage, read> b_gcum: array<f32>;

const C: u32 = 64u;
const KD: u32 = 64u;
const VD: u32 = 64u;
const KP: u32 = 64u;
const VP: u32 = 64u;
const DG: u32 = 1u;
const WG: u32 = 256u;
const WG_X: u32 = 256u;
const LOG2E: f32 = 1.4426950408889634;

fn lae_sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn lae_softplus(x: f32) -> f32 { return select(log(1.0 + exp(x)), x, x > 20.0); }
fn lae_silu(x: f32) -> f32 { return x * lae_sigmoid(x); }

fn gcs(b: u32, h: u32, t: u32, d: u32) -> f32 { return b_gcum[((b * P.H + h) * P.T + t) * DG]; }

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let e = wid.x * WG + lid;
  if (e >= KD * VD) { return; }
  let bh = wid.y;
  let b = bh / P.H;
  let h = bh % P.H;
  let sq = b;
  let nBegin = 0u;
  let nEnd = P.NT;
  let tBegin = 0u;
  let tEnd = P.T;
  let d = e / VD;
  let c = e % VD;
  var s = 0.0;
  if (P.has_h0 != 0u) { s = b_h0[((sq * P.H + h) * VD + c) * KD + d]; }
  // Four chunks per step, loads first, so four memory latencies overlap instead of adding up.
  var m = nBegin;
  for (; m + 4u <= nEnd; m += 4u) {
    var ds: array<f32, 4>;
    var ad: array<f32, 4>;
    for (var r = 0u; r < 4u; r++) {
      let n = (m + r);
      ds[r] = b_hs[((bh * P.NT + n) * KD + d) * VD + c];
      ad[r] = exp2(gcs(b, h, (min(P.T, (n + 1u) * C) - 1u), d));
    }
    for (var r = 0u; r < 4u; r++) {
      b_hs[((bh * P.NT + (m + r)) * KD + d) * VD + c] = s;
      s = ad[r] * s + ds[r];
    }
  }
  for (; m < nEnd; m++) {
    let n = (m);
    let idx = ((bh * P.NT + n) * KD + d) * VD + c;
    let ds = b_hs[idx];
    b_hs[idx] = s;
    s = exp2(gcs(b, h, (min(P.T, (n + 1u) * C) - 1u), d)) * s + ds;
  }
  b_ht[((sq * P.H + h) * VD + c) * KD + d] = s;
}
