// lae kernel 'gated_delta_rule_bwdInter' (bwdInter) for variant 'gated_delta_rule'
// spec hash f24d6bf0f465f5b6; config {"K":64,"V":64,"chunk":64}; tiles {"KP":64,"VP":64,"outBV":64,"prepSlab":16,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=scalar correction=delta bonus=none state=kv

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> b_hs: array<f32>;
@group(0) @binding(2) var<storage, read> b_dhs: array<f32>;
@group(0) @binding(3) var<storage, read> b_do: array<f32>;
@group(0) @binding(4) var<storage, read> b_vnew: array<f32>;
@group(0) @binding(5) var<storage, read> b_dU: array<f32>;
@group(0) @binding(6) var<storage, read_write> b_dinter: array<f32>;

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

fn tok(bh: u32, t: u32, x: u32, width: u32) -> u32 { return (bh * P.T + t) * width + x; }
fn bth(b: u32, t: u32, h: u32, x: u32, width: u32) -> u32 { return ((b * P.T + t) * P.H + h) * width + x; }
fn st(bh: u32, n: u32, d: u32, c: u32) -> u32 { return ((bh * P.NT + n) * KD + d) * VD + c; }
fn dint(part: u32, i: u32) -> u32 { return part * (P.B * P.H * P.T * KD) + i; }

const TX: u32 = WG_X;
const TY: u32 = WG / WG_X;

const BK: u32 = 64u;
const RM: u32 = C / TY;
const RN: u32 = BK / TX;
const SC: u32 = 8u;
var<workgroup> sDo: array<f32, SC * C>;
var<workgroup> sU: array<f32, SC * C>;
var<workgroup> sDu: array<f32, SC * C>;
var<workgroup> sS: array<f32, SC * BK>;
var<workgroup> sD: array<f32, SC * BK>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = wid.y;
  let bh = wid.z;
  let b = bh / P.H;
  let h = bh % P.H;
  let t0 = n * C;
  let rows = min(C, P.T - t0);
  let kt = wid.x;
  let tx = lid % TX;
  let ty = lid / TX;
  var aq: array<array<f32, RN>, RM>; var ak: array<array<f32, RN>, RM>; var aw: array<array<f32, RN>, RM>;
  for (var a = 0u; a < RM; a++) { for (var c = 0u; c < RN; c++) { aq[a][c] = 0.0; ak[a][c] = 0.0; aw[a][c] = 0.0; } }
  for (var c0 = 0u; c0 < VD; c0 += SC) {
    {
      var o_v: array<f32, ((C * SC) + WG - 1u) / WG>; var u_v: array<f32, ((C * SC) + WG - 1u) / WG>; var w_v: array<f32, ((C * SC) + WG - 1u) / WG>;
      for (var stg = 0u; stg < ((C * SC) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, (C * SC) - 1u);
        let t = t0 + min(e / SC, rows - 1u); let c = min(c0 + e % SC, VD - 1u);
        o_v[stg] = b_do[bth(b, t, h, c, VD)];
        u_v[stg] = b_vnew[tok(bh, t, c, VD)];
        w_v[stg] = b_dU[tok(bh, t, c, VD)];
      }
      for (var stg = 0u; stg < ((C * SC) + WG - 1u) / WG; stg++) {
        let e = lid + stg * WG;
        if (e < (C * SC)) {
          let i = e / SC; let cc = e % SC;
          let valid = i < rows && c0 + cc < VD;
          sDo[cc * C + i] = select(0.0, o_v[stg], valid); sU[cc * C + i] = select(0.0, u_v[stg], valid); sDu[cc * C + i] = select(0.0, w_v[stg], valid);
        }
      }
    }
    {
      var s_v: array<f32, ((BK * SC) + WG - 1u) / WG>; var g_v: array<f32, ((BK * SC) + WG - 1u) / WG>;
      for (var stg = 0u; stg < ((BK * SC) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, (BK * SC) - 1u);
        let d = min(kt * BK + e / SC, KD - 1u); let c = min(c0 + e % SC, VD - 1u);
        s_v[stg] = b_hs[st(bh, n, d, c)];
        g_v[stg] = b_dhs[st(bh, n, d, c)];
      }
      for (var stg = 0u; stg < ((BK * SC) + WG - 1u) / WG; stg++) {
        let e = lid + stg * WG;
        if (e < (BK * SC)) {
          let dd = e / SC; let cc = e % SC;
          let valid = kt * BK + dd < KD && c0 + cc < VD;
          sS[cc * BK + dd] = select(0.0, s_v[stg], valid); sD[cc * BK + dd] = select(0.0, g_v[stg], valid);
        }
      }
    }
    workgroupBarrier();
    for (var cc = 0u; cc < SC; cc++) {
      for (var a = 0u; a < RM; a++) {
        let i = ty + TY * a;
        let lo = sDo[cc * C + i];
        let lu = sU[cc * C + i];
        let lw = sDu[cc * C + i];
        for (var c = 0u; c < RN; c++) {
          let col = tx + TX * c;
          let s = sS[cc * BK + col];
          aq[a][c] += lo * s;
          ak[a][c] += lu * sD[cc * BK + col];
          aw[a][c] += lw * s;
        }
      }
    }
    workgroupBarrier();
  }
  for (var a = 0u; a < RM; a++) {
    let i = ty + TY * a;
    for (var c = 0u; c < RN; c++) {
      let d = kt * BK + tx + TX * c;
      if (i < rows && d < KD) {
        let at = tok(bh, t0 + i, d, KD);
        b_dinter[dint(0u, at)] = aq[a][c];
        b_dinter[dint(1u, at)] = ak[a][c];
        b_dinter[dint(2u, at)] = -aw[a][c];
      }
    }
  }
}
