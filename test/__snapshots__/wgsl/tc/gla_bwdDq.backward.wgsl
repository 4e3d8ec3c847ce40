enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
// lae kernel 'gla_bwdDq' (bwdDq) for variant 'gla'
// spec hash 4f7810925b4783ac; config {"K":128,"V":128,"chunk":64,"fragments":"subgroup-matrix","unverifiedFragments":true,"wgMemory":49152}; tiles {"KP":128,"VP":128,"outBV":128,"prepSlab":16,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=diagonal correction=none bonus=none state=kv

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> b_daqk: array<f32>;
@group(0) @binding(2) var<storage, read> b_gcum: array<f32>;
@group(0) @binding(3) var<storage, read> in_k: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> in_q: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> b_grad_q: array<f32>;
@group(0) @binding(6) var<storage, read_write> b_dbq: array<f32>;
@group(0) @binding(7) var<storage, read> b_dinter: array<f32>;

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
fn role_q(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_q[((((b) * P.T + t) * P.H + h) * KD + j) >> 2u][((((b) * P.T + t) * P.H + h) * KD + j) & 3u]; }
fn gcs(b: u32, h: u32, t: u32, d: u32) -> f32 { return b_gcum[((b * P.H + h) * P.T + t) * DG + d]; }
fn cc(bh: u32, n: u32, i: u32, j: u32) -> u32 { return ((bh * P.NT + n) * C + i) * C + j; }
fn bth(b: u32, t: u32, h: u32, x: u32, width: u32) -> u32 { return ((b * P.T + t) * P.H + h) * width + x; }
fn tok(bh: u32, t: u32, x: u32, width: u32) -> u32 { return (bh * P.T + t) * width + x; }
fn dint(part: u32, i: u32) -> u32 { return part * (P.B * P.H * P.T * KD) + i; }

