// lae kernel 'mamba2_ssd_step' (step) for variant 'mamba2_ssd'
// spec hash 363a6cffa32466b6; config {"K":64,"V":64,"chunk":64}; tiles {"KP":64,"VP":64,"outBV":64,"prepSlab":16,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=scalar correction=none bonus=none state=vk

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> b_state: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> b_o: array<f32>;
@group(0) @binding(3) var<storage, read> in_Cm: array<f32>;
@group(0) @binding(4) var<storage, read> in_Bm: array<f32>;
@group(0) @binding(5) var<storage, read> in_x: array<f32>;
@group(0) @binding(6) var<storage, read> in_dt: array<f32>;
@group(0) @binding(7) var<storage, read> in_A: array<f32>;
@group(0) @binding(8) var<storage, read> in_D: array<f32>;

const C: u32 = 64u;
const KD: u32 = 64u;
const VD: u32 = 64u;
const KP: u32 = 64u;
const VP: u32 = 64u;
const DG: u32 = 1u;
const WG: u32 = 128u;
const WG_X: u32 = 1u;
const LOG2E: f32 = 1.4426950408889634;

fn lae_sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn lae_softplus(x: f32) -> f32 { return select(log(1.0 + exp(x)), x, x > 20.0); }
fn lae_silu(x: f32) -> f32 { return x * lae_sigmoid(x); }

fn role_q(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_Cm[(((b) * P.T + t) * P.H + h) * KD + j]; }
fn role_k(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_Bm[(((b) * P.T + t) * P.H + h) * KD + j]; }
fn role_v(b: u32, t: u32, h: u32, j: u32) -> f32 { return (in_x[(((b) * P.T + t) * P.H + h) * VD + j] * in_dt[((b) * P.T + t) * P.H + h]); }
fn role_logDecay(b: u32, t: u32, h: u32, j: u32) -> f32 { return (in_A[h] * in_dt[((b) * P.T + t) * P.H + h]); }
fn role_outputAdd(b: u32, t: u32, h: u32, j: u32) -> f32 { return (in_D[h] * in_x[(((b) * P.T + t) * P.H + h) * VD + j]); }
fn hsum(x: vec4<f32>) -> f32 { return (x.x + x.y) + (x.z + x.w); }

const BV: u32 = 32u;
const W: u32 = 4u;
const TX: u32 = 16u;
const TY: u32 = 8u;
const RI: u32 = 1u;
const CI: u32 = 4u;
const NI: u32 = 4u;
const NPART: u32 = 16u;
const RW: u32 = 33u;
const NS: u32 = 4u;
var<workgroup> red: array<f32, 528>;
var<workgroup> red2: array<f32, 132>;
var<workgroup> upd: array<f32, BV>;

/** Sum of reduction column col over the slices. */
fn colSum(col: u32) -> f32 {
  var acc = 0.0;
  for (var sl = 0u; sl < NS; sl++) { acc += red2[sl * RW + col]; }
  return acc;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let bh = wid.y;
  let b = bh / P.H;
  let h = bh % P.H;
  let sq = b;
  let nBegin = 0u;
  let nEnd = P.NT;
  let tBegin = 0u;
  let tEnd = P.T;
  let slot = sq;
  let c0 = wid.x * BV;
  let tx = lid % TX;
  let ty = lid / TX;
  var s: array<vec4<f32>, NI>;
  for (var ir = 0u; ir < RI; ir++) {
    for (var ic = 0u; ic < CI; ic++) {
      let i = ir * CI + ic;
      let d = W * (tx + TX * ir);
      let lc = ty + TY * ic;
      let c = c0 + lc;
      let inBlock = d < KD && lc < BV && c < VD;
      s[i] = vec4<f32>();
      if (inBlock) { s[i] = b_state[(((slot * P.H + h) * VD + c) * KD + d) >> 2u]; }
    }
  }
  for (var t = tBegin; t < tEnd; t++) {
    let a = exp(role_logDecay(b, t, h, 0u));
    
    let c = c0 + lid;
    let colLive = lid < BV && c < VD;
    var vc = 0.0; var oAdd = 0.0;
    if (colLive) { vc = role_v(b, t, h, c); oAdd = role_outputAdd(b, t, h, c); }
    var pA = array<f32, CI>();
    var pS = array<f32, 1>();
    for (var ir = 0u; ir < RI; ir++) {
      let d = W * (tx + TX * ir);
      let qr: vec4<f32> = select(vec4<f32>(0.0), vec4<f32>(role_q(b, t, h, d), role_q(b, t, h, d + 1u), role_q(b, t, h, d + 2u), role_q(b, t, h, d + 3u)), d < KD);
      let kr: vec4<f32> = select(vec4<f32>(0.0), vec4<f32>(role_k(b, t, h, d), role_k(b, t, h, d + 1u), role_k(b, t, h, d + 2u), role_k(b, t, h, d + 3u)), d < KD);
      
      
      pS[0] += hsum(qr * kr);
      for (var ic = 0u; ic < CI; ic++) {
        let i = ir * CI + ic;
        s[i] = a * s[i];
        pA[ic] += hsum(qr * s[i]);
      }
    }
    for (var ic = 0u; ic < CI; ic++) {
      let lc = ty + TY * ic;
      if (lc < BV) {
        red[tx * RW + lc] = pA[ic];
      }
    }
    if (ty == 0u) {
      for (var j = 0u; j < 1u; j++) { red[tx * RW + 32u + j] = pS[j]; }
    }
    workgroupBarrier();
    for (var e = lid; e < NS * RW; e += WG) {
      let col = e % RW;
      var acc = 0.0;
      for (var p = e / RW; p < NPART; p += NS) { acc += red[p * RW + col]; }
      red2[e] = acc;
    }
    workgroupBarrier();
    if (colLive) {
      let rq = 1.0;
      let rk = 1.0;
      upd[lid] = rk * vc;
      let ov = rq * (colSum(lid) + rk * colSum(32u) * vc);
      b_o[((b * P.T + t) * P.H + h) * VD + c] = (P.scale * ov + oAdd);
    }
    workgroupBarrier();
    for (var ir = 0u; ir < RI; ir++) {
      let d = W * (tx + TX * ir);
      let kr: vec4<f32> = select(vec4<f32>(0.0), vec4<f32>(role_k(b, t, h, d), role_k(b, t, h, d + 1u), role_k(b, t, h, d + 2u), role_k(b, t, h, d + 3u)), d < KD);
      
      for (var ic = 0u; ic < CI; ic++) {
        let i = ir * CI + ic;
        s[i] += kr * upd[ty + TY * ic];
      }
    }
  }
  for (var ir = 0u; ir < RI; ir++) {
    for (var ic = 0u; ic < CI; ic++) {
      let i = ir * CI + ic;
      let d = W * (tx + TX * ir);
      let lc = ty + TY * ic;
      let c = c0 + lc;
      let inBlock = d < KD && lc < BV && c < VD;
      if (inBlock) { b_state[(((slot * P.H + h) * VD + c) * KD + d) >> 2u] = s[i]; }
    }
  }
}
