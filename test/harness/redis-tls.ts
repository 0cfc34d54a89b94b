import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { freePort, LOOPBACK } from './ports.js';
import { encodeCommand, isPortInUse, startRedis, type RedisServer } from './redis-server.js';

const run = promisify(execFile);
const PICKED_PORT_ATTEMPTS = 5;
const PROBE_TIMEOUT_MS = 2_000;

/** A `redis-server` that also listens for TLS, with the certificates a client needs. */
export interface RedisTls {
  /** `rediss://127.0.0.1:<tls port>`. */
  readonly url: string;
  readonly tlsPort: number;
  /** The PEM of the CA that signed the server certificate (for 127.0.0.1 and localhost). */
  readonly caPem: string;
  /** The PEM of another CA, unrelated to the server's: verification against it fails. */
  readonly wrongCaPem: string;
  /**
   * The process. Its plain port (`server.port`, `server.command()`) stays open on loopback
   * for the harness to check and inspect it; clients under test use {@link url}.
   */
  readonly server: RedisServer;
  /** Stops the server and removes the certificates. Idempotent. */
  stop(): Promise<void>;
}

/** Why {@link redisTlsSupport} says no. */
export interface RedisTlsSupport {
  supported: boolean;
  /** Set when not supported: what is missing. */
  reason?: string;
}

let support: Promise<RedisTlsSupport> | undefined;

/**
 * Whether this machine can run {@link startRedisTls}: `openssl` on PATH and a `redis-server`
 * built with TLS (a build without it has no `tls-port` setting). Checked once per worker.
 */
export function redisTlsSupport(): Promise<RedisTlsSupport> {
  support ??= (async () => {
    try {
      await run('openssl', ['version']);
    } catch (error) {
      return { supported: false, reason: `openssl is not on PATH (${(error as Error).message})` };
    }
    const probe = await startRedis();
    try {
      const setting = await probe.command('CONFIG', 'GET', 'tls-port');
      if (!Array.isArray(setting) || setting.length === 0) {
        const version = String(await probe.command('INFO', 'server')).match(/redis_version:(\S+)/)?.[1];
        return { supported: false, reason: `redis-server ${version} was built without TLS (no tls-port setting)` };
      }
      return { supported: true };
    } finally {
      await probe.stop();
    }
  })();
  return support;
}

/**
 * Makes a CA and a server certificate for 127.0.0.1/localhost (and a second, unrelated CA)
 * with `openssl` in a temporary directory, starts `redis-server` with a TLS port
 * (`--tls-auth-clients no`: no client certificate needed), and resolves once a TLS client
 * that trusts the CA gets PONG over it. Throws if the build has no TLS (see {@link redisTlsSupport}).
 */
export async function startRedisTls(): Promise<RedisTls> {
  const { supported, reason } = await redisTlsSupport();
  if (!supported) throw new Error(`cannot start a TLS Redis: ${reason}`);
  const dir = mkdtempSync(join(tmpdir(), 'redis-tls-harness-'));
  try {
    const files = await makeCertificates(dir);
    const caPem = readFileSync(files.ca, 'utf8');
    const wrongCaPem = readFileSync(files.wrongCa, 'utf8');
    const tlsArgs = [
      ...['--tls-cert-file', files.cert, '--tls-key-file', files.key, '--tls-ca-cert-file', files.ca],
      ...['--tls-auth-clients', 'no'],
    ];
    for (let attempt = 1; ; attempt++) {
      const tlsPort = await freePort();
      let server: RedisServer;
      try {
        server = await startRedis({ args: ['--tls-port', String(tlsPort), ...tlsArgs] });
      } catch (error) {
        if (isPortInUse(error) && attempt < PICKED_PORT_ATTEMPTS) continue;
        throw error;
      }
      try {
        await pingOverTls(tlsPort, caPem);
      } catch (error) {
        await server.stop();
        throw new Error(`redis-server does not answer over TLS on ${tlsPort}: ${(error as Error).message}`, {
          cause: error,
        });
      }
      let stopping: Promise<void> | undefined;
      return {
        url: `rediss://${LOOPBACK}:${tlsPort}`,
        tlsPort,
        caPem,
        wrongCaPem,
        server,
        stop: () => (stopping ??= server.stop().then(() => rmSync(dir, { recursive: true, force: true }))),
      };
    }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

interface CertificateFiles {
  ca: string;
  cert: string;
  key: string;
  wrongCa: string;
}

/** P-256 keys (fast to make), one-day validity, extensions written out so no system openssl.cnf is needed. */
async function makeCertificates(dir: string): Promise<CertificateFiles> {
  const path = (name: string) => join(dir, name);
  writeFileSync(
    path('ca.cnf'),
    [
      '[req]',
      'distinguished_name = dn',
      'prompt = no',
      '[dn]',
      'CN = nestjs-redis-shield test CA',
      '[v3_ca]',
      'basicConstraints = critical, CA:TRUE',
      'keyUsage = critical, keyCertSign, cRLSign',
      'subjectKeyIdentifier = hash',
    ].join('\n') + '\n',
  );
  writeFileSync(
    path('server.ext'),
    [
      'basicConstraints = CA:FALSE',
      'keyUsage = critical, digitalSignature, keyEncipherment',
      'extendedKeyUsage = serverAuth',
      'subjectAltName = IP:127.0.0.1, DNS:localhost',
    ].join('\n') + '\n',
  );
  const ecKey = '-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';
  // No argument below contains a space, except the subjects, passed apart.
  const openssl = (command: string, ...extra: string[]) =>
    run('openssl', [...command.split(' '), ...extra], { cwd: dir });
  const makeCa = (name: string, subject: string) =>
    openssl(
      `req -x509 -new ${ecKey} -keyout ${name}.key -out ${name}.crt -days 1 -config ca.cnf -extensions v3_ca`,
      '-subj',
      subject,
    );
  // Two unrelated CAs (distinct names and keys): the server's and the wrong one.
  await Promise.all([makeCa('ca', '/CN=nestjs-redis-shield test CA'), makeCa('wrong-ca', '/CN=unrelated test CA')]);
  await openssl(`req -new ${ecKey} -keyout server.key -out server.csr`, '-subj', '/CN=localhost');
  await openssl(
    'x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 1 -extfile server.ext',
  );
  return { ca: path('ca.crt'), cert: path('server.crt'), key: path('server.key'), wrongCa: path('wrong-ca.crt') };
}

/** A TLS handshake that verifies the server against `caPem`, then PING → PONG. */
function pingOverTls(port: number, caPem: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: LOOPBACK, port, ca: caPem });
    const timer = setTimeout(() => finish(new Error(`no PONG within ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS);
    const finish = (error?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve();
    };
    let received = '';
    socket.once('secureConnect', () => socket.write(encodeCommand(['PING'])));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('utf8');
      if (received.includes('\r\n')) finish(received.startsWith('+PONG') ? undefined : new Error(received.trim()));
    });
    socket.once('error', (error) => finish(error));
  });
}
