// Occupancy probes for forward-edits.mjs: the kernel's f32 workgroup array made larger, so that
// fewer of its workgroups share a multiprocessor. If the time does not move, something else (the
// registers) already holds occupancy down. Within the H200's 48 KiB for gated_delta_rule_prep (29 KiB) at chunk 64.
export default {
  'workgroup memory +16 KiB': [[/var<workgroup> wf: array<f32, (\d+)>;/g, (_, n) => `var<workgroup> wf: array<f32, ${Number(n) + 4096}>;`]],
  'workgroup memory +8 KiB': [[/var<workgroup> wf: array<f32, (\d+)>;/g, (_, n) => `var<workgroup> wf: array<f32, ${Number(n) + 2048}>;`]],
};
