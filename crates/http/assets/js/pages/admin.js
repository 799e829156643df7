// Administration: users, virtual hosts, permissions, policies, and definitions
// export/import. Most of it needs the administrator tag (policies: policymaker);
// the API's refusal is shown as it comes.

import { html, useState } from '../vendor/preact-htm.js';
import { api, get, seg } from '../api.js';
import { usePoll, Notice, act, Field, useForm, parseObject, Panel, Tabs } from '../ui.js';
import { VhostSelect, forgetVhosts } from './exchanges.js';
import { count, json } from '../format.js';

const TABS = [
  { id: 'users', label: 'Users', href: '#/admin/users' },
  { id: 'vhosts', label: 'Virtual hosts', href: '#/admin/vhosts' },
  { id: 'permissions', label: 'Permissions', href: '#/admin/permissions' },
  { id: 'policies', label: 'Policies', href: '#/admin/policies' },
  { id: 'definitions', label: 'Definitions', href: '#/admin/definitions' },
];

export function Admin({ tab }) {
  const body = { users: Users, vhosts: Vhosts, permissions: Permissions, policies: Policies, definitions: Definitions }[tab] || Users;
  return html`<div class="page"><h1>Admin</h1><${Tabs} tabs=${TABS} current=${tab} /><${body} /></div>`;
}

/// A list fetched whole (these lists are small), with an error line.
function useList(path) {
  const [list, error, reload] = usePoll(() => get(path), [path]);
  return [list || [], error, reload];
}

function ErrorLine({ error }) {
  return error ? html`<p class="notice error" role="alert">${error}</p>` : null;
}

function Users() {
  const [users, error, reload] = useList('/users');
  const [notice, setNotice] = useState(null);
  const [v, bind, setValues] = useForm({ name: '', password: '', tags: 'management' });
  const submit = (e) => {
    e.preventDefault();
    act(setNotice, async () => {
      const body = { tags: v.tags };
      const existing = users.find((u) => u.name === v.name);
      if (v.password) {
        body.password = v.password;
      } else if (existing) {
        // As the API clears a password that is not given: keep the current one.
        body.password_hash = existing.password_hash || '';
        if (existing.hashing_algorithm) body.hashing_algorithm = existing.hashing_algorithm;
      } else {
        body.password_hash = '';
      }
      await api('PUT', `/users/${seg(v.name)}`, body);
      setValues({ ...v, password: '' });
      reload();
    }, `User '${v.name}' saved.`);
  };
  const remove = (u) => confirm(`Delete the user '${u.name}'?`) && act(setNotice, async () => { await api('DELETE', `/users/${seg(u.name)}`); reload(); }, `User '${u.name}' deleted.`);
  return html`<${ErrorLine} error=${error} />
    <div class="table-box"><table class="grid"><thead><tr><th>Name</th><th>Tags</th><th>Can log in with password</th><th></th></tr></thead>
      <tbody>${users.map((u) => html`<tr data-row=${u.name}>
        <td>${u.name}</td><td>${(Array.isArray(u.tags) ? u.tags : String(u.tags || '').split(',')).filter(Boolean).map((t) => html`<span class="tag">${t}</span>`)}</td>
        <td>${u.password_hash ? 'yes' : 'no'}</td>
        <td class="right"><button type="button" class="small" onClick=${() => setValues({ name: u.name, password: '', tags: [].concat(u.tags).join(',') })}>Edit</button>
          <button type="button" class="small danger" onClick=${() => remove(u)}>Delete</button></td>
      </tr>`)}</tbody></table></div>
    <${Panel} title="Add or update a user">
      <form class="form inline" onSubmit=${submit}>
        <${Field} label="Username"><input name="name" required ...${bind('name')} /></${Field}>
        <${Field} label="Password" hint="empty: unchanged (new user: no password login)"><input name="password" type="password" autocomplete="new-password" ...${bind('password')} /></${Field}>
        <${Field} label="Tags" hint="administrator, monitoring, policymaker, management"><input name="tags" ...${bind('tags')} /></${Field}>
        <div class="actions"><button type="submit" class="primary">Save user</button></div>
      </form>
      <${Notice} notice=${notice} />
    </${Panel}>`;
}

