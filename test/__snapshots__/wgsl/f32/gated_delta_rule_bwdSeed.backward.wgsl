// lae kernel 'gated_delta_rule_bwdSeed' (bwdSeed) for variant 'gated_delta_rule'
// spec hash f24d6bf0f465f5b6; config {"K":64,"V":64,"chunk":64}; tiles {"KP":64,"VP":64,"outBV":64,"prepSlab":16,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=scalar correction=delta bonus=none state=kv

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> b_dht: array<f32>;
@group(0) @binding(2) var<storage, read_write> b_dh0: array<f32>;

const C: u32 = 64u;
const KD: u32 = 64u;
const VD: u32 = 64u;
const KP: u32 = 64u;
const VP: u32 = 64u;
const DG: u32 = 1u;
const WG: u32 = 256u;
const WG_X: u32 = 1u;
const LOG2E: f32 = 1.4426950408889634;

fn lae_sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn lae_softplus(x: f32) -> f32 { return select(log(1.0 + exp(x)), x, x > 20.0); }
fn lae_silu(x: f32) -> f32 { return x * lae_sigmoid(x); }


@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let e = wid.x * WG + lid;
  if (e >= KD * VD) { return; }
  let sq = wid.y / P.H;
  let h = wid.y % P.H;
  let d = e / VD;
  let c = e % VD;
  let at = ((sq * P.H + h) * KD + d) * VD + c;
  var x = 0.0;
  if (P.has_dht != 0u) { x = b_dht[at]; }
  b_dh0[at] = x;
}
