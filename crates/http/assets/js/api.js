// The management API client: basic auth from sessionStorage (as RabbitMQ's UI),
// JSON in and out, RabbitMQ-shaped errors as exceptions with the reason.

const KEY = 'warren.credentials';

export class ApiError extends Error {
  constructor(status, reason) {
    super(reason);
    this.status = status;
  }
}

export function credentials() {
  const saved = sessionStorage.getItem(KEY);
  return saved ? JSON.parse(saved) : null;
}

function header(user, password) {
  // btoa needs Latin-1: encode UTF-8 names and passwords byte by byte.
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  return 'Basic ' + btoa(String.fromCharCode(...bytes));
}

async function send(method, path, body, auth) {
  const headers = { authorization: auth };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch('/api' + path, {
    method,
    headers,
    // No browser-held credentials: with them, a 401's Basic challenge would make
    // the browser prompt for a password instead of handing the reply to us.
    credentials: 'omit',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  if (!response.ok) {
    const reason = (json && (json.reason || json.error)) || `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, reason);
  }
  return json;
}

/// Logs in: the user must be able to read /api/whoami (a management user).
export async function login(user, password) {
  const auth = header(user, password);
  const me = await send('GET', '/whoami', undefined, auth);
  sessionStorage.setItem(KEY, JSON.stringify({ user: me.name, tags: me.tags, auth }));
  return me;
}

export function logout() {
  sessionStorage.removeItem(KEY);
}

export function api(method, path, body) {
  const saved = credentials();
  return send(method, path, body, saved ? saved.auth : '');
}

export const get = (path) => api('GET', path);

/// Path segment: vhost `/` is `%2F`, names may hold anything.
export const seg = (s) => encodeURIComponent(s);

/// A paged listing's query string from the table's state.
export function pageQuery({ page, pageSize, filter, regex, sort, reverse }) {
  const q = new URLSearchParams({ page: String(page), page_size: String(pageSize) });
  if (filter) q.set('name', filter);
  if (filter && regex) q.set('use_regex', 'true');
  if (sort) q.set('sort', sort);
  if (sort && reverse) q.set('sort_reverse', 'true');
  return q.toString();
}
