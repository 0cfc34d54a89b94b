import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { type RedisServer, startRedis } from './harness/index.js';
import { type BuiltDemo, startBuiltDemo } from './support/built-demo.js';
import { REPO_ROOT, requireBuild } from './support/paths.js';

// The operator dashboard in a real browser: Debian's chromium driven by playwright-core
// against the built demo (`node dist/main.js`) and a redis-server of its own. It logs in
// with a token from the demo's mint-token tool, watches the numbers follow the traffic it
// sends, unblocks a client with the page's reset button, and sees the outage in words once
// Redis is gone. Screenshots go to test-artifacts/ (gitignored); docs/dashboard.png is one of them.

/** Where Debian's package puts the browser; CHROMIUM_PATH overrides it. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');
const JWT_SECRET = 'dashboard-e2e-jwt-secret-0123456789abcdef';
const ENV = {
  JWT_SECRET,
  IP_HASH_SECRET: 'dashboard-e2e-ip-hash-secret-0123456789ab',
  // Room for the page's polling (the admin is limited like anyone); the completions policy
  // (10 units per minute, a request of 9000 max_tokens costs 10) is what blocks a client.
  RATE_LIMIT_PER_MINUTE: '1000',
  RATE_LIMIT_PER_HOUR: '100000',
  RATE_LIMIT_BURST: '1000',
};

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && (process.env.CI || process.env.REQUIRE_CHROMIUM)) {
  // CI installs chromium (.ci/run sets REQUIRE_CHROMIUM): a missing browser there is a broken machine, not a skip.
  throw new Error(`dashboard browser test: no chromium at ${CHROMIUM} in CI (apt-get install -y chromium)`);
}
if (!haveChromium) {
  process.stderr.write(
    `dashboard.e2e-spec: skipped, no chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)\n`,
  );
}

/** An admin token from the demo's own tool, signed with the demo's secret. */
async function mintAdminToken(): Promise<string> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [join(REPO_ROOT, 'dist', 'mint-token.js'), '--sub', 'operator', '--role', 'admin', '--expires', '1h'],
    { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', JWT_SECRET } },
  );
  return stdout.trim();
}

/** The integer a table cell shows (`1,234` → 1234). */
async function numberIn(cell: Locator): Promise<number> {
  return Number((await cell.textContent())!.replace(/[^\d.]/g, ''));
}

