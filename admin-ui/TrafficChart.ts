// A session's traffic over the last two minutes: two lines (from and to the client) in an inline
// SVG, scaled to the largest rate shown. No charting library: this is all a chart needs here.
import type { RateSample } from '../admin/SessionMonitor.js';
import { rate } from './Format.js';
import { clear, h, svg } from './Html.js';

const W = 600;
const H = 140;
const PAD = { left: 4, right: 4, top: 18, bottom: 16 };
const SPAN_MS = 120_000;
const MIN_SPAN_MS = 30_000;

export class TrafficChart {
  readonly element: HTMLElement;
  private readonly plot: SVGSVGElement;
  private samples: RateSample[] = [];

  constructor() {
    this.plot = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': 'traffic over the last two minutes' });
    this.element = h('div', { class: 'chart-box' }, this.plot, h('div', { class: 'legend' }, h('span', { class: 'swatch rx' }), 'from client ', h('span', { class: 'swatch tx' }), 'to client'));
    this.draw();
  }

  set(samples: RateSample[]): void {
    this.samples = samples.slice();
    this.draw();
  }

  push(sample: RateSample): void {
    this.samples.push(sample);
    const cutoff = sample.at - SPAN_MS;
    while (this.samples.length > 0 && this.samples[0]!.at < cutoff) this.samples.shift();
    this.draw();
  }

  private draw(): void {
    clear(this.plot);
    const end = this.samples.at(-1)?.at ?? Date.now();
    // A young session fills the width: the window grows from 30 s to its full two minutes.
    const span = Math.min(SPAN_MS, Math.max(MIN_SPAN_MS, end - (this.samples[0]?.at ?? end)));
    const max = Math.max(8000, ...this.samples.map((s) => Math.max(s.rxRate, s.txRate)));
    const x = (at: number) => PAD.left + ((at - (end - span)) / span) * (W - PAD.left - PAD.right);
    const y = (v: number) => H - PAD.bottom - (v / max) * (H - PAD.top - PAD.bottom);
    for (const f of [0.25, 0.5, 0.75, 1]) {
      this.plot.appendChild(svg('line', { x1: PAD.left, x2: W - PAD.right, y1: y(max * f), y2: y(max * f), class: 'grid' }));
    }
    this.plot.appendChild(svg('text', { x: PAD.left + 2, y: PAD.top - 5, class: 'axis' }, rate(max)));
    this.plot.appendChild(svg('text', { x: W - PAD.right - 2, y: H - 3, class: 'axis end' }, 'now'));
    this.plot.appendChild(svg('text', { x: PAD.left + 2, y: H - 3, class: 'axis' }, `−${span >= 60_000 ? `${Math.round(span / 60_000)} min` : `${Math.round(span / 1000)} s`}`));
    for (const key of ['rxRate', 'txRate'] as const) {
      if (this.samples.length < 2) continue;
      const points = this.samples.map((s) => `${x(s.at).toFixed(1)},${y(s[key]).toFixed(1)}`).join(' ');
      this.plot.appendChild(svg('polyline', { points, class: key === 'rxRate' ? 'line rx' : 'line tx' }));
    }
  }
}
