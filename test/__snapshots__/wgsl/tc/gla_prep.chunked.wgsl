enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
// lae kernel 'gla_prep' (prep) for variant 'gla'
// spec hash 4f7810925b4783ac; config {"K":128,"V":128,"chunk":64,"fragments":"subgroup-matrix","unverifiedFragments":true,"wgMemory":49152}; tiles {"KP":128,"VP":128,"outBV":128,"prepSlab":16,"recurrentBV":32,"scanBV":16,"scanRows":8,"scanSlab":8,"slab":8,"stateBV":64}
// decay=diagonal correction=none bonus=none state=kv

struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> in_v: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> b_gcum: array<f32>;
@group(0) @binding(3) var<storage, read> in_g: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> in_k: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> b_kg16: array<f16>;
@group(0) @binding(6) var<storage, read_write> b_v16: array<f16>;

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

fn role_logDecay(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_g[((((b) * P.T + t) * P.H + h) * KD + j) >> 2u][((((b) * P.T + t) * P.H + h) * KD + j) & 3u]; }
fn role_k(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_k[((((b) * P.T + t) * P.H + h) * KD + j) >> 2u][((((b) * P.T + t) * P.H + h) * KD + j) & 3u]; }
fn role_v(b: u32, t: u32, h: u32, j: u32) -> f32 { return in_v[((((b) * P.T + t) * P.H + h) * VD + j) >> 2u][((((b) * P.T + t) * P.H + h) * VD + j) & 3u]; }
fn role4_v(b: u32, t: u32, h: u32, j: u32) -> vec4<f32> { return in_v[((((b) * P.T + t) * P.H + h) * VD + j) >> 2u]; }
const LOG2_FLOOR: f32 = -160.0;
fn decay_floor(x: f32) -> f32 {
  let nan = (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
  return select(max(x, LOG2_FLOOR), x, nan);
}
fn role4_k(b: u32, t: u32, h: u32, j: u32) -> vec4<f32> { return in_k[((((b) * P.T + t) * P.H + h) * KD + j) >> 2u]; }
fn gcs(b: u32, h: u32, t: u32, d: u32) -> f32 { return b_gcum[((b * P.H + h) * P.T + t) * DG + d]; }

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
    for (var i0 = 0u; i0 < rows; i0 += 64u) {
      var gv: array<f32, 64>;
      for (var k = 0u; k < 64u; k++) { gv[k] = role_logDecay(b, t0 + min(i0 + k, rows - 1u), h, d); }
      for (var k = 0u; k < 64u; k++) {
        if (i0 + k < rows) {
          acc += decay_floor(gv[k] * LOG2E);
          b_gcum[(bh * P.T + t0 + i0 + k) * DG + d] = acc;
        }
      }
    }
  }
  storageBarrier();
  workgroupBarrier();
  {
      var x_v: array<vec4<f32>, (((C * 128u) / 4u) + WG - 1u) / WG>;
      for (var stg = 0u; stg < (((C * 128u) / 4u) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, ((C * 128u) / 4u) - 1u) * 4u;
        let t = t0 + min(e / 128u, rows - 1u); let d = min(e % 128u, KD - 4u);
        x_v[stg] = role4_k(b, t, h, d) * exp2(vec4<f32>(gcs(b, h, t0 + rows - 1u, d), gcs(b, h, t0 + rows - 1u, d + 1u), gcs(b, h, t0 + rows - 1u, d + 2u), gcs(b, h, t0 + rows - 1u, d + 3u)) - vec4<f32>(gcs(b, h, t, d), gcs(b, h, t, d + 1u), gcs(b, h, t, d + 2u), gcs(b, h, t, d + 3u)));
      }
      for (var stg = 0u; stg < (((C * 128u) / 4u) + WG - 1u) / WG; stg++) {
        let e4 = lid + stg * WG;
        if (e4 < ((C * 128u) / 4u)) {
          let e = e4 * 4u;
          let r = e / 128u; let d = e % 128u;
          let valid = r < rows && d < KD;
          { let hv = vec4<f16>(select(vec4<f32>(0.0), x_v[stg], valid)); b_kg16[((bh * P.NT + n) * C + r) * 128u + d] = hv.x; b_kg16[((bh * P.NT + n) * C + r) * 128u + d + 1u] = hv.y; b_kg16[((bh * P.NT + n) * C + r) * 128u + d + 2u] = hv.z; b_kg16[((bh * P.NT + n) * C + r) * 128u + d + 3u] = hv.w; }
        }
      }
    }
  {
      var x_v: array<vec4<f32>, (((C * 128u) / 4u) + WG - 1u) / WG>;
      for (var stg = 0u; stg < (((C * 128u) / 4u) + WG - 1u) / WG; stg++) {
        let e = min(lid + stg * WG, ((C * 128u) / 4u) - 1u) * 4u;
        let t = t0 + min(e / 128u, rows - 1u); let c = min(e % 128u, VD - 4u);
        x_v[stg] = role4_v(b, t, h, c);
      }
      for (var stg = 0u; stg < (((C * 128u) / 4u) + WG - 1u) / WG; stg++) {
        let e4 = lid + stg * WG;
        if (e4 < ((C * 128u) / 4u)) {
          let e = e4 * 4u;
          let r = e / 128u; let c = e % 128u;
          let valid = r < rows && c < VD;
          { let hv = vec4<f16>(select(vec4<f32>(0.0), x_v[stg], valid)); b_v16[((bh * P.NT + n) * C + r) * 128u + c] = hv.x; b_v16[((bh * P.NT + n) * C + r) * 128u + c + 1u] = hv.y; b_v16[((bh * P.NT + n) * C + r) * 128u + c + 2u] = hv.z; b_v16[((bh * P.NT + n) * C + r) * 128u + c + 3u] = hv.w; }
        }
      }
    }
}
