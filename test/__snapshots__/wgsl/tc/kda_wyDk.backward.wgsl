enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
// lae kernel 'kda_wyDk' (wyDk) for variant 'kda'
// spec hash d3b7ada585e32ec9; config {"K":128,"V":128,"chunk":64,"fragments":"subgroup-matrix","unverifiedFragments":true,"wgMemory":49152}; tiles {"KP":128,"VP":128,"outBV":128,"prepSlab":16,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=diagonal correction=delta bonus=none state=kv

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> b_dTA: array<f32>;
@group(0) @binding(2) var<storage, read> b_gcum: array<f32>;
@group(0) @binding(3) var<storage, read> in_k: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> in_beta: array<f32>;
@group(0) @binding(5) var<storage, read_write> b_grad_k: array<f32>;
@group(0) @binding(6) var<storage, read_write> b_X2: array<f32>;
@group(0) @binding(7) var<storage, read_write> b_dbk: array<f32>;

const C: u32 = 64u;
const KD: u32 = 128u;
const VD: u32 = 128u;
const KP: u32 = 128u;
const VP: u32 = 128u;
const DG: u32 = 128u;
const WG: u32 = 128u;
const WG_X: u32 = 128u;
const LOG2E: f32 = 1.4426950408889634;

fn lae_sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn lae_softplus(x: f32) -> f32 { return select(log(1.0 + exp(x)), x, x > 20.0); }
fn lae_silu(x: f32) -> f32 { return x * lae_sigmoid(x); }

fn role_k(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_k[((((b) * P.T + t) * P.H + h) * KD + j) >> 2u][((((b) * P.T + t) * P.H + h) * KD + j) & 3u]; }
fn role_beta(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_beta[((b) * P.T + t) * P.H + h]; }
fn gcs(b: u32, h: u32, t: u32, d: u32) -> f32 { return b_gcum[((b * P.H + h) * P.T + t) * DG + d]; }
fn tok(bh: u32, t: u32, x: u32, width: u32) -> u32 { return (bh * P.T + t) * width + x; }
fn bth(b: u32, t: u32, h: u32, x: u32, width: u32) -> u32 { return ((b * P.T + t) * P.H + h) * width + x; }
fn cc(bh: u32, n: u32, i: u32, j: u32) -> u32 { return ((bh * P.NT + n) * C + i) * C + j; }

