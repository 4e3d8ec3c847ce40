// lae kernel 'gla_bwdScores' (bwdScores) for variant 'gla'
// spec hash 4f7810925b4783ac; config {"K":64,"V":64,"chunk":64}; tiles {"KP":64,"VP":64,"outBV":64,"prepSlab":8,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=diagonal correction=none bonus=none state=kv

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> b_aqk: array<f32>;
@group(0) @binding(2) var<storage, read> in_q: array<f32>;
@group(0) @binding(3) var<storage, read> in_k: array<f32>;
@group(0) @binding(4) var<storage, read> b_gcum: array<f32>;

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
fn role_k(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_k[(((b) * P.T + t) * P.H + h) * KD + j]; }
fn gcs(b: u32, h: u32, t: u32, d: u32) -> f32 { return b_gcum[((b * P.H + h) * P.T + t) * DG + d]; }
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
var<workgroup> sGL: array<f32, SK * C>;
var<workgroup> sGR: array<f32, SK * C>;



fn scores(b: u32, h: u32, t0: u32, rows: u32, lid: u32) {
  let tx = lid % TX;
  let ty = lid / TX;
  var acc: array<array<f32, SRN>, SRM>;
  for (var a = 0u; a < SRM; a++) { for (var c = 0u; c < SRN; c++) { acc[a][c] = 0.0; } }
  
  for (var d0 = 0u; d0 < KD; d0 += SK) {
    {
      var l_v: array<f32, ((C * SK) + WG - 1u) / WG>; var rr_v: array<f32, ((C * SK) + WG - 1u) / WG>; var g1_v: array<f32, ((C * SK) + WG - 1u) / WG>; var g2_v: array<f32, ((C * SK) + WG - 1u) / WG>;
      for (var stg = 0u; stg < ((C * SK) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, (C * SK) - 1u);
        let t = min(t0 + e / SK, P.T - 1u); let d = min(d0 + e % SK, KD - 1u);
        l_v[stg] = role_q(b, t, h, d);
        rr_v[stg] = role_k(b, t, h, d);
        g1_v[stg] = gq(b, h, t, t0, d);
        g2_v[stg] = gcs(b, h, t, d);
      }
      for (var stg = 0u; stg < ((C * SK) + WG - 1u) / WG; stg++) {
        let e = lid + stg * WG;
        if (e < (C * SK)) {
          let i = e / SK; let dd = e % SK;
          let valid = i < rows && d0 + dd < KD;
          sL[dd * C + i] = select(0.0, l_v[stg], valid); sR[dd * C + i] = select(0.0, rr_v[stg], valid); sGL[dd * C + i] = select(0.0, g1_v[stg], valid); sGR[dd * C + i] = select(0.0, g2_v[stg], valid);
        }
      }
    }
    
    workgroupBarrier();
    for (var dd = 0u; dd < SK; dd++) {
      for (var a = 0u; a < SRM; a++) {
        let i = ty + TY * a;
        for (var c = 0u; c < SRN; c++) {
          let j = tx + TX * c;
          acc[a][c] += sL[dd * C + i] * sR[dd * C + j] * exp2(sGL[dd * C + i] - sGR[dd * C + j]);
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
