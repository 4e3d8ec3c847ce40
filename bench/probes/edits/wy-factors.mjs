// Edits of the WY factors kernel (gated_delta_rule_wyFactors at K = V = 128, chunk 64) for
// forward-edits.mjs, as generated at commit 96632ae (T staged from tmat; since t16 the T-staging
// edits no longer find their text and say so; the others still apply). Parts are skipped at run time (P.T is never 0xffffffff) so that every
// binding stays in use.
const NEVER = 'P.T == 0xffffffffu';
const skipT = ['for (var e = lid; e < C * C; e += WG) {\n    wh[0u + e]', `for (var e = select(lid, C * C, !(${NEVER})); e < C * C; e += WG) {\n    wh[0u + e]`];
const skipXLoads = ['stg < (((4096u) / 4u) + WG - 1u) / WG; stg++) {\n        let e = min(', `stg < select(8u, 0u, !(${NEVER})); stg++) {\n        let e = min(`];
const skipXStores = ['stg < (((4096u) / 4u) + WG - 1u) / WG; stg++) {\n        let e4 =', `stg < select(8u, 0u, !(${NEVER})); stg++) {\n        let e4 =`];
const skipMma = ['if (factive) {\n        for (var kk = 0u;', `if (factive && ${NEVER}) {\n        for (var kk = 0u;`];
const skipWalks = ['for (var x = 0u; x < 8u; x++) {', `for (var x = 0u; x < select(8u, 0u, !(${NEVER})); x++) {`];
const skipFragStores = [/(subgroupMatrixStore\(&wf, [^;]*;)/g, `if (${NEVER}) { $1 }`];
export default {
  'T staging skipped': [skipT],
  'X loads skipped': [skipXLoads],
  'X loads and stores skipped': [skipXLoads, skipXStores],
  'products skipped': [skipMma],
  'epilogue walks skipped': [skipWalks],
  'epilogue fragment stores and walks skipped': [skipWalks, skipFragStores],
  'everything but T staging skipped': [skipXLoads, skipXStores, skipMma, skipWalks, skipFragStores],
  'everything skipped': [skipT, skipXLoads, skipXStores, skipMma, skipWalks, skipFragStores],
  // 24 KiB as generated (9 workgroups per multiprocessor by memory); 40 KiB (5), 48 KiB (4).
  'workgroup memory 40 KiB (occupancy probe)': [['var<workgroup> wf: array<f32, 2048>;', 'var<workgroup> wf: array<f32, 6144>;']],
  'workgroup memory 48 KiB (occupancy probe)': [['var<workgroup> wf: array<f32, 2048>;', 'var<workgroup> wf: array<f32, 8192>;']],
};
