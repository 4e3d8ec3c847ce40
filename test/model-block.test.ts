// examples/model-block (issue 12, item 2) at tiny sizes, so it stays working: the block's own
// kernels and lae's prefill and decode on one device, every output row against the float64
// reference of the whole sequence, and the tokens per second it prints.
import { describe, expect, it } from 'vitest';
import { main } from '../examples/model-block/main.js';
import { getEngine } from './helpers/engine.js';

describe('examples/model-block', () => {
  it('prefills, decodes with the state on the GPU, matches the reference and prints tokens/s', async () => {
    const r = await main(['--tiny', '--check'], await getEngine());
    expect(r.prefillError).toBeLessThan(1e-4);
    expect(r.decodeError).toBeLessThan(1e-4);
    expect(r.lines.join('\n')).toMatch(/prefill: 40 tokens, [\d.]+ tokens\/s\ndecode: 4 tokens, [\d.]+ tokens\/s/);
  });
});
