// Connections and channels: paged lists; a connection can be closed.

import { html, useState } from '../vendor/preact-htm.js';
import { api, seg } from '../api.js';
import { PagedTable } from '../table.js';
import { Notice, act } from '../ui.js';
import { count, bytes } from '../format.js';

function client(c) {
  const p = c.client_properties || {};
  return [p.product, p.version].filter(Boolean).join(' ') || '–';
}

export function Connections() {
  const [notice, setNotice] = useState(null);
  const close = (c) => confirm(`Close the connection ${c.name}?`) && act(setNotice, () => api('DELETE', `/connections/${seg(c.name)}`), 'Connection closed.');
  const columns = [
    { label: 'Name', sort: 'name', cell: (c) => html`${c.name}${c.user_provided_name ? html`<br /><small class="muted">${c.user_provided_name}</small>` : null}` },
    { label: 'Virtual host', sort: 'vhost', cell: (c) => c.vhost },
    { label: 'User', sort: 'user', cell: (c) => c.user },
    { label: 'Protocol', sort: 'protocol', cell: (c) => c.protocol },
    { label: 'Client', cell: client },
    { label: 'State', cell: (c) => html`<span class=${`state ${c.state || 'running'}`}>${c.state || 'running'}</span>` },
    { label: 'Channels', sort: 'channels', className: 'num', cell: (c) => count(c.channels) },
    { label: 'Received', sort: 'recv_oct', className: 'num', cell: (c) => bytes(c.recv_oct) },
    { label: 'Sent', sort: 'send_oct', className: 'num', cell: (c) => bytes(c.send_oct) },
    { label: '', cell: (c) => html`<button type="button" class="small" onClick=${() => close(c)}>Close</button>` },
  ];
  return html`<div class="page"><h1>Connections</h1><${Notice} notice=${notice} />
    <${PagedTable} id="connections" path="/connections" columns=${columns} rowKey=${(c) => c.name} empty="No connections." /></div>`;
}

export function Channels() {
  const columns = [
    { label: 'Channel', sort: 'name', cell: (c) => c.name },
    { label: 'Virtual host', sort: 'vhost', cell: (c) => c.vhost },
    { label: 'User', sort: 'user', cell: (c) => c.user },
    { label: 'Mode', cell: (c) => [c.confirm ? 'confirm' : null, c.transactional ? 'tx' : null].filter(Boolean).join(', ') || '–' },
    { label: 'Prefetch', sort: 'prefetch_count', className: 'num', cell: (c) => count(c.prefetch_count) },
    { label: 'Consumers', sort: 'consumer_count', className: 'num', cell: (c) => count(c.consumer_count) },
    { label: 'Unacked', sort: 'messages_unacknowledged', className: 'num', cell: (c) => count(c.messages_unacknowledged) },
  ];
  return html`<div class="page"><h1>Channels</h1>
    <${PagedTable} id="channels" path="/channels" columns=${columns} rowKey=${(c) => c.name} empty="No channels." /></div>`;
}
