// Packed variable-length sequences (FlashAttention's cu_seqlens): sequence s is tokens
// [cu[s], cu[s+1]) of a B = 1 batch. Checked here, then turned into the two tables the kernels
// read (see codegen's sequenceTables): chunks that never cross a sequence boundary, and each
// sequence's range of chunks and tokens.
import { InputError } from './errors.js';

export type CuSeqlens = Int32Array | Uint32Array | readonly number[];

export interface SequenceTables {
  /** Sequences: the rows of h0/ht. */
  readonly S: number;
  /** Chunks over all sequences. */
  readonly NT: number;
  /** Per chunk: t0, rows, sequence, 1 if it is its sequence's last chunk. */
  readonly chunks: Uint32Array<ArrayBuffer>;
  /** Per sequence: first chunk, end chunk, first token, end token. */
  readonly seqs: Uint32Array<ArrayBuffer>;
}

/** The offsets as numbers, or an error naming what is wrong: they must be integers, start at 0,
 * never decrease (an empty sequence, two equal offsets, is allowed: its ht is its h0) and end at
 * T, the packed length of the inputs. */
export function checkCuSeqlens(cu: unknown, T: number, B: number): number[] {
  if (!(cu instanceof Int32Array) && !(cu instanceof Uint32Array) && !Array.isArray(cu)) {
    throw new InputError(`option cuSeqlens must be an Int32Array of N+1 sequence offsets [0, ..., T], got ${Object.prototype.toString.call(cu).slice(8, -1)}`);
  }
  if (B !== 1) throw new InputError(`option cuSeqlens packs the sequences along T, so B must be 1 (got B = ${B}); concatenate the batch along T`);
  const offsets = Array.from(cu as ArrayLike<unknown>);
  if (offsets.length < 2) throw new InputError(`option cuSeqlens has ${offsets.length} entries; it needs N+1 >= 2 offsets, from 0 to T = ${T}`);
  offsets.forEach((x, i) => {
    if (typeof x !== 'number' || !Number.isInteger(x)) throw new InputError(`cuSeqlens[${i}] = ${String(x)} is not an integer`);
  });
  const at = offsets as number[];
  if (at[0] !== 0) throw new InputError(`cuSeqlens[0] = ${at[0]}; the first sequence starts at token 0`);
  for (let i = 1; i < at.length; i++) {
    if (at[i]! < at[i - 1]!) {
      throw new InputError(`cuSeqlens is not increasing: cuSeqlens[${i}] = ${at[i]} < cuSeqlens[${i - 1}] = ${at[i - 1]} (sequence ${i - 1} would have negative length)`);
    }
  }
  if (at[at.length - 1] !== T) {
    throw new InputError(`cuSeqlens ends at ${at[at.length - 1]} but the packed inputs have T = ${T} tokens; the last offset must be T`);
  }
  return at;
}

/** The packed length cu[N] of offsets that look like offsets (the step's default token count);
 * undefined otherwise, for checkCuSeqlens to name what is wrong. */
export function packedLength(cu: unknown): number | undefined {
  if (!(cu instanceof Int32Array) && !(cu instanceof Uint32Array) && !Array.isArray(cu)) return undefined;
  const last = (cu as ArrayLike<unknown>)[(cu as ArrayLike<unknown>).length - 1];
  return typeof last === 'number' && Number.isInteger(last) && last > 0 ? last : undefined;
}

export function sequenceTables(offsets: readonly number[], chunk: number): SequenceTables {
  const S = offsets.length - 1;
  const chunks: number[] = [];
  const seqs = new Uint32Array(4 * S);
  for (let s = 0; s < S; s++) {
    const begin = offsets[s]!;
    const end = offsets[s + 1]!;
    seqs.set([chunks.length / 4, 0, begin, end], 4 * s);
    for (let t0 = begin; t0 < end; t0 += chunk) {
      chunks.push(t0, Math.min(chunk, end - t0), s, t0 + chunk >= end ? 1 : 0);
    }
    seqs[4 * s + 1] = chunks.length / 4;
  }
  return { S, NT: chunks.length / 4, chunks: Uint32Array.from(chunks), seqs };
}
