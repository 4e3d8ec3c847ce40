// lae kernel 'gated_delta_rule_bwdScan' (bwdScan) for variant 'gated_delta_rule'
// spec hash f24d6bf0f465f5b6; config {"K":64,"V":64,"chunk":64}; tiles {"KP":64,"VP":64,"outBV":64,"prepSlab":16,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=scalar correction=delta bonus=none state=kv

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> b_gcum: array<f32>;
@group(0) @binding(2) var<storage, read> in_q: array<f32>;
@group(0) @binding(3) var<storage, read> in_k: array<f32>;
@group(0) @binding(4) var<storage, read> b_do: array<f32>;
@group(0) @binding(5) var<storage, read_write> b_dU: array<f32>;
@group(0) @binding(6) var<storage, read_write> b_dhs: array<f32>;
@group(0) @binding(7) var<storage, read_write> b_dh0: array<f32>;
@group(0) @binding(8) var<storage, read> b_w: array<f32>;

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

fn role_q(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_q[(((b) * P.T + t) * P.H + h) * KD + j]; }
fn role_k(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_k[(((b) * P.T + t) * P.H + h) * KD + j]; }
fn gcs(b: u32, h: u32, t: u32, d: u32) -> f32 { return b_gcum[((b * P.H + h) * P.T + t) * DG]; }
fn gate(b: u32, h: u32, t: u32, d: u32) -> f32 { return gcs(b, h, t, d); }
fn gq(b: u32, h: u32, t: u32, t0: u32, d: u32) -> f32 { return gcs(b, h, t, d); }
fn gateq(b: u32, h: u32, t: u32, t0: u32, d: u32) -> f32 { return gq(b, h, t, t0, d); }
fn tok(bh: u32, t: u32, x: u32, width: u32) -> u32 { return (bh * P.T + t) * width + x; }
fn bth(b: u32, t: u32, h: u32, x: u32, width: u32) -> u32 { return ((b * P.T + t) * P.H + h) * width + x; }

const TX: u32 = WG_X;
const TY: u32 = WG / WG_X;

