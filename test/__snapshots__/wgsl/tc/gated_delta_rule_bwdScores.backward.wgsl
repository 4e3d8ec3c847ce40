// lae kernel 'gated_delta_rule_bwdScores' (bwdScores) for variant 'gated_delta_rule'
// spec hash f24d6bf0f465f5b6; config {"K":128,"V":128,"chunk":64,"fragments":"subgroup-matrix","wgMemory":49152}; tiles {"KP":128,"VP":128,"outBV":128,"prepSlab":32,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=scalar correction=delta bonus=none state=kv

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> b_aqk: array<f32>;
@group(0) @binding(2) var<storage, read> in_q: array<f32>;
@group(0) @binding(3) var<storage, read> in_k: array<f32>;
@group(0) @binding(4) var<storage, read> b_gcum: array<f32>;

const C: u32 = 64u;
const KD: u32 = 128u;
const VD: u32 = 128u;
const KP: u32 = 128u;
const VP: u32 = 128u;
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
fn gq(b: u32, h: u32, t: u32, t0: u32, d: u32) -> f32 { return gcs(b, h, t, d); }
fn cc(bh: u32, n: u32, i: u32, j: u32) -> u32 { return ((bh * P.NT + n) * C + i) * C + j; }

const TX: u32 = WG_X;
const TY: u32 = WG / WG_X;


const SK: u32 = 8u;
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
    if (i < rows) { x = gq(b, h, t0 + i, t0, 0u); y = gcs(b, h, t0 + i, 0u); }
    sG1L[i] = x; sG1R[i] = y;
  }
  for (var d0 = 0u; d0 < KD; d0 += SK) {
    {
      var l_v: array<f32, ((C * SK) + WG - 1u) / WG>; var rr_v: array<f32, ((C * SK) + WG - 1u) / WG>;
      for (var stg = 0u; stg < ((C * SK) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, (C * SK) - 1u);
        let t = min(t0 + e / SK, P.T - 1u); let d = min(d0 + e % SK, KD - 1u);
        l_v[stg] = role_q(b, t, h, d);
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
      if (i < rows && j <= i) {
        var x = acc[a][c] * P.scale;
        x = x * exp2(sG1L[i] - sG1R[j]);
        v = x;
      }
      sA[i * C + j] = v;
    }
  }
  workgroupBarrier();
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = wid.x;
  let bh = wid.y;
  let t0 = n * C;
  let rows = min(C, P.T - t0);
  scores(bh / P.H, bh % P.H, t0, rows, lid);
  for (var e = lid; e < C * C; e += WG) { b_aqk[cc(bh, n, e / C, e % C)] = sA[e]; }
}