function Vhosts() {
  const [vhosts, error, reload] = useList('/vhosts');
  const [notice, setNotice] = useState(null);
  const [v, bind] = useForm({ name: '', description: '', tags: '' });
  const submit = (e) => {
    e.preventDefault();
    act(setNotice, async () => { await api('PUT', `/vhosts/${seg(v.name)}`, { description: v.description, tags: v.tags }); forgetVhosts(); reload(); }, `Virtual host '${v.name}' saved.`);
  };
  const remove = (h) => confirm(`Delete the virtual host '${h.name}' and everything in it?`) && act(setNotice, async () => { await api('DELETE', `/vhosts/${seg(h.name)}`); forgetVhosts(); reload(); }, `Virtual host '${h.name}' deleted.`);
  return html`<${ErrorLine} error=${error} />
    <div class="table-box"><table class="grid"><thead><tr><th>Name</th><th>Description</th><th>Tags</th><th class="num">Ready</th><th class="num">Unacked</th><th class="num">Total</th><th></th></tr></thead>
      <tbody>${vhosts.map((h) => html`<tr data-row=${h.name}>
        <td>${h.name}</td><td>${h.description || ''}</td><td>${(h.tags || []).map((t) => html`<span class="tag">${t}</span>`)}</td>
        <td class="num">${count(h.messages_ready)}</td><td class="num">${count(h.messages_unacknowledged)}</td><td class="num">${count(h.messages)}</td>
        <td class="right"><button type="button" class="small danger" onClick=${() => remove(h)}>Delete</button></td>
      </tr>`)}</tbody></table></div>
    <${Panel} title="Add a virtual host">
      <form class="form inline" onSubmit=${submit}>
        <${Field} label="Name"><input name="name" required ...${bind('name')} /></${Field}>
        <${Field} label="Description"><input name="description" ...${bind('description')} /></${Field}>
        <${Field} label="Tags" hint="comma-separated"><input name="tags" ...${bind('tags')} /></${Field}>
        <div class="actions"><button type="submit" class="primary">Add virtual host</button></div>
      </form>
      <${Notice} notice=${notice} />
    </${Panel}>`;
}

function Permissions() {
  const [perms, error, reload] = useList('/permissions');
  const [notice, setNotice] = useState(null);
  const [v, bind] = useForm({ user: '', vhost: '/', configure: '.*', write: '.*', read: '.*' });
  const submit = (e) => {
    e.preventDefault();
    act(setNotice, async () => {
      await api('PUT', `/permissions/${seg(v.vhost)}/${seg(v.user)}`, { configure: v.configure, write: v.write, read: v.read });
      reload();
    }, `Permissions of '${v.user}' in '${v.vhost}' set.`);
  };
  const remove = (p) => act(setNotice, async () => { await api('DELETE', `/permissions/${seg(p.vhost)}/${seg(p.user)}`); reload(); }, 'Permissions cleared.');
  return html`<${ErrorLine} error=${error} />
    <div class="table-box"><table class="grid"><thead><tr><th>User</th><th>Virtual host</th><th>Configure</th><th>Write</th><th>Read</th><th></th></tr></thead>
      <tbody>${perms.map((p) => html`<tr>
        <td>${p.user}</td><td>${p.vhost}</td><td><code>${p.configure}</code></td><td><code>${p.write}</code></td><td><code>${p.read}</code></td>
        <td class="right"><button type="button" class="small danger" onClick=${() => remove(p)}>Clear</button></td>
      </tr>`)}</tbody></table></div>
    <${Panel} title="Set permissions">
      <form class="form inline" onSubmit=${submit}>
        <${Field} label="User"><input name="user" required ...${bind('user')} /></${Field}>
        <${Field} label="Virtual host"><${VhostSelect} ...${bind('vhost')} /></${Field}>
        <${Field} label="Configure regexp"><input ...${bind('configure')} /></${Field}>
        <${Field} label="Write regexp"><input ...${bind('write')} /></${Field}>
        <${Field} label="Read regexp"><input ...${bind('read')} /></${Field}>
        <div class="actions"><button type="submit" class="primary">Set permissions</button></div>
      </form>
      <${Notice} notice=${notice} />
    </${Panel}>`;
}

