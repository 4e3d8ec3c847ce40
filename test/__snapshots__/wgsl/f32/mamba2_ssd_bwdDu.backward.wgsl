// lae kernel 'mamba2_ssd_bwdDu' (bwdDu) for variant 'mamba2_ssd'
// spec hash 363a6cffa32466b6; config {"K":64,"V":64,"chunk":64}; tiles {"KP":64,"VP":64,"outBV":64,"prepSlab":16,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=scalar correction=none bonus=none state=vk

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> b_gcum: array<f32>;
@group(0) @binding(2) var<storage, read> in_Bm: array<f32>;
@group(0) @binding(3) var<storage, read> b_dhs: array<f32>;
@group(0) @binding(4) var<storage, read> b_dvl: array<f32>;
@group(0) @binding(5) var<storage, read_write> b_grad_v: array<f32>;

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

fn role_k(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_Bm[(((b) * P.T + t) * P.H + h) * KD + j]; }
fn gcs(b: u32, h: u32, t: u32, d: u32) -> f32 { return b_gcum[((b * P.H + h) * P.T + t) * DG]; }
fn gate(b: u32, h: u32, t: u32, d: u32) -> f32 { return gcs(b, h, t, d); }
fn bth(b: u32, t: u32, h: u32, x: u32, width: u32) -> u32 { return ((b * P.T + t) * P.H + h) * width + x; }
fn tok(bh: u32, t: u32, x: u32, width: u32) -> u32 { return (bh * P.T + t) * width + x; }

const TX: u32 = WG_X;
const TY: u32 = WG / WG_X;

const BV: u32 = 64u;
const RM: u32 = C / TY;
const RN: u32 = BV / TX;
const SK: u32 = 8u;
var<workgroup> sL: array<f32, SK * C>;
var<workgroup> sS: array<f32, SK * BV>;

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
  let tl = t0 + rows - 1u;
  var acc: array<array<f32, RN>, RM>;
  for (var a = 0u; a < RM; a++) { for (var c = 0u; c < RN; c++) { acc[a][c] = 0.0; } }
  for (var d0 = 0u; d0 < KD; d0 += SK) {
    {
      var l_v: array<f32, ((C * SK) + WG - 1u) / WG>;
      for (var stg = 0u; stg < ((C * SK) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, (C * SK) - 1u);
        let t = t0 + min(e / SK, rows - 1u); let d = min(d0 + e % SK, KD - 1u);
        l_v[stg] = role_k(b, t, h, d) * exp2(gate(b, h, tl, d) - gate(b, h, t, d));
      }
      for (var stg = 0u; stg < ((C * SK) + WG - 1u) / WG; stg++) {
        let e = lid + stg * WG;
        if (e < (C * SK)) {
          let i = e / SK; let dd = e % SK;
          let valid = i < rows && d0 + dd < KD;
          sL[dd * C + i] = select(0.0, l_v[stg], valid);
        }
      }
    }
    {
      var s_v: array<f32, ((SK * BV) + WG - 1u) / WG>;
      for (var stg = 0u; stg < ((SK * BV) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, (SK * BV) - 1u);
        let d = min(d0 + e / BV, KD - 1u); let cg = min(vt * BV + e % BV, VD - 1u);
        s_v[stg] = b_dhs[((bh * P.NT + n) * KD + d) * VD + cg];
      }
      for (var stg = 0u; stg < ((SK * BV) + WG - 1u) / WG; stg++) {
        let e = lid + stg * WG;
        if (e < (SK * BV)) {
          
          let valid = d0 + e / BV < KD && vt * BV + e % BV < VD;
          sS[e] = select(0.0, s_v[stg], valid);
        }
      }
    }
    workgroupBarrier();
    for (var dd = 0u; dd < SK; dd++) {
      for (var a = 0u; a < RM; a++) {
        let l = sL[dd * C + ty + TY * a];
        for (var c = 0u; c < RN; c++) { acc[a][c] += l * sS[dd * BV + tx + TX * c]; }
      }
    }
    workgroupBarrier();
  }
  for (var a = 0u; a < RM; a++) {
    let i = ty + TY * a;
    for (var c = 0u; c < RN; c++) {
      let cg = vt * BV + tx + TX * c;
      if (i < rows && cg < VD) {
        let t = t0 + i;
        b_grad_v[bth(b, t, h, cg, VD)] = acc[a][c] + b_dvl[tok(bh, t, cg, VD)];
      }
    }
  }
}
