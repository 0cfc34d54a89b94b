import { shieldError } from './errors.js';

// Option validators: each returns the value when it is allowed and otherwise throws the
// `invalidOption` error (SHIELD_E001), which names the option, the value given and what
// is allowed, e.g. `invalid option commandTimeoutMs=0: expected a positive integer`.

/**
 * `value` when it is an integer of at least 1.
 *
 * @example
 * const commandTimeoutMs = checkPositiveInteger('commandTimeoutMs', options.commandTimeoutMs ?? 100);
 */
export function checkPositiveInteger(option: string, value: unknown): number {
  if (!Number.isInteger(value) || (value as number) <= 0) {
    throw shieldError('invalidOption', option, value, 'a positive integer');
  }
  return value as number;
}

/**
 * `value` when it is an integer from `min` to `max` (inclusive); the message says
 * `an integer >= min` without a `max`, `an integer from min to max` with one, unless
 * `expected` words it otherwise.
 */
export function checkIntegerInRange(
  option: string,
  value: unknown,
  min: number,
  max = Infinity,
  expected = max === Infinity ? `an integer >= ${min}` : `an integer from ${min} to ${max}`,
): number {
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
    throw shieldError('invalidOption', option, value, expected);
  }
  return value as number;
}

/** `value` when it is a finite number above 0 (fractions allowed); `unit` names what it counts (`ms`). */
export function checkPositiveNumber(option: string, value: unknown, unit?: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw shieldError('invalidOption', option, value, unit ? `a positive number of ${unit}` : 'a positive number');
  }
  return value;
}

/**
 * `value` when it is one of `allowed`; the message lists them as `one of a, b`, unless
 * `expected` words it otherwise (`open or closed`).
 */
export function checkOneOf<const T>(
  option: string,
  value: unknown,
  allowed: readonly T[],
  expected = `one of ${allowed.join(', ')}`,
): T {
  if (!allowed.includes(value as T)) throw shieldError('invalidOption', option, value, expected);
  return value as T;
}

/** `value` when it is `true` or `false`. */
export function checkBoolean(option: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw shieldError('invalidOption', option, value, 'a boolean');
  return value;
}