var<workgroup> wh: array<f16, 3072>;
var<workgroup> wf: array<f32, 4096>;

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
  var ep_i: array<f32, 8>; var ep_x: array<f32, 8>;
  {
      var da_a: array<f32, 12>; var dd_a: array<f32, 8>; var sl_x: array<f32, 8>; var sl_g: array<f32, 8>;
      for (var stg = 0u; stg < 12u; stg++) {
        let e = lid + stg * WG;
        let blk = e / 256u; let aI = select(select(3u, 2u, blk < 3u), 1u, blk < 1u);
        let row = aI * 16u + (e % 256u) / 16u; let col = (blk - aI * (aI - 1u) / 2u) * 16u + e % 16u;
        da_a[stg] = b_daqk[cc(bh, n, row, col)];
      }
      for (var stg = 0u; stg < 8u; stg++) {
        let e = lid + stg * WG;
        let row = (e / 256u) * 16u + (e % 256u) / 16u; let col = (e / 256u) * 16u + e % 16u;
        dd_a[stg] = b_daqk[cc(bh, n, row, col)];
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
      ep_i[0u] = b_dinter[dint(0u, tk)];
      ep_x[0u] = role_q(b, t, h, kx);
    }
    {
      let el = lane + 32u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let t = t0 + min(r, rows - 1u); let kx = min(k0 + c, KD - 1u); let tk = tok(bh, t, kx, KD);
      ep_i[1u] = b_dinter[dint(0u, tk)];
      ep_x[1u] = role_q(b, t, h, kx);
    }
    {
      let el = lane + 64u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let t = t0 + min(r, rows - 1u); let kx = min(k0 + c, KD - 1u); let tk = tok(bh, t, kx, KD);
      ep_i[2u] = b_dinter[dint(0u, tk)];
      ep_x[2u] = role_q(b, t, h, kx);
    }
    {
      let el = lane + 96u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let t = t0 + min(r, rows - 1u); let kx = min(k0 + c, KD - 1u); let tk = tok(bh, t, kx, KD);
      ep_i[3u] = b_dinter[dint(0u, tk)];
      ep_x[3u] = role_q(b, t, h, kx);
    }
    {
      let el = lane + 128u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let t = t0 + min(r, rows - 1u); let kx = min(k0 + c, KD - 1u); let tk = tok(bh, t, kx, KD);
      ep_i[4u] = b_dinter[dint(0u, tk)];
      ep_x[4u] = role_q(b, t, h, kx);
    }
    {
      let el = lane + 160u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let t = t0 + min(r, rows - 1u); let kx = min(k0 + c, KD - 1u); let tk = tok(bh, t, kx, KD);
      ep_i[5u] = b_dinter[dint(0u, tk)];
      ep_x[5u] = role_q(b, t, h, kx);
    }
    {
      let el = lane + 192u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let t = t0 + min(r, rows - 1u); let kx = min(k0 + c, KD - 1u); let tk = tok(bh, t, kx, KD);
      ep_i[6u] = b_dinter[dint(0u, tk)];
      ep_x[6u] = role_q(b, t, h, kx);
    }
    {
      let el = lane + 224u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let t = t0 + min(r, rows - 1u); let kx = min(k0 + c, KD - 1u); let tk = tok(bh, t, kx, KD);
      ep_i[7u] = b_dinter[dint(0u, tk)];
      ep_x[7u] = role_q(b, t, h, kx);
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
      for (var stg = 0u; stg < 8u; stg++) {
        let e = lid + stg * WG;
        
        
        let valid = e / 16u < rows && k0 + e % 16u < KD;
        wf[2048u + e] = select(0.0, sl_x[stg], valid); wf[1024u + e] = select(0.0, sl_g[stg], valid);
      }
    }
  var nx_x: array<f32, 8>; var nx_g: array<f32, 8>; var nep_i: array<f32, 8>; var nep_x: array<f32, 8>;
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
      nep_i[0u] = b_dinter[dint(0u, tk)];
      nep_x[0u] = role_q(b, t, h, kx);
    }
    {
      let el = lane + 32u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let t = t0 + min(r, rows - 1u); let kx = min(k0 + (d0 + 16u) + c, KD - 1u); let tk = tok(bh, t, kx, KD);
      nep_i[1u] = b_dinter[dint(0u, tk)];
      nep_x[1u] = role_q(b, t, h, kx);
    }
    {
      let el = lane + 64u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let t = t0 + min(r, rows - 1u); let kx = min(k0 + (d0 + 16u) + c, KD - 1u); let tk = tok(bh, t, kx, KD);
      nep_i[2u] = b_dinter[dint(0u, tk)];
      nep_x[2u] = role_q(b, t, h, kx);
    }
    {
      let el = lane + 96u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let t = t0 + min(r, rows - 1u); let kx = min(k0 + (d0 + 16u) + c, KD - 1u); let tk = tok(bh, t, kx, KD);
      nep_i[3u] = b_dinter[dint(0u, tk)];
      nep_x[3u] = role_q(b, t, h, kx);
    }
    {
      let el = lane + 128u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let t = t0 + min(r, rows - 1u); let kx = min(k0 + (d0 + 16u) + c, KD - 1u); let tk = tok(bh, t, kx, KD);
      nep_i[4u] = b_dinter[dint(0u, tk)];
      nep_x[4u] = role_q(b, t, h, kx);
    }
    {
      let el = lane + 160u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let t = t0 + min(r, rows - 1u); let kx = min(k0 + (d0 + 16u) + c, KD - 1u); let tk = tok(bh, t, kx, KD);
      nep_i[5u] = b_dinter[dint(0u, tk)];
      nep_x[5u] = role_q(b, t, h, kx);
    }
    {
      let el = lane + 192u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let t = t0 + min(r, rows - 1u); let kx = min(k0 + (d0 + 16u) + c, KD - 1u); let tk = tok(bh, t, kx, KD);
      nep_i[6u] = b_dinter[dint(0u, tk)];
      nep_x[6u] = role_q(b, t, h, kx);
    }
    {
      let el = lane + 224u;
      let r = fsr * 16u + el / 16u;
      let c = fsc * 16u + el % 16u;
      let t = t0 + min(r, rows - 1u); let kx = min(k0 + (d0 + 16u) + c, KD - 1u); let tk = tok(bh, t, kx, KD);
      nep_i[7u] = b_dinter[dint(0u, tk)];
      nep_x[7u] = role_q(b, t, h, kx);
    }
  }
    }
    workgroupBarrier();
    for (var sa = 0u; sa < 12u; sa++) {
      let e = lid + sa * WG;
      let ra = e / 16u; let aI = select(select(3u, 2u, ra < 48u), 1u, ra < 16u); let j = ra - 8u * aI * (aI - 1u);
      let c = e % 16u;
      let ta = min(aI * 16u - 1u, rows - 1u);
      let x = wf[2048u + (j) * 16u + c] * exp2(wf[1024u + (ta) * 16u + c] - wf[1024u + (j) * 16u + c]);
      wh[1536u + e] = f16(select(0.0, x, j < rows && aI * 16u - 1u < rows && k0 + d0 + c < KD));
    }
    workgroupBarrier();
    var a0_0_0 = subgroup_matrix_result<f32, 16, 16>();
    if (factive) {
      for (var kk = 0u; kk < fsr * 16u; kk += 16u) {
        {
      let fl0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, 0u + (fsr * (fsr - 1u) / 2u + kk / 16u) * 256u, false, 16u);
      let fr0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wh, 1536u + (8u * fsr * (fsr - 1u) + kk) * 16u + fsc * 16u, false, 16u);
      a0_0_0 = subgroupMatrixMultiplyAccumulate(fl0, fr0, a0_0_0);
    }
      }
    }
    if (factive) { subgroupMatrixStore(&wf, sg * 256u, a0_0_0, false, 16u); }
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
        let gqr = wf[1024u + (r) * 16u + c];
        var dg = 0.0;
        for (var j = bI * 16u; j < r; j++) { dg += wf[3072u + bI * 256u + (r % 16u) * 16u + j % 16u] * wf[2048u + (j) * 16u + c] * exp2(gqr - wf[1024u + (j) * 16u + c]); }
        let own = wf[3072u + bI * 256u + (r % 16u) * 16u + r % 16u] * wf[2048u + (r) * 16u + c];
        let pairs = select(0.0, value * exp2(gqr - wf[1024u + (max(bI * 16u, 1u) - 1u) * 16u + c]), bI > 0u);
        let dqn = P.scale * (pairs + dg + own) + P.scale * exp2(gqr) * ep_i[0u];
        b_grad_q[bth(b, t, h, kx, KD)] = dqn;
        b_dbq[tok(bh, t, kx, KD)] = ep_x[0u] * dqn;
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
        let gqr = wf[1024u + (r) * 16u + c];
        var dg = 0.0;
        for (var j = bI * 16u; j < r; j++) { dg += wf[3072u + bI * 256u + (r % 16u) * 16u + j % 16u] * wf[2048u + (j) * 16u + c] * exp2(gqr - wf[1024u + (j) * 16u + c]); }
        let own = wf[3072u + bI * 256u + (r % 16u) * 16u + r % 16u] * wf[2048u + (r) * 16u + c];
        let pairs = select(0.0, value * exp2(gqr - wf[1024u + (max(bI * 16u, 1u) - 1u) * 16u + c]), bI > 0u);
        let dqn = P.scale * (pairs + dg + own) + P.scale * exp2(gqr) * ep_i[1u];
        b_grad_q[bth(b, t, h, kx, KD)] = dqn;
        b_dbq[tok(bh, t, kx, KD)] = ep_x[1u] * dqn;
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
        let gqr = wf[1024u + (r) * 16u + c];
        var dg = 0.0;
        for (var j = bI * 16u; j < r; j++) { dg += wf[3072u + bI * 256u + (r % 16u) * 16u + j % 16u] * wf[2048u + (j) * 16u + c] * exp2(gqr - wf[1024u + (j) * 16u + c]); }
        let own = wf[3072u + bI * 256u + (r % 16u) * 16u + r % 16u] * wf[2048u + (r) * 16u + c];
        let pairs = select(0.0, value * exp2(gqr - wf[1024u + (max(bI * 16u, 1u) - 1u) * 16u + c]), bI > 0u);
        let dqn = P.scale * (pairs + dg + own) + P.scale * exp2(gqr) * ep_i[2u];
        b_grad_q[bth(b, t, h, kx, KD)] = dqn;
        b_dbq[tok(bh, t, kx, KD)] = ep_x[2u] * dqn;
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
        let gqr = wf[1024u + (r) * 16u + c];
        var dg = 0.0;
        for (var j = bI * 16u; j < r; j++) { dg += wf[3072u + bI * 256u + (r % 16u) * 16u + j % 16u] * wf[2048u + (j) * 16u + c] * exp2(gqr - wf[1024u + (j) * 16u + c]); }
        let own = wf[3072u + bI * 256u + (r % 16u) * 16u + r % 16u] * wf[2048u + (r) * 16u + c];
        let pairs = select(0.0, value * exp2(gqr - wf[1024u + (max(bI * 16u, 1u) - 1u) * 16u + c]), bI > 0u);
        let dqn = P.scale * (pairs + dg + own) + P.scale * exp2(gqr) * ep_i[3u];
        b_grad_q[bth(b, t, h, kx, KD)] = dqn;
        b_dbq[tok(bh, t, kx, KD)] = ep_x[3u] * dqn;
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
        let gqr = wf[1024u + (r) * 16u + c];
        var dg = 0.0;
        for (var j = bI * 16u; j < r; j++) { dg += wf[3072u + bI * 256u + (r % 16u) * 16u + j % 16u] * wf[2048u + (j) * 16u + c] * exp2(gqr - wf[1024u + (j) * 16u + c]); }
        let own = wf[3072u + bI * 256u + (r % 16u) * 16u + r % 16u] * wf[2048u + (r) * 16u + c];
        let pairs = select(0.0, value * exp2(gqr - wf[1024u + (max(bI * 16u, 1u) - 1u) * 16u + c]), bI > 0u);
        let dqn = P.scale * (pairs + dg + own) + P.scale * exp2(gqr) * ep_i[4u];
        b_grad_q[bth(b, t, h, kx, KD)] = dqn;
        b_dbq[tok(bh, t, kx, KD)] = ep_x[4u] * dqn;
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
        let gqr = wf[1024u + (r) * 16u + c];
        var dg = 0.0;
        for (var j = bI * 16u; j < r; j++) { dg += wf[3072u + bI * 256u + (r % 16u) * 16u + j % 16u] * wf[2048u + (j) * 16u + c] * exp2(gqr - wf[1024u + (j) * 16u + c]); }
        let own = wf[3072u + bI * 256u + (r % 16u) * 16u + r % 16u] * wf[2048u + (r) * 16u + c];
        let pairs = select(0.0, value * exp2(gqr - wf[1024u + (max(bI * 16u, 1u) - 1u) * 16u + c]), bI > 0u);
        let dqn = P.scale * (pairs + dg + own) + P.scale * exp2(gqr) * ep_i[5u];
        b_grad_q[bth(b, t, h, kx, KD)] = dqn;
        b_dbq[tok(bh, t, kx, KD)] = ep_x[5u] * dqn;
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
        let gqr = wf[1024u + (r) * 16u + c];
        var dg = 0.0;
        for (var j = bI * 16u; j < r; j++) { dg += wf[3072u + bI * 256u + (r % 16u) * 16u + j % 16u] * wf[2048u + (j) * 16u + c] * exp2(gqr - wf[1024u + (j) * 16u + c]); }
        let own = wf[3072u + bI * 256u + (r % 16u) * 16u + r % 16u] * wf[2048u + (r) * 16u + c];
        let pairs = select(0.0, value * exp2(gqr - wf[1024u + (max(bI * 16u, 1u) - 1u) * 16u + c]), bI > 0u);
        let dqn = P.scale * (pairs + dg + own) + P.scale * exp2(gqr) * ep_i[6u];
        b_grad_q[bth(b, t, h, kx, KD)] = dqn;
        b_dbq[tok(bh, t, kx, KD)] = ep_x[6u] * dqn;
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
        let gqr = wf[1024u + (r) * 16u + c];
        var dg = 0.0;
        for (var j = bI * 16u; j < r; j++) { dg += wf[3072u + bI * 256u + (r % 16u) * 16u + j % 16u] * wf[2048u + (j) * 16u + c] * exp2(gqr - wf[1024u + (j) * 16u + c]); }
        let own = wf[3072u + bI * 256u + (r % 16u) * 16u + r % 16u] * wf[2048u + (r) * 16u + c];
        let pairs = select(0.0, value * exp2(gqr - wf[1024u + (max(bI * 16u, 1u) - 1u) * 16u + c]), bI > 0u);
        let dqn = P.scale * (pairs + dg + own) + P.scale * exp2(gqr) * ep_i[7u];
        b_grad_q[bth(b, t, h, kx, KD)] = dqn;
        b_dbq[tok(bh, t, kx, KD)] = ep_x[7u] * dqn;
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
      ep_i = nep_i; ep_x = nep_x;
    }
  }
}
