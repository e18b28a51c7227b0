// The `npm run bench` contract: one JSON line per figure; a figure with a baseline carries the
// baseline measured in the same run and the ratio to it.
import { readFileSync } from 'node:fs';

export interface Figure {
  bench: string;
  figure: string;
  value: number;
  unit: string;
  baseline?: number | undefined;
}

/** A figure line as printed (and as read back by FigureChart and FigureMedians). */
export interface FigureLine extends Figure {
  ratio?: number | null;
}

/** The figure lines of one `npm run bench` output file (progress lines that are not JSON are skipped). */
export function readFigureLines(file: string): FigureLine[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as FigureLine);
}

export function emitFigure(f: Figure): void {
  const line: Record<string, unknown> = { bench: f.bench, figure: f.figure, value: f.value, unit: f.unit };
  if (f.baseline !== undefined) {
    line.baseline = f.baseline;
    line.ratio = f.baseline === 0 ? null : Math.round((f.value / f.baseline) * 1000) / 1000;
  }
  process.stdout.write(`${JSON.stringify(line)}\n`);
}