function Policies() {
  const [policies, error, reload] = useList('/policies');
  const [notice, setNotice] = useState(null);
  const [v, bind] = useForm({ vhost: '/', name: '', pattern: '', apply_to: 'queues', priority: '0', definition: '' });
  const submit = (e) => {
    e.preventDefault();
    act(setNotice, async () => {
      const definition = parseObject(v.definition, 'Definition');
      await api('PUT', `/policies/${seg(v.vhost)}/${seg(v.name)}`, { pattern: v.pattern, 'apply-to': v.apply_to, priority: parseInt(v.priority, 10) || 0, definition });
      reload();
    }, `Policy '${v.name}' saved.`);
  };
  const remove = (p) => act(setNotice, async () => { await api('DELETE', `/policies/${seg(p.vhost)}/${seg(p.name)}`); reload(); }, `Policy '${p.name}' deleted.`);
  return html`<${ErrorLine} error=${error} />
    <div class="table-box"><table class="grid"><thead><tr><th>Virtual host</th><th>Name</th><th>Pattern</th><th>Apply to</th><th>Definition</th><th class="num">Priority</th><th></th></tr></thead>
      <tbody>${policies.map((p) => html`<tr>
        <td>${p.vhost}</td><td>${p.name}</td><td><code>${p.pattern}</code></td><td>${p['apply-to']}</td><td><code>${json(p.definition)}</code></td><td class="num">${p.priority}</td>
        <td class="right"><button type="button" class="small danger" onClick=${() => remove(p)}>Delete</button></td>
      </tr>`)}
      ${!policies.length && !error ? html`<tr><td colspan="7" class="empty">No policies.</td></tr>` : null}</tbody></table></div>
    <${Panel} title="Add or update a policy">
      <form class="form inline" onSubmit=${submit}>
        <${Field} label="Virtual host"><${VhostSelect} ...${bind('vhost')} /></${Field}>
        <${Field} label="Name"><input required ...${bind('name')} /></${Field}>
        <${Field} label="Pattern" hint="regexp on names"><input required ...${bind('pattern')} /></${Field}>
        <${Field} label="Apply to"><select value=${v.apply_to} onChange=${bind('apply_to').onInput}>
          <option value="queues">queues</option><option value="exchanges">exchanges</option><option value="all">exchanges and queues</option></select></${Field}>
        <${Field} label="Priority"><input type="number" ...${bind('priority')} /></${Field}>
        <${Field} label="Definition" hint='JSON, e.g. {"max-length": 1000}'><input required ...${bind('definition')} /></${Field}>
        <div class="actions"><button type="submit" class="primary">Save policy</button></div>
      </form>
      <${Notice} notice=${notice} />
    </${Panel}>`;
}

function Definitions() {
  const [notice, setNotice] = useState(null);
  const [file, setFile] = useState(null);
  const download = () => act(setNotice, async () => {
    const defs = await get('/definitions');
    const blob = new Blob([JSON.stringify(defs, null, 2)], { type: 'application/json' });
    const link = document.createElement('a');
    link.href = URL.createObjectURL(blob);
    link.download = `warren-definitions-${new Date().toISOString().slice(0, 10)}.json`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }, 'Definitions exported.');
  const upload = (e) => {
    e.preventDefault();
    act(setNotice, async () => {
      if (!file) throw new Error('Choose a definitions file first.');
      let defs;
      try { defs = JSON.parse(await file.text()); } catch (err) { throw new Error(`The file is not JSON: ${err.message}`); }
      await api('POST', '/definitions', defs);
    }, 'Definitions imported.');
  };
  return html`<div class="columns">
    <${Panel} title="Export definitions">
      <p class="muted">Users, virtual hosts, permissions, policies, exchanges, queues and bindings as one JSON file, in RabbitMQ's format.</p>
      <div class="actions"><button type="button" class="primary" onClick=${download}>Download broker definitions</button></div>
    </${Panel}>
    <${Panel} title="Import definitions">
      <p class="muted">A file exported by Warren or RabbitMQ: what it defines is added or updated; nothing is removed.</p>
      <form class="form" onSubmit=${upload}>
        <input type="file" accept="application/json,.json" onChange=${(e) => setFile(e.target.files[0] || null)} />
        <div class="actions"><button type="submit">Upload definitions</button></div>
      </form>
    </${Panel}>
    <${Notice} notice=${notice} />
  </div>`;
}
