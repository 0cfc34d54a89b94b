import { parseArgs } from 'node:util';
import { MintTokenError, mintToken } from './auth/mint-token.js';
import { loadConfig } from './config/load-config.js';

/**
 * `node dist/mint-token.js [--sub prometheus] [--role admin]... [--expires 90d]`: prints a
 * bearer token of the demo on stdout, signed with `JWT_SECRET` exactly as the demo reads
 * it (same environment variables, same checks), e.g. the token Prometheus scrapes
 * `/metrics` with. Defaults: `--sub prometheus --role admin --expires 90d`. What it
 * minted is said on stderr, never the secret. Exit 1 on a bad configuration, 2 on bad
 * arguments.
 */
const USAGE = 'usage: node dist/mint-token.js [--sub prometheus] [--role admin]... [--expires 90d]';

let args: { sub: string; role?: string[]; expires: string };
try {
  ({ values: args } = parseArgs({
    options: {
      sub: { type: 'string', default: 'prometheus' },
      role: { type: 'string', multiple: true },
      expires: { type: 'string', default: '90d' },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
  process.exit(2);
}

const result = loadConfig(process.env);
if (!result.ok) {
  for (const error of result.errors) process.stderr.write(`${error}\n`);
  process.exit(1);
}
// The token's signature is all this tool makes: only the key's warning concerns it.
for (const warning of result.warnings.filter((line) => line.includes('JWT_SECRET'))) {
  process.stderr.write(`warning: ${warning}\n`);
}

const roles = args.role ?? ['admin'];
try {
  const { token, expiresAt } = await mintToken(result.config.jwtSecret, {
    sub: args.sub,
    roles,
    expiresIn: args.expires,
  });
  process.stdout.write(`${token}\n`);
  process.stderr.write(
    `minted a token for sub=${args.sub} roles=${roles.join(',')}, valid until ${expiresAt.toISOString()}\n`,
  );
} catch (error) {
  if (!(error instanceof MintTokenError)) throw error;
  process.stderr.write(`${error.message}\n${USAGE}\n`);
  process.exit(2);
}
