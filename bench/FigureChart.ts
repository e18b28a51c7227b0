// Draws BENCHMARKS.md's chart from `npm run bench` JSON lines: one bar pair per data-plane
// configuration (our server against the C forwarder measured in the same run), as an SVG file.
//   node dist/bench/FigureChart.js FIGURES.jsonl OUT.svg [SUFFIX]
// SUFFIX picks the figure family (default -pps; -pps-per-core, -mbps also work).
import { writeFileSync } from 'node:fs';
import { readFigureLines, type FigureLine as Line } from './Figures.js';

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
}

export function dataplaneChart(lines: Line[], suffix: string): string {
  const rows = lines.filter((l) => l.bench === 'dataplane' && l.figure.endsWith(suffix) && l.baseline !== undefined);
  const unit = rows[0]?.unit ?? '';
  const max = Math.max(1, ...rows.flatMap((r) => [r.value, r.baseline!]));
  const rowH = 26;
  const left = 260;
  const width = 900;
  const plotW = width - left - 80;
  const top = 50;
  const height = top + rows.length * rowH + 40;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">Portico data plane vs C reference forwarder (${escapeXml(unit)}, same run, one core)</text>`,
    `<rect x="${left}" y="30" width="12" height="10" fill="#2b6cb0"/><text x="${left + 16}" y="39">portico (TypeScript)</text>`,
    `<rect x="${left + 160}" y="30" width="12" height="10" fill="#a0aec0"/><text x="${left + 176}" y="39">C forwarder</text>`,
  ];
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    const w1 = (r.value / max) * plotW;
    const w2 = (r.baseline! / max) * plotW;
    out.push(`<text x="${left - 6}" y="${y + 15}" text-anchor="end">${escapeXml(r.figure.slice(0, -suffix.length))}</text>`);
    out.push(`<rect x="${left}" y="${y + 2}" width="${w2.toFixed(1)}" height="10" fill="#a0aec0"/>`);
    out.push(`<rect x="${left}" y="${y + 12}" width="${w1.toFixed(1)}" height="10" fill="#2b6cb0"/>`);
    const ratio = r.ratio === null || r.ratio === undefined ? '' : `${Math.round(r.ratio * 100)} %`;
    out.push(`<text x="${left + Math.max(w1, w2) + 6}" y="${y + 16}">${ratio}</text>`);
  });
  out.push(`<line x1="${left}" y1="${top - 2}" x2="${left}" y2="${top + rows.length * rowH}" stroke="black"/>`);
  out.push(`<text x="${left}" y="${height - 12}">0</text><text x="${left + plotW}" y="${height - 12}" text-anchor="end">${Math.round(max)} ${escapeXml(unit)}</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

if (process.argv[1]?.endsWith('FigureChart.js')) {
  const [file, outFile, suffix] = process.argv.slice(2);
  if (!file || !outFile) {
    process.stderr.write('usage: FigureChart FIGURES.jsonl OUT.svg [SUFFIX]\n');
    process.exit(2);
  }
  const lines = readFigureLines(file);
  writeFileSync(outFile, dataplaneChart(lines, suffix ?? '-pps'));
}
