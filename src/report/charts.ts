// SVG charts for the report, written as text: line charts of the training curves and the
// confusion matrix. Each mark carries a class (`point`, `cell`) so tests can count them.

const FONT = 'font-family="system-ui, sans-serif" font-size="12"';
const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];

export interface Series {
  name: string;
  points: [number, number][];
}

/** Text safe inside HTML or SVG, attributes included. */
export const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A line chart with a point marker per data point, axes with ticks, and a legend. */
export function lineChart(title: string, xLabel: string, yLabel: string, series: Series[]): string {
  const width = 520;
  const height = 320;
  const m = { left: 60, right: 20, top: 36, bottom: 48 };
  // With no points yet (a page's first steps), the axes span 0..1.
  const all = series.flatMap((s) => s.points);
  const xs = all.length > 0 ? all.map((p) => p[0]) : [0, 1];
  const ys = all.length > 0 ? all.map((p) => p[1]) : [0, 1];
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs, xMin + 1);
  let yMin = Math.min(...ys);
  let yMax = Math.max(...ys);
  if (yMax - yMin < 1e-9) [yMin, yMax] = [yMin - 0.5, yMax + 0.5];
  const pad = (yMax - yMin) * 0.08;
  [yMin, yMax] = [yMin - pad, yMax + pad];
  const sx = (x: number) => m.left + ((x - xMin) / (xMax - xMin)) * (width - m.left - m.right);
  const sy = (y: number) => height - m.bottom - ((y - yMin) / (yMax - yMin)) * (height - m.top - m.bottom);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" ${FONT}>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="600">${escape(title)}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const y = yMin + ((yMax - yMin) * i) / 4;
    parts.push(
      `<line x1="${m.left}" x2="${width - m.right}" y1="${sy(y)}" y2="${sy(y)}" stroke="#e5e5e5"/>`,
      `<text x="${m.left - 6}" y="${sy(y) + 4}" text-anchor="end">${y.toPrecision(3)}</text>`,
    );
  }
  const xTicks = Math.max(1, Math.min(10, Math.round(xMax - xMin)));
  for (let i = 0; i <= xTicks; i++) {
    const x = xMin + ((xMax - xMin) * i) / xTicks;
    parts.push(`<text x="${sx(x)}" y="${height - m.bottom + 16}" text-anchor="middle">${+x.toFixed(2)}</text>`);
  }
  parts.push(
    `<line x1="${m.left}" x2="${width - m.right}" y1="${height - m.bottom}" y2="${height - m.bottom}" stroke="#333"/>`,
    `<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${height - m.bottom}" stroke="#333"/>`,
    `<text x="${width / 2}" y="${height - 12}" text-anchor="middle">${escape(xLabel)}</text>`,
    `<text x="16" y="${height / 2}" text-anchor="middle" transform="rotate(-90 16 ${height / 2})">${escape(yLabel)}</text>`,
  );
  series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const path = s.points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${path}"/>`);
    for (const [x, y] of s.points) {
      parts.push(`<circle class="point" data-series="${escape(s.name)}" cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3.5" fill="${colour}"/>`);
    }
    const ly = m.top + 4 + i * 16;
    parts.push(
      `<rect x="${width - m.right - 130}" y="${ly - 9}" width="12" height="12" fill="${colour}"/>`,
      `<text x="${width - m.right - 112}" y="${ly + 1}">${escape(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** counts[true][predicted] as a heat map with the count in each cell; rows are true classes. */
export function confusionMatrixSvg(counts: number[][], classes: string[]): string {
  const n = classes.length;
  const cell = Math.max(18, Math.min(44, Math.floor(440 / n)));
  const left = 110;
  const top = 110;
  const size = left + n * cell + 20;
  const rowTotals = counts.map((r) => r.reduce((a, b) => a + b, 0) || 1);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${size} ${size}" width="${size}" height="${size}" ${FONT}>`,
    `<rect width="${size}" height="${size}" fill="white"/>`,
    `<text x="${left + (n * cell) / 2}" y="16" text-anchor="middle" font-size="14" font-weight="600">Confusion matrix (rows: true class)</text>`,
  ];
  for (let t = 0; t < n; t++) {
    parts.push(`<text x="${left - 6}" y="${top + t * cell + cell / 2 + 4}" text-anchor="end">${escape(classes[t])}</text>`);
    parts.push(
      `<text transform="translate(${left + t * cell + cell / 2 + 4} ${top - 6}) rotate(-60)" text-anchor="start">${escape(classes[t])}</text>`,
    );
    for (let p = 0; p < n; p++) {
      const share = counts[t][p] / rowTotals[t];
      // White to blue by the share of the true class's images.
      const shade = Math.round(255 - share * 200);
      const fill = `rgb(${shade},${Math.round(255 - share * 140)},255)`;
      parts.push(
        `<rect class="cell" data-count="${counts[t][p]}" x="${left + p * cell}" y="${top + t * cell}" width="${cell}" height="${cell}" fill="${fill}" stroke="#fff"/>`,
      );
      if (cell >= 24) {
        parts.push(
          `<text x="${left + p * cell + cell / 2}" y="${top + t * cell + cell / 2 + 4}" text-anchor="middle" font-size="10" fill="${share > 0.5 ? 'white' : '#333'}">${counts[t][p]}</text>`,
        );
      }
    }
  }
  parts.push('</svg>');
  return parts.join('\n');
}
