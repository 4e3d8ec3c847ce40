// lae kernel 'gla_prep' (prep) for variant 'gla'
// spec hash 4f7810925b4783ac; config {"K":64,"V":64,"chunk":64}; tiles {"KP":64,"VP":64,"outBV":64,"prepSlab":8,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=diagonal correction=none bonus=none state=kv

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> b_gcum: array<f32>;
@group(0) @binding(2) var<storage, read> in_g: array<f32>;

const C: u32 = 64u;
const KD: u32 = 64u;
const VD: u32 = 64u;
const KP: u32 = 64u;
const VP: u32 = 64u;
const DG: u32 = 64u;
const WG: u32 = 256u;
const WG_X: u32 = 16u;
const LOG2E: f32 = 1.4426950408889634;

fn lae_sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn lae_softplus(x: f32) -> f32 { return select(log(1.0 + exp(x)), x, x > 20.0); }
fn lae_silu(x: f32) -> f32 { return x * lae_sigmoid(x); }

fn role_logDecay(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_g[(((b) * P.T + t) * P.H + h) * KD + j]; }
const LOG2_FLOOR: f32 = -160.0;
fn decay_floor(x: f32) -> f32 {
  let nan = (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
  return select(max(x, LOG2_FLOOR), x, nan);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = wid.x;
  let bh = wid.y;
  let b = bh / P.H;
  let h = bh % P.H;
  let t0 = n * C;
  let rows = min(C, P.T - t0);

  for (var d = lid; d < DG; d += WG) {
    var acc = 0.0;
    for (var i0 = 0u; i0 < rows; i0 += 16u) {
      var gv: array<f32, 16>;
      for (var k = 0u; k < 16u; k++) { gv[k] = role_logDecay(b, t0 + min(i0 + k, rows - 1u), h, d); }
      for (var k = 0u; k < 16u; k++) {
        if (i0 + k < rows) {
          acc += decay_floor(gv[k] * LOG2E);
          b_gcum[(bh * P.T + t0 + i0 + k) * DG + d] = acc;
        }
      }
    }
  }
  storageBarrier();
  workgroupBarrier();

}