var<workgroup> wh: array<f16, 3072>;
var<workgroup> wf: array<f32, 4160>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let n = wid.y;
  let bh = wid.z;
  let b = bh / P.H;
  let h = bh % P.H;
  let t0 = n * C;
  let rows = min(C, P.T - t0);
  let kt = wid.x;
  
  let k0 = kt * 64u;
  let fsr = sg / 1u;
  let fsc = sg % 1u;
  let factive = sg < 4u;
  var ep_g: array<f32, 8>; var ep_x: array<f32, 8>; var ep_b: array<f32, 8>; var qpark: array<f32, 8>;
  {
      var da_a: array<f32, 12>; var dd_a: array<f32, 8>; var bt_b: array<f32, 1>; var sl_x: array<f32, 8>; var sl_g: array<f32, 8>;
      for (var stg = 0u; stg < 12u; stg++) {
        let e = lid + stg * WG;
        let blk = e / 256u; let aI = select(select(3u, 2u, blk < 3u), 1u, blk < 1u);
        let row = aI * 16u + (e % 256u) / 16u; let col = (blk - aI * (aI - 1u) / 2u) * 16u + e % 16u;
        da_a[stg] = b_dTA[cc(bh, n, row, col)];
      }
      for (var stg = 0u; stg < 8u; stg++) {
        let e = lid + stg * WG;
        let row = (e / 256u) * 16u + (e % 256u) / 16u; let col = (e / 256u) * 16u + e % 16u;
        dd_a[stg] = b_dTA[cc(bh, n, row, col)];
      }
      for (var stg = 0u; stg < 1u; stg++) {
        let e = min(lid + stg * WG, 63u);
        let t = t0 + min(e, rows - 1u);
        bt_b[stg] = role_beta(b, t, h, 0u);
      }
      for (var stg = 0u; stg < 8u; stg++) {
        let e = lid + stg * WG;
        let t = t0 + min(e / 16u, rows - 1u); let d = min(k0 + e % 16u, KD - 1u);
        sl_x[stg] = role_k(b, t, h, d);
        sl_g[stg] = gcs(b, h, t, d);
      }
      if (factive) {
    {
      let el = lane;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let t = t0 + min(r, rows - 1u); let kx = min(k0 + c, KD - 1u); let tk = tok(bh, t, kx, KD);
      ep_g[0u] = b_grad_k[bth(b, t, h, kx, KD)];
      ep_x[0u] = b_X2[tk];
      ep_b[0u] = b_dbk[tk];
    }
    {
      let el = lane + 32u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let t = t0 + min(r, rows - 1u); let kx = min(k0 + c, KD - 1u); let tk = tok(bh, t, kx, KD);
      ep_g[1u] = b_grad_k[bth(b, t, h, kx, KD)];
      ep_x[1u] = b_X2[tk];
      ep_b[1u] = b_dbk[tk];
    }
    {
      let el = lane + 64u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let t = t0 + min(r, rows - 1u); let kx = min(k0 + c, KD - 1u); let tk = tok(bh, t, kx, KD);
      ep_g[2u] = b_grad_k[bth(b, t, h, kx, KD)];
      ep_x[2u] = b_X2[tk];
      ep_b[2u] = b_dbk[tk];
    }
    {
      let el = lane + 96u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let t = t0 + min(r, rows - 1u); let kx = min(k0 + c, KD - 1u); let tk = tok(bh, t, kx, KD);
      ep_g[3u] = b_grad_k[bth(b, t, h, kx, KD)];
      ep_x[3u] = b_X2[tk];
      ep_b[3u] = b_dbk[tk];
    }
    {
      let el = lane + 128u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let t = t0 + min(r, rows - 1u); let kx = min(k0 + c, KD - 1u); let tk = tok(bh, t, kx, KD);
      ep_g[4u] = b_grad_k[bth(b, t, h, kx, KD)];
      ep_x[4u] = b_X2[tk];
      ep_b[4u] = b_dbk[tk];
    }
    {
      let el = lane + 160u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let t = t0 + min(r, rows - 1u); let kx = min(k0 + c, KD - 1u); let tk = tok(bh, t, kx, KD);
      ep_g[5u] = b_grad_k[bth(b, t, h, kx, KD)];
      ep_x[5u] = b_X2[tk];
      ep_b[5u] = b_dbk[tk];
    }
    {
      let el = lane + 192u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let t = t0 + min(r, rows - 1u); let kx = min(k0 + c, KD - 1u); let tk = tok(bh, t, kx, KD);
      ep_g[6u] = b_grad_k[bth(b, t, h, kx, KD)];
      ep_x[6u] = b_X2[tk];
      ep_b[6u] = b_dbk[tk];
    }
    {
      let el = lane + 224u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let t = t0 + min(r, rows - 1u); let kx = min(k0 + c, KD - 1u); let tk = tok(bh, t, kx, KD);
      ep_g[7u] = b_grad_k[bth(b, t, h, kx, KD)];
      ep_x[7u] = b_X2[tk];
      ep_b[7u] = b_dbk[tk];
    }
  }
      for (var stg = 0u; stg < 12u; stg++) {
        let e = lid + stg * WG;
        
        let blk = e / 256u; let aI = select(select(3u, 2u, blk < 3u), 1u, blk < 1u);
        let row = aI * 16u + (e % 256u) / 16u; let col = (blk - aI * (aI - 1u) / 2u) * 16u + e % 16u;
        let valid = row < rows;
        wh[0u + e] = f16(select(0.0, da_a[stg], valid));
      }
      for (var stg = 0u; stg < 8u; stg++) {
        let e = lid + stg * WG;
        
        let row = (e / 256u) * 16u + (e % 256u) / 16u; let col = (e / 256u) * 16u + e % 16u;
        let valid = row < rows && col <= row;
        wf[3072u + e] = select(0.0, dd_a[stg], valid);
      }
      for (var stg = 0u; stg < 1u; stg++) {
        let e = lid + stg * WG;
        if (e >= 64u) { break; }
        
        let valid = e < rows;
        wf[4096u + e] = select(0.0, bt_b[stg], valid);
      }
      for (var stg = 0u; stg < 8u; stg++) {
        let e = lid + stg * WG;
        
        
        let valid = e / 16u < rows && k0 + e % 16u < KD;
        wf[2048u + e] = select(0.0, sl_x[stg], valid); wf[1024u + e] = select(0.0, sl_g[stg], valid);
      }
    }
  var nx_x: array<f32, 8>; var nx_g: array<f32, 8>; var nep_g: array<f32, 8>; var nep_x: array<f32, 8>; var nep_b: array<f32, 8>;
  for (var d0 = 0u; d0 < min(64u, KD - k0); d0 += 16u) {
    let more = d0 + 16u < min(64u, KD - k0);
    if (more) {
      for (var stg = 0u; stg < 8u; stg++) {
        let e = lid + stg * WG;
        let t = t0 + min(e / 16u, rows - 1u); let d = min(k0 + (d0 + 16u) + e % 16u, KD - 1u);
        nx_x[stg] = role_k(b, t, h, d);
        nx_g[stg] = gcs(b, h, t, d);
      }
      if (factive) {
    {
      let el = lane;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let t = t0 + min(r, rows - 1u); let kx = min(k0 + (d0 + 16u) + c, KD - 1u); let tk = tok(bh, t, kx, KD);
      nep_g[0u] = b_grad_k[bth(b, t, h, kx, KD)];
      nep_x[0u] = b_X2[tk];
      nep_b[0u] = b_dbk[tk];
    }
    {
      let el = lane + 32u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let t = t0 + min(r, rows - 1u); let kx = min(k0 + (d0 + 16u) + c, KD - 1u); let tk = tok(bh, t, kx, KD);
      nep_g[1u] = b_grad_k[bth(b, t, h, kx, KD)];
      nep_x[1u] = b_X2[tk];
      nep_b[1u] = b_dbk[tk];
    }
    {
      let el = lane + 64u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let t = t0 + min(r, rows - 1u); let kx = min(k0 + (d0 + 16u) + c, KD - 1u); let tk = tok(bh, t, kx, KD);
      nep_g[2u] = b_grad_k[bth(b, t, h, kx, KD)];
      nep_x[2u] = b_X2[tk];
      nep_b[2u] = b_dbk[tk];
    }
    {
      let el = lane + 96u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let t = t0 + min(r, rows - 1u); let kx = min(k0 + (d0 + 16u) + c, KD - 1u); let tk = tok(bh, t, kx, KD);
      nep_g[3u] = b_grad_k[bth(b, t, h, kx, KD)];
      nep_x[3u] = b_X2[tk];
      nep_b[3u] = b_dbk[tk];
    }
    {
      let el = lane + 128u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let t = t0 + min(r, rows - 1u); let kx = min(k0 + (d0 + 16u) + c, KD - 1u); let tk = tok(bh, t, kx, KD);
      nep_g[4u] = b_grad_k[bth(b, t, h, kx, KD)];
      nep_x[4u] = b_X2[tk];
      nep_b[4u] = b_dbk[tk];
    }
    {
      let el = lane + 160u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let t = t0 + min(r, rows - 1u); let kx = min(k0 + (d0 + 16u) + c, KD - 1u); let tk = tok(bh, t, kx, KD);
      nep_g[5u] = b_grad_k[bth(b, t, h, kx, KD)];
      nep_x[5u] = b_X2[tk];
      nep_b[5u] = b_dbk[tk];
    }
    {
      let el = lane + 192u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let t = t0 + min(r, rows - 1u); let kx = min(k0 + (d0 + 16u) + c, KD - 1u); let tk = tok(bh, t, kx, KD);
      nep_g[6u] = b_grad_k[bth(b, t, h, kx, KD)];
      nep_x[6u] = b_X2[tk];
      nep_b[6u] = b_dbk[tk];
    }
    {
      let el = lane + 224u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let t = t0 + min(r, rows - 1u); let kx = min(k0 + (d0 + 16u) + c, KD - 1u); let tk = tok(bh, t, kx, KD);
      nep_g[7u] = b_grad_k[bth(b, t, h, kx, KD)];
      nep_x[7u] = b_X2[tk];
      nep_b[7u] = b_dbk[tk];
    }
  }
    }
    workgroupBarrier();
    for (var sa = 0u; sa < 12u; sa++) {
      let e = lid + sa * WG;
      let ra = e / 16u; let aI = select(select(2u, 1u, ra < 80u), 0u, ra < 48u); let j = aI * 16u + 16u + ra - 16u * (aI * 3u - aI * (aI - 1u) / 2u);
      let c = e % 16u;
      let ta = min(aI * 16u + 15u, rows - 1u);
      let x = wf[4096u + j] * wf[2048u + (j) * 16u + c] * exp2(wf[1024u + (j) * 16u + c] - wf[1024u + (ta) * 16u + c]);
      wh[1536u + e] = f16(select(0.0, x, j < rows && k0 + d0 + c < KD));
    }
    workgroupBarrier();
    // Q = acol: the blocks after each row block, parked in qpark.
    var qa0_0_0 = subgroup_matrix_result<f32, 16, 16>();
    if (factive) {
      for (var kk = fsr * 16u + 16u; kk < C; kk += 16u) {
        {
      let fl0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, 0u + ((kk / 16u) * (kk / 16u - 1u) / 2u + fsr) * 256u, true, 16u);
      let fr0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wh, 1536u + (16u * (fsr * 3u - fsr * (fsr - 1u) / 2u) + kk - fsr * 16u - 16u) * 16u + fsc * 16u, false, 16u);
      qa0_0_0 = subgroupMatrixMultiplyAccumulate(fl0, fr0, qa0_0_0);
    }
      }
    }
    if (factive) { subgroupMatrixStore(&wf, sg * 256u, qa0_0_0, false, 16u); }
    workgroupBarrier();
    if (factive) {
    {
      let el = lane;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let value = wf[sg * 256u + el];
      let kx = k0 + d0 + c;
      var qv = 0.0;
      if (r < rows && kx < KD) {
        let bI = r / 16u;
        let gr = wf[1024u + (r) * 16u + c];
        var dg = 0.0;
        for (var j = r + 1u; j < min(bI * 16u + 16u, rows); j++) { dg += wf[3072u + bI * 256u + (j % 16u) * 16u + r % 16u] * wf[4096u + j] * wf[2048u + (j) * 16u + c] * exp2(wf[1024u + (j) * 16u + c] - gr); }
        qv = value * exp2(wf[1024u + (min(bI * 16u + 15u, rows - 1u)) * 16u + c] - gr) + dg;
      }
      qpark[0u] = qv;
    }
    {
      let el = lane + 32u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let value = wf[sg * 256u + el];
      let kx = k0 + d0 + c;
      var qv = 0.0;
      if (r < rows && kx < KD) {
        let bI = r / 16u;
        let gr = wf[1024u + (r) * 16u + c];
        var dg = 0.0;
        for (var j = r + 1u; j < min(bI * 16u + 16u, rows); j++) { dg += wf[3072u + bI * 256u + (j % 16u) * 16u + r % 16u] * wf[4096u + j] * wf[2048u + (j) * 16u + c] * exp2(wf[1024u + (j) * 16u + c] - gr); }
        qv = value * exp2(wf[1024u + (min(bI * 16u + 15u, rows - 1u)) * 16u + c] - gr) + dg;
      }
      qpark[1u] = qv;
    }
    {
      let el = lane + 64u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let value = wf[sg * 256u + el];
      let kx = k0 + d0 + c;
      var qv = 0.0;
      if (r < rows && kx < KD) {
        let bI = r / 16u;
        let gr = wf[1024u + (r) * 16u + c];
        var dg = 0.0;
        for (var j = r + 1u; j < min(bI * 16u + 16u, rows); j++) { dg += wf[3072u + bI * 256u + (j % 16u) * 16u + r % 16u] * wf[4096u + j] * wf[2048u + (j) * 16u + c] * exp2(wf[1024u + (j) * 16u + c] - gr); }
        qv = value * exp2(wf[1024u + (min(bI * 16u + 15u, rows - 1u)) * 16u + c] - gr) + dg;
      }
      qpark[2u] = qv;
    }
    {
      let el = lane + 96u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let value = wf[sg * 256u + el];
      let kx = k0 + d0 + c;
      var qv = 0.0;
      if (r < rows && kx < KD) {
        let bI = r / 16u;
        let gr = wf[1024u + (r) * 16u + c];
        var dg = 0.0;
        for (var j = r + 1u; j < min(bI * 16u + 16u, rows); j++) { dg += wf[3072u + bI * 256u + (j % 16u) * 16u + r % 16u] * wf[4096u + j] * wf[2048u + (j) * 16u + c] * exp2(wf[1024u + (j) * 16u + c] - gr); }
        qv = value * exp2(wf[1024u + (min(bI * 16u + 15u, rows - 1u)) * 16u + c] - gr) + dg;
      }
      qpark[3u] = qv;
    }
    {
      let el = lane + 128u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let value = wf[sg * 256u + el];
      let kx = k0 + d0 + c;
      var qv = 0.0;
      if (r < rows && kx < KD) {
        let bI = r / 16u;
        let gr = wf[1024u + (r) * 16u + c];
        var dg = 0.0;
        for (var j = r + 1u; j < min(bI * 16u + 16u, rows); j++) { dg += wf[3072u + bI * 256u + (j % 16u) * 16u + r % 16u] * wf[4096u + j] * wf[2048u + (j) * 16u + c] * exp2(wf[1024u + (j) * 16u + c] - gr); }
        qv = value * exp2(wf[1024u + (min(bI * 16u + 15u, rows - 1u)) * 16u + c] - gr) + dg;
      }
      qpark[4u] = qv;
    }
    {
      let el = lane + 160u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let value = wf[sg * 256u + el];
      let kx = k0 + d0 + c;
      var qv = 0.0;
      if (r < rows && kx < KD) {
        let bI = r / 16u;
        let gr = wf[1024u + (r) * 16u + c];
        var dg = 0.0;
        for (var j = r + 1u; j < min(bI * 16u + 16u, rows); j++) { dg += wf[3072u + bI * 256u + (j % 16u) * 16u + r % 16u] * wf[4096u + j] * wf[2048u + (j) * 16u + c] * exp2(wf[1024u + (j) * 16u + c] - gr); }
        qv = value * exp2(wf[1024u + (min(bI * 16u + 15u, rows - 1u)) * 16u + c] - gr) + dg;
      }
      qpark[5u] = qv;
    }
    {
      let el = lane + 192u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let value = wf[sg * 256u + el];
      let kx = k0 + d0 + c;
      var qv = 0.0;
      if (r < rows && kx < KD) {
        let bI = r / 16u;
        let gr = wf[1024u + (r) * 16u + c];
        var dg = 0.0;
        for (var j = r + 1u; j < min(bI * 16u + 16u, rows); j++) { dg += wf[3072u + bI * 256u + (j % 16u) * 16u + r % 16u] * wf[4096u + j] * wf[2048u + (j) * 16u + c] * exp2(wf[1024u + (j) * 16u + c] - gr); }
        qv = value * exp2(wf[1024u + (min(bI * 16u + 15u, rows - 1u)) * 16u + c] - gr) + dg;
      }
      qpark[6u] = qv;
    }
    {
      let el = lane + 224u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let value = wf[sg * 256u + el];
      let kx = k0 + d0 + c;
      var qv = 0.0;
      if (r < rows && kx < KD) {
        let bI = r / 16u;
        let gr = wf[1024u + (r) * 16u + c];
        var dg = 0.0;
        for (var j = r + 1u; j < min(bI * 16u + 16u, rows); j++) { dg += wf[3072u + bI * 256u + (j % 16u) * 16u + r % 16u] * wf[4096u + j] * wf[2048u + (j) * 16u + c] * exp2(wf[1024u + (j) * 16u + c] - gr); }
        qv = value * exp2(wf[1024u + (min(bI * 16u + 15u, rows - 1u)) * 16u + c] - gr) + dg;
      }
      qpark[7u] = qv;
    }
    }
    workgroupBarrier();
    // arow: the blocks before (the anchored region is free: Q's epilogue ended on a barrier).
    for (var sa = 0u; sa < 12u; sa++) {
      let e = lid + sa * WG;
      let ra = e / 16u; let aI = select(select(3u, 2u, ra < 48u), 1u, ra < 16u); let j = ra - 8u * aI * (aI - 1u);
      let c = e % 16u;
      let ta = min(aI * 16u - 1u, rows - 1u);
      let x = wf[2048u + (j) * 16u + c] * exp2(wf[1024u + (ta) * 16u + c] - wf[1024u + (j) * 16u + c]);
      wh[1536u + e] = f16(select(0.0, x, j < rows && aI * 16u - 1u < rows && k0 + d0 + c < KD));
    }
    workgroupBarrier();
    var pa0_0_0 = subgroup_matrix_result<f32, 16, 16>();
    if (factive) {
      for (var kk = 0u; kk < fsr * 16u; kk += 16u) {
        {
      let fl0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, 0u + (fsr * (fsr - 1u) / 2u + kk / 16u) * 256u, false, 16u);
      let fr0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wh, 1536u + (8u * fsr * (fsr - 1u) + kk) * 16u + fsc * 16u, false, 16u);
      pa0_0_0 = subgroupMatrixMultiplyAccumulate(fl0, fr0, pa0_0_0);
    }
      }
    }
    if (factive) { subgroupMatrixStore(&wf, sg * 256u, pa0_0_0, false, 16u); }
    workgroupBarrier();
    if (factive) {
    {
      let el = lane;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let value = wf[sg * 256u + el];
      let kx = k0 + d0 + c;
      if (r < rows && kx < KD) {
        let t = t0 + r;
        let bI = r / 16u;
        let gr = wf[1024u + (r) * 16u + c];
        var dg = 0.0;
        for (var j = bI * 16u; j < r; j++) { dg += wf[3072u + bI * 256u + (r % 16u) * 16u + j % 16u] * wf[2048u + (j) * 16u + c] * exp2(gr - wf[1024u + (j) * 16u + c]); }
        // Block 0 has no pairs (value is 0); its anchor row would not exist.
        let pairs = select(0.0, value * exp2(gr - wf[1024u + (max(bI * 16u, 1u) - 1u) * 16u + c]), bI > 0u);
        let pv = exp2(gr) * ep_x[0u] + pairs + dg;
        let qv = qpark[0u];
        let bi = wf[4096u + r];
        let kv = wf[2048u + (r) * 16u + c];
        let tk = tok(bh, t, kx, KD);
        b_grad_k[bth(b, t, h, kx, KD)] = ep_g[0u] + bi * pv + qv;
        b_X2[tk] = kv * pv;
        b_dbk[tk] = ep_b[0u] + kv * (bi * pv - qv);
      }
    }
    {
      let el = lane + 32u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let value = wf[sg * 256u + el];
      let kx = k0 + d0 + c;
      if (r < rows && kx < KD) {
        let t = t0 + r;
        let bI = r / 16u;
        let gr = wf[1024u + (r) * 16u + c];
        var dg = 0.0;
        for (var j = bI * 16u; j < r; j++) { dg += wf[3072u + bI * 256u + (r % 16u) * 16u + j % 16u] * wf[2048u + (j) * 16u + c] * exp2(gr - wf[1024u + (j) * 16u + c]); }
        // Block 0 has no pairs (value is 0); its anchor row would not exist.
        let pairs = select(0.0, value * exp2(gr - wf[1024u + (max(bI * 16u, 1u) - 1u) * 16u + c]), bI > 0u);
        let pv = exp2(gr) * ep_x[1u] + pairs + dg;
        let qv = qpark[1u];
        let bi = wf[4096u + r];
        let kv = wf[2048u + (r) * 16u + c];
        let tk = tok(bh, t, kx, KD);
        b_grad_k[bth(b, t, h, kx, KD)] = ep_g[1u] + bi * pv + qv;
        b_X2[tk] = kv * pv;
        b_dbk[tk] = ep_b[1u] + kv * (bi * pv - qv);
      }
    }
    {
      let el = lane + 64u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let value = wf[sg * 256u + el];
      let kx = k0 + d0 + c;
      if (r < rows && kx < KD) {
        let t = t0 + r;
        let bI = r / 16u;
        let gr = wf[1024u + (r) * 16u + c];
        var dg = 0.0;
        for (var j = bI * 16u; j < r; j++) { dg += wf[3072u + bI * 256u + (r % 16u) * 16u + j % 16u] * wf[2048u + (j) * 16u + c] * exp2(gr - wf[1024u + (j) * 16u + c]); }
        // Block 0 has no pairs (value is 0); its anchor row would not exist.
        let pairs = select(0.0, value * exp2(gr - wf[1024u + (max(bI * 16u, 1u) - 1u) * 16u + c]), bI > 0u);
        let pv = exp2(gr) * ep_x[2u] + pairs + dg;
        let qv = qpark[2u];
        let bi = wf[4096u + r];
        let kv = wf[2048u + (r) * 16u + c];
        let tk = tok(bh, t, kx, KD);
        b_grad_k[bth(b, t, h, kx, KD)] = ep_g[2u] + bi * pv + qv;
        b_X2[tk] = kv * pv;
        b_dbk[tk] = ep_b[2u] + kv * (bi * pv - qv);
      }
    }
    {
      let el = lane + 96u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let value = wf[sg * 256u + el];
      let kx = k0 + d0 + c;
      if (r < rows && kx < KD) {
        let t = t0 + r;
        let bI = r / 16u;
        let gr = wf[1024u + (r) * 16u + c];
        var dg = 0.0;
        for (var j = bI * 16u; j < r; j++) { dg += wf[3072u + bI * 256u + (r % 16u) * 16u + j % 16u] * wf[2048u + (j) * 16u + c] * exp2(gr - wf[1024u + (j) * 16u + c]); }
        // Block 0 has no pairs (value is 0); its anchor row would not exist.
        let pairs = select(0.0, value * exp2(gr - wf[1024u + (max(bI * 16u, 1u) - 1u) * 16u + c]), bI > 0u);
        let pv = exp2(gr) * ep_x[3u] + pairs + dg;
        let qv = qpark[3u];
        let bi = wf[4096u + r];
        let kv = wf[2048u + (r) * 16u + c];
        let tk = tok(bh, t, kx, KD);
        b_grad_k[bth(b, t, h, kx, KD)] = ep_g[3u] + bi * pv + qv;
        b_X2[tk] = kv * pv;
        b_dbk[tk] = ep_b[3u] + kv * (bi * pv - qv);
      }
    }
    {
      let el = lane + 128u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let value = wf[sg * 256u + el];
      let kx = k0 + d0 + c;
      if (r < rows && kx < KD) {
        let t = t0 + r;
        let bI = r / 16u;
        let gr = wf[1024u + (r) * 16u + c];
        var dg = 0.0;
        for (var j = bI * 16u; j < r; j++) { dg += wf[3072u + bI * 256u + (r % 16u) * 16u + j % 16u] * wf[2048u + (j) * 16u + c] * exp2(gr - wf[1024u + (j) * 16u + c]); }
        // Block 0 has no pairs (value is 0); its anchor row would not exist.
        let pairs = select(0.0, value * exp2(gr - wf[1024u + (max(bI * 16u, 1u) - 1u) * 16u + c]), bI > 0u);
        let pv = exp2(gr) * ep_x[4u] + pairs + dg;
        let qv = qpark[4u];
        let bi = wf[4096u + r];
        let kv = wf[2048u + (r) * 16u + c];
        let tk = tok(bh, t, kx, KD);
        b_grad_k[bth(b, t, h, kx, KD)] = ep_g[4u] + bi * pv + qv;
        b_X2[tk] = kv * pv;
        b_dbk[tk] = ep_b[4u] + kv * (bi * pv - qv);
      }
    }
    {
      let el = lane + 160u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let value = wf[sg * 256u + el];
      let kx = k0 + d0 + c;
      if (r < rows && kx < KD) {
        let t = t0 + r;
        let bI = r / 16u;
        let gr = wf[1024u + (r) * 16u + c];
        var dg = 0.0;
        for (var j = bI * 16u; j < r; j++) { dg += wf[3072u + bI * 256u + (r % 16u) * 16u + j % 16u] * wf[2048u + (j) * 16u + c] * exp2(gr - wf[1024u + (j) * 16u + c]); }
        // Block 0 has no pairs (value is 0); its anchor row would not exist.
        let pairs = select(0.0, value * exp2(gr - wf[1024u + (max(bI * 16u, 1u) - 1u) * 16u + c]), bI > 0u);
        let pv = exp2(gr) * ep_x[5u] + pairs + dg;
        let qv = qpark[5u];
        let bi = wf[4096u + r];
        let kv = wf[2048u + (r) * 16u + c];
        let tk = tok(bh, t, kx, KD);
        b_grad_k[bth(b, t, h, kx, KD)] = ep_g[5u] + bi * pv + qv;
        b_X2[tk] = kv * pv;
        b_dbk[tk] = ep_b[5u] + kv * (bi * pv - qv);
      }
    }
    {
      let el = lane + 192u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let value = wf[sg * 256u + el];
      let kx = k0 + d0 + c;
      if (r < rows && kx < KD) {
        let t = t0 + r;
        let bI = r / 16u;
        let gr = wf[1024u + (r) * 16u + c];
        var dg = 0.0;
        for (var j = bI * 16u; j < r; j++) { dg += wf[3072u + bI * 256u + (r % 16u) * 16u + j % 16u] * wf[2048u + (j) * 16u + c] * exp2(gr - wf[1024u + (j) * 16u + c]); }
        // Block 0 has no pairs (value is 0); its anchor row would not exist.
        let pairs = select(0.0, value * exp2(gr - wf[1024u + (max(bI * 16u, 1u) - 1u) * 16u + c]), bI > 0u);
        let pv = exp2(gr) * ep_x[6u] + pairs + dg;
        let qv = qpark[6u];
        let bi = wf[4096u + r];
        let kv = wf[2048u + (r) * 16u + c];
        let tk = tok(bh, t, kx, KD);
        b_grad_k[bth(b, t, h, kx, KD)] = ep_g[6u] + bi * pv + qv;
        b_X2[tk] = kv * pv;
        b_dbk[tk] = ep_b[6u] + kv * (bi * pv - qv);
      }
    }
    {
      let el = lane + 224u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let value = wf[sg * 256u + el];
      let kx = k0 + d0 + c;
      if (r < rows && kx < KD) {
        let t = t0 + r;
        let bI = r / 16u;
        let gr = wf[1024u + (r) * 16u + c];
        var dg = 0.0;
        for (var j = bI * 16u; j < r; j++) { dg += wf[3072u + bI * 256u + (r % 16u) * 16u + j % 16u] * wf[2048u + (j) * 16u + c] * exp2(gr - wf[1024u + (j) * 16u + c]); }
        // Block 0 has no pairs (value is 0); its anchor row would not exist.
        let pairs = select(0.0, value * exp2(gr - wf[1024u + (max(bI * 16u, 1u) - 1u) * 16u + c]), bI > 0u);
        let pv = exp2(gr) * ep_x[7u] + pairs + dg;
        let qv = qpark[7u];
        let bi = wf[4096u + r];
        let kv = wf[2048u + (r) * 16u + c];
        let tk = tok(bh, t, kx, KD);
        b_grad_k[bth(b, t, h, kx, KD)] = ep_g[7u] + bi * pv + qv;
        b_X2[tk] = kv * pv;
        b_dbk[tk] = ep_b[7u] + kv * (bi * pv - qv);
      }
    }
    }
    workgroupBarrier();
    if (more) {
      for (var stg = 0u; stg < 8u; stg++) {
        let e = lid + stg * WG;
        
        
        let valid = e / 16u < rows && k0 + (d0 + 16u) + e % 16u < KD;
        wf[2048u + e] = select(0.0, nx_x[stg], valid); wf[1024u + e] = select(0.0, nx_g[stg], valid);
      }
      ep_g = nep_g; ep_x = nep_x; ep_b = nep_b;
    }
  }
}
