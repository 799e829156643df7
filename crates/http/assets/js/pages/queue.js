// One queue: details, bindings (add/remove), consumers, and the operations
// RabbitMQ's queue page has: publish, get messages, move messages, purge, delete.

import { html, useState } from '../vendor/preact-htm.js';
import { api, get, seg } from '../api.js';
import { usePoll, Notice, act, Field, useForm, parseObject, Panel, Details, Tile, href } from '../ui.js';
import { count, rate, features, json } from '../format.js';
import { pathName } from './exchanges.js';

export function QueuePage({ vhost, name }) {
  const base = `/queues/${seg(vhost)}/${seg(name)}`;
  const [q, error, reload] = usePoll(() => get(base), [base]);
  const [deleted, setDeleted] = useState(false);
  if (deleted) return html`<div class="page"><h1>Queue ${name}</h1><p class="notice ok" role="status">Queue '${name}' deleted. <a href="#/queues">Back to the queues</a></p></div>`;
  return html`<div class="page">
    <p class="crumbs"><a href="#/queues">Queues</a> › ${vhost}</p>
    <h1>Queue <span class="name">${name}</span></h1>
    ${error ? html`<p class="notice error" role="alert">${error}</p>` : null}
    ${q ? html`
      <div class="tiles">
        <${Tile} label="Ready" value=${html`<span data-queue="ready">${count(q.messages_ready)}</span>`} />
        <${Tile} label="Unacked" value=${count(q.messages_unacknowledged)} />
        <${Tile} label="Total" value=${html`<span data-queue="messages">${count(q.messages)}</span>`} />
        <${Tile} label="Consumers" value=${count(q.consumers)} />
        <${Tile} label="Incoming" value=${rate(q.message_stats && q.message_stats.publish_details)} />
        <${Tile} label="Deliver / get" value=${rate(q.message_stats && q.message_stats.deliver_get_details)} />
      </div>
      <div class="columns">
        <${Panel} title="Details"><${Details} rows=${[
          ['Virtual host', q.vhost], ['Type', q.type || 'classic'], ['State', q.state],
          ['Features', features(q).join(' ') || '–'], ['Arguments', json(q.arguments) || '–'],
          ['Policy', q.policy || '–'], ['Exclusive owner', q.owner_pid_details ? q.owner_pid_details.name : (q.exclusive ? 'yes' : '–')],
        ]} /></${Panel}>
        <${Consumers} vhost=${vhost} name=${name} />
      </div>` : null}
    <${Bindings} vhost=${vhost} name=${name} />
    <div class="columns">
      <${Publish} vhost=${vhost} name=${name} done=${reload} />
      <${GetMessages} base=${base} done=${reload} />
    </div>
    <div class="columns">
      <${MoveMessages} vhost=${vhost} base=${base} done=${reload} />
      <${Danger} base=${base} name=${name} done=${reload} deleted=${() => setDeleted(true)} />
    </div>
  </div>`;
}

function Consumers({ vhost, name }) {
  const [all] = usePoll(() => get(`/consumers/${seg(vhost)}`), [vhost]);
  const mine = (all || []).filter((c) => c.queue && c.queue.name === name);
  return html`<${Panel} title="Consumers">
    ${mine.length ? html`<table class="grid compact"><thead><tr><th>Channel</th><th>Tag</th><th>Ack required</th><th>Prefetch</th></tr></thead>
      <tbody>${mine.map((c) => html`<tr><td>${c.channel_details ? c.channel_details.name : ''}</td><td>${c.consumer_tag}</td><td>${c.ack_required ? 'yes' : 'no'}</td><td>${c.prefetch_count}</td></tr>`)}</tbody></table>`
      : html`<p class="muted">No consumers.</p>`}
  </${Panel}>`;
}

