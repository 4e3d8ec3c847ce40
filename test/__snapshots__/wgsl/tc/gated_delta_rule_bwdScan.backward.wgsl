enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
// lae kernel 'gated_delta_rule_bwdScan' (bwdScan) for variant 'gated_delta_rule'
// spec hash f24d6bf0f465f5b6; config {"K":128,"V":128,"chunk":64,"fragments":"subgroup-matrix","unverifiedFragments":true,"wgMemory":49152}; tiles {"KP":128,"VP":128,"outBV":128,"prepSlab":32,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=scalar correction=delta bonus=none state=kv

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> b_do: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> b_dhs: array<f32>;
@group(0) @binding(3) var<storage, read_write> b_dU: array<f32>;
@group(0) @binding(4) var<storage, read_write> b_dh0: array<f32>;
@group(0) @binding(5) var<storage, read> b_w16: array<vec4<u32>>;
@group(0) @binding(6) var<storage, read> b_kg16: array<vec4<u32>>;
@group(0) @binding(7) var<storage, read> in_q: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read> b_gcum: array<f32>;

const C: u32 = 64u;
const KD: u32 = 128u;
const VD: u32 = 128u;
const KP: u32 = 128u;
const VP: u32 = 128u;
const DG: u32 = 1u;
const WG: u32 = 128u;
const WG_X: u32 = 128u;
const LOG2E: f32 = 1.4426950408889634;

fn lae_sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn lae_softplus(x: f32) -> f32 { return select(log(1.0 + exp(x)), x, x > 20.0); }
fn lae_silu(x: f32) -> f32 { return x * lae_sigmoid(x); }

fn role_q(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_q[((((b) * P.T + t) * P.H + h) * KD + j) >> 2u][((((b) * P.T + t) * P.H + h) * KD + j) & 3u]; }
fn seed_at(sq: u32, h: u32, d: u32, c: u32) -> f32 {
  if (d >= KD || c >= VD) { return 0.0; }
  return b_dh0[((sq * P.H + h) * KD + d) * VD + c];
}
fn role4_q(b: u32, t: u32, h: u32, j: u32) -> vec4<f32> { return in_q[((((b) * P.T + t) * P.H + h) * KD + j) >> 2u]; }
fn gcs(b: u32, h: u32, t: u32, d: u32) -> f32 { return b_gcum[((b * P.H + h) * P.T + t) * DG]; }
fn gq(b: u32, h: u32, t: u32, t0: u32, d: u32) -> f32 { return gcs(b, h, t, d); }

