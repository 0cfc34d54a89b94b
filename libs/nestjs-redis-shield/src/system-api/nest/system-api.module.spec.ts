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
