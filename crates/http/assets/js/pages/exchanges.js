// Exchanges: the paged list and "Add an exchange"; the vhost picker forms share.

import { html, useState, useEffect } from '../vendor/preact-htm.js';
import { api, get, seg } from '../api.js';
import { PagedTable } from '../table.js';
import { Notice, act, Field, useForm, parseObject, Panel, href } from '../ui.js';
import { features } from '../format.js';

/// The default exchange is "" over AMQP, `amq.default` in API paths.
export const pathName = (name) => (name === '' ? 'amq.default' : name);

const COLUMNS = [
  { label: 'Virtual host', sort: 'vhost', cell: (x) => x.vhost },
  { label: 'Name', sort: 'name', cell: (x) => html`<a href=${href('exchanges', x.vhost, pathName(x.name))}>${x.name === '' ? '(AMQP default)' : x.name}</a>` },
  { label: 'Type', sort: 'type', cell: (x) => x.type },
  { label: 'Features', cell: (x) => features(x).map((f) => html`<span class="tag">${f}</span>`) },
  { label: 'Policy', cell: (x) => x.policy || '' },
];

export function Exchanges() {
  return html`<div class="page">
    <h1>Exchanges</h1>
    <${PagedTable} id="exchanges" path="/exchanges" columns=${COLUMNS} rowKey=${(x) => `${x.vhost}/${x.name}`} />
    <${AddExchange} />
  </div>`;
}

let vhostCache = null;

/// After a vhost is added or deleted, the next picker asks again.
export function forgetVhosts() {
  vhostCache = null;
}

/// A select of the vhosts the user can see, fetched once per page load: the
/// vhost listing adds up every queue's counts, which costs with 100,000 queues.
export function VhostSelect(props) {
  const [vhosts, setVhosts] = useState(vhostCache || []);
  useEffect(() => {
    if (vhostCache) return;
    get('/vhosts?columns=name').then((list) => { vhostCache = list.map((v) => v.name); setVhosts(vhostCache); }, () => {});
  }, []);
  const names = vhosts.length ? vhosts : [props.value];
  return html`<select name="vhost" value=${props.value} onChange=${props.onInput}>
    ${names.map((n) => html`<option value=${n}>${n}</option>`)}
  </select>`;
}

function AddExchange() {
  const [notice, setNotice] = useState(null);
  const [v, bind] = useForm({ vhost: '/', name: '', type: 'direct', durable: true, auto_delete: false, internal: false, arguments: '' });
  const submit = (e) => {
    e.preventDefault();
    act(setNotice, async () => {
      const args = parseObject(v.arguments, 'Arguments');
      await api('PUT', `/exchanges/${seg(v.vhost)}/${seg(v.name)}`, { type: v.type, durable: v.durable, auto_delete: v.auto_delete, internal: v.internal, arguments: args });
    }, `Exchange '${v.name}' declared.`);
  };
  return html`<${Panel} title="Add an exchange">
    <form class="form wide" onSubmit=${submit} data-form="add-exchange">
      <${Field} label="Virtual host"><${VhostSelect} ...${bind('vhost')} /></${Field}>
      <${Field} label="Name"><input name="name" required ...${bind('name')} /></${Field}>
      <${Field} label="Type"><select name="type" value=${v.type} onChange=${bind('type').onInput}>
        ${['direct', 'fanout', 'topic', 'headers'].map((t) => html`<option value=${t}>${t}</option>`)}
      </select></${Field}>
      <div class="checks">
        <label class="check"><input type="checkbox" ...${bind('durable', 'checkbox')} /> Durable</label>
        <label class="check"><input type="checkbox" ...${bind('auto_delete', 'checkbox')} /> Auto-delete</label>
        <label class="check"><input type="checkbox" ...${bind('internal', 'checkbox')} /> Internal</label>
      </div>
      <${Field} label="Arguments" className="full" hint='JSON, e.g. {"alternate-exchange": "unrouted"}'>
        <textarea rows="2" ...${bind('arguments')}></textarea></${Field}>
      <div class="actions full"><button type="submit" class="primary">Add exchange</button></div>
      <${Notice} notice=${notice} />
    </form>
  </${Panel}>`;
}
