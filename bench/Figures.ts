// The `npm run bench` contract: one JSON line per figure; a figure with a baseline carries the
// baseline measured in the same run and the ratio to it.
export interface Figure {
  bench: string;
  figure: string;
  value: number;
  unit: string;
  baseline?: number;
}

export function emitFigure(f: Figure): void {
  const line: Record<string, unknown> = { bench: f.bench, figure: f.figure, value: f.value, unit: f.unit };
  if (f.baseline !== undefined) {
    line.baseline = f.baseline;
    line.ratio = f.baseline === 0 ? null : Math.round((f.value / f.baseline) * 1000) / 1000;
  }
  process.stdout.write(`${JSON.stringify(line)}\n`);
}
