// lae kernel 'gated_delta_rule_deltaScan' (deltaScan) for variant 'gated_delta_rule'
// spec hash f24d6bf0f465f5b6; config {"K":64,"V":64,"chunk":64}; tiles {"KP":64,"VP":64,"outBV":64,"prepSlab":16,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=scalar correction=delta bonus=none state=kv

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> b_hs: array<f32>;
@group(0) @binding(2) var<storage, read> b_h0: array<f32>;
@group(0) @binding(3) var<storage, read_write> b_ht: array<f32>;
@group(0) @binding(4) var<storage, read> b_u: array<f32>;
@group(0) @binding(5) var<storage, read> b_w: array<f32>;
@group(0) @binding(6) var<storage, read_write> b_vnew: array<f32>;
@group(0) @binding(7) var<storage, read> in_k: array<f32>;
@group(0) @binding(8) var<storage, read> b_gcum: array<f32>;

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

fn role_k(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_k[(((b) * P.T + t) * P.H + h) * KD + j]; }
fn gcs(b: u32, h: u32, t: u32, d: u32) -> f32 { return b_gcum[((b * P.H + h) * P.T + t) * DG]; }

const TX: u32 = WG_X;
const TY: u32 = WG / WG_X;

const BV: u32 = 16u;
const RM: u32 = KP / TY;
const RN: u32 = BV / TX;
const VM: u32 = C / TY;
const SK: u32 = 8u;
const RB: u32 = 8u;
var<workgroup> sS: array<f32, KP * BV>;
var<workgroup> sVn: array<f32, C * BV>;
var<workgroup> sW: array<f32, SK * C>;
var<workgroup> sKb: array<f32, RB * KP>;
var<workgroup> sGl: array<f32, DG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let vt = wid.x;
  let bh = wid.y;
  let b = bh / P.H;
  let h = bh % P.H;
  let sq = b;
  let nBegin = 0u;
  let nEnd = P.NT;
  let tBegin = 0u;
  let tEnd = P.T;
  let tx = lid % TX;
  let ty = lid / TX;
  var st: array<array<f32, RN>, RM>;
  for (var a = 0u; a < RM; a++) {
    let d = ty + TY * a;
    for (var c = 0u; c < RN; c++) {
      let cl = tx + TX * c;
      let cg = vt * BV + cl;
      var s = 0.0;
      if (P.has_h0 != 0u && d < KD && cg < VD) { s = b_h0[((sq * P.H + h) * KD + d) * VD + cg]; }
      st[a][c] = s;
      sS[d * BV + cl] = s;
    }
  }
  for (var n = nBegin; n < nEnd; n++) {
    let t0 = n * C;
  let rows = min(C, P.T - t0);
    for (var a = 0u; a < RM; a++) {
      let d = ty + TY * a;
      for (var c = 0u; c < RN; c++) {
        let cg = vt * BV + tx + TX * c;
        if (d < KD && cg < VD) { b_hs[((bh * P.NT + n) * KD + d) * VD + cg] = st[a][c]; }
      }
    }
    for (var d = lid; d < DG; d += WG) { sGl[d] = gcs(b, h, t0 + rows - 1u, d); }
    workgroupBarrier();
    // V_new = U - W S_n: rows ty + TY*a, columns tx + TX*c; W streamed in K-slabs.
    var wsn: array<array<f32, RN>, VM>;
    for (var a = 0u; a < VM; a++) { for (var c = 0u; c < RN; c++) { wsn[a][c] = 0.0; } }
    for (var d0 = 0u; d0 < KD; d0 += SK) {
      {
      var w_v: array<f32, ((C * SK) + WG - 1u) / WG>;
      for (var stg = 0u; stg < ((C * SK) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, (C * SK) - 1u);
        let t = min(t0 + e / SK, P.T - 1u); let d = min(d0 + e % SK, KD - 1u);
        w_v[stg] = b_w[(bh * P.T + t) * KD + d];
      }
      for (var stg = 0u; stg < ((C * SK) + WG - 1u) / WG; stg++) {
        let e = lid + stg * WG;
        if (e < (C * SK)) {
          let i = e / SK;
          let valid = i < rows && d0 + e % SK < KD;
          sW[(e % SK) * C + i] = select(0.0, w_v[stg], valid);
        }
      }
    }
      workgroupBarrier();
      for (var dd = 0u; dd < SK; dd++) {
      let srow = min(d0 + dd, KP - 1u) * BV;
      for (var a = 0u; a < VM; a++) {
        let l = sW[dd * C + ty + TY * a];
        for (var c = 0u; c < RN; c++) { wsn[a][c] += l * sS[srow + tx + TX * c]; }
      }
    }
      workgroupBarrier();
    }
    for (var a = 0u; a < VM; a++) {
      let i = ty + TY * a;
      for (var c = 0u; c < RN; c++) {
        let cl = tx + TX * c;
        let cg = vt * BV + cl;
        var x = 0.0;
        if (i < rows && cg < VD) {
          let t = t0 + i;
          x = b_u[(bh * P.T + t) * VD + cg] - wsn[a][c];
          b_vnew[(bh * P.T + t) * VD + cg] = x;
        }
        sVn[i * BV + cl] = x;
      }
    }
    for (var a = 0u; a < RM; a++) {
      let d = min(ty + TY * a, KD - 1u);
      let decay = exp2(sGl[0]);
      for (var c = 0u; c < RN; c++) { st[a][c] *= decay; }
    }
    workgroupBarrier();
    for (var i0 = 0u; i0 < rows; i0 += RB) {
      {
      var k_v: array<f32, ((RB * KP) + WG - 1u) / WG>;
      for (var stg = 0u; stg < ((RB * KP) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, (RB * KP) - 1u);
        let t = min(t0 + i0 + e / KP, P.T - 1u); let d = min(e % KP, KD - 1u);
        k_v[stg] = role_k(b, t, h, d) * exp2(sGl[0] - gcs(b, h, t, d));
      }
      for (var stg = 0u; stg < ((RB * KP) + WG - 1u) / WG; stg++) {
        let e = lid + stg * WG;
        if (e < (RB * KP)) {
          
          let valid = i0 + e / KP < rows && e % KP < KD;
          sKb[e] = select(0.0, k_v[stg], valid);
        }
      }
    }
      workgroupBarrier();
      for (var ii = 0u; ii < RB; ii++) {
      for (var a = 0u; a < RM; a++) {
        let l = sKb[ii * KP + ty + TY * a];
        for (var c = 0u; c < RN; c++) { st[a][c] += l * sVn[(i0 + ii) * BV + tx + TX * c]; }
      }
    }
      workgroupBarrier();
    }
    for (var a = 0u; a < RM; a++) {
      for (var c = 0u; c < RN; c++) { sS[(ty + TY * a) * BV + tx + TX * c] = st[a][c]; }
    }
    workgroupBarrier();
  }
  for (var a = 0u; a < RM; a++) {
    let d = ty + TY * a;
    for (var c = 0u; c < RN; c++) {
      let cg = vt * BV + tx + TX * c;
      if (d < KD && cg < VD) { b_ht[((sq * P.H + h) * KD + d) * VD + cg] = st[a][c]; }
    }
  }
}
