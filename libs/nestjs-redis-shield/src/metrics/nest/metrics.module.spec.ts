import { type DynamicModule, Injectable, Module, type StreamableFile } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { collectDefaultMetrics, Counter, Registry } from 'prom-client';
import { metricValue, parseMetrics, type Sample } from '../../../../../test/support/prometheus.js';
import { jest } from '@jest/globals';
import { CacheReporter } from '../../cache/nest/cache-reporter.js';
import { ShieldEvents } from '../../core/events/shield-events.js';
import type { RateLimitDecisionEvent } from '../../rate-limit/engine/rate-limit.events.js';
import {
  type ConnectionStatusSource,
  type LimiterStatusSource,
  ShieldStatus,
} from '../../core/events/shield-status.js';
import type { TierResult } from '../../rate-limit/engine/rate-limit.types.js';
import { METRIC_NAMES, PER_USER_ROUTE } from '../engine/metric-names.js';
import { ShieldMetricsModule } from './metrics.module.js';
import type { ShieldMetricsModuleOptions } from '../engine/metrics.options.js';
import { METRICS_MODULE_OPTIONS } from './metrics.constants.js';
import { ShieldMetrics } from './shield-metrics.js';

@Injectable()
class MetricsOptionsFactory {
  static registry: Registry;
  createShieldMetricsOptions(): ShieldMetricsModuleOptions {
    return { registry: MetricsOptionsFactory.registry, prefix: 'app_' };
  }
}

@Module({ providers: [MetricsOptionsFactory], exports: [MetricsOptionsFactory] })
class MetricsOptionsModule {}

const modules: TestingModule[] = [];

async function boot(metricsModule: DynamicModule) {
  const moduleRef = await Test.createTestingModule({ imports: [metricsModule] }).compile();
  modules.push(moduleRef);
  await moduleRef.init();
  const metrics = moduleRef.get(ShieldMetrics);
  return {
    moduleRef,
    metrics,
    events: moduleRef.get(ShieldEvents),
    status: moduleRef.get(ShieldStatus),
    scrape: async (): Promise<Sample[]> => parseMetrics(await metrics.metrics()),
  };
}

afterEach(async () => {
  await Promise.all(modules.splice(0).map((moduleRef) => moduleRef.close()));
});

function tier(overrides: Partial<TierResult>): TierResult {
  return {
    policy: 'default',
    tier: 'minute',
    limit: 10,
    windowMs: 60_000,
    shadow: false,
    allowed: true,
    remaining: 5,
    resetMs: 60_000,
    retryAfterMs: 0,
    ...overrides,
  };
}

function decision(
  allowed: boolean,
  route: string | undefined,
  fallback = false,
  tiers: TierResult[] = [],
): RateLimitDecisionEvent {
  return {
    clientId: 'ip:203.0.113.7',
    route,
    fallback,
    result: {
      allowed,
      limit: 10,
      remaining: 0,
      resetMs: 1000,
      retryAfterMs: allowed ? 0 : 1000,
      policy: 'default',
      tier: 'minute',
      nowMs: 0,
      tiers,
    },
  };
}

/** A connection whose state the test changes between scrapes. */
function fakeConnection(name: string): { -readonly [K in keyof ConnectionStatusSource]: ConnectionStatusSource[K] } {
  return { name, state: 'ready', circuitOpen: false, ping: async () => 0.5 };
}

