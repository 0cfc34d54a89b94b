// The dashboard's page and stylesheet, shipped as strings so `tsc -b` builds them into
// dist with the rest (no asset copying, no build step for users). The script is in
// dashboard-script.ts. Nothing here is data: the page fetches `dashboard/data` with the
// admin's token, so these assets are served without authorization.

/**
 * The Content-Security-Policy of the page and its assets: only this origin's script,
 * stylesheet and fetches; no inline script or style, no frames, no forms posted anywhere.
 */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Escapes text for an HTML attribute value. */
function escapeAttribute(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/**
 * The page, its assets named under `base` (the page's own path, e.g.
 * `/api/v1/system/dashboard`), which the script also reads to find `data` and the reset endpoint.
 */
export function dashboardHtml(base: string): string {
  const at = escapeAttribute(base);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Redis Shield dashboard</title>
<link rel="stylesheet" href="${at}/app.css">
<script type="module" src="${at}/app.js"></script>
</head>
<body data-base="${at}">
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <h1>Redis Shield</h1>
  <p class="updated" id="updated">Not loaded yet</p>
  <button type="button" id="logout" hidden>Forget token</button>
</header>
<main id="main">
  <div id="status" class="status" role="status" aria-live="polite" aria-atomic="true">Loading…</div>

  <form id="login" class="card" hidden>
    <h2>Sign in</h2>
    <p>The data of this page is for administrators. Paste an admin token: it is kept in this tab only (session storage) and sent as <code>Authorization: Bearer</code>.</p>
    <label for="token">Admin token</label>
    <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required>
    <button type="submit">Show dashboard</button>
  </form>

  <div id="panels" hidden>
    <section class="card wide" aria-labelledby="h-decisions">
      <h2 id="h-decisions">Rate limiting</h2>
      <p class="note">Requests per second since the last refresh, and totals over every instance.</p>
      <div class="scroll" tabindex="0" role="region" aria-labelledby="h-decisions">
        <table id="decisions">
          <thead><tr><th scope="col">Policy</th><th scope="col">Tier</th><th scope="col" class="num">Allowed/s</th><th scope="col" class="num">Rejected/s</th><th scope="col" class="num">Allowed</th><th scope="col" class="num">Rejected</th></tr></thead>
          <tbody></tbody>
        </table>
      </div>
      <p class="empty" id="decisions-empty" hidden>No rate-limited request has been decided yet.</p>
    </section>

    <section class="card" aria-labelledby="h-cache">
      <h2 id="h-cache">Response cache</h2>
      <p class="big"><span id="hit-ratio">–</span> <span class="unit">hit ratio</span></p>
      <dl class="layers" id="layers">
        <div><dt>L1 (memory)</dt><dd data-layer="l1">0</dd></div>
        <div><dt>Redis</dt><dd data-layer="redis">0</dd></div>
        <div><dt>Stale</dt><dd data-layer="stale">0</dd></div>
        <div><dt>Misses</dt><dd data-layer="miss">0</dd></div>
      </dl>
      <h3 id="h-routes">By route</h3>
      <div class="scroll" tabindex="0" role="region" aria-labelledby="h-routes">
        <table id="routes">
          <thead><tr><th scope="col">Route</th><th scope="col" class="num">Hits</th><th scope="col" class="num">Stale</th><th scope="col" class="num">Misses</th><th scope="col" class="num">Bypassed</th><th scope="col" class="num">Hit ratio</th></tr></thead>
          <tbody></tbody>
        </table>
      </div>
      <p class="empty" id="routes-empty" hidden>No cacheable request yet.</p>
    </section>

    <section class="card" aria-labelledby="h-clients">
      <h2 id="h-clients">Top rejected clients</h2>
      <p class="note" id="clients-note">Clients are shown by their HMAC only, never by address or user id.</p>
      <div class="scroll" tabindex="0" role="region" aria-labelledby="h-clients">
        <table id="clients">
          <thead><tr><th scope="col">Client</th><th scope="col" class="num">Rejected</th><th scope="col">Last</th><th scope="col"><span class="sr">Action</span></th></tr></thead>
          <tbody></tbody>
        </table>
      </div>
      <p class="empty" id="clients-empty" hidden>No client was rejected recently.</p>
      <p class="notice" id="notice" role="status" aria-live="polite"></p>
    </section>

    <section class="card" aria-labelledby="h-redis">
      <h2 id="h-redis">Redis</h2>
      <p id="fallback" class="fallback">Fallback: –</p>
      <div class="scroll" tabindex="0" role="region" aria-labelledby="h-redis">
        <table id="connections">
          <thead><tr><th scope="col">Connection</th><th scope="col">State</th><th scope="col">Breaker</th><th scope="col" class="num">Latency</th></tr></thead>
          <tbody></tbody>
        </table>
      </div>
    </section>

    <section class="card" aria-labelledby="h-instances">
      <h2 id="h-instances">Instances</h2>
      <ul id="instances" class="instances"></ul>
    </section>
  </div>
</main>
</body>
</html>
`;
}

/** The page's stylesheet: readable from a 375 px phone to a laptop, visible keyboard focus. */
export const DASHBOARD_CSS = `:root {
  color-scheme: light dark;
  --bg: #f6f7f9; --fg: #1b1f24; --muted: #57606a; --card: #fff; --line: #d0d7de;
  --ok: #116329; --bad: #a40e26; --warn: #7d4e00; --accent: #0550ae;
  font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
@media (prefers-color-scheme: dark) {
  :root { --bg: #0d1117; --fg: #e6edf3; --muted: #9ba7b4; --card: #161b22; --line: #30363d;
    --ok: #3fb950; --bad: #ff7b72; --warn: #d29922; --accent: #79c0ff; }
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; background: var(--bg); color: var(--fg); }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 8px; top: 8px; background: var(--card); padding: 8px; z-index: 1; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.top { display: flex; flex-wrap: wrap; align-items: baseline; gap: 8px 16px; padding: 12px 16px; border-bottom: 1px solid var(--line); background: var(--card); }
.top h1 { font-size: 1.25rem; margin: 0; }
.updated { margin: 0; color: var(--muted); font-size: .875rem; flex: 1; }
main { padding: 16px; display: grid; grid-template-columns: minmax(0, 1fr); gap: 16px; max-width: 1200px; margin: 0 auto; }
main > *, #panels > * { min-width: 0; }
#panels { display: grid; gap: 16px; grid-template-columns: repeat(auto-fit, minmax(min(100%, 460px), 1fr)); }
.wide { grid-column: 1 / -1; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; min-width: 0; }
.card h2 { font-size: 1.1rem; margin: 0 0 8px; }
.card h3 { font-size: 1rem; margin: 12px 0 4px; }
.note, .empty { color: var(--muted); font-size: .875rem; margin: 4px 0; }
.status { padding: 10px 14px; border-radius: 8px; border: 1px solid var(--line); background: var(--card); }
.status.ok { border-color: var(--ok); }
.status.bad { border-color: var(--bad); color: var(--bad); font-weight: 600; }
.status.warn { border-color: var(--warn); color: var(--warn); }
.scroll { overflow-x: auto; position: relative; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
td.num, th.num { text-align: right; }
td.down { white-space: normal; }
.notice { margin: 8px 0 0; }
.notice:empty { display: none; }
code, .id { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .875rem; }
.big { font-size: 2rem; margin: 4px 0; font-weight: 600; }
.big .unit { font-size: 1rem; color: var(--muted); font-weight: 400; }
.layers { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 8px; margin: 8px 0; }
.layers div { border: 1px solid var(--line); border-radius: 6px; padding: 6px 8px; }
.layers dt { font-size: .8rem; color: var(--muted); }
.layers dd { margin: 0; font-size: 1.2rem; font-weight: 600; font-variant-numeric: tabular-nums; }
.instances { margin: 0; padding-left: 20px; }
.down { color: var(--bad); font-weight: 600; }
.up { color: var(--ok); }
.fallback.on { color: var(--warn); font-weight: 600; }
button { font: inherit; padding: 6px 12px; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: var(--card); cursor: pointer; min-height: 36px; }
button.secondary, #logout { background: transparent; color: var(--accent); }
button:disabled { opacity: .6; cursor: progress; }
input { font: inherit; padding: 6px 8px; border: 1px solid var(--line); border-radius: 6px; width: 100%; max-width: 420px; display: block; margin: 4px 0 12px; background: var(--bg); color: var(--fg); }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
@media (max-width: 520px) {
  main { padding: 8px; }
  .layers { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  th, td { padding: 4px 6px; font-size: .875rem; }
  /* The reset button stays in view: a client's HMAC wraps, and the time of its last rejection goes. */
  #clients td.id { white-space: normal; word-break: break-all; min-width: 8em; }
  #clients th:nth-child(3), #clients td:nth-child(3) { display: none; }
}
`;
