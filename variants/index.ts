// The nine built-in variants, by FLA's names.
import type { VariantDef } from '../dsl/index.js';
import linear_attn from './linear_attn.js';
import simple_gla from './simple_gla.js';
import retention from './retention.js';
import gla from './gla.js';
import delta_rule from './delta_rule.js';
import gated_delta_rule from './gated_delta_rule.js';
import kda from './kda.js';
import rwkv6 from './rwkv6.js';
import mamba2_ssd from './mamba2_ssd.js';
import dplr_delta_rule from './dplr_delta_rule.js';
import rwkv7 from './rwkv7.js';
import rwkv4 from './rwkv4.js';

export const VARIANTS = {
  linear_attn, simple_gla, retention, gla, delta_rule, gated_delta_rule, kda, rwkv6, mamba2_ssd,
} as const satisfies Record<string, VariantDef>;

export type VariantName = keyof typeof VARIANTS;
export { mamba2Ssd, type Mamba2SsdOptions } from './mamba2_ssd.js';
export const VARIANT_NAMES = Object.keys(VARIANTS) as VariantName[];

/** The variants of the two forms without the chunked forward and backward in every tier, which
 * run token by token: the generalized delta rule (FLA's DPLR family: forward, step, backward;
 * its forward chunked on the tensor-core tier, codegen/index.ts hasChunkedForward) and the
 * normalized form (RWKV-4: forward and step). They are kept out of VARIANTS, whose every entry
 * has the chunked forward and backward that the sweeping tests and benchmarks run. */
export const TOKEN_SEQUENTIAL_VARIANTS = { dplr_delta_rule, rwkv7, rwkv4 } as const satisfies Record<string, VariantDef>;
export type TokenSequentialVariantName = keyof typeof TOKEN_SEQUENTIAL_VARIANTS;
export const TOKEN_SEQUENTIAL_NAMES = Object.keys(TOKEN_SEQUENTIAL_VARIANTS) as TokenSequentialVariantName[];