var<workgroup> wh: array<f16, 20480>;
var<workgroup> wf: array<f32, 2048>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let bh = wid.y;
  let b = bh / P.H;
  let h = bh % P.H;
  let sq = b;
  let nBegin = 0u;
  let nEnd = P.NT;
  let tBegin = 0u;
  let tEnd = P.T;
  let vt = wid.x;
  
  let v0 = vt * 32u;
  let ssr = sg / 1u;
  let ssc = sg % 1u;
  let sactive = sg < 4u;
  let vsr = sg / 2u;
  let vsc = sg % 2u;
  let vactive = sg < 4u;
  var ds_0_0 = subgroup_matrix_result<f32, 16, 16>();
  var ds_0_1 = subgroup_matrix_result<f32, 16, 16>();
  var ds_1_0 = subgroup_matrix_result<f32, 16, 16>();
  var ds_1_1 = subgroup_matrix_result<f32, 16, 16>();
  var du_0_0 = subgroup_matrix_result<f32, 16, 16>();
  var du_1_0 = subgroup_matrix_result<f32, 16, 16>();
  var dvpre: array<f32, 16>;
  var pq_v: array<vec4<f32>, (((C * 128u) / 4u) + WG - 1u) / WG>;
  var pdo_v: array<vec4<f32>, (((C * 32u) / 4u) + WG - 1u) / WG>;
  var pk: array<vec4<u32>, 8>;
  var pw: array<vec4<u32>, 8>;
  {
      let n = nEnd - 1u;
      let t0 = n * C;
  let rows = min(C, P.T - t0);
      for (var stg = 0u; stg < (((C * 128u) / 4u) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, ((C * 128u) / 4u) - 1u) * 4u;
        let t = t0 + min(e / 128u, rows - 1u); let d = min(e % 128u, KD - 4u);
        pq_v[stg] = P.scale * role4_q(b, t, h, d) * exp2(gq(b, h, t, t0, 0u));
      }
    }
    for (var s = 0u; s < 8u; s++) {
      let q = min(lid + s * 128u, 1023u);
      pk[s] = b_kg16[(bh * P.NT + nEnd - 1u) * 1024u + q];
    }
  {
      let n = nEnd - 1u;
      let t0 = n * C;
  let rows = min(C, P.T - t0);
      for (var stg = 0u; stg < (((C * 128u) / 4u) + WG - 1u) / WG; stg++) {
        let e4 = lid + stg * WG;
        if (e4 < ((C * 128u) / 4u)) {
          let e = e4 * 4u;
          
          let valid = e / 128u < rows && e % 128u < KD;
          { let hv = vec4<f16>(select(vec4<f32>(0.0), pq_v[stg], valid)); wh[4096u + e] = hv.x; wh[4096u + e + 1u] = hv.y; wh[4096u + e + 2u] = hv.z; wh[4096u + e + 3u] = hv.w; }
        }
      }
    }
    for (var s = 0u; s < 8u; s++) {
      let q = lid + s * 128u;
      if (q < 1024u) {
        let w = pk[s];
        let o = 12288u + q * 8u;
        let h0 = bitcast<vec2<f16>>(w.x); let h1 = bitcast<vec2<f16>>(w.y);
        let h2 = bitcast<vec2<f16>>(w.z); let h3 = bitcast<vec2<f16>>(w.w);
        wh[o] = h0.x; wh[o + 1u] = h0.y; wh[o + 2u] = h1.x; wh[o + 3u] = h1.y;
        wh[o + 4u] = h2.x; wh[o + 5u] = h2.y; wh[o + 6u] = h3.x; wh[o + 7u] = h3.y;
      }
    }
  if (sactive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = ssr * 32u + el / 16u;
      let c = ssc * 32u + el % 16u;
      let slot = 0u + x;
      wf[0u + sg * 512u + el] = seed_at(sq, h, r, v0 + c);
    }
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = ssr * 32u + el / 16u;
      let c = (ssc * 2u + 1u) * 16u + el % 16u;
      let slot = 8u + x;
      wf[256u + sg * 512u + el] = seed_at(sq, h, r, v0 + c);
    }
  }
  workgroupBarrier();
  if (sactive) {
    ds_0_0 = subgroupMatrixLoad<subgroup_matrix_result<f32, 16, 16>>(&wf, 0u + sg * 512u, false, 16u);
    ds_0_1 = subgroupMatrixLoad<subgroup_matrix_result<f32, 16, 16>>(&wf, 256u + sg * 512u, false, 16u);
  }
  workgroupBarrier();
  if (sactive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = (ssr * 2u + 1u) * 16u + el / 16u;
      let c = ssc * 32u + el % 16u;
      let slot = 8u + x;
      wf[0u + sg * 512u + el] = seed_at(sq, h, r, v0 + c);
    }
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = (ssr * 2u + 1u) * 16u + el / 16u;
      let c = (ssc * 2u + 1u) * 16u + el % 16u;
      let slot = 16u + x;
      wf[256u + sg * 512u + el] = seed_at(sq, h, r, v0 + c);
    }
  }
  workgroupBarrier();
  if (sactive) {
    ds_1_0 = subgroupMatrixLoad<subgroup_matrix_result<f32, 16, 16>>(&wf, 0u + sg * 512u, false, 16u);
    ds_1_1 = subgroupMatrixLoad<subgroup_matrix_result<f32, 16, 16>>(&wf, 256u + sg * 512u, false, 16u);
  }
  workgroupBarrier();
  for (var nn = nBegin; nn < nEnd; nn++) {
    let n = nBegin + nEnd - 1u - nn;
    let t0 = n * C;
  let rows = min(C, P.T - t0);
    let nNext = select(n - 1u, n, nn + 1u == nEnd);
    // This step's dvl, do and W into registers, in flight during the state's epilogue and dU's product.
    if (vactive) {
      for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = vsr * 32u + el / 16u;
      let c = vsc * 16u + el % 16u;
      let slot = 0u + x;
      dvpre[slot] = b_dU[(bh * P.T + t0 + min(r, rows - 1u)) * VD + min(v0 + c, VD - 1u)];
    }
      for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = (vsr * 2u + 1u) * 16u + el / 16u;
      let c = vsc * 16u + el % 16u;
      let slot = 8u + x;
      dvpre[slot] = b_dU[(bh * P.T + t0 + min(r, rows - 1u)) * VD + min(v0 + c, VD - 1u)];
    }
    }
    for (var stg = 0u; stg < (((C * 32u) / 4u) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, ((C * 32u) / 4u) - 1u) * 4u;
        let t = t0 + min(e / 32u, rows - 1u); let cg = min(v0 + e % 32u, VD - 4u);
        pdo_v[stg] = b_do[(((b * P.T + t) * P.H + h) * VD + cg) >> 2u];
      }
    for (var s = 0u; s < 8u; s++) {
      let q = min(lid + s * 128u, 1023u);
      pw[s] = b_w16[(bh * P.NT + n) * 1024u + q];
    }
    // dS'_n for dU (into region R), then decayed.
    // Read by the epilogue's update; the portable lowering's epilogue has no barrier before it.
    
    // The state: to b_dhs, and as f16 into workgroup memory for this step's product.
    if (sactive) {
    subgroupMatrixStore(&wf, 0u + sg * 512u, ds_0_0, false, 16u);
    subgroupMatrixStore(&wf, 256u + sg * 512u, ds_0_1, false, 16u);
  }
  workgroupBarrier();
  if (sactive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = ssr * 32u + el / 16u;
      let c = ssc * 32u + el % 16u;
      let slot = 0u + x;
      let value = wf[0u + sg * 512u + el];
      if (r < KD && v0 + c < VD) { b_dhs[((bh * P.NT + n) * KD + r) * VD + v0 + c] = value; }
      wh[0u + r * 32u + c] = f16(value);
    }
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = ssr * 32u + el / 16u;
      let c = (ssc * 2u + 1u) * 16u + el % 16u;
      let slot = 8u + x;
      let value = wf[256u + sg * 512u + el];
      if (r < KD && v0 + c < VD) { b_dhs[((bh * P.NT + n) * KD + r) * VD + v0 + c] = value; }
      wh[0u + r * 32u + c] = f16(value);
    }
  }
  workgroupBarrier();
  if (sactive) {
    subgroupMatrixStore(&wf, 0u + sg * 512u, ds_1_0, false, 16u);
    subgroupMatrixStore(&wf, 256u + sg * 512u, ds_1_1, false, 16u);
  }
  workgroupBarrier();
  if (sactive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = (ssr * 2u + 1u) * 16u + el / 16u;
      let c = ssc * 32u + el % 16u;
      let slot = 16u + x;
      let value = wf[0u + sg * 512u + el];
      if (r < KD && v0 + c < VD) { b_dhs[((bh * P.NT + n) * KD + r) * VD + v0 + c] = value; }
      wh[0u + r * 32u + c] = f16(value);
    }
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = (ssr * 2u + 1u) * 16u + el / 16u;
      let c = (ssc * 2u + 1u) * 16u + el % 16u;
      let slot = 24u + x;
      let value = wf[256u + sg * 512u + el];
      if (r < KD && v0 + c < VD) { b_dhs[((bh * P.NT + n) * KD + r) * VD + v0 + c] = value; }
      wh[0u + r * 32u + c] = f16(value);
    }
  }
  workgroupBarrier();
    if (sactive) {
      let decay = exp2(gcs(b, h, t0 + rows - 1u, 0u));
      ds_0_0 = subgroupMatrixScalarMultiply(ds_0_0, decay);
      ds_0_1 = subgroupMatrixScalarMultiply(ds_0_1, decay);
      ds_1_0 = subgroupMatrixScalarMultiply(ds_1_0, decay);
      ds_1_1 = subgroupMatrixScalarMultiply(ds_1_1, decay);
    }
    // dU = dvl + Kg dS'_n, the keys decayed to the chunk's end (C x K, the forward's kg16 block, staged in region A).
    du_0_0 = subgroup_matrix_result<f32, 16, 16>(); du_1_0 = subgroup_matrix_result<f32, 16, 16>();
    if (vactive) {
      for (var d0 = 0u; d0 < 128u; d0 += 16u) {
        {
      let fl0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, 12288u + vsr * 32u * 128u + d0, false, 128u);
      let fl1 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, 12288u + (vsr * 2u + 1u) * 16u * 128u + d0, false, 128u);
      let fr0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wh, 0u + d0 * 32u + vsc * 16u, false, 32u);
      du_0_0 = subgroupMatrixMultiplyAccumulate(fl0, fr0, du_0_0);
      du_1_0 = subgroupMatrixMultiplyAccumulate(fl1, fr0, du_1_0);
    }
      }
    }
    // Regions R and A are read: do (and W) take their places.
    workgroupBarrier();
    for (var stg = 0u; stg < (((C * 32u) / 4u) + WG - 1u) / WG; stg++) {
        let e4 = lid + stg * WG;
        if (e4 < ((C * 32u) / 4u)) {
          let e = e4 * 4u;
          
          let valid = e / 32u < rows && v0 + e % 32u < VD;
          { let hv = vec4<f16>(select(vec4<f32>(0.0), pdo_v[stg], valid)); wh[2048u + e] = hv.x; wh[2048u + e + 1u] = hv.y; wh[2048u + e + 2u] = hv.z; wh[2048u + e + 3u] = hv.w; }
        }
      }
    for (var s = 0u; s < 8u; s++) {
      let q = lid + s * 128u;
      if (q < 1024u) {
        let w = pw[s];
        let o = 12288u + q * 8u;
        let h0 = bitcast<vec2<f16>>(w.x); let h1 = bitcast<vec2<f16>>(w.y);
        let h2 = bitcast<vec2<f16>>(w.z); let h3 = bitcast<vec2<f16>>(w.w);
        wh[o] = h0.x; wh[o + 1u] = h0.y; wh[o + 2u] = h1.x; wh[o + 3u] = h1.y;
        wh[o + 4u] = h2.x; wh[o + 5u] = h2.y; wh[o + 6u] = h3.x; wh[o + 7u] = h3.y;
      }
    }
    // The next chunk's queries and keys into registers, in flight during the update.
    {
      let n = nNext;
      let t0 = n * C;
  let rows = min(C, P.T - t0);
      for (var stg = 0u; stg < (((C * 128u) / 4u) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, ((C * 128u) / 4u) - 1u) * 4u;
        let t = t0 + min(e / 128u, rows - 1u); let d = min(e % 128u, KD - 4u);
        pq_v[stg] = P.scale * role4_q(b, t, h, d) * exp2(gq(b, h, t, t0, 0u));
      }
    }
    for (var s = 0u; s < 8u; s++) {
      let q = min(lid + s * 128u, 1023u);
      pk[s] = b_kg16[(bh * P.NT + nNext) * 1024u + q];
    }
    if (vactive) {
    subgroupMatrixStore(&wf, 0u + sg * 512u, du_0_0, false, 16u);
    subgroupMatrixStore(&wf, 256u + sg * 512u, du_1_0, false, 16u);
  }
  workgroupBarrier();
  if (vactive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = vsr * 32u + el / 16u;
      let c = vsc * 16u + el % 16u;
      let slot = 0u + x;
      let value = wf[0u + sg * 512u + el];
      var x = 0.0;
      if (r < rows && v0 + c < VD) {
        let at = (bh * P.T + t0 + r) * VD + v0 + c;
        x = dvpre[slot] + value;
        b_dU[at] = x;
      }
      wh[0u + r * 32u + c] = f16(-x);
    }
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = (vsr * 2u + 1u) * 16u + el / 16u;
      let c = vsc * 16u + el % 16u;
      let slot = 8u + x;
      let value = wf[256u + sg * 512u + el];
      var x = 0.0;
      if (r < rows && v0 + c < VD) {
        let at = (bh * P.T + t0 + r) * VD + v0 + c;
        x = dvpre[slot] + value;
        b_dU[at] = x;
      }
      wh[0u + r * 32u + c] = f16(-x);
    }
  }
  workgroupBarrier();
    // dS += (scale q 2^Gq)^T do + W^T (-dU), over the chunk's rows (W, C x K, read transposed from region A).
    if (sactive) {
      for (var kk = 0u; kk < C; kk += 16u) {
        {
      let fl0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, 4096u + kk * 128u + ssr * 32u, true, 128u);
      let fl1 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, 4096u + kk * 128u + (ssr * 2u + 1u) * 16u, true, 128u);
      let fr0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wh, 2048u + kk * 32u + ssc * 32u, false, 32u);
      let fr1 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wh, 2048u + kk * 32u + (ssc * 2u + 1u) * 16u, false, 32u);
      ds_0_0 = subgroupMatrixMultiplyAccumulate(fl0, fr0, ds_0_0);
      ds_0_1 = subgroupMatrixMultiplyAccumulate(fl0, fr1, ds_0_1);
      ds_1_0 = subgroupMatrixMultiplyAccumulate(fl1, fr0, ds_1_0);
      ds_1_1 = subgroupMatrixMultiplyAccumulate(fl1, fr1, ds_1_1);
    }
        {
      let fl0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, 12288u + kk * 128u + ssr * 32u, true, 128u);
      let fl1 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&wh, 12288u + kk * 128u + (ssr * 2u + 1u) * 16u, true, 128u);
      let fr0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wh, 0u + kk * 32u + ssc * 32u, false, 32u);
      let fr1 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&wh, 0u + kk * 32u + (ssc * 2u + 1u) * 16u, false, 32u);
      ds_0_0 = subgroupMatrixMultiplyAccumulate(fl0, fr0, ds_0_0);
      ds_0_1 = subgroupMatrixMultiplyAccumulate(fl0, fr1, ds_0_1);
      ds_1_0 = subgroupMatrixMultiplyAccumulate(fl1, fr0, ds_1_0);
      ds_1_1 = subgroupMatrixMultiplyAccumulate(fl1, fr1, ds_1_1);
    }
      }
    }
    workgroupBarrier();
    // The next chunk's queries and keys replace this one's (every product has read them).
    {
      let n = nNext;
      let t0 = n * C;
  let rows = min(C, P.T - t0);
      for (var stg = 0u; stg < (((C * 128u) / 4u) + WG - 1u) / WG; stg++) {
        let e4 = lid + stg * WG;
        if (e4 < ((C * 128u) / 4u)) {
          let e = e4 * 4u;
          
          let valid = e / 128u < rows && e % 128u < KD;
          { let hv = vec4<f16>(select(vec4<f32>(0.0), pq_v[stg], valid)); wh[4096u + e] = hv.x; wh[4096u + e + 1u] = hv.y; wh[4096u + e + 2u] = hv.z; wh[4096u + e + 3u] = hv.w; }
        }
      }
    }
    for (var s = 0u; s < 8u; s++) {
      let q = lid + s * 128u;
      if (q < 1024u) {
        let w = pk[s];
        let o = 12288u + q * 8u;
        let h0 = bitcast<vec2<f16>>(w.x); let h1 = bitcast<vec2<f16>>(w.y);
        let h2 = bitcast<vec2<f16>>(w.z); let h3 = bitcast<vec2<f16>>(w.w);
        wh[o] = h0.x; wh[o + 1u] = h0.y; wh[o + 2u] = h1.x; wh[o + 3u] = h1.y;
        wh[o + 4u] = h2.x; wh[o + 5u] = h2.y; wh[o + 6u] = h3.x; wh[o + 7u] = h3.y;
      }
    }
  }
  if (sactive) {
    subgroupMatrixStore(&wf, 0u + sg * 512u, ds_0_0, false, 16u);
    subgroupMatrixStore(&wf, 256u + sg * 512u, ds_0_1, false, 16u);
  }
  workgroupBarrier();
  if (sactive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = ssr * 32u + el / 16u;
      let c = ssc * 32u + el % 16u;
      let slot = 0u + x;
      let value = wf[0u + sg * 512u + el];
      if (r < KD && v0 + c < VD) { b_dh0[((sq * P.H + h) * KD + r) * VD + v0 + c] = value; }
    }
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = ssr * 32u + el / 16u;
      let c = (ssc * 2u + 1u) * 16u + el % 16u;
      let slot = 8u + x;
      let value = wf[256u + sg * 512u + el];
      if (r < KD && v0 + c < VD) { b_dh0[((sq * P.H + h) * KD + r) * VD + v0 + c] = value; }
    }
  }
  workgroupBarrier();
  if (sactive) {
    subgroupMatrixStore(&wf, 0u + sg * 512u, ds_1_0, false, 16u);
    subgroupMatrixStore(&wf, 256u + sg * 512u, ds_1_1, false, 16u);
  }
  workgroupBarrier();
  if (sactive) {
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = (ssr * 2u + 1u) * 16u + el / 16u;
      let c = ssc * 32u + el % 16u;
      let slot = 16u + x;
      let value = wf[0u + sg * 512u + el];
      if (r < KD && v0 + c < VD) { b_dh0[((sq * P.H + h) * KD + r) * VD + v0 + c] = value; }
    }
    for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = (ssr * 2u + 1u) * 16u + el / 16u;
      let c = (ssc * 2u + 1u) * 16u + el % 16u;
      let slot = 24u + x;
      let value = wf[256u + sg * 512u + el];
      if (r < KD && v0 + c < VD) { b_dh0[((sq * P.H + h) * KD + r) * VD + v0 + c] = value; }
    }
  }
  workgroupBarrier();
}
