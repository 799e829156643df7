// Number, byte, rate and time formatting for tables and tiles.

export function count(n) {
  if (n === undefined || n === null) return '–';
  return Number(n).toLocaleString('en-US');
}

export function rate(details) {
  const r = details && typeof details.rate === 'number' ? details.rate : 0;
  return r >= 100 ? `${Math.round(r).toLocaleString('en-US')}/s` : `${r.toFixed(1)}/s`;
}

export function bytes(n) {
  if (n === undefined || n === null) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

export function duration(ms) {
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

/// Queue/exchange feature letters as RabbitMQ's lists show them (D, AD, Excl…).
export function features(item) {
  const out = [];
  if (item.durable) out.push('D');
  if (item.auto_delete) out.push('AD');
  if (item.exclusive) out.push('Excl');
  if (item.internal) out.push('I');
  const args = item.arguments || {};
  if (args['x-message-ttl'] !== undefined) out.push('TTL');
  if (args['x-max-length'] !== undefined) out.push('Lim');
  if (args['x-dead-letter-exchange'] !== undefined) out.push('DLX');
  if (args['x-max-priority'] !== undefined) out.push('Pri');
  return out;
}

export function json(value) {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value) && value.length === 0) return '';
  if (typeof value === 'object' && Object.keys(value).length === 0) return '';
  return JSON.stringify(value);
}
