// Overview: totals, live charts of queued messages and message rates (from
// /api/overview every 5 s; the history is kept for this tab's session), the node.

import { html } from '../vendor/preact-htm.js';
import { get } from '../api.js';
import { usePoll, Tile, Panel, Details } from '../ui.js';
import { LineChart } from '../chart.js';
import { count, bytes, duration } from '../format.js';

// Kept and shown at most: ten minutes; the charts' span grows with the history,
// from one minute, so a fresh page is not a flat line in a corner.
const SPAN_MS = 10 * 60000;

function span() {
  const age = history.length ? history[history.length - 1].t - history[0].t : 0;
  return Math.min(SPAN_MS, Math.max(60000, Math.ceil(age / 60000) * 60000));
}
// Survives leaving the page: coming back shows the last ten minutes again.
const history = [];

function remember(o) {
  const q = o.queue_totals || {}, m = o.message_stats || {};
  const rate = (d) => (d && typeof d.rate === 'number' ? d.rate : 0);
  history.push({
    t: Date.now(),
    ready: q.messages_ready || 0,
    unacked: q.messages_unacknowledged || 0,
    total: q.messages || 0,
    publish: rate(m.publish_details),
    deliver: rate(m.deliver_get_details),
    ack: rate(m.ack_details),
    redeliver: rate(m.redeliver_details),
  });
  while (history.length && history[0].t < Date.now() - SPAN_MS) history.shift();
}

const n = (v) => count(Math.round(v));
const r = (v) => `${v >= 100 ? Math.round(v) : v.toFixed(1)}/s`;

export function Overview({ me }) {
  const [overview, error] = usePoll(async () => {
    const o = await get('/overview');
    remember(o);
    return o;
  }, []);
  const monitor = (me.tags || []).some((t) => t === 'administrator' || t === 'monitoring');
  const [nodes] = usePoll(() => (monitor ? get('/nodes') : Promise.resolve([])), [monitor]);
  const totals = (overview && overview.object_totals) || {};
  const q = (overview && overview.queue_totals) || {};
  return html`<div class="page overview">
    <h1>Overview</h1>
    ${error ? html`<p class="notice error" role="alert">${error}</p>` : null}
    <div class="tiles">
      <${Tile} label="Ready" value=${html`<span data-total="ready">${count(q.messages_ready)}</span>`} />
      <${Tile} label="Unacked" value=${count(q.messages_unacknowledged)} />
      <${Tile} label="Connections" value=${count(totals.connections)} />
      <${Tile} label="Channels" value=${count(totals.channels)} />
      <${Tile} label="Exchanges" value=${count(totals.exchanges)} />
      <${Tile} label="Queues" value=${count(totals.queues)} />
      <${Tile} label="Consumers" value=${count(totals.consumers)} />
    </div>
    <div class="charts">
      <${LineChart} title="Queued messages" samples=${history} span=${span()} series=${[
        { key: 'ready', label: 'Ready', format: n },
        { key: 'unacked', label: 'Unacked', format: n },
        { key: 'total', label: 'Total', format: n },
      ]} />
      <${LineChart} title="Message rates" samples=${history} span=${span()} series=${[
        { key: 'publish', label: 'Publish', format: r },
        { key: 'deliver', label: 'Deliver / get', format: r },
        { key: 'ack', label: 'Consumer ack', format: r },
        { key: 'redeliver', label: 'Redelivered', format: r },
      ]} />
    </div>
    <div class="columns">
      <${Panel} title="Node">
        ${(nodes || []).map((node) => html`<${Details} rows=${[
          ['Name', node.name],
          ['Uptime', duration(node.uptime || 0)],
          ['Memory used', html`${bytes(node.mem_used)}${node.mem_limit ? ` of ${bytes(node.mem_limit)} high watermark` : ''} ${alarm(node.mem_alarm)}`],
          ['Disk free', html`${node.disk_free !== undefined ? bytes(node.disk_free) : '–'}${node.disk_free_limit ? ` (limit ${bytes(node.disk_free_limit)})` : ''} ${alarm(node.disk_free_alarm)}`],
          ['Processors', node.processors],
        ]} />`)}
        ${!monitor ? html`<p class="muted">Node details need the monitoring tag.</p>` : null}
      </${Panel}>
      <${Panel} title="Listeners">
        <table class="grid compact"><thead><tr><th>Protocol</th><th>Address</th><th>Port</th></tr></thead>
          <tbody>${((overview && overview.listeners) || []).map((l) => html`<tr><td>${l.protocol}</td><td>${l.ip_address}</td><td>${l.port}</td></tr>`)}</tbody>
        </table>
      </${Panel}>
    </div>
  </div>`;
}

function alarm(on) {
  return on ? html`<span class="badge bad">alarm</span>` : html`<span class="badge good">ok</span>`;
}
