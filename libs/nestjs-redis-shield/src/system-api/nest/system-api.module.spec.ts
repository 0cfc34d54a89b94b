import { SystemApiModule } from './system-api.module.js';
import { SYSTEM_API_OPTIONS } from './system-api.options.js';

describe('SystemApiModule.forRoot', () => {
  it('takes statusLimit.perMinute, a positive integer', () => {
    const module = SystemApiModule.forRoot({ statusLimit: { perMinute: 120 } });
    expect(module.providers).toContainEqual({
      provide: SYSTEM_API_OPTIONS,
      useValue: { statusLimit: { perMinute: 120 } },
    });
    expect(() => SystemApiModule.forRoot({ statusLimit: {} })).not.toThrow();
  });

  it.each([0, -1, 1.5, Number.NaN, Infinity, '60' as never])(
    'refuses statusLimit.perMinute=%p at once',
    (perMinute) => {
      expect(() => SystemApiModule.forRoot({ statusLimit: { perMinute } })).toThrow(
        /^nestjs-redis-shield: invalid option statusLimit\.perMinute=.*: expected a positive integer$/,
      );
    },
  );
});

describe('SystemApiModule.forRoot dashboard option', () => {
  const controllerNames = (options: Parameters<typeof SystemApiModule.forRoot>[0]) =>
    (SystemApiModule.forRoot(options).controllers ?? []).map((controller) => controller.name);

  it('adds the dashboard controller only when enabled', () => {
    expect(controllerNames({})).not.toContain('DashboardController');
    expect(controllerNames({ dashboard: false })).not.toContain('DashboardController');
    expect(controllerNames({ dashboard: true })).toContain('DashboardController');
    expect(controllerNames({ dashboard: { connection: 'analytics' } })).toContain('DashboardController');
  });

  it('counts on the named connection, the default one with `true`', () => {
    const connectionOf = (options: Parameters<typeof SystemApiModule.forRoot>[0]) =>
      (SystemApiModule.forRoot(options).providers ?? []).find(
        (provider) => typeof provider === 'object' && 'useExisting' in provider,
      );
    expect(connectionOf({ dashboard: true })).toMatchObject({ useExisting: 'nestjs-redis-shield:connection:default' });
    expect(connectionOf({ dashboard: { connection: 'analytics' } })).toMatchObject({
      useExisting: 'nestjs-redis-shield:connection:analytics',
    });
  });

  it.each(['yes', 1, null, { connection: '' }, { connection: 3 }, { conection: 'x' }] as never[])(
    'refuses dashboard=%p at once',
    (dashboard) => {
      expect(() => SystemApiModule.forRoot({ dashboard })).toThrow(
        /^nestjs-redis-shield: invalid option dashboard=.*: expected true, false or \{ connection\?: non-empty string \}$/,
      );
    },
  );
});
