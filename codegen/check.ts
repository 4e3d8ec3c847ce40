// A device-free check of a kernel plan, in the spirit of tinygrad's type_verify: what the runtime
// binds and what the WGSL declares must agree before anything reaches a device. It returns the
// problems found (empty when the plan is consistent); the tests run it over every variant, tier
// and plan kind.
import type { KernelPlan } from './index.js';

/** Problems of `plan`; a backward plan also sees the buffers of the forward it follows. */
export function checkPlan(plan: KernelPlan, forward?: KernelPlan): string[] {
  const problems: string[] = [];
  const declared = new Map(plan.buffers.map((b) => [b.name, b]));
  const visible = new Set([...declared.keys(), ...(forward?.buffers.map((b) => b.name) ?? [])]);
  const bound = new Set<string>();
  for (const k of plan.kernels) {
    const seen = new Set<string>();
    k.bindings.forEach((b, i) => {
      const where = `kernel ${k.name}, binding ${i + 1} ('${b.buffer}')`;
      if (!visible.has(b.buffer)) problems.push(`${where}: no such buffer in the plan${forward ? ' or its forward' : ''}`);
      if (seen.has(b.buffer)) problems.push(`${where}: bound twice`);
      seen.add(b.buffer);
      bound.add(b.buffer);
      // The WGSL declares exactly this binding, with this access and element type.
      const decl = new RegExp(`@group\\(0\\) @binding\\(${i + 1}\\) var<storage, ${b.access}> \\w+: array<${(b.elem ?? 'f32').replace(/[<>]/g, '\\$&')}>;`);
      if (!decl.test(k.wgsl)) problems.push(`${where}: the WGSL does not declare it as array<${b.elem ?? 'f32'}> with ${b.access} access`);
    });
    const declaredBindings = (k.wgsl.match(/@group\(0\) @binding\(\d+\)/g) ?? []).length;
    if (declaredBindings !== k.bindings.length + 1) {
      problems.push(`kernel ${k.name}: the WGSL declares ${declaredBindings} bindings, the plan ${k.bindings.length} plus the uniform`);
    }
    if (!/@compute @workgroup_size\(WG\)/.test(k.wgsl) || !k.wgsl.includes(`const WG: u32 = ${k.workgroupSize}u;`)) {
      problems.push(`kernel ${k.name}: its workgroup size is not the plan's ${k.workgroupSize}`);
    }
    if (k.grid.length !== 3) problems.push(`kernel ${k.name}: a grid of ${k.grid.length} axes`);
  }
  for (const b of plan.buffers) {
    // Inputs a spec declares are all read (defineVariant refuses unused ones); scratch and
    // outputs must be written by some kernel or stand for another buffer.
    if (!bound.has(b.name) && !b.aliasOf && b.kind !== 'input' && b.kind !== 'state-in' && b.kind !== 'seed' && b.kind !== 'forward') {
      problems.push(`buffer '${b.name}' (${b.kind}) is declared but no kernel binds it`);
    }
    if (b.aliasOf && !visible.has(b.aliasOf)) problems.push(`buffer '${b.name}' aliases '${b.aliasOf}', which does not exist`);
  }
  return problems;
}
