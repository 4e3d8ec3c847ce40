// A line chart as inline SVG text: time against T, one line per kernel, both axes logarithmic
// (T doubles from point to point, and the token-sequential kernel can be 100x the chunked one).

export interface Series { name: string; color: string; points: { x: number; y: number }[] }

const W = 560, H = 300, PAD = { left: 64, right: 130, top: 16, bottom: 44 };

/** Powers of `base` (ten for times, two for T) between lo and hi, for tick marks. */
function ticks(lo: number, hi: number, base: number): number[] {
  const out: number[] = [];
  for (let p = Math.floor(Math.log(lo) / Math.log(base)); base ** p <= hi * (1 + 1e-9); p++) {
    if (base ** p >= lo * (1 - 1e-9)) out.push(base ** p);
  }
  return out;
}

const fmt = (v: number) => (v >= 1 ? String(+v.toPrecision(3)) : v.toPrecision(1));
const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

export function lineChart(series: readonly Series[], labels: { x: string; y: string }): string {
  const all = series.flatMap((s) => s.points).filter((p) => p.x > 0 && p.y > 0);
  if (all.length === 0) return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"></svg>`;
  let [x0, x1] = [Math.min(...all.map((p) => p.x)), Math.max(...all.map((p) => p.x))];
  let [y0, y1] = [Math.min(...all.map((p) => p.y)), Math.max(...all.map((p) => p.y))];
  if (x0 === x1) { x0 /= 2; x1 *= 2; }
  // Whole decades on y, so there is always a labelled tick.
  y0 = 10 ** Math.floor(Math.log10(y0)); y1 = 10 ** Math.ceil(Math.log10(y1));
  if (y0 === y1) y1 *= 10;
  const px = (x: number) => PAD.left + (Math.log(x / x0) / Math.log(x1 / x0)) * (W - PAD.left - PAD.right);
  const py = (y: number) => H - PAD.bottom - (Math.log(y / y0) / Math.log(y1 / y0)) * (H - PAD.top - PAD.bottom);
  const parts: string[] = [];
  for (const t of ticks(y0, y1, 10)) {
    parts.push(`<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${py(t)}" y2="${py(t)}" stroke="#ddd"/>`,
      `<text x="${PAD.left - 6}" y="${py(t) + 4}" text-anchor="end">${fmt(t)}</text>`);
  }
  for (const t of ticks(x0, x1, 2)) {
    parts.push(`<line x1="${px(t)}" x2="${px(t)}" y1="${PAD.top}" y2="${H - PAD.bottom}" stroke="#eee"/>`,
      `<text x="${px(t)}" y="${H - PAD.bottom + 16}" text-anchor="middle">${Math.round(t)}</text>`);
  }
  parts.push(`<rect x="${PAD.left}" y="${PAD.top}" width="${W - PAD.left - PAD.right}" height="${H - PAD.top - PAD.bottom}" fill="none" stroke="#888"/>`,
    `<text x="${(PAD.left + W - PAD.right) / 2}" y="${H - 8}" text-anchor="middle">${esc(labels.x)}</text>`,
    `<text transform="translate(14 ${(PAD.top + H - PAD.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(labels.y)}</text>`);
  series.forEach((s, i) => {
    const pts = s.points.filter((p) => p.x > 0 && p.y > 0).sort((a, b) => a.x - b.x);
    const coords = pts.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ');
    parts.push(`<polyline data-series="${esc(s.name)}" points="${coords}" fill="none" stroke="${s.color}" stroke-width="2"/>`,
      ...pts.map((p) => `<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="3" fill="${s.color}"><title>${esc(s.name)}: T ${p.x}, ${fmt(p.y)} ms</title></circle>`),
      `<line x1="${W - PAD.right + 12}" x2="${W - PAD.right + 30}" y1="${PAD.top + 10 + 18 * i}" y2="${PAD.top + 10 + 18 * i}" stroke="${s.color}" stroke-width="2"/>`,
      `<text x="${W - PAD.right + 36}" y="${PAD.top + 14 + 18 * i}">${esc(s.name)}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">${parts.join('')}</svg>`;
}
