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
@group(0) @binding(5) var<storage, read> b_dinter: array<f32>;
@group(0) @binding(6) var<storage, read_write> b_grad_q: array<f32>;
@group(0) @binding(7) var<storage, read_write> b_dbq: array<f32>;

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
fn tok(bh: u32, t: u32, x: u32, width: u32) -> u32 { return (bh * P.T + t) * width + x; }
fn dint(part: u32, i: u32) -> u32 { return part * (P.B * P.H * P.T * KD) + i; }
fn bth(b: u32, t: u32, h: u32, x: u32, width: u32) -> u32 { return ((b * P.T + t) * P.H + h) * width + x; }

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
  {
      var x_v: array<f32, ((1536u) + WG - 1u) / WG>;
      for (var stg = 0u; stg < ((1536u) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, (1536u) - 1u);
        let blk = e / 256u; let aI = select(select(3u, 2u, blk < 3u), 1u, blk < 1u);
        let row = aI * 16u + (e % 256u) / 16u; let col = (blk - aI * (aI - 1u) / 2u) * 16u + e % 16u;
        x_v[stg] = b_daqk[cc(bh, n, row, col)];
      }
      for (var stg = 0u; stg < ((1536u) + WG - 1u) / WG; stg++) {
        let e = lid + stg * WG;
        if (e < (1536u)) {
          let blk = e / 256u; let aI = select(select(3u, 2u, blk < 3u), 1u, blk < 1u);
        let row = aI * 16u + (e % 256u) / 16u; let col = (blk - aI * (aI - 1u) / 2u) * 16u + e % 16u;
          let valid = row < rows;
          wh[0u + e] = f16(select(0.0, x_v[stg], valid));
        }
      }
    }
  {
      var a_v: array<f32, ((1024u) + WG - 1u) / WG>;
      for (var stg = 0u; stg < ((1024u) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, (1024u) - 1u);
        let row = (e / 256u) * 16u + (e % 256u) / 16u; let col = (e / 256u) * 16u + e % 16u;
        a_v[stg] = b_daqk[cc(bh, n, row, col)];
      }
      for (var stg = 0u; stg < ((1024u) + WG - 1u) / WG; stg++) {
        let e = lid + stg * WG;
        if (e < (1024u)) {
          let row = (e / 256u) * 16u + (e % 256u) / 16u; let col = (e / 256u) * 16u + e % 16u;
          let valid = row < rows && col <= row;
          wf[3072u + e] = select(0.0, a_v[stg], valid);
        }
      }
    }
  for (var d0 = 0u; d0 < min(64u, KD - k0); d0 += 16u) {
    {
      var x_v: array<f32, ((C * 16u) + WG - 1u) / WG>; var g_v: array<f32, ((C * 16u) + WG - 1u) / WG>;
      for (var stg = 0u; stg < ((C * 16u) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, (C * 16u) - 1u);
        let t = t0 + min(e / 16u, rows - 1u); let d = min(k0 + d0 + e % 16u, KD - 1u);
        x_v[stg] = role_k(b, t, h, d);
        g_v[stg] = gcs(b, h, t, d);
      }
      for (var stg = 0u; stg < ((C * 16u) + WG - 1u) / WG; stg++) {
        let e = lid + stg * WG;
        if (e < (C * 16u)) {
          
          let valid = e / 16u < rows && k0 + d0 + e % 16u < KD;
          wf[2048u + e] = select(0.0, x_v[stg], valid); wf[1024u + e] = select(0.0, g_v[stg], valid);
        }
      }
    }
    {
      var x_v: array<f32, ((1536u) + WG - 1u) / WG>;
      for (var stg = 0u; stg < ((1536u) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, (1536u) - 1u);
        let ra = e / 16u; let aI = select(select(3u, 2u, ra < 48u), 1u, ra < 16u); let j = ra - 8u * aI * (aI - 1u);
        let t = t0 + min(j, rows - 1u); let ta = t0 + min(aI * 16u - 1u, rows - 1u); let d = min(k0 + d0 + e % 16u, KD - 1u);
        x_v[stg] = role_k(b, t, h, d) * exp2(gcs(b, h, ta, d) - gcs(b, h, t, d));
      }
      for (var stg = 0u; stg < ((1536u) + WG - 1u) / WG; stg++) {
        let e = lid + stg * WG;
        if (e < (1536u)) {
          let ra = e / 16u; let aI = select(select(3u, 2u, ra < 48u), 1u, ra < 16u); let j = ra - 8u * aI * (aI - 1u);
          let valid = j < rows && aI * 16u - 1u < rows && k0 + d0 + e % 16u < KD;
          wh[1536u + e] = f16(select(0.0, x_v[stg], valid));
        }
      }
    }
    workgroupBarrier();
    var a0_0_0 = subgroup_matrix_result<f32, 16, 16>();
    if (factive) {
      for (var kk = 0u; kk < (fsr * 1u + 0u) * 16u; kk += 16u) {
        {
      let fl0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, 0u + ((fsr * 1u + 0u) * ((fsr * 1u + 0u) - 1u) / 2u + kk / 16u) * 256u, false, 16u);
      let fr0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wh, 1536u + (8u * (fsr * 1u + 0u) * ((fsr * 1u + 0u) - 1u) + kk) * 16u + (fsc * 1u + 0u) * 16u, false, 16u);
      a0_0_0 = subgroupMatrixMultiplyAccumulate(fl0, fr0, a0_0_0);
    }
      }
    }
    if (factive) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, a0_0_0, false, 16u);
  }
  workgroupBarrier();
  if (factive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = (fsr * 1u + 0u) * 16u + el / 16u;
      let c = (fsc * 1u + 0u) * 16u + el % 16u;
      let slot = 0u + x;
      let value = wf[0u + sg * 256u + el];
      let kx = k0 + d0 + c;
      if (r < rows && kx < KD) {
        let t = t0 + r;
        let bI = r / 16u;
        let gqr = wf[1024u + (r) * 16u + c];
        var dg = 0.0;
        for (var j = bI * 16u; j < r; j++) { dg += wf[3072u + bI * 256u + (r % 16u) * 16u + j % 16u] * wf[2048u + (j) * 16u + c] * exp2(gqr - wf[1024u + (j) * 16u + c]); }
        let own = wf[3072u + bI * 256u + (r % 16u) * 16u + r % 16u] * wf[2048u + (r) * 16u + c];
        // Block 0 has no pairs (value is 0); its anchor row would not exist.
        let pairs = select(0.0, value * exp2(gqr - wf[1024u + (max(bI * 16u, 1u) - 1u) * 16u + c]), bI > 0u);
        let dqn = P.scale * (pairs + dg + own) + P.scale * exp2(gqr) * b_dinter[dint(0u, tok(bh, t, kx, KD))];
        b_grad_q[bth(b, t, h, kx, KD)] = dqn;
        b_dbq[tok(bh, t, kx, KD)] = role_q(b, t, h, kx) * dqn;
      }
    }
  }
  workgroupBarrier();
  }
}
