// lae kernel 'gated_delta_rule_bwdGate' (bwdGate) for variant 'gated_delta_rule'
// spec hash f24d6bf0f465f5b6; config {"K":64,"V":64,"chunk":64}; tiles {"KP":64,"VP":64,"outBV":64,"prepSlab":16,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=scalar correction=delta bonus=none state=kv

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> b_dbq: array<f32>;
@group(0) @binding(2) var<storage, read> b_dbk: array<f32>;
@group(0) @binding(3) var<storage, read_write> b_grad_logDecay: array<f32>;

const C: u32 = 64u;
const KD: u32 = 64u;
const VD: u32 = 64u;
const KP: u32 = 64u;
const VP: u32 = 64u;
const DG: u32 = 1u;
const WG: u32 = 64u;
const WG_X: u32 = 1u;
const LOG2E: f32 = 1.4426950408889634;

fn lae_sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn lae_softplus(x: f32) -> f32 { return select(log(1.0 + exp(x)), x, x > 20.0); }
fn lae_silu(x: f32) -> f32 { return x * lae_sigmoid(x); }

fn tok(bh: u32, t: u32, x: u32, width: u32) -> u32 { return (bh * P.T + t) * width + x; }
fn bth(b: u32, t: u32, h: u32, x: u32, width: u32) -> u32 { return ((b * P.T + t) * P.H + h) * width + x; }

var<workgroup> sTerm: array<f32, C>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = wid.y;
  let bh = wid.z;
  let b = bh / P.H;
  let h = bh % P.H;
  let t0 = n * C;
  let rows = min(C, P.T - t0);
  for (var i = lid; i < C; i += WG) {
    var acc = 0.0;
    if (i < rows) {
      let t = t0 + i;
      for (var d = 0u; d < KD; d++) { acc += b_dbk[tok(bh, t, d, KD)] + b_dbq[tok(bh, t, d, KD)]; }
    }
    sTerm[i] = acc;
  }
  workgroupBarrier();
  if (lid == 0u) {
    var acc = 0.0;
    for (var ii = 0u; ii < rows; ii++) {
      let i = rows - 1u - ii;
      acc += sTerm[i];
      b_grad_logDecay[bth(b, t0 + i, h, 0u, DG)] = acc;
    }
  }
}