const BV: u32 = 16u;
const RM: u32 = KP / TY;
const RN: u32 = BV / TX;
const JM: u32 = C / TY;
const SK: u32 = 8u;
const RB: u32 = 8u;
var<workgroup> sD: array<f32, KP * BV>;
var<workgroup> sDu: array<f32, C * BV>;
var<workgroup> sKg: array<f32, SK * C>;
var<workgroup> sQg: array<f32, RB * KP>;
var<workgroup> sW: array<f32, RB * KP>;
var<workgroup> sDo: array<f32, RB * BV>;

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
  var ds: array<array<f32, RN>, RM>;
  for (var a = 0u; a < RM; a++) {
    let d = ty + TY * a;
    for (var c = 0u; c < RN; c++) {
      let cg = vt * BV + tx + TX * c;
      var x = 0.0;
      if (d < KD && cg < VD) { x = b_dh0[((sq * P.H + h) * KD + d) * VD + cg]; }
      ds[a][c] = x;
    }
  }
  for (var nn = nBegin; nn < nEnd; nn++) {
    let n = nBegin + nEnd - 1u - nn;
    let t0 = n * C;
  let rows = min(C, P.T - t0);
    let tl = t0 + rows - 1u;
    for (var a = 0u; a < RM; a++) {
      let d = ty + TY * a;
      for (var c = 0u; c < RN; c++) {
        let cl = tx + TX * c;
        let cg = vt * BV + cl;
        sD[d * BV + cl] = ds[a][c];
        if (d < KD && cg < VD) { b_dhs[((bh * P.NT + n) * KD + d) * VD + cg] = ds[a][c]; }
      }
    }
    workgroupBarrier();
    // du = dvl + Kg dS: rows j = ty + TY*a, K streamed in slabs of decayed keys.
    var du: array<array<f32, RN>, JM>;
    for (var a = 0u; a < JM; a++) { for (var c = 0u; c < RN; c++) { du[a][c] = 0.0; } }
    for (var d0 = 0u; d0 < KD; d0 += SK) {
      {
      var kg_v: array<f32, ((C * SK) + WG - 1u) / WG>;
      for (var stg = 0u; stg < ((C * SK) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, (C * SK) - 1u);
        let t = t0 + min(e / SK, rows - 1u); let d = min(d0 + e % SK, KD - 1u);
        kg_v[stg] = role_k(b, t, h, d) * exp2(gate(b, h, tl, d) - gate(b, h, t, d));
      }
      for (var stg = 0u; stg < ((C * SK) + WG - 1u) / WG; stg++) {
        let e = lid + stg * WG;
        if (e < (C * SK)) {
          let j = e / SK; let dd = e % SK;
          let valid = j < rows && d0 + dd < KD;
          sKg[dd * C + j] = select(0.0, kg_v[stg], valid);
        }
      }
    }
      workgroupBarrier();
      for (var dd = 0u; dd < SK; dd++) {
      let srow = min(d0 + dd, KP - 1u) * BV;
      for (var a = 0u; a < JM; a++) {
        let l = sKg[dd * C + ty + TY * a];
        for (var c = 0u; c < RN; c++) { du[a][c] += l * sD[srow + tx + TX * c]; }
      }
    }
      workgroupBarrier();
    }
    for (var a = 0u; a < JM; a++) {
      let j = ty + TY * a;
      for (var c = 0u; c < RN; c++) {
        let cl = tx + TX * c;
        let cg = vt * BV + cl;
        var x = 0.0;
        if (j < rows && cg < VD) {
          let t = t0 + j;
          x = du[a][c] + b_dU[tok(bh, t, cg, VD)];
          b_dU[tok(bh, t, cg, VD)] = x;
        }
        sDu[j * BV + cl] = x;
      }
    }
    // dS <- 2^G_last dS + Qg^T do [- W^T du], rows of the chunk in slabs of RB.
    for (var a = 0u; a < RM; a++) {
      let d = min(ty + TY * a, KD - 1u);
      let decay = exp2(gate(b, h, tl, d));
      for (var c = 0u; c < RN; c++) { ds[a][c] *= decay; }
    }
    workgroupBarrier();
    for (var i0 = 0u; i0 < rows; i0 += RB) {
      {
      var qg_v: array<f32, ((RB * KP) + WG - 1u) / WG>; var w_v: array<f32, ((RB * KP) + WG - 1u) / WG>;
      for (var stg = 0u; stg < ((RB * KP) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, (RB * KP) - 1u);
        let t = t0 + min(i0 + e / KP, rows - 1u); let d = min(e % KP, KD - 1u);
        qg_v[stg] = P.scale * role_q(b, t, h, d) * exp2(gateq(b, h, t, t0, d));
        w_v[stg] = b_w[tok(bh, t, d, KD)];
      }
      for (var stg = 0u; stg < ((RB * KP) + WG - 1u) / WG; stg++) {
        let e = lid + stg * WG;
        if (e < (RB * KP)) {
          
          let valid = i0 + e / KP < rows && e % KP < KD;
          sQg[e] = select(0.0, qg_v[stg], valid); sW[e] = select(0.0, w_v[stg], valid);
        }
      }
    }
      {
      var o_v: array<f32, ((RB * BV) + WG - 1u) / WG>;
      for (var stg = 0u; stg < ((RB * BV) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, (RB * BV) - 1u);
        let t = t0 + min(i0 + e / BV, rows - 1u); let cg = min(vt * BV + e % BV, VD - 1u);
        o_v[stg] = b_do[bth(b, t, h, cg, VD)];
      }
      for (var stg = 0u; stg < ((RB * BV) + WG - 1u) / WG; stg++) {
        let e = lid + stg * WG;
        if (e < (RB * BV)) {
          
          let valid = i0 + e / BV < rows && vt * BV + e % BV < VD;
          sDo[e] = select(0.0, o_v[stg], valid);
        }
      }
    }
      workgroupBarrier();
      for (var ii = 0u; ii < RB; ii++) {
        for (var a = 0u; a < RM; a++) {
          let d = ty + TY * a;
          let lq = sQg[ii * KP + d];
          let lw = sW[ii * KP + d];
          for (var c = 0u; c < RN; c++) {
            let cl = tx + TX * c;
            ds[a][c] += lq * sDo[ii * BV + cl] - lw * sDu[min(i0 + ii, C - 1u) * BV + cl];
          }
        }
      }
      workgroupBarrier();
    }
  }
  for (var a = 0u; a < RM; a++) {
    let d = ty + TY * a;
    for (var c = 0u; c < RN; c++) {
      let cg = vt * BV + tx + TX * c;
      if (d < KD && cg < VD) { b_dh0[((sq * P.H + h) * KD + d) * VD + cg] = ds[a][c]; }
    }
  }
}
