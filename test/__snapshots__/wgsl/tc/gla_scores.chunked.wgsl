enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
// lae kernel 'gla_scores' (scores) for variant 'gla'
// spec hash 4f7810925b4783ac; config {"K":128,"V":128,"chunk":64,"fragments":"subgroup-matrix","unverifiedFragments":true,"wgMemory":49152}; tiles {"KP":128,"VP":128,"outBV":128,"prepSlab":16,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=diagonal correction=none bonus=none state=kv

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> b_aqk16: array<f16>;
@group(0) @binding(2) var<storage, read> in_q: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> in_k: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> b_gcum: array<f32>;

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

fn role_q(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_q[((((b) * P.T + t) * P.H + h) * KD + j) >> 2u][((((b) * P.T + t) * P.H + h) * KD + j) & 3u]; }
fn role_k(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_k[((((b) * P.T + t) * P.H + h) * KD + j) >> 2u][((((b) * P.T + t) * P.H + h) * KD + j) & 3u]; }
fn gcs(b: u32, h: u32, t: u32, d: u32) -> f32 { return b_gcum[((b * P.H + h) * P.T + t) * DG + d]; }
fn gq(b: u32, h: u32, t: u32, t0: u32, d: u32) -> f32 { return gcs(b, h, t, d); }

var<workgroup> wh: array<f16, 4736>;
var<workgroup> wf: array<f32, 1088>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let n = wid.x;
  let bh = wid.y;
  let b = bh / P.H;
  let h = bh % P.H;
  let t0 = n * C;
  let rows = min(C, P.T - t0);
  
  {
  var sp0_0_0 = subgroup_matrix_result<f32, 16, 16>();
  var sp1_0_0 = subgroup_matrix_result<f32, 16, 16>();
  var dgv: array<f32, 8>;
  for (var d0 = 0u; d0 < KD; d0 += 16u) {
    {
      var l_v: array<f32, ((C * 16u) + WG - 1u) / WG>; var k_v: array<f32, ((C * 16u) + WG - 1u) / WG>; var g_v: array<f32, ((C * 16u) + WG - 1u) / WG>; var la_v: array<f32, ((C * 16u) + WG - 1u) / WG>;
      for (var stg = 0u; stg < ((C * 16u) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, (C * 16u) - 1u);
        let i = e / 16u; let t = t0 + min(i, rows - 1u); let d = min(d0 + e % 16u, KD - 1u);
        let ta = t0 + min(max(i / 16u, 1u) * 16u - 1u, rows - 1u);
        l_v[stg] = role_q(b, t, h, d);
        k_v[stg] = role_k(b, t, h, d);
        g_v[stg] = gcs(b, h, t, d);
        la_v[stg] = role_q(b, t, h, d) * exp2(gq(b, h, t, t0, d) - gcs(b, h, ta, d));
      }
      for (var stg = 0u; stg < ((C * 16u) + WG - 1u) / WG; stg++) {
        let e = lid + stg * WG;
        if (e < (C * 16u)) {
          let i = e / 16u; let dl = e % 16u;
          let valid = i < rows && d0 + dl < KD;
          wh[2560u + i * 18u + dl] = f16(select(0.0, l_v[stg], valid)); wh[3712u + e] = f16(select(0.0, k_v[stg], valid)); wf[0u + i * 17u + dl] = select(0.0, g_v[stg], valid);
          wh[0u + e] = f16(select(0.0, select(0.0, la_v[stg], valid), i >= 16u));
        }
      }
    }
    {
      var ka_v: array<f32, ((1536u) + WG - 1u) / WG>;
      for (var stg = 0u; stg < ((1536u) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, (1536u) - 1u);
        let ra = e / 16u; let aI = select(select(3u, 2u, ra < 48u), 1u, ra < 16u); let j = ra - 8u * aI * (aI - 1u);
        let t = t0 + min(j, rows - 1u); let ta = t0 + min(aI * 16u - 1u, rows - 1u); let d = min(d0 + e % 16u, KD - 1u);
        ka_v[stg] = role_k(b, t, h, d) * exp2(gcs(b, h, ta, d) - gcs(b, h, t, d));
      }
      for (var stg = 0u; stg < ((1536u) + WG - 1u) / WG; stg++) {
        let e = lid + stg * WG;
        if (e < (1536u)) {
          let ra = e / 16u; let aI = select(select(3u, 2u, ra < 48u), 1u, ra < 16u); let j = ra - 8u * aI * (aI - 1u);
          let valid = j < rows && aI * 16u - 1u < rows && d0 + e % 16u < KD;
          wh[1024u + e] = f16(select(0.0, ka_v[stg], valid));
        }
      }
    }
    
    workgroupBarrier();
    {
        let pr = 0u + sg;
        if (pr < 6u) {
          let pI = select(select(3u, 2u, pr < 3u), 1u, pr < 1u);
    let pJ = pr - pI * (pI - 1u) / 2u;
          for (var kk = 0u; kk < 16u; kk += 16u) {
            {
      let fl0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, 0u + pI * 256u + kk, false, 16u);
      let fr0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wh, 1024u + 8u * 16u * pI * (pI - 1u) + pJ * 256u + kk, true, 16u);
      sp0_0_0 = subgroupMatrixMultiplyAccumulate(fl0, fr0, sp0_0_0);
    }
          }
        }
      }
    {
        let pr = 4u + sg;
        if (pr < 6u) {
          let pI = select(select(3u, 2u, pr < 3u), 1u, pr < 1u);
    let pJ = pr - pI * (pI - 1u) / 2u;
          for (var kk = 0u; kk < 16u; kk += 16u) {
            {
      let fl0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, 0u + pI * 256u + kk, false, 16u);
      let fr0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wh, 1024u + 8u * 16u * pI * (pI - 1u) + pJ * 256u + kk, true, 16u);
      sp1_0_0 = subgroupMatrixMultiplyAccumulate(fl0, fr0, sp1_0_0);
    }
          }
        }
      }
    // Diagonal blocks in f32: thread (block, row, half) sums 8 columns, reusing its row's loads.
    if (lid < 128u) {
      let i = (lid / 32u) * 16u + (lid % 32u) / 2u;
      let jb = (lid / 32u) * 16u + (lid % 2u) * 8u;
      for (var dd = 0u; dd < 16u; dd++) {
        let ql = f32(wh[2560u + i * 18u + dd]);
        let gi = wf[0u + i * 17u + dd];
        for (var x = 0u; x < 8u; x++) {
          let j = jb + x;
          // min(.., 0) keeps the masked terms (j > i) finite; they are dropped at the store.
          let f = exp2(min(gi - wf[0u + j * 17u + dd], 0.0));
          dgv[x] += ql * f32(wh[3712u + j * 16u + dd]) * f;
        }
      }
    }
    workgroupBarrier();
  }
  // Blocks above the diagonal are zero; the diagonal blocks come from dgv, the rest from the pairs.
  for (var el = lid; el < C * C; el += WG) {
    let r = el / C;
    let c = el % C;
    if (c / 16u > r / 16u) { b_aqk16[(bh * P.NT + n) * C * C + (r) * C + c] = f16(0.0); }
  }
  if (lid < 128u) {
    let r = (lid / 32u) * 16u + (lid % 32u) / 2u;
    for (var x = 0u; x < 8u; x++) {
      let c = (lid / 32u) * 16u + (lid % 2u) * 8u + x;
      var a = 0.0;
      if (c <= r && r < rows) { a = dgv[x] * P.scale; }
      b_aqk16[(bh * P.NT + n) * C * C + (r) * C + c] = f16(a);
    }
  }
  {
    let pr = 0u + sg;
    let pI = select(select(3u, 2u, min(pr, 5u) < 3u), 1u, min(pr, 5u) < 1u);
    let pJ = min(pr, 5u) - pI * (pI - 1u) / 2u;
    if (pr < 6u) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, sp0_0_0, false, 16u);
  }
  workgroupBarrier();
  if (pr < 6u) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = pI * 16u + el / 16u;
      let c = pJ * 16u + el % 16u;
      let slot = 0u + x;
      let value = wf[0u + sg * 256u + el];
      var a = 0.0;
      if (r < rows) { a = value * P.scale; }
      b_aqk16[(bh * P.NT + n) * C * C + (r) * C + c] = f16(a);
    }
  }
  workgroupBarrier();
  }
  {
    let pr = 4u + sg;
    let pI = select(select(3u, 2u, min(pr, 5u) < 3u), 1u, min(pr, 5u) < 1u);
    let pJ = min(pr, 5u) - pI * (pI - 1u) / 2u;
    if (pr < 6u) {
    subgroupMatrixStore(&wf, 0u + sg * 256u, sp1_0_0, false, 16u);
  }
  workgroupBarrier();
  if (pr < 6u) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = pI * 16u + el / 16u;
      let c = pJ * 16u + el % 16u;
      let slot = 0u + x;
      let value = wf[0u + sg * 256u + el];
      var a = 0.0;
      if (r < rows) { a = value * P.scale; }
      b_aqk16[(bh * P.NT + n) * C * C + (r) * C + c] = f16(a);
    }
  }
  workgroupBarrier();
  }
  workgroupBarrier();
}
}
