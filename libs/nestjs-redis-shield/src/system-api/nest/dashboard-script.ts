// The dashboard's script, shipped as a string (see dashboard-page.ts). Plain browser
// JavaScript, no dependencies: it asks for the admin token, polls `data` every 2 s with it,
// and renders with textContent only (no HTML from data, so nothing in a route name or an
// id can inject markup). Rates are the change of the totals between two polls.

/** The script served at `dashboard/app.js`. */
export const DASHBOARD_JS = String.raw`const REFRESH_MS = 2000;
const TOKEN_KEY = 'nestjs-redis-shield.dashboard.token';
const base = document.body.dataset.base;
const systemBase = base.replace(/\/dashboard$/, '');
const $ = (id) => document.getElementById(id);
let timer;
let previous;
let lastStatus = '';

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function announce(text, kind) {
  const status = $('status');
  if (text === lastStatus) return;
  lastStatus = text;
  status.textContent = text;
  status.className = 'status ' + (kind || '');
}

function showLogin(message) {
  clearTimeout(timer);
  $('panels').hidden = true;
  $('logout').hidden = true;
  $('login').hidden = false;
  announce(message, message ? 'warn' : '');
  $('token').focus();
}

function cell(row, text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function fill(tableId, rows, render) {
  const body = $(tableId).querySelector('tbody');
  body.replaceChildren(...rows.map((item) => {
    const tr = document.createElement('tr');
    render(tr, item);
    return tr;
  }));
  $(tableId + '-empty') && ($(tableId + '-empty').hidden = rows.length > 0);
  $(tableId).hidden = rows.length === 0;
}

const number = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const fmt = (value) => (value === null || value === undefined ? '–' : number.format(value));
const percent = (ratio) => (ratio === null || ratio === undefined ? '–' : (ratio * 100).toFixed(1) + ' %');
const time = (iso) => new Date(iso).toLocaleTimeString();

function rate(key, value, data) {
  if (!previous || !previous.totals.has(key)) return null;
  const seconds = (Date.parse(data.generated_at) - previous.at) / 1000;
  if (!(seconds > 0)) return null;
  return Math.max(0, value - previous.totals.get(key)) / seconds;
}

function renderDecisions(data, totals) {
  const rows = data.decisions || [];
  fill('decisions', rows, (tr, d) => {
    const key = JSON.stringify([d.policy, d.tier]);
    totals.set(key + 'a', d.allowed);
    totals.set(key + 'r', d.rejected);
    tr.dataset.policy = d.policy;
    tr.dataset.tier = d.tier;
    cell(tr, d.policy);
    cell(tr, d.tier);
    cell(tr, fmt(rate(key + 'a', d.allowed, data)), 'num allowed-rate');
    cell(tr, fmt(rate(key + 'r', d.rejected, data)), 'num rejected-rate');
    cell(tr, fmt(d.allowed), 'num allowed');
    cell(tr, fmt(d.rejected), 'num rejected');
  });
  if (data.decisions === null) $('decisions-empty').textContent = 'Decision counts need Redis: unavailable now.';
  else $('decisions-empty').textContent = 'No rate-limited request has been decided yet.';
}

function renderCache(data) {
  const cache = data.cache;
  $('hit-ratio').textContent = cache ? percent(cache.hit_ratio) : '–';
  for (const dd of $('layers').querySelectorAll('dd')) {
    dd.textContent = cache ? fmt(cache.layers[dd.dataset.layer]) : '–';
  }
  const routes = cache ? cache.routes : [];
  fill('routes', routes, (tr, r) => {
    const hits = r.hit + r.stale;
    tr.dataset.route = r.route;
    cell(tr, r.route, 'id');
    cell(tr, fmt(r.hit), 'num');
    cell(tr, fmt(r.stale), 'num');
    cell(tr, fmt(r.miss), 'num');
    cell(tr, fmt(r.bypass), 'num');
    cell(tr, hits + r.miss === 0 ? '–' : percent(hits / (hits + r.miss)), 'num');
  });
  $('routes-empty').textContent = cache ? 'No cacheable request yet.' : 'Cache counts need Redis: unavailable now.';
}

async function reset(client, button) {
  button.disabled = true;
  try {
    const response = await fetch(systemBase + '/rate-limit/clients/hmac:' + encodeURIComponent(client.hash), {
      method: 'DELETE',
      headers: { Authorization: 'Bearer ' + token() },
    });
    if (!response.ok) throw new Error('the server answered ' + response.status);
    $('notice').textContent = 'Client ' + client.client + ' reset at ' + new Date().toLocaleTimeString() + ': its limits start again.';
    refresh();
  } catch (error) {
    $('notice').textContent = 'Could not reset ' + client.client + ': ' + error.message + '.';
    button.disabled = false;
  }
}

function renderClients(data) {
  const rows = data.top_rejected || [];
  fill('clients', rows, (tr, c) => {
    tr.dataset.client = c.client;
    cell(tr, c.client, 'id');
    cell(tr, fmt(c.rejected), 'num');
    cell(tr, time(c.last_at));
    const td = cell(tr, '');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'secondary reset';
    button.textContent = 'Reset';
    button.setAttribute('aria-label', 'Reset limits of client ' + c.client);
    button.addEventListener('click', () => reset(c, button));
    td.appendChild(button);
  });
  $('clients-note').textContent = 'Last ' + Math.round(data.top_rejected_window_seconds / 60) +
    ' minutes. Clients are shown by their HMAC only, never by address or user id.';
  $('clients-empty').textContent = data.top_rejected === null
    ? 'Rejected clients need Redis: unavailable now.'
    : 'No client was rejected in the last ' + Math.round(data.top_rejected_window_seconds / 60) + ' minutes.';
}

function renderRedis(data) {
  fill('connections', data.connections, (tr, c) => {
    cell(tr, c.name, 'id');
    cell(tr, c.state === 'ready' ? 'reachable' : 'unreachable since ' + (c.down_since ? time(c.down_since) : 'now'),
      c.state === 'ready' ? 'up' : 'down');
    cell(tr, c.breaker === 'open' ? 'open (Redis skipped)' : 'closed', c.breaker === 'open' ? 'down' : '');
    cell(tr, c.latency_ms === null ? 'no answer' : fmt(c.latency_ms) + ' ms', 'num');
  });
  const fallback = $('fallback');
  const modes = data.limiters.map((l) => l.fail_mode + ' mode').join(', ');
  fallback.textContent = data.fallback_active
    ? 'Fallback active: requests are limited per instance, in memory (' + modes + ').'
    : 'Fallback inactive: limits are counted in Redis' + (modes ? ' (' + modes + ').' : '.');
  fallback.className = 'fallback' + (data.fallback_active ? ' on' : '');
  const list = $('instances');
  list.replaceChildren(...data.instances.map((i) => {
    const li = document.createElement('li');
    li.className = 'id';
    li.textContent = i.id + (i.current ? ' (answered this refresh)' : '') + ', seen ' + time(i.last_seen);
    return li;
  }));
}

function render(data) {
  const totals = new Map();
  renderDecisions(data, totals);
  renderCache(data);
  renderClients(data);
  renderRedis(data);
  previous = { at: Date.parse(data.generated_at), totals };
  $('updated').textContent = 'Updated ' + time(data.generated_at) + ', every ' + REFRESH_MS / 1000 + ' s';
  if (data.redis_unreachable_since) {
    announce('Redis unreachable since ' + time(data.redis_unreachable_since) +
      '. Showing what this instance knows; counts resume when Redis answers.', 'bad');
  } else if (data.degraded) {
    announce('Some data could not be read from Redis; showing what could be.', 'warn');
  } else if (data.fallback_active) {
    announce('Redis answers, but a rate limiter is still on its in-memory fallback.', 'warn');
  } else {
    announce('All good: Redis reachable, ' + data.instances.length + ' instance' +
      (data.instances.length === 1 ? '' : 's') + ' seen.', 'ok');
  }
}

async function refresh() {
  clearTimeout(timer);
  try {
    const response = await fetch(base + '/data', {
      headers: { Authorization: 'Bearer ' + token(), Accept: 'application/json' },
      cache: 'no-store',
    });
    if (response.status === 401) return showLogin('That token was not accepted (401): sign in again.');
    if (response.status === 403) {
      const body = await response.json().catch(() => ({}));
      return showLogin('Access refused (403): ' + (body.error || 'not an admin') + '.');
    }
    if (response.status === 429) {
      announce('Too many requests: the dashboard waits for its rate limit (' + (response.headers.get('retry-after') || '?') + ' s).', 'warn');
    } else if (!response.ok) {
      announce('The server answered ' + response.status + '; retrying.', 'bad');
    } else {
      $('login').hidden = true;
      $('panels').hidden = false;
      $('logout').hidden = false;
      render(await response.json());
    }
  } catch {
    announce('Cannot reach the server; retrying every ' + REFRESH_MS / 1000 + ' s.', 'bad');
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

$('login').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
  $('token').value = '';
  announce('Loading…', '');
  refresh();
});

$('logout').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  previous = undefined;
  showLogin('Token forgotten.');
});

if (token()) refresh();
else showLogin('');
`;
