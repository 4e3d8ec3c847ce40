// How many workgroups of a forward kernel share a multiprocessor, from timing alone: the kernel
// runs on grids of k x 132 workgroups (the H200 has 132 multiprocessors; B = 4 sequences of
// H = 33 heads, T = 64 k, so a per-(chunk, b*h) kernel has k workgroups per multiprocessor)
// for k = 1, 2, ...; while k is within the resident limit, the time stays near one workgroup's
// lifetime, and it steps up past it. argv: variant:stage[,...]; env KS (default 1,2,3,4,5,6,8),
// SMS (132). Run on the device machine after .gpu-kit/enter.sh, after `npm run build`.
import { createEngine, VARIANTS, sampleInputs } from '../../dist/index.js';

const targets = (process.argv[2] ?? 'gated_delta_rule:prep').split(',').map((s) => s.split(':'));
const ks = (process.env.KS ?? '1,2,3,4,5,6,8').split(',').map(Number);
const sms = Number(process.env.SMS ?? 132);
const engine = await createEngine({ dawnFlags: ['disable-dawn-features=timestamp_quantization'] });
console.log(`tier ${engine.tier} on ${engine.adapterName}; grids of k x ${sms} workgroups per (chunk, b*h)`);
for (const [name, stage] of targets) {
  const op = engine.variant(name);
  const row = [];
  for (const k of ks) {
    const size = { B: 4, T: 64 * k, H: sms / 4, K: 128, V: 128 };
    const run = await op.prepareForward(sampleInputs(VARIANTS[name], size, 3, true), { ...size, chunkSize: 64 });
    const i = run.plan.kernels.findIndex((x) => x.stage === stage);
    if (i < 0) { console.log(`${name}: no stage ${stage}`); run.destroy(); break; }
    const t0 = performance.now();
    do await run.execute(1); while (performance.now() - t0 < 200);
    const ms = Math.min(await run.timeGpu(30, i), await run.timeGpu(30, i));
    run.destroy();
    row.push(`k=${k}: ${(ms * 1000).toFixed(1)} us`);
  }
  console.log(`${name} ${stage}: ${row.join(', ')}`);
}
engine.destroy();
