// lae kernel 'gla_bwdStateScan' (bwdStateScan) for variant 'gla'
// spec hash 4f7810925b4783ac; config {"K":128,"V":128,"chunk":64,"fragments":"subgroup-matrix","wgMemory":49152}; tiles {"KP":128,"VP":128,"outBV":128,"prepSlab":16,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=diagonal correction=none bonus=none state=kv

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> b_dhs: array<f32>;
@group(0) @binding(2) var<storage, read> b_dht: array<f32>;
@group(0) @binding(3) var<storage, read_write> b_dh0: array<f32>;
@group(0) @binding(4) var<storage, read> b_gcum: array<f32>;

const C: u32 = 64u;
const KD: u32 = 128u;
const VD: u32 = 128u;
const KP: u32 = 128u;
const VP: u32 = 128u;
const DG: u32 = 128u;
const WG: u32 = 256u;
const WG_X: u32 = 256u;
const LOG2E: f32 = 1.4426950408889634;

fn lae_sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn lae_softplus(x: f32) -> f32 { return select(log(1.0 + exp(x)), x, x > 20.0); }
fn lae_silu(x: f32) -> f32 { return x * lae_sigmoid(x); }

fn gcs(b: u32, h: u32, t: u32, d: u32) -> f32 { return b_gcum[((b * P.H + h) * P.T + t) * DG + d]; }

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
  if (P.has_dht != 0u) { s = b_dht[((sq * P.H + h) * KD + d) * VD + c]; }
  // Four chunks per step, loads first, so four memory latencies overlap instead of adding up.
  var m = nBegin;
  for (; m + 4u <= nEnd; m += 4u) {
    var ds: array<f32, 4>;
    var ad: array<f32, 4>;
    for (var r = 0u; r < 4u; r++) {
      let n = (nBegin + nEnd - 1u - (m + r));
      ds[r] = b_dhs[((bh * P.NT + n) * KD + d) * VD + c];
      ad[r] = exp2(gcs(b, h, (min(P.T, (n + 1u) * C) - 1u), d));
    }
    for (var r = 0u; r < 4u; r++) {
      b_dhs[((bh * P.NT + (nBegin + nEnd - 1u - (m + r))) * KD + d) * VD + c] = s;
      s = ad[r] * s + ds[r];
    }
  }
  for (; m < nEnd; m++) {
    let n = (nBegin + nEnd - 1u - (m));
    let idx = ((bh * P.NT + n) * KD + d) * VD + c;
    let ds = b_dhs[idx];
    b_dhs[idx] = s;
    s = exp2(gcs(b, h, (min(P.T, (n + 1u) * C) - 1u), d)) * s + ds;
  }
  b_dh0[((sq * P.H + h) * KD + d) * VD + c] = s;
}
