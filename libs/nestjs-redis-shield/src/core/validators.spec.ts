import { shieldErrorCode } from './errors.js';
import {
  checkBoolean,
  checkIntegerInRange,
  checkOneOf,
  checkPositiveInteger,
  checkPositiveNumber,
} from './validators.js';

/** The error `run` throws (failing the test if it does not). */
function thrown(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}

const prefix = 'nestjs-redis-shield: invalid option ';

describe('option validators', () => {
  it('return the value when it is allowed', () => {
    expect(checkPositiveInteger('n', 1)).toBe(1);
    expect(checkIntegerInRange('n', 100, 100)).toBe(100);
    expect(checkIntegerInRange('port', 65535, 1, 65535)).toBe(65535);
    expect(checkPositiveNumber('ttl', 0.5)).toBe(0.5);
    expect(checkOneOf('mode', 'open', ['open', 'closed'])).toBe('open');
    expect(checkBoolean('enabled', false)).toBe(false);
  });

  it.each([
    [() => checkPositiveInteger('commandTimeoutMs', 0), 'commandTimeoutMs=0: expected a positive integer'],
    [() => checkPositiveInteger('n', 1.5), 'n=1.5: expected a positive integer'],
    [() => checkPositiveInteger('n', '5'), 'n="5": expected a positive integer'],
    [() => checkPositiveInteger('n', Number.NaN), 'n=NaN: expected a positive integer'],
    [() => checkIntegerInRange('bus.staleAfterMs', 99, 100), 'bus.staleAfterMs=99: expected an integer >= 100'],
    [() => checkIntegerInRange('port', 65536, 1, 65535), 'port=65536: expected an integer from 1 to 65535'],
    [() => checkIntegerInRange('port', 0, 1, 65535), 'port=0: expected an integer from 1 to 65535'],
    [
      () => checkIntegerInRange('limit', 0, 1, 10, 'a positive integer, at most 10'),
      'limit=0: expected a positive integer, at most 10',
    ],
    [() => checkPositiveNumber('timeoutMs', 0, 'ms'), 'timeoutMs=0: expected a positive number of ms'],
    [() => checkPositiveNumber('ttl', Infinity), 'ttl=Infinity: expected a positive number'],
    [() => checkPositiveNumber('ttl', '1'), 'ttl="1": expected a positive number'],
    [
      () => checkOneOf('algorithm', 'leaky', ['gcra', 'fixed-window']),
      'algorithm="leaky": expected one of gcra, fixed-window',
    ],
    [
      () => checkOneOf('failMode', 'half', ['open', 'closed'], 'open or closed'),
      'failMode="half": expected open or closed',
    ],
    [() => checkBoolean('bus.enabled', 'yes'), 'bus.enabled="yes": expected a boolean'],
  ])('throw SHIELD_E001 naming the option, the value and what is allowed (%#)', (run, message) => {
    const error = thrown(run);
    expect(error.message).toBe(`${prefix}${message}`);
    expect(shieldErrorCode(error)).toBe('SHIELD_E001');
  });
});
