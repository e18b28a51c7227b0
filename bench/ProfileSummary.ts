// Self time by function from a V8 .cpuprofile (`node --cpu-prof`; the benches write one for the
// server when PORTICO_BENCH_PROFILE=DIR is set): the top of a flame graph as text for BENCHMARKS.md.
//   node dist/bench/ProfileSummary.js FILE.cpuprofile [TOP]
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export function selfTimeByFunction(p: Profile): Array<{ name: string; ms: number; share: number }> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const totals = new Map<string, number>();
  let all = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const n = byId.get(p.samples[i]!);
    const dt = p.timeDeltas[i] ?? 0;
    if (!n) continue;
    const f = n.callFrame;
    const file = f.url.split('/').slice(-2).join('/');
    const name = `${f.functionName || '(anonymous)'} ${file}${file ? `:${f.lineNumber + 1}` : ''}`;
    totals.set(name, (totals.get(name) ?? 0) + dt);
    all += dt;
  }
  return [...totals.entries()].map(([name, us]) => ({ name, ms: us / 1000, share: all ? us / all : 0 })).sort((a, b) => b.ms - a.ms);
}

if (process.argv[1]?.endsWith('ProfileSummary.js')) {
  const [file, top] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: ProfileSummary FILE.cpuprofile [TOP]\n');
    process.exit(2);
  }
  const rows = selfTimeByFunction(JSON.parse(readFileSync(file, 'utf8')) as Profile).slice(0, Number(top ?? 25));
  for (const r of rows) process.stdout.write(`${(r.share * 100).toFixed(1).padStart(5)} %  ${r.ms.toFixed(0).padStart(7)} ms  ${r.name}\n`);
}
