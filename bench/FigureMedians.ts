// Medians over several runs of the same benchmark: one JSON line per figure, as `npm run bench` prints
// them, whose value, baseline and ratio are each the median over the runs that have the figure (ratio
// is the median of the per-run ratios, not median value / median baseline: a ratio only means something
// within its own run). `runs` says how many runs had it.
//   node dist/bench/FigureMedians.js RUN1.jsonl RUN2.jsonl RUN3.jsonl [SUFFIX] > MEDIANS.jsonl
import { readFigureLines, type FigureLine as Line } from './Figures.js';

export function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 === 1 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

export function figureMedians(runs: Line[][], suffix = ''): Array<Line & { runs: number }> {
  const byFigure = new Map<string, Line[]>();
  for (const run of runs) {
    for (const l of run) {
      if (!l.figure.endsWith(suffix)) continue;
      const k = `${l.bench}\u0000${l.figure}`;
      byFigure.set(k, [...(byFigure.get(k) ?? []), l]);
    }
  }
  return [...byFigure.values()].map((ls) => {
    const first = ls[0]!;
    const out: Line & { runs: number } = { bench: first.bench, figure: first.figure, value: median(ls.map((l) => l.value)), unit: first.unit, runs: ls.length };
    const withBase = ls.filter((l) => l.baseline !== undefined);
    if (withBase.length > 0) {
      out.baseline = median(withBase.map((l) => l.baseline!));
      const ratios = withBase.filter((l) => typeof l.ratio === 'number').map((l) => l.ratio as number);
      out.ratio = ratios.length > 0 ? Math.round(median(ratios) * 1000) / 1000 : null;
    }
    return out;
  });
}

if (process.argv[1]?.endsWith('FigureMedians.js')) {
  const args = process.argv.slice(2);
  const suffix = args.length > 0 && !args[args.length - 1]!.endsWith('.jsonl') ? args.pop()! : '';
  if (args.length === 0) {
    process.stderr.write('usage: FigureMedians RUN.jsonl... [SUFFIX]\n');
    process.exit(2);
  }
  const runs = args.map(readFigureLines);
  for (const l of figureMedians(runs, suffix)) process.stdout.write(`${JSON.stringify(l)}\n`);
}
