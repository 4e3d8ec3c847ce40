// Relative L2 error ||a - b|| / ||b||: how every check in lae compares against a reference.
export function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`relL2: length ${a.length} vs ${b.length}`);
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    num += d * d; den += b[i]! * b[i]!;
  }
  if (!Number.isFinite(num)) return Infinity;
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-300);
}
