// Charts through the vendored Chart.js (a classic script that sets window.Chart; see
// web/VENDOR.md). Every chart is a <canvas> with role="img" and a label, followed by the same
// numbers as a table for screen readers and for anyone who wants the figures.

import { h, table } from './dom.js';

export const palette = ['#2f6fb0', '#e07b39', '#3a9d6e', '#9b59b6', '#c0392b', '#16a2b8', '#8d6e63', '#d4a017'];

const charts = new WeakMap();

/**
 * chart returns a figure with a canvas and a data table. config: {type, labels, datasets:
 * [{label, data, ...}], yLabel, stacked, format(value)}.
 */
export function chart(title, config) {
  const canvas = h('canvas', { role: 'img', 'aria-label': title, height: config.height || 280 });
  const fmt = config.format || ((v) => String(v));
  const rows = config.labels.map((label, i) => ({ label, values: config.datasets.map((d) => d.data[i]) }));
  const data = h('details', { class: 'chart-data' }, h('summary', {}, 'Show the numbers'),
    table(title, [{ label: config.xLabel || '', value: (r) => r.label },
      ...config.datasets.map((d, j) => ({ label: d.label, value: (r) => (r.values[j] === null || r.values[j] === undefined ? '—' : fmt(r.values[j])), class: 'num' }))], rows));
  const fig = h('figure', { class: 'chart' }, h('figcaption', {}, title), h('div', { class: 'chart-box' }, canvas),
    config.note ? h('p', { class: 'chart-note' }, config.note) : null, data);
  // Draw once the figure is in the document, so that Chart.js can measure it.
  queueMicrotask(() => requestAnimationFrame(() => draw(canvas, config, fmt)));
  return fig;
}

function draw(canvas, config, fmt) {
  if (!canvas.isConnected) return;
  const Chart = window.Chart;
  if (!Chart) {
    canvas.replaceWith(h('p', { class: 'muted' }, 'The chart library did not load; the numbers are below.'));
    return;
  }
  const datasets = config.datasets.map((d, i) => ({
    borderColor: palette[i % palette.length],
    backgroundColor: config.type === 'line' ? `${palette[i % palette.length]}33` : palette[i % palette.length],
    borderWidth: 2, pointRadius: 3, tension: 0, spanGaps: true, ...d,
    ...(Array.isArray(d.backgroundColor) ? { borderColor: d.backgroundColor } : {}),
  }));
  const c = new Chart(canvas, {
    type: config.type || 'bar',
    data: { labels: config.labels, datasets },
    options: {
      responsive: true, maintainAspectRatio: false, animation: false,
      interaction: { mode: 'index', intersect: false },
      plugins: {
        legend: { display: config.datasets.length > 1, position: 'bottom', labels: { boxWidth: 12 } },
        tooltip: { callbacks: { label: (ctx) => `${ctx.dataset.label}: ${fmt(ctx.parsed.y)}` } },
      },
      scales: {
        x: { stacked: !!config.stacked, grid: { display: false } },
        y: { stacked: !!config.stacked, beginAtZero: true, title: { display: !!config.yLabel, text: config.yLabel || '' },
          ticks: { callback: (v) => (config.tick ? config.tick(v) : v) } },
      },
    },
  });
  charts.set(canvas, c);
}
