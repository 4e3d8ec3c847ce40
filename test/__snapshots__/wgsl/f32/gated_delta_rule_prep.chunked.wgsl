// lae kernel 'gated_delta_rule_prep' (prep) for variant 'gated_delta_rule'
// spec hash f24d6bf0f465f5b6; config {"K":64,"V":64,"chunk":64}; tiles {"KP":64,"VP":64,"outBV":64,"prepSlab":16,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=scalar correction=delta bonus=none state=kv

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> b_gcum: array<f32>;
@group(0) @binding(2) var<storage, read> in_g: array<f32>;
@group(0) @binding(3) var<storage, read> in_beta: array<f32>;
@group(0) @binding(4) var<storage, read> in_k: array<f32>;
@group(0) @binding(5) var<storage, read> in_v: array<f32>;
@group(0) @binding(6) var<storage, read_write> b_w: array<f32>;
@group(0) @binding(7) var<storage, read_write> b_u: array<f32>;
@group(0) @binding(8) var<storage, read_write> b_tmat: array<f32>;

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

fn role_logDecay(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_g[((b) * P.T + t) * P.H + h]; }
fn role_beta(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_beta[((b) * P.T + t) * P.H + h]; }
fn role_k(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_k[(((b) * P.T + t) * P.H + h) * KD + j]; }
fn role_v(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_v[(((b) * P.T + t) * P.H + h) * VD + j]; }
const LOG2_FLOOR: f32 = -160.0;
fn decay_floor(x: f32) -> f32 {
  let nan = (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
  return select(max(x, LOG2_FLOOR), x, nan);
}
fn gcs(b: u32, h: u32, t: u32, d: u32) -> f32 { return b_gcum[((b * P.H + h) * P.T + t) * DG]; }

const TX: u32 = WG_X;
const TY: u32 = WG / WG_X;

var<workgroup> sBeta: array<f32, C>;
// The most (i, c) updates one solve step has, C^2/4, spread over the workgroup.
const SOLVE_PER_THREAD: u32 = (C * C / 4u + WG - 1u) / WG;

const SK: u32 = 16u;
const SRM: u32 = C / TY;
const SRN: u32 = C / TX;
var<workgroup> sA: array<f32, C * C>;
var<workgroup> sL: array<f32, SK * C>;
var<workgroup> sR: array<f32, SK * C>;

var<workgroup> sG1L: array<f32, C>;
var<workgroup> sG1R: array<f32, C>;


fn scores(b: u32, h: u32, t0: u32, rows: u32, lid: u32) {
  let tx = lid % TX;
  let ty = lid / TX;
  var acc: array<array<f32, SRN>, SRM>;
  for (var a = 0u; a < SRM; a++) { for (var c = 0u; c < SRN; c++) { acc[a][c] = 0.0; } }
  for (var i = lid; i < C; i += WG) {
    var x = 0.0; var y = 0.0;
    if (i < rows) { x = gcs(b, h, t0 + i, 0u); y = gcs(b, h, t0 + i, 0u); }
    sG1L[i] = x; sG1R[i] = y;
  }
  for (var d0 = 0u; d0 < KD; d0 += SK) {
    {
      var l_v: array<f32, ((C * SK) + WG - 1u) / WG>; var rr_v: array<f32, ((C * SK) + WG - 1u) / WG>;
      for (var stg = 0u; stg < ((C * SK) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, (C * SK) - 1u);
        let t = min(t0 + e / SK, P.T - 1u); let d = min(d0 + e % SK, KD - 1u);
        l_v[stg] = role_k(b, t, h, d);
        rr_v[stg] = role_k(b, t, h, d);
      }
      for (var stg = 0u; stg < ((C * SK) + WG - 1u) / WG; stg++) {
        let e = lid + stg * WG;
        if (e < (C * SK)) {
          let i = e / SK; let dd = e % SK;
          let valid = i < rows && d0 + dd < KD;
          sL[dd * C + i] = select(0.0, l_v[stg], valid); sR[dd * C + i] = select(0.0, rr_v[stg], valid);
        }
      }
    }
    
    workgroupBarrier();
    for (var dd = 0u; dd < SK; dd++) {
      for (var a = 0u; a < SRM; a++) {
        let i = ty + TY * a;
        for (var c = 0u; c < SRN; c++) {
          let j = tx + TX * c;
          acc[a][c] += sL[dd * C + i] * sR[dd * C + j];
        }
      }
    }
    workgroupBarrier();
  }
  for (var a = 0u; a < SRM; a++) {
    let i = ty + TY * a;
    for (var c = 0u; c < SRN; c++) {
      let j = tx + TX * c;
      var v = 0.0;
      if (i < rows && j < i) {
        var x = acc[a][c] * sBeta[i];
        x = x * exp2(sG1L[i] - sG1R[j]);
        v = x;
      }
      sA[i * C + j] = v;
    }
  }
  workgroupBarrier();
}


const WN: u32 = max(KP, VP);
// Rows of X staged per step: keeps sX at 4 KiB and divides C.
const SJW: u32 = min(C, 1024u / WN);
// Its own thread grid: WTX x WTY threads (the rest idle), so narrow K or V still tiles evenly.
const WTX: u32 = min(16u, WN);
const WTY: u32 = min(C, WG / WTX);
const WRM: u32 = C / WTY;
const WRN: u32 = WN / WTX;
var<workgroup> sX: array<f32, SJW * WN>;

fn wy_product(b: u32, h: u32, bh: u32, t0: u32, rows: u32, lid: u32, which: u32) {
  let tx = lid % WTX;
  let ty = lid / WTX;
  let live = ty < WTY;
  let width = select(KD, VD, which == 1u);
  var acc: array<array<f32, WRN>, WRM>;
  for (var a = 0u; a < WRM; a++) { for (var c = 0u; c < WRN; c++) { acc[a][c] = 0.0; } }
  for (var j0 = 0u; j0 < rows; j0 += SJW) {
    {
      var x_v: array<f32, ((SJW * WN) + WG - 1u) / WG>;
      for (var stg = 0u; stg < ((SJW * WN) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, (SJW * WN) - 1u);
        let j = min(j0 + e / WN, rows - 1u); let t = t0 + j; let d = min(e % WN, width - 1u);
        x_v[stg] = sBeta[j] * select(role_v(b, t, h, min(d, VD - 1u)), role_k(b, t, h, min(d, KD - 1u)) * exp2(gcs(b, h, t, min(d, KD - 1u))), which == 0u);
      }
      for (var stg = 0u; stg < ((SJW * WN) + WG - 1u) / WG; stg++) {
        let e = lid + stg * WG;
        if (e < (SJW * WN)) {
          
          let valid = j0 + e / WN < rows && e % WN < width;
          sX[e] = select(0.0, x_v[stg], valid);
        }
      }
    }
    workgroupBarrier();
    // l = (I + T_strict)[i, j], with row i clamped for idle threads.
    for (var jj = 0u; jj < SJW; jj++) {
      let j = j0 + jj;
      for (var a = 0u; a < WRM; a++) {
        let i = min(ty + WTY * a, C - 1u);
        let l = sA[i * C + j] + select(0.0, 1.0, i == j);
        if (j <= i) { for (var c = 0u; c < WRN; c++) { acc[a][c] += l * sX[jj * WN + tx + WTX * c]; } }
      }
    }
    workgroupBarrier();
  }
  for (var a = 0u; a < WRM; a++) {
    let i = ty + WTY * a;
    for (var c = 0u; c < WRN; c++) {
      let d = tx + WTX * c;
      if (live && i < rows && d < width) {
        if (which == 0u) { b_w[(bh * P.T + t0 + i) * KD + d] = acc[a][c]; } else { b_u[(bh * P.T + t0 + i) * VD + d] = acc[a][c]; }
      }
    }
  }
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

  for (var i = lid; i < C; i += WG) {
    var x = 0.0;
    if (i < rows) { x = role_beta(b, t0 + i, h, 0u); }
    sBeta[i] = x;
  }
  workgroupBarrier();
  scores(b, h, t0, rows, lid);
  // T = (I + A)^-1 in place, right-looking: once row j of T is final, every later row i takes
  // T[i,c] -= A[i,j] T[j,c] for c <= j (T[j,j] = 1), all (i, c) in parallel. Position (i,j)
  // holds A[i,j] until step j reads it, then accumulates T[i,j]. C steps of O(C^2/4) parallel
  // work replace the serial chains of row-by-row substitution.
  for (var j = 0u; j + 1u < rows; j++) {
    let width = j + 1u;
    let count = (rows - 1u - j) * width;
    var upd: array<f32, SOLVE_PER_THREAD>;
    for (var r = 0u; r < SOLVE_PER_THREAD; r++) {
      let e = lid + r * WG;
      if (e < count) {
        let i = j + 1u + e / width;
        let c = e % width;
        let tjc = select(sA[j * C + c], 1.0, c == j);
        let acc = select(sA[i * C + c], 0.0, c == j);
        upd[r] = acc - sA[i * C + j] * tjc;
      }
    }
    workgroupBarrier();
    for (var r = 0u; r < SOLVE_PER_THREAD; r++) {
      let e = lid + r * WG;
      if (e < count) { sA[(j + 1u + e / width) * C + e % width] = upd[r]; }
    }
    workgroupBarrier();
  }
  // T_strict is kept for the backward (the WY gradient needs T itself).
  for (var e = lid; e < C * C; e += WG) { b_tmat[(bh * P.NT + n) * C * C + e] = sA[e]; }
  // W = (I + T_strict) X and U = (I + T_strict) Y with X = beta * 2^G * K and Y = beta * V,
  // as register-tiled matmuls over row slabs of X and Y staged in workgroup memory.
  wy_product(b, h, bh, t0, rows, lid, 0u);
  wy_product(b, h, bh, t0, rows, lid, 1u);
}
