// One exchange: details, its bindings (to queues and exchanges, add/remove) and
// publish, as on RabbitMQ's exchange page.

import { html, useState } from '../vendor/preact-htm.js';
import { api, get, seg } from '../api.js';
import { usePoll, Notice, act, Field, useForm, parseObject, Panel, Details, href } from '../ui.js';
import { features, json } from '../format.js';

export function ExchangePage({ vhost, name }) {
  const base = `/exchanges/${seg(vhost)}/${seg(name)}`;
  const [x, error] = usePoll(() => get(base), [base]);
  const shown = name === 'amq.default' ? '(AMQP default)' : name;
  const [deleted, setDeleted] = useState(false);
  if (deleted) return html`<div class="page"><h1>Exchange ${shown}</h1><p class="notice ok" role="status">Exchange deleted. <a href="#/exchanges">Back to the exchanges</a></p></div>`;
  return html`<div class="page">
    <p class="crumbs"><a href="#/exchanges">Exchanges</a> › ${vhost}</p>
    <h1>Exchange <span class="name">${shown}</span></h1>
    ${error ? html`<p class="notice error" role="alert">${error}</p>` : null}
    ${x ? html`<${Panel} title="Details"><${Details} rows=${[
      ['Virtual host', x.vhost], ['Type', x.type], ['Features', features(x).join(' ') || '–'],
      ['Arguments', json(x.arguments) || '–'], ['Policy', x.policy || '–'],
    ]} /></${Panel}>` : null}
    ${name === 'amq.default' ? null : html`<${Bindings} vhost=${vhost} name=${name} />`}
    <div class="columns">
      <${Publish} base=${base} />
      ${name.startsWith('amq.') ? null : html`<${Delete} base=${base} deleted=${() => setDeleted(true)} name=${name} />`}
    </div>
  </div>`;
}

function Bindings({ vhost, name }) {
  const path = `/exchanges/${seg(vhost)}/${seg(name)}/bindings/source`;
  const [bindings, , reload] = usePoll(() => get(path), [path]);
  const [notice, setNotice] = useState(null);
  const [v, bind] = useForm({ kind: 'q', destination: '', routing_key: '', arguments: '' });
  const add = (e) => {
    e.preventDefault();
    act(setNotice, async () => {
      await api('POST', `/bindings/${seg(vhost)}/e/${seg(name)}/${v.kind}/${seg(v.destination)}`, { routing_key: v.routing_key, arguments: parseObject(v.arguments, 'Arguments') });
      reload();
    }, 'Bound.');
  };
  const unbind = (b) => act(setNotice, async () => {
    const kind = b.destination_type === 'queue' ? 'q' : 'e';
    await api('DELETE', `/bindings/${seg(vhost)}/e/${seg(name)}/${kind}/${seg(b.destination)}/${seg(b.properties_key)}`);
    reload();
  }, 'Unbound.');
  return html`<${Panel} title="Bindings from this exchange">
    <table class="grid compact"><thead><tr><th>To</th><th>Routing key</th><th>Arguments</th><th></th></tr></thead>
      <tbody>${(bindings || []).map((b) => html`<tr>
        <td><span class="tag">${b.destination_type}</span> <a href=${href(b.destination_type === 'queue' ? 'queues' : 'exchanges', vhost, b.destination)}>${b.destination}</a></td>
        <td>${b.routing_key}</td><td>${json(b.arguments)}</td>
        <td class="right"><button type="button" class="small" onClick=${() => unbind(b)}>Unbind</button></td>
      </tr>`)}
      ${bindings && !bindings.length ? html`<tr><td colspan="4" class="empty">No bindings.</td></tr>` : null}</tbody></table>
    <form class="form inline" onSubmit=${add}>
      <${Field} label="To"><select value=${v.kind} onChange=${bind('kind').onInput}><option value="q">queue</option><option value="e">exchange</option></select></${Field}>
      <${Field} label="Name"><input name="destination" required ...${bind('destination')} /></${Field}>
      <${Field} label="Routing key"><input name="routing_key" ...${bind('routing_key')} /></${Field}>
      <${Field} label="Arguments"><input name="arguments" placeholder="{}" ...${bind('arguments')} /></${Field}>
      <div class="actions"><button type="submit">Bind</button></div>
    </form>
    <${Notice} notice=${notice} />
  </${Panel}>`;
}

function Publish({ base }) {
  const [notice, setNotice] = useState(null);
  const [v, bind] = useForm({ routing_key: '', payload: '', delivery_mode: '1', headers: '', properties: '' });
  const submit = (e) => {
    e.preventDefault();
    act(setNotice, async () => {
      const properties = { ...parseObject(v.properties, 'Properties'), delivery_mode: +v.delivery_mode };
      const headers = parseObject(v.headers, 'Headers');
      if (Object.keys(headers).length) properties.headers = headers;
      return api('POST', `${base}/publish`, { routing_key: v.routing_key, payload: v.payload, payload_encoding: 'string', properties });
    }, (r) => (r.routed ? 'Message published and routed.' : 'Message published, but not routed to any queue.'));
  };
  return html`<${Panel} title="Publish message">
    <form class="form" onSubmit=${submit} data-form="publish">
      <${Field} label="Routing key"><input name="routing_key" ...${bind('routing_key')} /></${Field}>
      <${Field} label="Delivery mode"><select value=${v.delivery_mode} onChange=${bind('delivery_mode').onInput}>
        <option value="1">1 – non-persistent</option><option value="2">2 – persistent</option></select></${Field}>
      <${Field} label="Headers" hint="JSON object"><input name="headers" placeholder="{}" ...${bind('headers')} /></${Field}>
      <${Field} label="Properties" hint="JSON object"><input name="properties" placeholder="{}" ...${bind('properties')} /></${Field}>
      <${Field} label="Payload"><textarea name="payload" rows="4" ...${bind('payload')}></textarea></${Field}>
      <div class="actions"><button type="submit" class="primary">Publish message</button></div>
      <${Notice} notice=${notice} />
    </form>
  </${Panel}>`;
}

function Delete({ base, name, deleted }) {
  const [notice, setNotice] = useState(null);
  const remove = () => confirm(`Delete the exchange '${name}'?`) && act(setNotice, async () => { await api('DELETE', base); deleted(); });
  return html`<${Panel} title="Delete">
    <p class="muted">Deleting the exchange drops its bindings.</p>
    <div class="actions"><button type="button" class="danger" onClick=${remove}>Delete exchange</button></div>
    <${Notice} notice=${notice} />
  </${Panel}>`;
}
