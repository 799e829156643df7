// Shared pieces of the pages: polling, messages to the user, form fields, tabs.

import { html, useEffect, useState, useRef, useCallback } from './vendor/preact-htm.js';

/// The console's refresh interval: RabbitMQ samples rates every 5 s.
export const POLL_MS = 5000;

/// Calls `load` now, every POLL_MS and whenever `deps` change; returns
/// [data, error, reload]. A failed poll keeps the last data and shows the error.
export function usePoll(load, deps) {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const generation = useRef(0);
  const run = useCallback(async () => {
    const mine = ++generation.current;
    try {
      const value = await load();
      if (mine === generation.current) { setData(value); setError(null); }
    } catch (e) {
      if (mine === generation.current) setError(e.message);
    }
  }, deps);
  useEffect(() => {
    run();
    const timer = setInterval(() => { if (!document.hidden) run(); }, POLL_MS);
    return () => { clearInterval(timer); generation.current++; };
  }, [run]);
  return [data, error, run];
}

/// A one-line outcome of an action: kind 'ok' or 'error'.
export function Notice({ notice }) {
  if (!notice) return null;
  return html`<p class=${`notice ${notice.kind}`} role=${notice.kind === 'error' ? 'alert' : 'status'}>${notice.text}</p>`;
}

/// Runs an action, reporting success or the API's reason through `setNotice`.
export async function act(setNotice, action, success) {
  try {
    const result = await action();
    if (success) setNotice({ kind: 'ok', text: typeof success === 'function' ? success(result) : success });
    return result;
  } catch (e) {
    setNotice({ kind: 'error', text: e.message });
    return undefined;
  }
}

export function Field({ label, children, hint, className = '' }) {
  return html`<label class=${`field ${className}`}><span class="field-label">${label}</span>${children}${hint ? html`<small>${hint}</small>` : null}</label>`;
}

/// Form state: [values, bind] where bind(name) gives an input's value/onInput.
export function useForm(initial) {
  const [values, setValues] = useState(initial);
  const bind = (name, kind) => kind === 'checkbox'
    ? { checked: values[name], onChange: (e) => setValues({ ...values, [name]: e.target.checked }) }
    : { value: values[name], onInput: (e) => setValues({ ...values, [name]: e.target.value }) };
  return [values, bind, setValues];
}

/// Parses a JSON object typed into a text area ('' is {}).
export function parseObject(text, what) {
  if (!text || !text.trim()) return {};
  let value;
  try { value = JSON.parse(text); } catch (e) { throw new Error(`${what} is not valid JSON: ${e.message}`); }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${what} must be a JSON object`);
  return value;
}

export function Tabs({ tabs, current }) {
  return html`<nav class="tabs">${tabs.map((t) => html`<a href=${t.href} class=${t.id === current ? 'active' : ''}>${t.label}</a>`)}</nav>`;
}

export function Tile({ label, value, hint }) {
  return html`<div class="tile"><span class="tile-value">${value}</span><span class="tile-label">${label}</span>${hint ? html`<small>${hint}</small>` : null}</div>`;
}

/// Key/value rows of an object's details.
export function Details({ rows }) {
  return html`<dl class="details">${rows.map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}</dl>`;
}

export function Panel({ title, children, actions }) {
  return html`<section class="panel"><header><h3>${title}</h3>${actions || null}</header>${children}</section>`;
}

/// Names as links: vhost and name of queues and exchanges.
export function href(kind, vhost, name) {
  return `#/${kind}/${encodeURIComponent(vhost)}/${encodeURIComponent(name)}`;
}
