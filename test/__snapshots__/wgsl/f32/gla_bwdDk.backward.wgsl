// lae kernel 'gla_bwdDk' (bwdDk) for variant 'gla'
// spec hash 4f7810925b4783ac; config {"K":64,"V":64,"chunk":64}; tiles {"KP":64,"VP":64,"outBV":64,"prepSlab":8,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=diagonal correction=none bonus=none state=kv

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> b_gcum: array<f32>;
@group(0) @binding(2) var<storage, read> in_q: array<f32>;
@group(0) @binding(3) var<storage, read> b_daqk: array<f32>;
@group(0) @binding(4) var<storage, read> b_dinter: array<f32>;
@group(0) @binding(5) var<storage, read_write> b_grad_k: array<f32>;
@group(0) @binding(6) var<storage, read_write> b_dbk: array<f32>;
@group(0) @binding(7) var<storage, read> in_k: array<f32>;

const C: u32 = 64u;
const KD: u32 = 64u;
const VD: u32 = 64u;
const KP: u32 = 64u;
const VP: u32 = 64u;
const DG: u32 = 64u;
const WG: u32 = 128u;
const WG_X: u32 = 1u;
const LOG2E: f32 = 1.4426950408889634;

fn lae_sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn lae_softplus(x: f32) -> f32 { return select(log(1.0 + exp(x)), x, x > 20.0); }
fn lae_silu(x: f32) -> f32 { return x * lae_sigmoid(x); }

fn role_q(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_q[(((b) * P.T + t) * P.H + h) * KD + j]; }
fn role_k(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_k[(((b) * P.T + t) * P.H + h) * KD + j]; }
fn gcs(b: u32, h: u32, t: u32, d: u32) -> f32 { return b_gcum[((b * P.H + h) * P.T + t) * DG + d]; }
fn gate(b: u32, h: u32, t: u32, d: u32) -> f32 { return gcs(b, h, t, d); }
fn gq(b: u32, h: u32, t: u32, t0: u32, d: u32) -> f32 { return gcs(b, h, t, d); }
fn gateq(b: u32, h: u32, t: u32, t0: u32, d: u32) -> f32 { return gq(b, h, t, t0, d); }
fn fqk(b: u32, h: u32, ti: u32, tj: u32, t0: u32, d: u32) -> f32 {
  if (ti == tj) { return exp2(gateq(b, h, ti, t0, d) - gate(b, h, ti, d)); }
  return exp2(gateq(b, h, ti, t0, d) - gate(b, h, tj, d));
}
fn cc(bh: u32, n: u32, i: u32, j: u32) -> u32 { return ((bh * P.NT + n) * C + i) * C + j; }
fn tok(bh: u32, t: u32, x: u32, width: u32) -> u32 { return (bh * P.T + t) * width + x; }
fn dint(part: u32, i: u32) -> u32 { return part * (P.B * P.H * P.T * KD) + i; }
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
  var dka = 0.0;
  let last = i + 1u == rows;
  let scale = P.scale;
  for (var r = i; r < rows; r++) {
    dka += b_daqk[cc(bh, n, r, i)] * role_q(b, t0 + r, h, x) * fqk(b, h, t0 + r, t, t0, x);
  }
  let at = tok(bh, t, x, KD);
  let dk = scale * dka + exp2(gate(b, h, t0 + rows - 1u, x) - gate(b, h, t, x)) * b_dinter[dint(1u, at)];
  b_grad_k[bth(b, t, h, x, KD)] = dk;
  b_dbk[at] = select(0.0, b_dbk[at], last) - role_k(b, t, h, x) * dk;
}
