// lae kernel 'gated_delta_rule_wyDbeta' (wyDbeta) for variant 'gated_delta_rule'
// spec hash f24d6bf0f465f5b6; config {"K":64,"V":64,"chunk":64}; tiles {"KP":64,"VP":64,"outBV":64,"prepSlab":16,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=scalar correction=delta bonus=none state=kv

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> in_v: array<f32>;
@group(0) @binding(2) var<storage, read> b_X1: array<f32>;
@group(0) @binding(3) var<storage, read> b_X2: array<f32>;
@group(0) @binding(4) var<storage, read_write> b_grad_beta: array<f32>;

const C: u32 = 64u;
const KD: u32 = 64u;
const VD: u32 = 64u;
const KP: u32 = 64u;
const VP: u32 = 64u;
const DG: u32 = 1u;
const WG: u32 = 128u;
const WG_X: u32 = 1u;
const LOG2E: f32 = 1.4426950408889634;

fn lae_sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn lae_softplus(x: f32) -> f32 { return select(log(1.0 + exp(x)), x, x > 20.0); }
fn lae_silu(x: f32) -> f32 { return x * lae_sigmoid(x); }

fn role_v(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_v[(((b) * P.T + t) * P.H + h) * VD + j]; }
fn tok(bh: u32, t: u32, x: u32, width: u32) -> u32 { return (bh * P.T + t) * width + x; }
fn bth(b: u32, t: u32, h: u32, x: u32, width: u32) -> u32 { return ((b * P.T + t) * P.H + h) * width + x; }

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = wid.y;
  let bh = wid.z;
  let b = bh / P.H;
  let h = bh % P.H;
  let t0 = n * C;
  let rows = min(C, P.T - t0);
  let e = wid.x * WG + lid;
  let i = e / (1u);
  let x = e % (1u);
  if (i >= rows) { return; }
  let t = t0 + i;
  var acc = 0.0;
  
  for (var r = 0u; r < VD; r++) {
    acc += role_v(b, t, h, r) * b_X1[tok(bh, t, r, VD)];
  }
  for (var r = 0u; r < KD; r++) {
    acc += b_X2[tok(bh, t, r, KD)];
  }
  b_grad_beta[bth(b, t, h, 0u, 1u)] = acc;
}