function find(samples: Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter(
    (sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
}

const LIBRARY_NAMES = Object.values(METRIC_NAMES);

describe('ShieldMetricsModule', () => {
  describe('forRoot and forRootAsync', () => {
    it('forRoot provides ShieldMetrics with its own registry holding every library metric', async () => {
      const { metrics } = await boot(ShieldMetricsModule.forRoot({}));
      expect(metrics).toBeInstanceOf(ShieldMetrics);
      for (const name of LIBRARY_NAMES) expect(metrics.registry.getSingleMetric(`shield_${name}`)).toBeDefined();
      expect(metrics.contentType).toContain('text/plain');
    });

    it('forRootAsync with useFactory and inject', async () => {
      MetricsOptionsFactory.registry = new Registry();
      const { metrics } = await boot(
        ShieldMetricsModule.forRootAsync({
          imports: [MetricsOptionsModule],
          inject: [MetricsOptionsFactory],
          useFactory: (factory: MetricsOptionsFactory) => ({ ...factory.createShieldMetricsOptions(), prefix: 'fac_' }),
        }),
      );
      expect(metrics.registry).toBe(MetricsOptionsFactory.registry);
      expect(metrics.registry.getSingleMetric('fac_redis_up')).toBeDefined();
    });

    it('forRootAsync with useClass', async () => {
      MetricsOptionsFactory.registry = new Registry();
      const { metrics } = await boot(ShieldMetricsModule.forRootAsync({ useClass: MetricsOptionsFactory }));
      expect(metrics.registry).toBe(MetricsOptionsFactory.registry);
      expect(metrics.registry.getSingleMetric('app_redis_up')).toBeDefined();
    });

    it('forRootAsync with useExisting', async () => {
      MetricsOptionsFactory.registry = new Registry();
      const { metrics } = await boot(
        ShieldMetricsModule.forRootAsync({ imports: [MetricsOptionsModule], useExisting: MetricsOptionsFactory }),
      );
      expect(metrics.registry).toBe(MetricsOptionsFactory.registry);
      expect(metrics.registry.getSingleMetric('app_redis_up')).toBeDefined();
    });

    it('keeps the extras out of the options it provides', async () => {
      const registry = new Registry();
      const { moduleRef } = await boot(ShieldMetricsModule.forRoot({ registry, path: 'm', isGlobal: false }));
      expect(moduleRef.get(METRICS_MODULE_OPTIONS)).toEqual({ registry });
    });
  });

  describe('options', () => {
    it('adds the metrics to a passed-in registry, beside what is already there', async () => {
      const registry = new Registry();
      new Counter({ name: 'mine_total', help: 'an app metric', registers: [registry] });
      const { metrics } = await boot(ShieldMetricsModule.forRoot({ registry }));
      expect(metrics.registry).toBe(registry);
      const text = await registry.metrics();
      expect(text).toContain('# TYPE mine_total counter');
      for (const name of LIBRARY_NAMES) expect(text).toContain(`# TYPE shield_${name} `);
    });

    it('lets a shared registry serve a new app after the first one closed, and never collects process metrics twice', async () => {
      const registry = new Registry();
      collectDefaultMetrics({ register: registry }); // the app collects them already
      const first = await boot(ShieldMetricsModule.forRoot({ registry, defaultMetrics: true }));
      expect(registry.getSingleMetric('shield_redis_up')).toBeDefined();
      await first.moduleRef.close();
      expect(registry.getSingleMetric('shield_redis_up')).toBeUndefined();
      expect(registry.getSingleMetric('process_cpu_user_seconds_total')).toBeDefined(); // not ours to remove
      const second = await boot(ShieldMetricsModule.forRoot({ registry, defaultMetrics: true }));
      expect(second.metrics.registry.getSingleMetric('shield_redis_up')).toBeDefined();
    });

    it('prefix renames every library metric', async () => {
      const { metrics } = await boot(ShieldMetricsModule.forRoot({ prefix: 'acme_' }));
      const names = metrics.registry.getMetricsAsArray().map((metric) => metric.name);
      expect(names.sort()).toEqual(LIBRARY_NAMES.map((name) => `acme_${name}`).sort());
    });

    it('collects no process metrics by default, and does with defaultMetrics: true', async () => {
      const plain = await boot(ShieldMetricsModule.forRoot({}));
      expect(plain.metrics.registry.getSingleMetric('process_cpu_user_seconds_total')).toBeUndefined();
      expect(plain.metrics.registry.getMetricsAsArray()).toHaveLength(LIBRARY_NAMES.length);
      const withDefaults = await boot(ShieldMetricsModule.forRoot({ defaultMetrics: true }));
      expect(withDefaults.metrics.registry.getSingleMetric('process_cpu_user_seconds_total')).toBeDefined();
      expect(withDefaults.metrics.registry.getSingleMetric('nodejs_heap_size_used_bytes')).toBeDefined();
      expect(withDefaults.metrics.registry.getSingleMetric('shield_redis_up')).toBeDefined();
    });

    it('is global by default, and not with isGlobal: false', () => {
      expect(ShieldMetricsModule.forRoot({}).global).toBe(true);
      expect(ShieldMetricsModule.forRoot({ isGlobal: false }).global).toBe(false);
      expect(ShieldMetricsModule.forRootAsync({ useFactory: () => ({}), isGlobal: false }).global).toBe(false);
    });
  });

  describe('the endpoint', () => {
    const paths = (module: DynamicModule) =>
      (module.controllers ?? []).map((controller) => Reflect.getMetadata('path', controller) as string);

    it("mounts a controller at 'metrics' by default", () => {
      expect(paths(ShieldMetricsModule.forRoot({}))).toEqual(['metrics']);
      expect(paths(ShieldMetricsModule.forRootAsync({ useFactory: () => ({}) }))).toEqual(['metrics']);
    });

    it('mounts none with path: false', () => {
      expect(ShieldMetricsModule.forRoot({ path: false }).controllers).toEqual([]);
      expect(ShieldMetricsModule.forRootAsync({ useFactory: () => ({}), path: false }).controllers).toEqual([]);
    });

    it('mounts it at a custom path', () => {
      expect(paths(ShieldMetricsModule.forRoot({ path: 'internal/prometheus' }))).toEqual(['internal/prometheus']);
      expect(paths(ShieldMetricsModule.forRootAsync({ useFactory: () => ({}), path: 'ops/metrics' }))).toEqual([
        'ops/metrics',
      ]);
    });

    it.each(['', '   '])('refuses path %j, naming path', (path) => {
      expect(() => ShieldMetricsModule.forRoot({ path })).toThrow('nestjs-redis-shield: invalid option path=');
      expect(() => ShieldMetricsModule.forRootAsync({ useFactory: () => ({}), path })).toThrow(/invalid option path=/);
    });

    it.each([['admin'], [{ allow: true }]])('refuses authorize %j at start-up, naming it', async (authorize) => {
      const options = { authorize } as unknown as ShieldMetricsModuleOptions;
      await expect(boot(ShieldMetricsModule.forRoot(options))).rejects.toThrow(
        /nestjs-redis-shield: invalid option authorize=.*expected a function of the request, or a guard class/,
      );
    });

    it('the controller serves the exposition with its content type', async () => {
      const dynamicModule = ShieldMetricsModule.forRoot({});
      const [controllerClass] = dynamicModule.controllers ?? [];
      const { moduleRef, events, metrics } = await boot(dynamicModule);
      const controller = moduleRef.get<{ scrape(): Promise<StreamableFile> }>(controllerClass);
      events.emit('cache.lookup', { route: '/r', status: 'HIT' });
      const file = await controller.scrape();
      const chunks: Buffer[] = [];
      for await (const chunk of file.getStream()) chunks.push(chunk as Buffer);
      const text = Buffer.concat(chunks).toString();
      expect(metricValue(parseMetrics(text), 'shield_cache_lookups_total', { route: '/r', status: 'HIT' })).toBe(1);
      expect(file.getHeaders()).toMatchObject({ type: metrics.contentType, length: Buffer.byteLength(text) });
    });
  });

  describe('counters and histograms follow the events', () => {
    it('counts guard decisions by route, outcome and fallback', async () => {
      const { events, scrape } = await boot(ShieldMetricsModule.forRoot({}));
      events.emit('ratelimit.decision', decision(true, '/a'));
      events.emit('ratelimit.decision', decision(true, '/a'));
      events.emit('ratelimit.decision', decision(false, '/a'));
      events.emit('ratelimit.decision', decision(false, '/a', true));
      events.emit('ratelimit.decision', decision(true, undefined));
      const samples = await scrape();
      const name = 'shield_ratelimit_requests_total';
      expect(metricValue(samples, name, { route: '/a', outcome: 'allowed', fallback: 'false' })).toBe(2);
      expect(metricValue(samples, name, { route: '/a', outcome: 'rejected', fallback: 'false' })).toBe(1);
      expect(metricValue(samples, name, { route: '/a', outcome: 'rejected', fallback: 'true' })).toBe(1);
      expect(metricValue(samples, name, { route: 'unknown', outcome: 'allowed', fallback: 'false' })).toBe(1);
      expect(metricValue(samples, name)).toBe(5);
    });

    it("counts each tier's verdict, shadow tiers labelled as such", async () => {
      const { events, scrape } = await boot(ShieldMetricsModule.forRoot({}));
      const tiers = [
        tier({ tier: 'second', allowed: true }),
        tier({ tier: 'minute', allowed: false }),
        tier({ policy: 'trial', tier: 'hour', allowed: false, shadow: true }),
      ];
      events.emit('ratelimit.decision', decision(false, '/a', false, tiers));
      events.emit('ratelimit.decision', decision(false, '/a', false, tiers));
      const samples = await scrape();
      const name = 'shield_ratelimit_tier_decisions_total';
      expect(find(samples, name).map((sample) => [sample.labels, sample.value])).toEqual(
        expect.arrayContaining([
          [{ policy: 'default', tier: 'second', outcome: 'allowed', shadow: 'false' }, 2],
          [{ policy: 'default', tier: 'minute', outcome: 'rejected', shadow: 'false' }, 2],
          [{ policy: 'trial', tier: 'hour', outcome: 'rejected', shadow: 'true' }, 2],
        ]),
      );
      expect(metricValue(samples, name)).toBe(6);
    });

    it('counts cache lookups by route and status', async () => {
      const { events, scrape } = await boot(ShieldMetricsModule.forRoot({}));
      events.emit('cache.lookup', { route: '/m/:id', status: 'HIT' });
      events.emit('cache.lookup', { route: '/m/:id', status: 'HIT' });
      events.emit('cache.lookup', { route: '/m/:id', status: 'MISS' });
      events.emit('cache.lookup', { route: '/n', status: 'BYPASS' });
      const samples = await scrape();
      const name = 'shield_cache_lookups_total';
      expect(metricValue(samples, name, { route: '/m/:id', status: 'HIT' })).toBe(2);
      expect(metricValue(samples, name, { route: '/m/:id', status: 'MISS' })).toBe(1);
      expect(metricValue(samples, name, { route: '/n', status: 'BYPASS' })).toBe(1);
      expect(metricValue(samples, name, { route: '/n', status: 'HIT' })).toBe(0);
    });

    it("counts what the cache reporter reports (hit tiers, stale serves, lease waits, refreshes) in the endpoint's text", async () => {
      const dynamicModule = ShieldMetricsModule.forRoot({});
      const [controllerClass] = dynamicModule.controllers ?? [];
      const { moduleRef, events } = await boot(dynamicModule);
      const controller = moduleRef.get<{ scrape(): Promise<StreamableFile> }>(controllerClass);
      const counter = { hit: jest.fn(), miss: jest.fn(), stale: jest.fn(), leaseWait: jest.fn(), refresh: jest.fn() };
      const reporter = new CacheReporter(counter, events, { warn: jest.fn() });
      reporter.hit('l1');
      reporter.hit('l1');
      reporter.hit();
      reporter.stale('revalidate');
      reporter.stale('error');
      reporter.stale('error');
      reporter.leaseWait('filled');
      reporter.leaseWait('timeout');
      reporter.leaseWait('leader');
      reporter.leaseWait('leader');
      reporter.refresh('stored');
      reporter.refresh('failed');
      reporter.refresh('failed');
      reporter.refresh('failed');
      const chunks: Buffer[] = [];
      for await (const chunk of (await controller.scrape()).getStream()) chunks.push(chunk as Buffer);
      const samples = parseMetrics(Buffer.concat(chunks).toString());
      const values = (name: string, label: string) =>
        Object.fromEntries(find(samples, name).map((sample) => [sample.labels[label], sample.value]));
      expect(values('shield_cache_hits_total', 'tier')).toEqual({ l1: 2, l2: 1 });
      expect(values('shield_cache_stale_served_total', 'reason')).toEqual({ revalidate: 1, error: 2 });
      expect(values('shield_cache_lease_waits_total', 'outcome')).toEqual({ filled: 1, timeout: 1, leader: 2 });
      expect(values('shield_cache_background_refreshes_total', 'outcome')).toEqual({ stored: 1, failed: 3 });
    });

    it('observes bus delivery lag in seconds by connection', async () => {
      const { events, scrape } = await boot(ShieldMetricsModule.forRoot({}));
      events.emit('bus.delivery', { connection: 'default', lagMs: 0 });
      events.emit('bus.delivery', { connection: 'default', lagMs: 7 });
      events.emit('bus.delivery', { connection: 'default', lagMs: 1800 });
      events.emit('bus.delivery', { connection: 'sessions', lagMs: 2 });
      const samples = await scrape();
      const name = 'shield_bus_delivery_lag_seconds';
      const main = { connection: 'default' };
      expect(metricValue(samples, `${name}_count`, main)).toBe(3);
      expect(metricValue(samples, `${name}_sum`, main)).toBeCloseTo(1.807, 9);
      expect(metricValue(samples, `${name}_bucket`, { ...main, le: '0.001' })).toBe(1);
      expect(metricValue(samples, `${name}_bucket`, { ...main, le: '0.01' })).toBe(2);
      expect(metricValue(samples, `${name}_bucket`, { ...main, le: '1' })).toBe(2);
      expect(metricValue(samples, `${name}_bucket`, { ...main, le: '2.5' })).toBe(3);
      expect(metricValue(samples, `${name}_count`, { connection: 'sessions' })).toBe(1);
    });

    it('observes stored entry sizes in bytes', async () => {
      const { events, scrape } = await boot(ShieldMetricsModule.forRoot({}));
      events.emit('cache.store', { route: '/m', bytes: 2000, perUser: false });
      events.emit('cache.store', { route: '/m', bytes: 100, perUser: false });
      events.emit('cache.store', { route: '/other', bytes: 5_000_000, perUser: false });
      const samples = await scrape();
      const m = { route: '/m' };
      expect(metricValue(samples, 'shield_cache_entry_bytes_bucket', { ...m, le: '256' })).toBe(1);
      expect(metricValue(samples, 'shield_cache_entry_bytes_bucket', { ...m, le: '1024' })).toBe(1);
      expect(metricValue(samples, 'shield_cache_entry_bytes_bucket', { ...m, le: '4096' })).toBe(2);
      expect(metricValue(samples, 'shield_cache_entry_bytes_sum', m)).toBe(2100);
      expect(metricValue(samples, 'shield_cache_entry_bytes_count', m)).toBe(2);
      const other = { route: '/other' };
      expect(metricValue(samples, 'shield_cache_entry_bytes_bucket', { ...other, le: '1048576' })).toBe(0);
      expect(metricValue(samples, 'shield_cache_entry_bytes_bucket', { ...other, le: '+Inf' })).toBe(1);
    });

    describe('sizes of per-user entries', () => {
      const bytes = 'shield_cache_entry_bytes';
      /** Every entry-size series, as route -> [count, sum]. */
      const series = (samples: Sample[]) =>
        Object.fromEntries(
          find(samples, `${bytes}_count`).map((sample) => [
            sample.labels.route,
            [sample.value, metricValue(samples, `${bytes}_sum`, { route: sample.labels.route })],
          ]),
        );
      function storeMixed(events: ShieldEvents) {
        events.emit('cache.store', { route: '/shared', bytes: 300, perUser: false });
        events.emit('cache.store', { route: '/me', bytes: 1234, perUser: true });
        events.emit('cache.store', { route: '/me/orders', bytes: 5678, perUser: true });
      }

      it('are left out by default: only shared entries have a size series', async () => {
        const { events, scrape } = await boot(ShieldMetricsModule.forRoot({}));
        storeMixed(events);
        const samples = await scrape();
        expect(series(samples)).toEqual({ '/shared': [1, 300] });
        expect(find(samples, `${bytes}_bucket`).map((sample) => sample.labels.route)).not.toContain('/me');
      });

      it("are left out with perUserEntrySizes: 'off', also through forRootAsync", async () => {
        const { events, scrape } = await boot(
          ShieldMetricsModule.forRootAsync({ useFactory: () => ({ perUserEntrySizes: 'off' as const }) }),
        );
        storeMixed(events);
        expect(series(await scrape())).toEqual({ '/shared': [1, 300] });
      });

      it('are pooled under route="(per-user)" with \'aggregate\', never under their own route', async () => {
        const { events, scrape } = await boot(ShieldMetricsModule.forRoot({ perUserEntrySizes: 'aggregate' }));
        storeMixed(events);
        const samples = await scrape();
        expect(PER_USER_ROUTE).toBe('(per-user)');
        expect(series(samples)).toEqual({ '/shared': [1, 300], '(per-user)': [2, 1234 + 5678] });
        expect(metricValue(samples, `${bytes}_bucket`, { route: '(per-user)', le: '4096' })).toBe(1);
        expect(metricValue(samples, `${bytes}_bucket`, { route: '(per-user)', le: '16384' })).toBe(2);
      });

      it("are observed under their route with 'by-route' (the operator's opt-in)", async () => {
        const { events, scrape } = await boot(ShieldMetricsModule.forRoot({ perUserEntrySizes: 'by-route' }));
        storeMixed(events);
        expect(series(await scrape())).toEqual({
          '/shared': [1, 300],
          '/me': [1, 1234],
          '/me/orders': [1, 5678],
        });
      });

      it.each([['everything'], [true], [null]])('refuse perUserEntrySizes %j at start-up, naming it', async (value) => {
        const options = { perUserEntrySizes: value } as unknown as ShieldMetricsModuleOptions;
        await expect(boot(ShieldMetricsModule.forRoot(options))).rejects.toThrow(
          /nestjs-redis-shield: invalid option perUserEntrySizes=.*expected 'off', 'aggregate', 'by-route'/,
        );
        await expect(boot(ShieldMetricsModule.forRootAsync({ useFactory: () => options }))).rejects.toThrow(
          /invalid option perUserEntrySizes=/,
        );
      });
    });

    it('observes Redis latency in seconds by connection, command and outcome', async () => {
      const { events, scrape } = await boot(ShieldMetricsModule.forRoot({}));
      events.emit('redis.command', { connection: 'default', command: 'ratelimit', durationMs: 3, outcome: 'ok' });
      events.emit('redis.command', {
        connection: 'default',
        command: 'ratelimit',
        durationMs: 1000,
        outcome: 'timeout',
      });
      const samples = await scrape();
      const ok = { connection: 'default', command: 'ratelimit', outcome: 'ok' };
      const name = 'shield_redis_command_duration_seconds';
      expect(metricValue(samples, `${name}_sum`, ok)).toBeCloseTo(0.003, 9);
      expect(metricValue(samples, `${name}_bucket`, { ...ok, le: '0.002' })).toBe(0);
      expect(metricValue(samples, `${name}_bucket`, { ...ok, le: '0.005' })).toBe(1);
      expect(metricValue(samples, `${name}_count`, ok)).toBe(1);
      const timeout = { ...ok, outcome: 'timeout' };
      expect(metricValue(samples, `${name}_sum`, timeout)).toBe(1);
      expect(metricValue(samples, `${name}_bucket`, { ...timeout, le: '0.5' })).toBe(0);
      expect(metricValue(samples, `${name}_bucket`, { ...timeout, le: '1' })).toBe(1);
    });

    it('counts dropped violations by their count', async () => {
      const { events, scrape } = await boot(ShieldMetricsModule.forRoot({}));
      expect(metricValue(await scrape(), 'shield_ratelimit_violations_dropped_total')).toBe(0);
      events.emit('ratelimit.violations.dropped', { count: 1 });
      events.emit('ratelimit.violations.dropped', { count: 41 });
      expect(metricValue(await scrape(), 'shield_ratelimit_violations_dropped_total')).toBe(42);
    });

    it('uses the prefix for the samples too', async () => {
      const { events, scrape } = await boot(ShieldMetricsModule.forRoot({ prefix: 'acme_' }));
      events.emit('cache.lookup', { route: '/r', status: 'MISS' });
      const samples = await scrape();
      expect(metricValue(samples, 'acme_cache_lookups_total', { route: '/r', status: 'MISS' })).toBe(1);
      expect(samples.filter((sample) => sample.name.startsWith('shield_'))).toEqual([]);
    });
  });

  describe('gauges read the status registry at scrape', () => {
    it('redis_up and redis_circuit_open follow each connection', async () => {
      const { status, scrape } = await boot(ShieldMetricsModule.forRoot({}));
      const main = fakeConnection('default');
      const cache = fakeConnection('cache');
      status.addConnection(main);
      status.addConnection(cache);
      let samples = await scrape();
      expect(metricValue(samples, 'shield_redis_up', { connection: 'default' })).toBe(1);
      expect(metricValue(samples, 'shield_redis_up', { connection: 'cache' })).toBe(1);
      expect(metricValue(samples, 'shield_redis_circuit_open', { connection: 'default' })).toBe(0);

      main.state = 'down';
      main.circuitOpen = true;
      samples = await scrape();
      expect(find(samples, 'shield_redis_up', { connection: 'default' })).toEqual([
        { name: 'shield_redis_up', labels: { connection: 'default' }, value: 0 },
      ]);
      expect(metricValue(samples, 'shield_redis_circuit_open', { connection: 'default' })).toBe(1);
      expect(metricValue(samples, 'shield_redis_up', { connection: 'cache' })).toBe(1);
      expect(metricValue(samples, 'shield_redis_circuit_open', { connection: 'cache' })).toBe(0);

      main.state = 'ready';
      main.circuitOpen = false;
      samples = await scrape();
      expect(metricValue(samples, 'shield_redis_up', { connection: 'default' })).toBe(1);
      expect(metricValue(samples, 'shield_redis_circuit_open', { connection: 'default' })).toBe(0);
    });

    it('ratelimit_fallback_active follows each limiter', async () => {
      const { status, scrape } = await boot(ShieldMetricsModule.forRoot({}));
      const limiter: { -readonly [K in keyof LimiterStatusSource]: LimiterStatusSource[K] } = {
        connection: 'default',
        failMode: 'open',
        fallbackActive: false,
      };
      status.addLimiter(limiter);
      expect(find(await scrape(), 'shield_ratelimit_fallback_active')).toEqual([
        { name: 'shield_ratelimit_fallback_active', labels: { connection: 'default' }, value: 0 },
      ]);
      limiter.fallbackActive = true;
      expect(metricValue(await scrape(), 'shield_ratelimit_fallback_active', { connection: 'default' })).toBe(1);
    });

    it('drops the series of unregistered sources', async () => {
      const { status, scrape } = await boot(ShieldMetricsModule.forRoot({}));
      const removeMain = status.addConnection(fakeConnection('default'));
      status.addConnection(fakeConnection('cache'));
      const removeLimiter = status.addLimiter({ connection: 'default', failMode: 'open', fallbackActive: true });
      expect(find(await scrape(), 'shield_redis_up')).toHaveLength(2);
      removeMain();
      removeLimiter();
      const samples = await scrape();
      expect(find(samples, 'shield_redis_up').map((sample) => sample.labels.connection)).toEqual(['cache']);
      expect(find(samples, 'shield_redis_circuit_open').map((sample) => sample.labels.connection)).toEqual(['cache']);
      expect(find(samples, 'shield_ratelimit_fallback_active')).toEqual([]);
    });
  });

  it('onModuleDestroy unsubscribes from every event and removes its metrics', async () => {
    const { moduleRef, events, metrics } = await boot(ShieldMetricsModule.forRoot({}));
    events.emit('cache.lookup', { route: '/r', status: 'HIT' });
    events.emit('ratelimit.violations.dropped', { count: 1 });
    await moduleRef.close();
    modules.splice(modules.indexOf(moduleRef), 1);
    for (const type of [
      'ratelimit.decision',
      'ratelimit.violations.dropped',
      'cache.lookup',
      'cache.store',
      'redis.command',
    ] as const) {
      expect(events.has(type)).toBe(false);
    }
    events.emit('cache.lookup', { route: '/r', status: 'HIT' });
    events.emit('ratelimit.violations.dropped', { count: 5 });
    events.emit('ratelimit.decision', decision(true, '/r'));
    // Its metrics left the registry too (a shared registry can take a new app's).
    expect(metrics.registry.getMetricsAsArray()).toEqual([]);
  });
});
