// A small canvas line chart for the overview's live series: the last few minutes
// of samples, a y axis scaled to the visible maximum, a legend with the latest
// values. Redrawn on every sample and on resize; sharp on high-DPI screens.

import { html, useEffect, useRef } from './vendor/preact-htm.js';

export const COLOURS = ['#2f6fb0', '#e08a1e', '#3a9a5b', '#b8433c', '#7b5ea7'];

/// The y axis: its top (the maximum rounded up to 1, 2 or 5 times a power of
/// ten) and how many grid steps divide it into round numbers.
function niceAxis(max) {
  if (max <= 0) return { ceiling: 1, steps: 4 };
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) {
    if (max <= step * power) return { ceiling: step * power, steps: step === 2 ? 4 : 5 };
  }
  return { ceiling: 10 * power, steps: 5 };
}

/// Time ticks: the smallest spacing that gives at most six of them.
function tickSpacing(span) {
  for (const s of [15e3, 30e3, 60e3, 120e3, 300e3]) if (span / s <= 6) return s;
  return 600e3;
}

function tickLabel(ms) {
  if (ms === 0) return 'now';
  return ms % 60000 ? `-${ms / 1000}s` : `-${ms / 60000}m`;
}

function shortNumber(v) {
  if (v >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (v >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
  return `${+v.toFixed(v < 10 && v % 1 ? 1 : 0)}`;
}

function draw(canvas, samples, series, span) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight;
  if (!width || !height) return;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  const g = canvas.getContext('2d');
  g.scale(ratio, ratio);
  g.clearRect(0, 0, width, height);
  const left = 44, right = 18, top = 8, bottom = 20;
  const plotW = width - left - right, plotH = height - top - bottom;
  const now = samples.length ? samples[samples.length - 1].t : Date.now();
  const start = now - span;
  let max = 0;
  for (const s of samples) for (const key of series.map((x) => x.key)) max = Math.max(max, s[key] || 0);
  const { ceiling, steps } = niceAxis(max);
  g.font = '11px system-ui, sans-serif';
  g.textBaseline = 'middle';
  g.strokeStyle = '#e3e7ec';
  g.fillStyle = '#6b7785';
  g.lineWidth = 1;
  for (let i = 0; i <= steps; i++) {
    const y = top + plotH - (plotH * i) / steps;
    g.beginPath();
    g.moveTo(left, Math.round(y) + 0.5);
    g.lineTo(left + plotW, Math.round(y) + 0.5);
    g.stroke();
    g.textAlign = 'right';
    g.fillText(shortNumber((ceiling * i) / steps), left - 6, y);
  }
  g.textAlign = 'center';
  g.textBaseline = 'top';
  const spacing = tickSpacing(span);
  for (let ago = 0; ago <= span; ago += spacing) {
    const x = left + plotW - (plotW * ago) / span;
    g.fillText(tickLabel(ago), x, top + plotH + 5);
  }
  const x = (t) => left + ((t - start) / span) * plotW;
  const y = (v) => top + plotH - (Math.min(v, ceiling) / ceiling) * plotH;
  series.forEach((line, i) => {
    const points = samples.filter((s) => s.t >= start);
    if (!points.length) return;
    g.strokeStyle = line.colour || COLOURS[i % COLOURS.length];
    g.lineWidth = 2;
    g.lineJoin = 'round';
    g.beginPath();
    points.forEach((s, n) => (n ? g.lineTo(x(s.t), y(s[line.key] || 0)) : g.moveTo(x(s.t), y(s[line.key] || 0))));
    if (points.length === 1) g.lineTo(x(points[0].t) - 2, y(points[0][line.key] || 0));
    g.stroke();
  });
}

/// `samples`: [{t, key: value…}]; `series`: [{key, label, format}].
export function LineChart({ title, samples, series, span = 5 * 60000 }) {
  const canvas = useRef(null);
  useEffect(() => {
    const redraw = () => canvas.current && draw(canvas.current, samples, series, span);
    redraw();
    window.addEventListener('resize', redraw);
    return () => window.removeEventListener('resize', redraw);
  });
  const last = samples[samples.length - 1] || {};
  return html`<section class="panel chart">
    <header><h3>${title}</h3></header>
    <canvas ref=${canvas} role="img" aria-label=${title}></canvas>
    <ul class="legend">
      ${series.map((s, i) => html`<li>
        <span class="swatch" style=${`background:${s.colour || COLOURS[i % COLOURS.length]}`}></span>
        <span class="label">${s.label}</span>
        <span class="value" data-series=${s.key}>${s.format(last[s.key] || 0)}</span>
      </li>`)}
    </ul>
  </section>`;
}
