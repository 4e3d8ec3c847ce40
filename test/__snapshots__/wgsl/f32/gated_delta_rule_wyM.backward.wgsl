// lae kernel 'gated_delta_rule_wyM' (wyM) for variant 'gated_delta_rule'
// spec hash f24d6bf0f465f5b6; config {"K":64,"V":64,"chunk":64}; tiles {"KP":64,"VP":64,"outBV":64,"prepSlab":16,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=scalar correction=delta bonus=none state=kv

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> b_tmat: array<f32>;
@group(0) @binding(2) var<storage, read> b_dTA: array<f32>;
@group(0) @binding(3) var<storage, read_write> b_M: array<f32>;

const C: u32 = 64u;
const KD: u32 = 64u;
const VD: u32 = 64u;
const KP: u32 = 64u;
const VP: u32 = 64u;
const DG: u32 = 1u;
const WG: u32 = 256u;
const WG_X: u32 = 16u;
const LOG2E: f32 = 1.4426950408889634;

fn lae_sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn lae_softplus(x: f32) -> f32 { return select(log(1.0 + exp(x)), x, x > 20.0); }
fn lae_silu(x: f32) -> f32 { return x * lae_sigmoid(x); }

fn cc(bh: u32, n: u32, i: u32, j: u32) -> u32 { return ((bh * P.NT + n) * C + i) * C + j; }
fn tfull(bh: u32, n: u32, i: u32, j: u32) -> f32 { return b_tmat[cc(bh, n, i, j)] + select(0.0, 1.0, i == j); }

const TX: u32 = WG_X;
const TY: u32 = WG / WG_X;

const BW: u32 = 64u;
const RM: u32 = C / TY;
const RN: u32 = BW / TX;
const SR: u32 = 8u;
var<workgroup> sM: array<f32, SR * C>;
var<workgroup> sR: array<f32, SR * BW>;


@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = wid.y;
  let bh = wid.z;
  let b = bh / P.H;
  let h = bh % P.H;
  let t0 = n * C;
  let rows = min(C, P.T - t0);
  let xt = wid.x;
  let tx = lid % TX;
  let ty = lid / TX;
  var acc: array<array<f32, RN>, RM>;
  for (var a = 0u; a < RM; a++) { for (var c = 0u; c < RN; c++) { acc[a][c] = 0.0; } }
  for (var r0 = 0u; r0 < rows; r0 += SR) {
    {
      var m_v: array<f32, ((SR * C) + WG - 1u) / WG>;
      for (var stg = 0u; stg < ((SR * C) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, (SR * C) - 1u);
        let i = e % C; let r = min(r0 + e / C, rows - 1u);
        m_v[stg] = select(0.0, b_dTA[cc(bh, n, i, r)], r < i);
      }
      for (var stg = 0u; stg < ((SR * C) + WG - 1u) / WG; stg++) {
        let e = lid + stg * WG;
        if (e < (SR * C)) {
          
          let valid = e % C < rows && r0 + e / C < rows;
          sM[e] = select(0.0, m_v[stg], valid);
        }
      }
    }
    {
      var r_v: array<f32, ((SR * BW) + WG - 1u) / WG>;
      for (var stg = 0u; stg < ((SR * BW) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, (SR * BW) - 1u);
        let r = min(r0 + e / BW, rows - 1u); let t = t0 + r; let x = min(xt * BW + e % BW, C - 1u);
        r_v[stg] = select(0.0, tfull(bh, n, x, r), r <= x && x < rows);
      }
      for (var stg = 0u; stg < ((SR * BW) + WG - 1u) / WG; stg++) {
        let e = lid + stg * WG;
        if (e < (SR * BW)) {
          
          let valid = r0 + e / BW < rows && xt * BW + e % BW < C;
          sR[e] = select(0.0, r_v[stg], valid);
        }
      }
    }
    workgroupBarrier();
    for (var rr = 0u; rr < SR; rr++) {
      let r = r0 + rr;
      for (var a = 0u; a < RM; a++) {
        let i = ty + TY * a;
        let l = sM[rr * C + ty + TY * a];
        if (r < i) { for (var c = 0u; c < RN; c++) { let x = xt * BW + tx + TX * c; acc[a][c] += select(0.0, l * sR[rr * BW + tx + TX * c], r <= x); } }
      }
    }
    workgroupBarrier();
  }
  
  for (var a = 0u; a < RM; a++) {
    let i = ty + TY * a;
    for (var c = 0u; c < RN; c++) {
      let x = xt * BW + tx + TX * c;
      if (i < rows && x < C) {
        let t = t0 + i;
        let value = acc[a][c];
        b_M[cc(bh, n, i, x)] = value;
      }
    }
  }
}
