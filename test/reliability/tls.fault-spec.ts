import { type RateLimitDecisionEvent, RedisConnection, ShieldEvents } from 'nestjs-redis-shield';
import { redisTlsSupport, startRedisTls, type RedisTls } from '../harness/index.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { waitFor } from '../support/wait-for.js';
import { CLIENT_HEADER, EXACT_LIMIT, HttpClient, type Sample, startShieldApp } from './fixtures/shield-app.js';

// Redis over TLS against a real `redis-server --tls-port`: certificate verification on (the
// default), a wrong CA failing loudly but open, and a TLS server killed and restarted. One TLS
// server for the file. A fault tier file (not integration) because of the last two.

const ADAPTERS = ['express', 'fastify'] as const;
const DEADLINE_MS = 500;
const SLOW_MAX_MS = DEADLINE_MS + 800;
const RECOVERY_MAX_MS = 5000;
const TEST_TIMEOUT_MS = 30_000;

const support = await redisTlsSupport();
if (!support.supported) {
  process.stdout.write(`[tls.fault-spec] SKIPPED, this machine cannot run Redis over TLS: ${support.reason}\n`);
}
const describeWithTls = support.supported ? describe : describe.skip;

/** Prints one measured figure; the report quotes these lines. */
function report(figures: Record<string, unknown>): void {
  process.stdout.write(`[tls.fault-spec] ${JSON.stringify(figures)}\n`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeWithTls('Redis over TLS', () => {
  let tls: RedisTls;
  beforeAll(async () => {
    tls = await startRedisTls();
  }, TEST_TIMEOUT_MS);
  afterAll(() => tls?.stop());

  /** Starts an app on the TLS URL trusting `ca`; returns it with what the tests observe. */
  async function startApp(adapter: (typeof ADAPTERS)[number], ca: string) {
    const logger = new CaptureLogger();
    const app = await startShieldApp({
      adapter,
      logger,
      redis: { url: tls.url, tls: { ca }, commandTimeoutMs: DEADLINE_MS },
    });
    const decisions: RateLimitDecisionEvent[] = [];
    app.get(ShieldEvents).on('ratelimit.decision', (event) => decisions.push(event));
    return { app, logger, decisions, connection: app.get(RedisConnection), http: new HttpClient(await app.getUrl()) };
  }

  describe.each(ADAPTERS)('on %s', (adapter) => {
    let subject: Awaited<ReturnType<typeof startApp>>;
    beforeAll(async () => {
      subject = await startApp(adapter, tls.caPem);
    }, TEST_TIMEOUT_MS);
    afterAll(async () => {
      subject?.http.close();
      await subject?.app.close();
    });

    it(
      'verifies the certificate against the CA and rate-limits through the TLS connection, exactly',
      async () => {
        await waitFor(() => subject.connection.state === 'ready', 5000, 'the TLS connection');
        // The library's connection is the one on the TLS port (the only port that speaks TLS).
        const clients = String(await tls.server.command('CLIENT', 'LIST'));
        const own = clients.split('\n').filter((line) => line.includes(' name=nestjs-redis-shield:default '));
        expect(own.length).toBeGreaterThanOrEqual(1);
        for (const line of own) expect(line).toContain(` laddr=127.0.0.1:${tls.tlsPort} `);

        const client = `tls-${adapter}`;
        const samples: Sample[] = [];
        for (let i = 0; i <= EXACT_LIMIT; i++)
          samples.push(await subject.http.get('/exact', { [CLIENT_HEADER]: client }));
        expect(samples.map((sample) => sample.status)).toEqual([...Array(EXACT_LIMIT).fill(200), 429]);
        const decided = subject.decisions.filter((event) => event.clientId === client);
        expect(decided.map((event) => event.fallback)).toEqual(Array(EXACT_LIMIT + 1).fill(false));
        expect(await tls.server.command('EXISTS', subject.connection.keys.rateLimit(client, 'exact'))).toBe(1);
        expect(subject.logger.lines.filter((line) => line.level === 'warn' || line.level === 'error')).toEqual([]);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'with an unrelated CA: the app starts and serves (fail-open), the connection stays down, ' +
        'and exactly one warning names the certificate problem',
      async () => {
        const wrong = await startApp(adapter, tls.wrongCaPem);
        try {
          // Several failed handshakes (the reconnects go on), still one line.
          let failures = 0;
          wrong.connection.client.on('error', () => failures++);
          await waitFor(() => failures >= 3, 5000, 'three failed TLS handshakes');

          const client = `wrong-ca-${adapter}`;
          const response = await wrong.http.get('/exact', { [CLIENT_HEADER]: client });
          expect(response.status).toBe(200);
          expect(wrong.decisions.filter((event) => event.clientId === client).map((event) => event.fallback)).toEqual([
            true,
          ]);
          expect(wrong.connection.state).toBe('down');
          expect(await tls.server.command('EXISTS', wrong.connection.keys.rateLimit(client, 'exact'))).toBe(0);

          const warnings = wrong.logger.lines.filter((line) => line.level === 'warn' || line.level === 'error');
          expect(warnings).toHaveLength(1);
          expect(warnings[0]).toMatchObject({ level: 'warn', context: 'Redis:default' });
          expect(warnings[0].message).toMatch(/unable to verify the first certificate|self-signed certificate/);
          report({ adapter, wrongCaWarning: warnings[0].message, failedHandshakes: failures });
        } finally {
          wrong.http.close();
          await wrong.app.close();
        }
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'TLS Redis killed and restarted: never 5xx nor slower than the deadline + 800 ms, and ' +
        'counting resumes over TLS without a restart of the app',
      async () => {
        await waitFor(() => subject.connection.state === 'ready', 5000, 'the TLS connection');
        const during: Sample[] = [];
        await tls.server.kill();
        await waitFor(() => subject.connection.state === 'down', 2000, 'the connection to go down');
        for (let i = 0; i < 5; i++)
          during.push(await subject.http.get('/load', { [CLIENT_HEADER]: `down-${adapter}` }));

        await tls.server.restart();
        const restartedAt = performance.now();
        let recoveredMs: number | undefined;
        for (let attempt = 1; recoveredMs === undefined; attempt++) {
          const client = `back-${adapter}-${attempt}`;
          during.push(await subject.http.get('/load', { [CLIENT_HEADER]: client }));
          const [decision] = subject.decisions.filter((event) => event.clientId === client);
          if (decision && !decision.fallback) recoveredMs = performance.now() - restartedAt;
          else if (performance.now() - restartedAt > RECOVERY_MAX_MS + 2000) break;
          else await sleep(50);
        }
        report({ adapter, restartToCountedOverTlsMs: Math.round(recoveredMs ?? -1) });
        expect(during.filter((sample) => sample.status !== 200)).toEqual([]);
        expect(Math.max(...during.map((sample) => sample.ms))).toBeLessThan(SLOW_MAX_MS);
        expect(recoveredMs).toBeDefined();
        expect(recoveredMs!).toBeLessThan(RECOVERY_MAX_MS);
        const clients = String(await tls.server.command('CLIENT', 'LIST'));
        expect(clients).toContain(` laddr=127.0.0.1:${tls.tlsPort} `);
      },
      TEST_TIMEOUT_MS,
    );
  });
});
