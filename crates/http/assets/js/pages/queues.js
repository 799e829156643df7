// Queues: the paged list (server-side filter/sort/paging) and "Add a queue".

import { html, useState } from '../vendor/preact-htm.js';
import { api, seg } from '../api.js';
import { PagedTable } from '../table.js';
import { Notice, act, Field, useForm, parseObject, Panel, href } from '../ui.js';
import { VhostSelect } from './exchanges.js';
import { count, rate, features } from '../format.js';

const COLUMNS = [
  { label: 'Virtual host', sort: 'vhost', cell: (q) => q.vhost },
  { label: 'Name', sort: 'name', cell: (q) => html`<a href=${href('queues', q.vhost, q.name)}>${q.name}</a>` },
  { label: 'Type', cell: (q) => q.type || 'classic' },
  { label: 'Features', cell: (q) => features(q).map((f) => html`<span class="tag">${f}</span>`) },
  { label: 'State', cell: (q) => html`<span class=${`state ${q.state}`}>${q.state}</span>` },
  { label: 'Ready', sort: 'messages_ready', className: 'num', cell: (q) => html`<span data-col="ready">${count(q.messages_ready)}</span>` },
  { label: 'Unacked', sort: 'messages_unacknowledged', className: 'num', cell: (q) => count(q.messages_unacknowledged) },
  { label: 'Total', sort: 'messages', className: 'num', cell: (q) => count(q.messages) },
  { label: 'Incoming', sort: 'message_stats.publish_details.rate', className: 'num', cell: (q) => rate(q.message_stats && q.message_stats.publish_details) },
  { label: 'Deliver / get', sort: 'message_stats.deliver_get_details.rate', className: 'num', cell: (q) => rate(q.message_stats && q.message_stats.deliver_get_details) },
  { label: 'Consumers', sort: 'consumers', className: 'num', cell: (q) => count(q.consumers) },
];

export function Queues() {
  return html`<div class="page">
    <h1>Queues</h1>
    <${PagedTable} id="queues" path="/queues" columns=${COLUMNS} rowKey=${(q) => `${q.vhost}/${q.name}`} empty="No queues." />
    <${AddQueue} />
  </div>`;
}

function AddQueue() {
  const [notice, setNotice] = useState(null);
  const [v, bind] = useForm({ vhost: '/', name: '', durable: true, auto_delete: false, arguments: '' });
  const submit = (e) => {
    e.preventDefault();
    act(setNotice, async () => {
      const args = parseObject(v.arguments, 'Arguments');
      await api('PUT', `/queues/${seg(v.vhost)}/${seg(v.name)}`, { durable: v.durable, auto_delete: v.auto_delete, arguments: args });
    }, `Queue '${v.name}' declared.`);
  };
  return html`<${Panel} title="Add a queue">
    <form class="form wide" onSubmit=${submit} data-form="add-queue">
      <${Field} label="Virtual host"><${VhostSelect} ...${bind('vhost')} /></${Field}>
      <${Field} label="Name"><input name="name" required ...${bind('name')} /></${Field}>
      <div class="checks">
        <label class="check"><input type="checkbox" name="durable" ...${bind('durable', 'checkbox')} /> Durable</label>
        <label class="check"><input type="checkbox" name="auto_delete" ...${bind('auto_delete', 'checkbox')} /> Auto-delete</label>
      </div>
      <${Field} label="Arguments" className="full" hint='JSON, e.g. {"x-message-ttl": 60000, "x-max-length": 1000}'>
        <textarea name="arguments" rows="2" ...${bind('arguments')}></textarea></${Field}>
      <div class="actions full"><button type="submit" class="primary">Add queue</button></div>
      <${Notice} notice=${notice} />
    </form>
  </${Panel}>`;
}
