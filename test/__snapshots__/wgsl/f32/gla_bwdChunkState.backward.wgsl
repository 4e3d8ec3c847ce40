// lae kernel 'gla_bwdChunkState' (bwdChunkState) for variant 'gla'
// spec hash 4f7810925b4783ac; config {"K":64,"V":64,"chunk":64}; tiles {"KP":64,"VP":64,"outBV":64,"prepSlab":8,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=diagonal correction=none bonus=none state=kv

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> in_q: array<f32>;
@group(0) @binding(2) var<storage, read> b_gcum: array<f32>;
@group(0) @binding(3) var<storage, read> b_do: array<f32>;
@group(0) @binding(4) var<storage, read_write> b_dhs: array<f32>;

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

fn role_q(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_q[(((b) * P.T + t) * P.H + h) * KD + j]; }
fn gcs(b: u32, h: u32, t: u32, d: u32) -> f32 { return b_gcum[((b * P.H + h) * P.T + t) * DG + d]; }
fn gq(b: u32, h: u32, t: u32, t0: u32, d: u32) -> f32 { return gcs(b, h, t, d); }
fn gateq(b: u32, h: u32, t: u32, t0: u32, d: u32) -> f32 { return gq(b, h, t, t0, d); }
fn bth(b: u32, t: u32, h: u32, x: u32, width: u32) -> u32 { return ((b * P.T + t) * P.H + h) * width + x; }

const TX: u32 = WG_X;
const TY: u32 = WG / WG_X;

const BV: u32 = 64u;
const RM: u32 = KP / TY;
const RN: u32 = BV / TX;
const SI: u32 = 8u;
var<workgroup> sK: array<f32, SI * KP>;
var<workgroup> sV: array<f32, SI * BV>;


@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = wid.y;
  let bh = wid.z;
  let b = bh / P.H;
  let h = bh % P.H;
  let t0 = n * C;
  let rows = min(C, P.T - t0);
  let vt = wid.x;
  let tx = lid % TX;
  let ty = lid / TX;
  
  var acc: array<array<f32, RN>, RM>;
  for (var a = 0u; a < RM; a++) { for (var c = 0u; c < RN; c++) { acc[a][c] = 0.0; } }
  for (var i0 = 0u; i0 < rows; i0 += SI) {
    {
      var k_v: array<f32, ((SI * KP) + WG - 1u) / WG>;
      for (var stg = 0u; stg < ((SI * KP) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, (SI * KP) - 1u);
        let t = min(t0 + i0 + e / KP, P.T - 1u); let d = min(e % KP, KD - 1u);
        k_v[stg] = P.scale * role_q(b, t, h, d) * exp2(gateq(b, h, t, t0, d));
      }
      for (var stg = 0u; stg < ((SI * KP) + WG - 1u) / WG; stg++) {
        let e = lid + stg * WG;
        if (e < (SI * KP)) {
          
          let valid = i0 + e / KP < rows && e % KP < KD;
          sK[e] = select(0.0, k_v[stg], valid);
        }
      }
    }
    {
      var v_v: array<f32, ((SI * BV) + WG - 1u) / WG>;
      for (var stg = 0u; stg < ((SI * BV) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, (SI * BV) - 1u);
        let t = min(t0 + i0 + e / BV, P.T - 1u); let cg = min(vt * BV + e % BV, VD - 1u);
        v_v[stg] = b_do[bth(b, t, h, cg, VD)];
      }
      for (var stg = 0u; stg < ((SI * BV) + WG - 1u) / WG; stg++) {
        let e = lid + stg * WG;
        if (e < (SI * BV)) {
          
          let valid = i0 + e / BV < rows && vt * BV + e % BV < VD;
          sV[e] = select(0.0, v_v[stg], valid);
        }
      }
    }
    workgroupBarrier();
    for (var ii = 0u; ii < SI; ii++) {
      for (var a = 0u; a < RM; a++) {
        let l = sK[ii * KP + ty + TY * a];
        for (var c = 0u; c < RN; c++) { acc[a][c] += l * sV[ii * BV + tx + TX * c]; }
      }
    }
    workgroupBarrier();
  }
  for (var a = 0u; a < RM; a++) {
    let d = ty + TY * a;
    for (var c = 0u; c < RN; c++) {
      let cg = vt * BV + tx + TX * c;
      if (d < KD && cg < VD) { b_dhs[((bh * P.NT + n) * KD + d) * VD + cg] = acc[a][c]; }
    }
  }
}
