// 16-bit storage on the host: bf16 and f16 bit patterns to and from float32, round to nearest
// even (as torch's .to(bfloat16) / .half() do). Kernels compute in f32; 16-bit tensors travel
// packed two to a u32 word.
export type StorageDtype = 'f32' | 'bf16' | 'f16';
export const STORAGE_DTYPES: readonly StorageDtype[] = ['f32', 'bf16', 'f16'];

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function f32ToBf16Bits(x: number): number {
  f32[0] = x;
  const u = u32[0]!;
  if ((u & 0x7f800000) === 0x7f800000 && (u & 0x7fffff) !== 0) return 0x7fc0; // NaN stays NaN
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}
export function bf16BitsToF32(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0]!;
}

export function f32ToF16Bits(x: number): number {
  f32[0] = x;
  const u = u32[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow to infinity
  if (e <= 0) {
    // Subnormal: shift the implicit-one mantissa right, rounding to nearest even.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let m = mant >>> shift;
    if (rest > half || (rest === half && (m & 1))) m++;
    return sign | m;
  }
  const rest = mant & 0x1fff;
  mant >>>= 13;
  if (rest > 0x1000 || (rest === 0x1000 && (mant & 1))) {
    mant++;
    if (mant === 0x400) { mant = 0; e++; if (e >= 0x1f) return sign | 0x7c00; }
  }
  return sign | (e << 10) | mant;
}
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 0x1f) return m ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** float values -> raw 16-bit patterns of `dtype`. */
export function toBits(a: ArrayLike<number>, dtype: 'bf16' | 'f16'): Uint16Array {
  const enc = dtype === 'bf16' ? f32ToBf16Bits : f32ToF16Bits;
  const out = new Uint16Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = enc(a[i]!);
  return out;
}
/** raw 16-bit patterns -> float32. */
export function fromBits(bits: Uint16Array, dtype: 'bf16' | 'f16'): Float32Array {
  const dec = dtype === 'bf16' ? bf16BitsToF32 : f16BitsToF32;
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = dec(bits[i]!);
  return out;
}
/** The values a tensor takes once stored in `dtype` (what a reference should be fed). */
export function roundTo(a: ArrayLike<number>, dtype: StorageDtype): Float32Array {
  return dtype === 'f32' ? Float32Array.from(a) : fromBits(toBits(a, dtype), dtype);
}

/** An input as the GPU stores it: f32 values, or 16-bit bits packed two per u32 (even-padded). */
export function storageBytes(a: Float32Array | Float64Array | Uint16Array, dtype: StorageDtype): Uint8Array {
  if (dtype === 'f32') {
    const f = a instanceof Float32Array ? a : Float32Array.from(a as ArrayLike<number>);
    return new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
  }
  const bits = a instanceof Uint16Array ? a : toBits(a, dtype);
  const padded = new Uint16Array(bits.length + (bits.length & 1));
  padded.set(bits);
  return new Uint8Array(padded.buffer);
}

/** The values of an input (decoding raw 16-bit bits), for host-side checks and references. */
export function hostValues(a: Float32Array | Float64Array | Uint16Array, dtype: StorageDtype): Float32Array | Float64Array {
  if (a instanceof Uint16Array) return fromBits(a, dtype === 'f16' ? 'f16' : 'bf16');
  return a;
}

/** Rows of `width` 16-bit values stored as ceil(width/2) u32 words each -> the values. */
export function unpackRows(bytes: Uint8Array, rows: number, width: number, dtype: 'bf16' | 'f16'): { bits: Uint16Array; values: Float32Array } {
  const words = Math.ceil(width / 2);
  const all = new Uint16Array(bytes.buffer, bytes.byteOffset, rows * words * 2);
  const bits = new Uint16Array(rows * width);
  for (let r = 0; r < rows; r++) bits.set(all.subarray(r * words * 2, r * words * 2 + width), r * width);
  return { bits, values: fromBits(bits, dtype) };
}
