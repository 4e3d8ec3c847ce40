// lae kernel 'gated_delta_rule_wyDT' (wyDT) for variant 'gated_delta_rule'
// spec hash f24d6bf0f465f5b6; config {"K":64,"V":64,"chunk":64}; tiles {"KP":64,"VP":64,"outBV":64,"prepSlab":16,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=scalar correction=delta bonus=none state=kv

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> b_gcum: array<f32>;
@group(0) @binding(2) var<storage, read> in_k: array<f32>;
@group(0) @binding(3) var<storage, read> in_v: array<f32>;
@group(0) @binding(4) var<storage, read> b_dU: array<f32>;
@group(0) @binding(5) var<storage, read> b_dinter: array<f32>;
@group(0) @binding(6) var<storage, read> in_beta: array<f32>;
@group(0) @binding(7) var<storage, read_write> b_dTA: array<f32>;

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
fn role_v(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_v[(((b) * P.T + t) * P.H + h) * VD + j]; }
fn role_beta(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_beta[((b) * P.T + t) * P.H + h]; }
fn gcs(b: u32, h: u32, t: u32, d: u32) -> f32 { return b_gcum[((b * P.H + h) * P.T + t) * DG]; }
fn gate(b: u32, h: u32, t: u32, d: u32) -> f32 { return gcs(b, h, t, d); }
fn tok(bh: u32, t: u32, x: u32, width: u32) -> u32 { return (bh * P.T + t) * width + x; }
fn dint(part: u32, i: u32) -> u32 { return part * (P.B * P.H * P.T * KD) + i; }
fn cc(bh: u32, n: u32, i: u32, j: u32) -> u32 { return ((bh * P.NT + n) * C + i) * C + j; }

const TX: u32 = WG_X;
const TY: u32 = WG / WG_X;
const SRM: u32 = C / TY;
const SRN: u32 = C / TX;
const SX: u32 = 16u;
var<workgroup> sL: array<f32, SX * C>;
var<workgroup> sR: array<f32, SX * C>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = wid.x;
  let bh = wid.y;
  let b = bh / P.H;
  let h = bh % P.H;
  let t0 = n * C;
  let rows = min(C, P.T - t0);
  let tx = lid % TX;
  let ty = lid / TX;
  var acc: array<array<f32, SRN>, SRM>;
  for (var a = 0u; a < SRM; a++) { for (var c = 0u; c < SRN; c++) { acc[a][c] = 0.0; } }
  for (var x0 = 0u; x0 < VD; x0 += SX) {
    {
      var l_v: array<f32, ((C * SX) + WG - 1u) / WG>; var r_v: array<f32, ((C * SX) + WG - 1u) / WG>;
      for (var stg = 0u; stg < ((C * SX) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, (C * SX) - 1u);
        let t = t0 + min(e / SX, rows - 1u); let x = min(x0 + e % SX, VD - 1u);
        l_v[stg] = b_dU[tok(bh, t, x, VD)];
        r_v[stg] = role_v(b, t, h, x);
      }
      for (var stg = 0u; stg < ((C * SX) + WG - 1u) / WG; stg++) {
        let e = lid + stg * WG;
        if (e < (C * SX)) {
          let i = e / SX; let xx = e % SX;
          let valid = i < rows && x0 + xx < VD;
          sL[xx * C + i] = select(0.0, l_v[stg], valid); sR[xx * C + i] = select(0.0, r_v[stg], valid);
        }
      }
    }
    workgroupBarrier();
    for (var xx = 0u; xx < SX; xx++) {
      for (var a = 0u; a < SRM; a++) {
        let l = sL[xx * C + ty + TY * a];
        for (var c = 0u; c < SRN; c++) { acc[a][c] += l * sR[xx * C + tx + TX * c]; }
      }
    }
    workgroupBarrier();
  }
  for (var x0 = 0u; x0 < KD; x0 += SX) {
    {
      var l_v: array<f32, ((C * SX) + WG - 1u) / WG>; var r_v: array<f32, ((C * SX) + WG - 1u) / WG>;
      for (var stg = 0u; stg < ((C * SX) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, (C * SX) - 1u);
        let t = t0 + min(e / SX, rows - 1u); let x = min(x0 + e % SX, KD - 1u);
        l_v[stg] = b_dinter[dint(2u, tok(bh, t, x, KD))];
        r_v[stg] = role_k(b, t, h, x) * exp2(gate(b, h, t, x));
      }
      for (var stg = 0u; stg < ((C * SX) + WG - 1u) / WG; stg++) {
        let e = lid + stg * WG;
        if (e < (C * SX)) {
          let i = e / SX; let xx = e % SX;
          let valid = i < rows && x0 + xx < KD;
          sL[xx * C + i] = select(0.0, l_v[stg], valid); sR[xx * C + i] = select(0.0, r_v[stg], valid);
        }
      }
    }
    workgroupBarrier();
    for (var xx = 0u; xx < SX; xx++) {
      for (var a = 0u; a < SRM; a++) {
        let l = sL[xx * C + ty + TY * a];
        for (var c = 0u; c < SRN; c++) { acc[a][c] += l * sR[xx * C + tx + TX * c]; }
      }
    }
    workgroupBarrier();
  }
  for (var a = 0u; a < SRM; a++) {
    let i = ty + TY * a;
    for (var c = 0u; c < SRN; c++) {
      let j = tx + TX * c;
      if (i < rows && j < rows) {
        let v = acc[a][c];
        b_dTA[cc(bh, n, i, j)] = select(0.0, v * role_beta(b, t0 + j, h, 0u), j < i);
      }
    }
  }
}
