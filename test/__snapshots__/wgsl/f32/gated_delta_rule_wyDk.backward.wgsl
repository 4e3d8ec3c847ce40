// lae kernel 'gated_delta_rule_wyDk' (wyDk) for variant 'gated_delta_rule'
// spec hash f24d6bf0f465f5b6; config {"K":64,"V":64,"chunk":64}; tiles {"KP":64,"VP":64,"outBV":64,"prepSlab":16,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=scalar correction=delta bonus=none state=kv

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> b_gcum: array<f32>;
@group(0) @binding(2) var<storage, read> in_beta: array<f32>;
@group(0) @binding(3) var<storage, read> in_k: array<f32>;
@group(0) @binding(4) var<storage, read> b_dTA: array<f32>;
@group(0) @binding(5) var<storage, read_write> b_grad_k: array<f32>;
@group(0) @binding(6) var<storage, read_write> b_X2: array<f32>;
@group(0) @binding(7) var<storage, read_write> b_dbk: array<f32>;

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

fn role_beta(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_beta[((b) * P.T + t) * P.H + h]; }
fn role_k(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_k[(((b) * P.T + t) * P.H + h) * KD + j]; }
fn gcs(b: u32, h: u32, t: u32, d: u32) -> f32 { return b_gcum[((b * P.H + h) * P.T + t) * DG]; }
fn gate(b: u32, h: u32, t: u32, d: u32) -> f32 { return gcs(b, h, t, d); }
fn tok(bh: u32, t: u32, x: u32, width: u32) -> u32 { return (bh * P.T + t) * width + x; }
fn cc(bh: u32, n: u32, i: u32, j: u32) -> u32 { return ((bh * P.NT + n) * C + i) * C + j; }
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
  let i = e / (KD);
  let x = e % (KD);
  if (i >= rows) { return; }
  let t = t0 + i;
  var arow = 0.0; var acol = 0.0;
  let gi = gate(b, h, t, x);
  let tk = tok(bh, t, x, KD);
  let x2 = b_X2[tk];
  for (var r = 0u; r < i; r++) {
    arow += b_dTA[cc(bh, n, i, r)] * role_k(b, t0 + r, h, x) * exp2(gi - gate(b, h, t0 + r, x));
  }
  for (var r = i + 1u; r < rows; r++) {
    acol += b_dTA[cc(bh, n, r, i)] * role_beta(b, t0 + r, h, 0u) * role_k(b, t0 + r, h, x) * exp2(gate(b, h, t0 + r, x) - gi);
  }
  let bi = role_beta(b, t, h, 0u);
  let ki = role_k(b, t, h, x);
  let wterm = bi * exp2(gi) * x2;
  let at = bth(b, t, h, x, KD);
  b_grad_k[at] = b_grad_k[at] + wterm + bi * arow + acol;
  // dbeta_i's key-side terms: (k_i 2^G_i) . X2_i + sum_{j<i} dA[i,j] A[i,j] / beta_i = k_i . (2^G_i X2_i + arow_i).
  b_X2[tk] = ki * (exp2(gi) * x2 + arow);
  b_dbk[tk] = b_dbk[tk] + ki * (wterm + bi * arow - acol);
}
