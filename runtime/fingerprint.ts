// Content fingerprints of host tensors: a `saved` forward remembers what it uploaded, so a
// backward given other inputs (or the same arrays edited since) is refused instead of returning
// the saved inputs' gradients. 64 bits from two murmur3-style lanes over the 32-bit words (one
// pass, ~2 ns per word), plus the byte length.

/** Hex fingerprint of `bytes` (the exact bytes a tensor is stored as on the GPU). */
export function fingerprint(bytes: Uint8Array): string {
  const words = bytes.byteLength >>> 2;
  const w = bytes.byteOffset % 4 === 0
    ? new Int32Array(bytes.buffer, bytes.byteOffset, words)
    : new Int32Array(bytes.slice(0, words * 4).buffer);
  let h1 = 0x9747b28c | 0;
  let h2 = 0x2545f491 | 0;
  for (let i = 0; i < words; i++) {
    const x = w[i]!;
    let k = Math.imul(x, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h1 ^= Math.imul(k, 0x1b873593);
    h1 = (h1 << 13) | (h1 >>> 19);
    h1 = (Math.imul(h1, 5) + 0xe6546b64) | 0;
    let j = Math.imul(x, 0x85ebca6b);
    j = (j << 16) | (j >>> 16);
    h2 ^= Math.imul(j, 0xc2b2ae35);
    h2 = (h2 << 17) | (h2 >>> 15);
    h2 = (Math.imul(h2, 9) + 0x7f4a7c15) | 0;
  }
  // The bytes past the last whole word.
  for (let i = words * 4; i < bytes.byteLength; i++) {
    h1 = Math.imul(h1 ^ bytes[i]!, 0x01000193);
    h2 = Math.imul(h2 + bytes[i]!, 0x5bd1e995);
  }
  const mix = (h: number) => {
    h ^= bytes.byteLength;
    h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return (h >>> 0).toString(16).padStart(8, '0');
  };
  return mix(h1) + mix(h2);
}