function Bindings({ vhost, name }) {
  const [bindings, , reload] = usePoll(() => get(`/queues/${seg(vhost)}/${seg(name)}/bindings`), [vhost, name]);
  const [notice, setNotice] = useState(null);
  const [v, bind] = useForm({ source: '', routing_key: '', arguments: '' });
  const add = (e) => {
    e.preventDefault();
    act(setNotice, async () => {
      await api('POST', `/bindings/${seg(vhost)}/e/${seg(v.source)}/q/${seg(name)}`, { routing_key: v.routing_key, arguments: parseObject(v.arguments, 'Arguments') });
      reload();
    }, 'Bound.');
  };
  const unbind = (b) => act(setNotice, async () => {
    await api('DELETE', `/bindings/${seg(vhost)}/e/${seg(b.source)}/q/${seg(name)}/${seg(b.properties_key)}`);
    reload();
  }, 'Unbound.');
  return html`<${Panel} title="Bindings">
    <table class="grid compact"><thead><tr><th>From exchange</th><th>Routing key</th><th>Arguments</th><th></th></tr></thead>
      <tbody>${(bindings || []).map((b) => html`<tr>
        <td>${b.source === '' ? '(AMQP default)' : html`<a href=${href('exchanges', vhost, pathName(b.source))}>${b.source}</a>`}</td>
        <td>${b.routing_key}</td><td>${json(b.arguments)}</td>
        <td class="right">${b.source === '' ? null : html`<button type="button" class="small" onClick=${() => unbind(b)}>Unbind</button>`}</td>
      </tr>`)}</tbody></table>
    <form class="form inline" onSubmit=${add}>
      <${Field} label="From exchange"><input name="source" required ...${bind('source')} /></${Field}>
      <${Field} label="Routing key"><input name="routing_key" ...${bind('routing_key')} /></${Field}>
      <${Field} label="Arguments"><input name="arguments" placeholder="{}" ...${bind('arguments')} /></${Field}>
      <div class="actions"><button type="submit">Bind</button></div>
    </form>
    <${Notice} notice=${notice} />
  </${Panel}>`;
}

/// Publishes through the default exchange straight to this queue.
function Publish({ vhost, name, done }) {
  const [notice, setNotice] = useState(null);
  const [v, bind] = useForm({ payload: '', delivery_mode: '2', headers: '', properties: '' });
  const submit = (e) => {
    e.preventDefault();
    act(setNotice, async () => {
      const properties = { ...parseObject(v.properties, 'Properties'), delivery_mode: +v.delivery_mode };
      const headers = parseObject(v.headers, 'Headers');
      if (Object.keys(headers).length) properties.headers = headers;
      const r = await api('POST', `/exchanges/${seg(vhost)}/amq.default/publish`, { routing_key: name, payload: v.payload, payload_encoding: 'string', properties });
      done();
      if (!r.routed) throw new Error('The message was not routed.');
    }, 'Message published.');
  };
  return html`<${Panel} title="Publish message">
    <form class="form" onSubmit=${submit} data-form="publish">
      <${Field} label="Delivery mode"><select value=${v.delivery_mode} onChange=${bind('delivery_mode').onInput}>
        <option value="1">1 – non-persistent</option><option value="2">2 – persistent</option></select></${Field}>
      <${Field} label="Headers" hint="JSON object"><input name="headers" placeholder="{}" ...${bind('headers')} /></${Field}>
      <${Field} label="Properties" hint='JSON, e.g. {"content_type": "text/plain"}'><input name="properties" placeholder="{}" ...${bind('properties')} /></${Field}>
      <${Field} label="Payload"><textarea name="payload" rows="4" ...${bind('payload')}></textarea></${Field}>
      <div class="actions"><button type="submit" class="primary">Publish message</button></div>
      <${Notice} notice=${notice} />
    </form>
  </${Panel}>`;
}

