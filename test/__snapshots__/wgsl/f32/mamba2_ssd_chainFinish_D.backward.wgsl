// lae kernel 'mamba2_ssd_chainFinish_D' (chainFinish) for variant 'mamba2_ssd'
// spec hash 363a6cffa32466b6; config {"K":64,"V":64,"chunk":64}; tiles {"KP":64,"VP":64,"outBV":64,"prepSlab":16,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=scalar correction=none bonus=none state=vk

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> b_part_D: array<f32>;
@group(0) @binding(2) var<storage, read_write> b_grad_in_D: array<f32>;

const C: u32 = 64u;
const KD: u32 = 64u;
const VD: u32 = 64u;
const KP: u32 = 64u;
const VP: u32 = 64u;
const DG: u32 = 1u;
const WG: u32 = 64u;
const WG_X: u32 = 1u;
const PARTS: u32 = 32u;
const LOG2E: f32 = 1.4426950408889634;

fn lae_sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn lae_softplus(x: f32) -> f32 { return select(log(1.0 + exp(x)), x, x > 20.0); }
fn lae_silu(x: f32) -> f32 { return x * lae_sigmoid(x); }


@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let jx = wid.x * WG + lid;
  if (jx >= 1u) { return; }
  var acc = 0.0;
  for (var p = 0u; p < PARTS; p++) { acc += b_part_D[(wid.z + jx) * PARTS + p]; }
  let bx = wid.z / P.H;
  let hx = wid.z % P.H;
  let h = hx;
  let b = bx; let t = 0u; let j = jx;
  b_grad_in_D[h] = acc;
}
