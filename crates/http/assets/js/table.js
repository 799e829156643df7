// A listing table paged, sorted and filtered by the server (RabbitMQ's `page`,
// `page_size`, `name`, `use_regex`, `sort`, `sort_reverse`), so that a list of
// 100,000 queues costs one page per refresh, in the browser and in the broker.

import { html, useState, useEffect } from './vendor/preact-htm.js';
import { get, pageQuery } from './api.js';
import { usePoll } from './ui.js';
import { count } from './format.js';

const SIZES = [20, 50, 100, 500];

/// columns: [{label, sort (API field) or none, cell(item), className}]
/// path: the listing's API path; id: what tests and the store call the table.
export function PagedTable({ id, path, columns, rowKey, empty = 'Nothing here yet.', defaultSort = '' }) {
  const [state, setState] = useState({ page: 1, pageSize: 20, filter: '', regex: false, sort: defaultSort, reverse: false });
  const [typed, setTyped] = useState('');
  // The filter applies once typing pauses: one request, not one per key.
  useEffect(() => {
    const timer = setTimeout(() => setState((s) => (s.filter === typed ? s : { ...s, filter: typed, page: 1 })), 250);
    return () => clearTimeout(timer);
  }, [typed]);
  const [data, error] = usePoll(async () => {
    try {
      return await get(`${path}?${pageQuery(state)}`);
    } catch (e) {
      // The list shrank under the page shown (queues deleted): back to the first page.
      if (e.status === 400 && state.page > 1 && /Page out of range/.test(e.message)) {
        setState((s) => ({ ...s, page: 1 }));
        return null;
      }
      throw e;
    }
  }, [path, JSON.stringify(state)]);
  const set = (change) => setState((s) => ({ ...s, ...change }));
  // A new order starts from its first page.
  const sortBy = (field) => set(state.sort === field ? { reverse: !state.reverse, page: 1 } : { sort: field, reverse: false, page: 1 });
  const items = data ? data.items : [];
  const pages = data ? Math.max(1, data.page_count) : 1;
  const first = data && data.filtered_count ? (data.page - 1) * data.page_size + 1 : 0;
  const last = data ? first + items.length - (items.length ? 1 : 0) : 0;
  return html`<div class="listing" data-table=${id}>
    <div class="listing-bar">
      <input type="search" class="filter" placeholder="Filter by name" aria-label="Filter by name"
        value=${typed} onInput=${(e) => setTyped(e.target.value)} />
      <label class="check"><input type="checkbox" checked=${state.regex}
        onChange=${(e) => set({ regex: e.target.checked, page: 1 })} /> Regex</label>
      <span class="count">${data
        ? html`${count(first)}–${count(last)} of <b>${count(data.filtered_count)}</b>${data.filtered_count !== data.total_count ? html` (filtered from ${count(data.total_count)})` : null}`
        : 'Loading…'}</span>
      <span class="pager">
        <button type="button" disabled=${state.page <= 1} onClick=${() => set({ page: state.page - 1 })} aria-label="Previous page">‹</button>
        <span>Page <input type="number" min="1" max=${pages} value=${state.page} aria-label="Page"
          onChange=${(e) => set({ page: Math.min(pages, Math.max(1, parseInt(e.target.value, 10) || 1)) })} /> of ${count(pages)}</span>
        <button type="button" disabled=${state.page >= pages} onClick=${() => set({ page: state.page + 1 })} aria-label="Next page">›</button>
        <select aria-label="Page size" value=${state.pageSize} onChange=${(e) => set({ pageSize: +e.target.value, page: 1 })}>
          ${SIZES.map((n) => html`<option value=${n}>${n} per page</option>`)}
        </select>
      </span>
    </div>
    ${error ? html`<p class="notice error" role="alert">${error}</p>` : null}
    <table class="grid">
      <thead><tr>${columns.map((c) => html`<th class=${c.className || ''}>
        ${c.sort
          ? html`<button type="button" class=${`sort ${state.sort === c.sort ? (state.reverse ? 'desc' : 'asc') : ''}`} onClick=${() => sortBy(c.sort)}>${c.label}</button>`
          : c.label}
      </th>`)}</tr></thead>
      <tbody>
        ${items.map((item) => html`<tr key=${rowKey(item)} data-row=${rowKey(item)}>
          ${columns.map((c) => html`<td class=${c.className || ''}>${c.cell(item)}</td>`)}
        </tr>`)}
        ${data && !items.length ? html`<tr><td class="empty" colspan=${columns.length}>${state.filter ? 'No match.' : empty}</td></tr>` : null}
      </tbody>
    </table>
  </div>`;
}
