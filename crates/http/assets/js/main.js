// The console's shell: login, the top bar (sections, vhost choice, user) and a
// hash router (`#/queues/%2F/orders`), so every page has a link and the server
// serves one page.

import { html, render, useState, useEffect } from './vendor/preact-htm.js';
import { login, logout, credentials, get } from './api.js';
import { Overview } from './pages/overview.js';
import { Queues } from './pages/queues.js';
import { QueuePage } from './pages/queue.js';
import { Exchanges } from './pages/exchanges.js';
import { ExchangePage } from './pages/exchange.js';
import { Connections, Channels } from './pages/connections.js';
import { Admin } from './pages/admin.js';

const SECTIONS = [
  { id: 'overview', label: 'Overview', href: '#/' },
  { id: 'connections', label: 'Connections', href: '#/connections' },
  { id: 'channels', label: 'Channels', href: '#/channels' },
  { id: 'exchanges', label: 'Exchanges', href: '#/exchanges' },
  { id: 'queues', label: 'Queues', href: '#/queues' },
  { id: 'admin', label: 'Admin', href: '#/admin' },
];

function route() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter((p) => p !== '').map(decodeURIComponent);
  return { section: parts[0] || 'overview', args: parts.slice(1) };
}

function Login({ onLogin }) {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onLogin(await login(user, password));
    } catch (err) {
      setError(err.status === 401 ? `Login failed: ${err.message}` : err.message);
    } finally {
      setBusy(false);
    }
  };
  return html`<main class="login">
    <form class="login-card" onSubmit=${submit}>
      <div class="brand big"><span class="logo"></span>Warren</div>
      <p class="muted">Sign in with a broker user that has a management tag.</p>
      <label class="field"><span class="field-label">Username</span>
        <input name="username" autocomplete="username" value=${user} onInput=${(e) => setUser(e.target.value)} required autofocus /></label>
      <label class="field"><span class="field-label">Password</span>
        <input name="password" type="password" autocomplete="current-password" value=${password} onInput=${(e) => setPassword(e.target.value)} /></label>
      ${error ? html`<p class="notice error" role="alert">${error}</p>` : null}
      <button type="submit" class="primary" disabled=${busy}>${busy ? 'Signing in…' : 'Sign in'}</button>
    </form>
  </main>`;
}

function Page({ where, me }) {
  const { section, args } = where;
  if (section === 'overview') return html`<${Overview} me=${me} />`;
  if (section === 'queues' && args.length >= 2) return html`<${QueuePage} vhost=${args[0]} name=${args.slice(1).join('/')} />`;
  if (section === 'queues') return html`<${Queues} />`;
  if (section === 'exchanges' && args.length >= 2) return html`<${ExchangePage} vhost=${args[0]} name=${args.slice(1).join('/')} />`;
  if (section === 'exchanges') return html`<${Exchanges} />`;
  if (section === 'connections') return html`<${Connections} />`;
  if (section === 'channels') return html`<${Channels} />`;
  if (section === 'admin') return html`<${Admin} tab=${args[0] || 'users'} me=${me} />`;
  return html`<p class="notice error">No such page: ${location.hash}</p>`;
}

function App() {
  const [me, setMe] = useState(credentials());
  const [where, setWhere] = useState(route());
  const [product, setProduct] = useState(null);
  useEffect(() => {
    const onHash = () => setWhere(route());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  useEffect(() => {
    if (!me) return;
    get('/overview').then((o) => setProduct(o), () => {});
    // Credentials of a session whose user was deleted or changed: back to the login.
    get('/whoami').catch((e) => { if (e.status === 401) { logout(); setMe(null); } });
  }, [me]);
  if (!me) return html`<${Login} onLogin=${(m) => setMe(credentials() || m)} />`;
  const signOut = () => { logout(); setMe(null); location.hash = '#/'; };
  return html`<div class="shell">
    <header class="topbar">
      <a class="brand" href="#/"><span class="logo"></span>Warren</a>
      <nav class="sections">
        ${SECTIONS.map((s) => html`<a href=${s.href} class=${where.section === s.id ? 'active' : ''}>${s.label}</a>`)}
      </nav>
      <div class="who">
        ${product ? html`<span class="muted">${product.product_name} ${product.product_version} · ${product.node}</span>` : null}
        <span class="user" title=${(me.tags || []).join(', ')}>${me.user}</span>
        <button type="button" class="link" onClick=${signOut}>Sign out</button>
      </div>
    </header>
    <main class="content"><${Page} where=${where} me=${me} /></main>
  </div>`;
}

render(html`<${App} />`, document.getElementById('app'));
