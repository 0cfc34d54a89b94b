/**
 * Every message the library throws for bad options, in one place so wording stays
 * consistent and tests can match it.
 */
export const messages = {
  invalidOption: (option: string, value: unknown, expected: string) =>
    `nestjs-redis-shield: invalid option ${option}=${formatValue(value)}: expected ${expected}`,
  conflictingOptions: (first: string, second: string) =>
    `nestjs-redis-shield: options ${first} and ${second} cannot be used together`,
  unknownConnection: (user: string, name: string, known: string[]) =>
    `nestjs-redis-shield: ${user}: unknown Redis connection '${name}' ` +
    `(registered: ${known.map((k) => `'${k}'`).join(', ') || 'none; is RedisModule.forRoot imported?'})`,
  unknownPolicy: (name: string, known: string[]) =>
    `nestjs-redis-shield: unknown rate-limit policy '${name}' (configured: ${known.join(', ') || 'none'})`,
};

function formatValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === undefined || value === null) {
    return String(value);
  }
  return typeof value;
}