(haveChromium ? describe : describe.skip)('operator dashboard in headless Chromium', () => {
  let redis: RedisServer;
  let demo: BuiltDemo;
  let browser: Browser;
  let page: Page;
  let api: string;
  const requested: string[] = [];
  const consoleProblems: string[] = [];

  const send = (path: string, init?: RequestInit) => fetch(`${api}${path}`, init);
  const complete = (maxTokens: number) =>
    send('/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'hello', max_tokens: maxTokens }),
    });
  const status = () => page.getByRole('status');
  const shoot = (name: string) => page.screenshot({ path: join(ARTIFACTS, name), fullPage: true });

  beforeAll(async () => {
    requireBuild();
    mkdirSync(ARTIFACTS, { recursive: true });
    redis = await startRedis();
    demo = await startBuiltDemo(15_000, { ...ENV, REDIS_URL: redis.url });
    api = `${demo.url}/api/v1`;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('request', (request) => requested.push(request.url()));
    page.on('console', (message) => {
      if (message.type() === 'error') consoleProblems.push(message.text());
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await demo?.stop();
    await redis?.stop();
  });

  it('serves the page with a strict CSP and asks for the admin token before showing data', async () => {
    const response = await page.goto(`${api}/system/dashboard`);
    expect(response?.status()).toBe(200);
    const csp = response?.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    await expect(page.getByLabel('Admin token').isVisible()).resolves.toBe(true);
    // The data itself is admin only.
    expect((await send('/system/dashboard/data')).status).toBe(401);
  });

  it('shows decisions and cache hits that follow the traffic', async () => {
    await page.getByLabel('Admin token').fill(await mintAdminToken());
    await page.getByRole('button', { name: 'Show dashboard' }).click();
    await page.getByText(/All good: Redis reachable/).waitFor({ timeout: 10_000 });

    // The cache row of /models counts exactly the lookups sent (the page's own polling is
    // not cached), and the rate column shows them per second between two refreshes.
    const modelsCells = page.locator('#routes tr[data-route="/api/v1/models"] td');
    const lookups = async () =>
      (await modelsCells.count()) === 0
        ? 0
        : (await numberIn(modelsCells.nth(1))) +
          (await numberIn(modelsCells.nth(2))) +
          (await numberIn(modelsCells.nth(3)));
    expect(await lookups()).toBe(0);
    await expect(page.getByText('No cacheable request yet.').isVisible()).resolves.toBe(true);
    for (let i = 0; i < 6; i += 1) expect((await send('/models')).status).toBe(200);
    await waitUntil(async () => (await lookups()) === 6, 'the /models row to count the 6 lookups');
    const allowed = page.locator('#decisions tr[data-policy="default"][data-tier="minute"]');
    await waitUntil(
      async () =>
        (await numberIn(allowed.locator('td.allowed'))) >= 6 &&
        /\d/.test((await allowed.locator('td.allowed-rate').textContent()) ?? ''),
      'allowed decisions and their rate per second',
    );
    await waitUntil(
      async () => /%/.test((await page.locator('#hit-ratio').textContent()) ?? ''),
      'a hit ratio in percent',
    );
    await expect(page.locator('#instances li').count()).resolves.toBe(1);
    await expect(page.locator('#connections tbody tr').first().textContent()).resolves.toMatch(/reachable/);
    await shoot('dashboard-laptop.png');
  });

  it('lists a blocked client by its HMAC, and its reset button unblocks it', async () => {
    expect((await complete(9000)).status).toBe(200);
    expect((await complete(9000)).status).toBe(429);
    const row = page.locator('#clients tr[data-client^="ip:"]');
    await row.first().waitFor({ timeout: 10_000 });
    const client = (await row.first().getAttribute('data-client'))!;
    expect(client).toMatch(/^ip:[A-Za-z0-9_-]{22}$/);
    const completions = page.locator('#decisions tr[data-policy="completions"][data-tier="minute"]');
    await waitUntil(async () => (await numberIn(completions.locator('td.rejected'))) === 1, 'one rejection counted');
    expect(await numberIn(completions.locator('td.allowed'))).toBe(1);
    // Never a raw address on the page.
    expect(await page.locator('body').textContent()).not.toMatch(/127\.0\.0\.1|::1/);
    await shoot('dashboard-rejected.png');

    const reset = page.getByRole('button', { name: `Reset limits of client ${client}` });
    await reset.focus();
    await page.keyboard.press('Enter');
    await page.getByText(`Client ${client} reset`).waitFor({ timeout: 10_000 });
    expect((await complete(9000)).status).toBe(200);
  });

  it('reads on a 375 px phone screen without horizontal scrolling of the page', async () => {
    await page.setViewportSize({ width: 375, height: 800 });
    await page.waitForTimeout(300);
    // A string, evaluated in the page: this project's types have no DOM.
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
    expect(overflow).toBeLessThanOrEqual(0);
    await shoot('dashboard-phone.png');
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('says in words that Redis is unreachable once it is gone', async () => {
    await redis.kill();
    await status()
      .filter({ hasText: /Redis unreachable since \d/ })
      .waitFor({ timeout: 15_000 });
    await page.locator('#decisions-empty', { hasText: 'need Redis' }).waitFor();
    await page.locator('#connections', { hasText: 'unreachable since' }).waitFor({ timeout: 10_000 });
    await page.getByText(/Fallback active/).waitFor({ timeout: 10_000 });
    await shoot('dashboard-outage.png');
  });

  it('made no request outside the demo and hit no CSP violation', () => {
    const origin = new URL(demo.url).origin;
    expect(requested.filter((url) => new URL(url).origin !== origin)).toEqual([]);
    expect(consoleProblems.filter((text) => /Content.Security.Policy/i.test(text))).toEqual([]);
  });
});

/** Polls an async condition until it holds (every 200 ms), failing with `what` after `timeoutMs`. */
async function waitUntil(condition: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