function GetMessages({ base, done }) {
  const [notice, setNotice] = useState(null);
  const [messages, setMessages] = useState(null);
  const [v, bind] = useForm({ ackmode: 'ack_requeue_true', encoding: 'auto', count: '1' });
  const submit = (e) => {
    e.preventDefault();
    act(setNotice, async () => {
      const n = parseInt(v.count, 10);
      if (!(n > 0)) throw new Error('Messages must be a positive number.');
      const got = await api('POST', `${base}/get`, { count: n, ackmode: v.ackmode, encoding: v.encoding, truncate: 50000 });
      setMessages(got);
      done();
      return got;
    }, (got) => (got.length ? `${got.length} message${got.length > 1 ? 's' : ''}.` : 'Queue is empty.'));
  };
  return html`<${Panel} title="Get messages">
    <form class="form" onSubmit=${submit} data-form="get">
      <${Field} label="Ack mode"><select value=${v.ackmode} onChange=${bind('ackmode').onInput}>
        <option value="ack_requeue_true">Nack, requeue</option>
        <option value="reject_requeue_true">Reject, requeue</option>
        <option value="ack_requeue_false">Ack (removes them)</option>
        <option value="reject_requeue_false">Reject, no requeue</option>
      </select></${Field}>
      <${Field} label="Encoding"><select value=${v.encoding} onChange=${bind('encoding').onInput}>
        <option value="auto">Auto string / base64</option><option value="base64">base64</option></select></${Field}>
      <${Field} label="Messages"><input type="number" min="1" name="count" ...${bind('count')} /></${Field}>
      <div class="actions"><button type="submit" class="primary">Get messages</button></div>
      <${Notice} notice=${notice} />
    </form>
    ${(messages || []).map((m, i) => html`<div class="message" data-message=${i}>
      <${Details} rows=${[
        ['Message', `${i + 1} · ${m.message_count} left in the queue`],
        ['Exchange', m.exchange === '' ? '(AMQP default)' : m.exchange], ['Routing key', m.routing_key],
        ['Redelivered', m.redelivered ? 'yes' : 'no'], ['Properties', json(m.properties) || '–'],
        ['Payload', html`${m.payload_bytes} bytes, ${m.payload_encoding}`],
      ]} />
      <pre class="payload">${m.payload}</pre>
    </div>`)}
  </${Panel}>`;
}

function MoveMessages({ vhost, base, done }) {
  const [notice, setNotice] = useState(null);
  const [v, bind] = useForm({ destination: '', count: '' });
  const submit = (e) => {
    e.preventDefault();
    act(setNotice, async () => {
      const body = { destination: v.destination };
      if (v.count.trim()) body.count = parseInt(v.count, 10);
      const r = await api('POST', `${base}/move`, body);
      done();
      return r;
    }, (r) => `Moved ${count(r.moved)} message${r.moved === 1 ? '' : 's'} to '${v.destination}'.`);
  };
  return html`<${Panel} title="Move messages">
    <p class="muted">Moves ready messages to another queue of ${vhost}, oldest first.</p>
    <form class="form" onSubmit=${submit} data-form="move">
      <${Field} label="Destination queue"><input name="destination" required ...${bind('destination')} /></${Field}>
      <${Field} label="How many" hint="empty: all"><input type="number" min="1" name="count" ...${bind('count')} /></${Field}>
      <div class="actions"><button type="submit">Move messages</button></div>
      <${Notice} notice=${notice} />
    </form>
  </${Panel}>`;
}

function Danger({ base, name, done, deleted }) {
  const [notice, setNotice] = useState(null);
  const purge = () => confirm(`Purge every ready message of '${name}'?`) && act(setNotice, async () => { await api('DELETE', `${base}/contents`); done(); }, 'Queue purged.');
  const remove = () => confirm(`Delete the queue '${name}'?`) && act(setNotice, async () => { await api('DELETE', base); deleted(); });
  return html`<${Panel} title="Purge and delete">
    <p class="muted">Purging drops the ready messages; deleting drops the queue, its messages and bindings.</p>
    <div class="actions">
      <button type="button" class="warn" onClick=${purge}>Purge messages</button>
      <button type="button" class="danger" onClick=${remove}>Delete queue</button>
    </div>
    <${Notice} notice=${notice} />
  </${Panel}>`;
}
