// lae kernel 'mamba2_ssd_chain_A' (chain) for variant 'mamba2_ssd'
// spec hash 363a6cffa32466b6; config {"K":64,"V":64,"chunk":64}; tiles {"KP":64,"VP":64,"outBV":64,"prepSlab":16,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=scalar correction=none bonus=none state=vk

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> b_grad_logDecay: array<f32>;
@group(0) @binding(2) var<storage, read> in_dt: array<f32>;
@group(0) @binding(3) var<storage, read_write> b_part_A: array<f32>;

const C: u32 = 64u;
const KD: u32 = 64u;
const VD: u32 = 64u;
const KP: u32 = 64u;
const VP: u32 = 64u;
const DG: u32 = 1u;
const WG: u32 = 256u;
const WG_X: u32 = 1u;
const PARTS: u32 = 32u;
const LOG2E: f32 = 1.4426950408889634;

fn lae_sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn lae_softplus(x: f32) -> f32 { return select(log(1.0 + exp(x)), x, x > 20.0); }
fn lae_silu(x: f32) -> f32 { return x * lae_sigmoid(x); }

fn d_logDecay_d_A(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_dt[((b) * P.T + t) * P.H + h]; }

var<workgroup> sRed: array<f32, WG>;
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let jx = wid.x;
  let tx = 0u;
  let bx = wid.z / P.H;
  let hx = wid.z % P.H;
  var acc = 0.0;
  // logDecay
  for (var f0 = wid.y * WG + lid; f0 < P.T * P.B; f0 += WG * PARTS) {
    var rem = f0;
    let j = 0u; let h = hx; let t = rem % P.T; rem = rem / P.T; let b = rem % P.B; rem = rem / P.B;
    acc += b_grad_logDecay[((b * P.T + t) * P.H + h) + j] * d_logDecay_d_A(b, t, h, j);
  }
  sRed[lid] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) { sRed[lid] += sRed[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) {
    acc = sRed[0];
    b_part_A[(wid.z + jx) * PARTS + wid.y] = acc;
  }
}
