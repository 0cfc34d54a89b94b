// A TCP proxy in front of the bench's Redis that counts what apps send it: top-level
// commands (by name; scripts by their first line) and bytes. Commands a Lua script runs
// inside Redis never cross the wire, so they are not counted. A port of
// test/harness/resp-proxy.ts that keeps counts instead of a record of every command.
import { createHash } from 'node:crypto';
import { connect, createServer } from 'node:net';

const SCRIPT_COMMANDS = new Set(['EVAL', 'EVALSHA', 'EVAL_RO', 'EVALSHA_RO']);

/**
 * Starts a counting proxy on a free loopback port forwarding to `target` ({ host, port }).
 * `reset()` zeroes the counts; `snapshot()` returns `{ commands, bytes, byName }` since then,
 * where `byName` maps `EVALSHA <script>` / `GET` / ... to counts. Scripts are named by the
 * first line of their source once the proxy has seen it in an `EVAL` or `SCRIPT LOAD`
 * (after a `SCRIPT FLUSH`, every script's first use shows it), else by their SHA-1.
 */
export async function startCountingProxy(target) {
  const sockets = new Set();
  const scriptNames = new Map(); // sha1 → label
  let counts = fresh();

  const server = createServer((client) => {
    const upstream = connect({ host: target.host, port: target.port });
    const parser = new RespCommandParser();
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.setNoDelay(true);
      socket.on('error', () => {}); // 'close' tears the pair down
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (chunk) => {
      counts.bytes += chunk.length;
      for (const command of parser.push(chunk)) {
        counts.commands += 1;
        const label = labelOf(command, scriptNames);
        counts.byName.set(label, (counts.byName.get(label) ?? 0) + 1);
      }
    });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1' }, resolve);
  });
  const { port } = server.address();
  return {
    url: `redis://127.0.0.1:${port}`,
    reset() {
      counts = fresh();
    },
    snapshot() {
      return { commands: counts.commands, bytes: counts.bytes, byName: new Map(counts.byName) };
    },
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
    },
  };
}

function fresh() {
  return { commands: 0, bytes: 0, byName: new Map() };
}

function labelOf([name, ...args], scriptNames) {
  const upper = name.toUpperCase();
  if (upper === 'SCRIPT' && args[0]?.toUpperCase() === 'LOAD' && args[1] !== undefined) {
    remember(args[1], scriptNames);
    return 'SCRIPT LOAD';
  }
  if (!SCRIPT_COMMANDS.has(upper)) return upper;
  const sha = upper.startsWith('EVALSHA') ? args[0]?.toLowerCase() : remember(args[0] ?? '', scriptNames);
  return `${upper} ${scriptNames.get(sha) ?? `script ${sha?.slice(0, 8)}`}`;
}

/**
 * Names a script by its first comment line (`-- …`), else its first non-blank line, 40
 * characters at most.
 */
function remember(source, scriptNames) {
  const sha = createHash('sha1').update(source).digest('hex');
  if (!scriptNames.has(sha)) {
    const lines = source.split('\n').map((text) => text.trim());
    const line = lines.find((text) => text.startsWith('--')) ?? lines.find((text) => text !== '') ?? '';
    const label = line.replace(/^--\s*/, '').replace(/\s+/g, ' ');
    scriptNames.set(sha, `[${label.length > 40 ? `${label.slice(0, 39)}…` : label}]`);
  }
  return sha;
}

/**
 * Splits a client→server byte stream into commands (RESP arrays of bulk strings, or inline
 * commands), whatever the TCP chunking. After a protocol error it stops parsing (bytes still
 * flow and are still counted).
 */
class RespCommandParser {
  pending = [];
  pendingBytes = 0;
  // No command can complete before this many bytes are buffered, so large values are not rescanned per chunk.
  needed = 1;
  broken = false;

  /** Feeds a chunk; returns the commands it completes, each as `[name, ...args]`. */
  push(chunk) {
    if (this.broken) return [];
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes < this.needed) return [];
    const buffer = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
    const commands = [];
    let offset = 0;
    for (;;) {
      const parsed = this.parseOne(buffer, offset);
      if (parsed === undefined) break;
      if ('needed' in parsed) {
        this.needed = parsed.needed - offset;
        break;
      }
      if (parsed.command.length > 0) commands.push(parsed.command);
      offset = parsed.next;
    }
    const rest = this.broken ? Buffer.alloc(0) : buffer.subarray(offset);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    if (offset === buffer.length || this.broken) this.needed = 1;
    return commands;
  }

  parseOne(buffer, offset) {
    const eol = buffer.indexOf('\n', offset);
    if (eol < 0) return { needed: buffer.length + 1 };
    if (buffer[offset] !== 0x2a /* '*' */) {
      const line = buffer.toString('utf8', offset, eol).trim();
      return { command: line === '' ? [] : line.split(/\s+/), next: eol + 1 };
    }
    const count = this.number(buffer, offset + 1, eol);
    if (count === undefined) return undefined;
    const command = [];
    let at = eol + 1;
    for (let i = 0; i < count; i++) {
      const headerEnd = buffer.indexOf('\r\n', at);
      if (headerEnd < 0) return { needed: buffer.length + 1 };
      const length = buffer[at] === 0x24 /* '$' */ ? this.number(buffer, at + 1, headerEnd) : undefined;
      if (length === undefined) return undefined;
      const start = headerEnd + 2;
      if (buffer.length < start + length + 2) return { needed: start + length + 2 };
      // Only the name and the first two arguments are ever read (script source or SHA).
      command.push(i < 3 ? buffer.toString('utf8', start, start + length) : '');
      at = start + length + 2;
    }
    return { command, next: at };
  }

  number(buffer, start, end) {
    const text = buffer.toString('latin1', start, end).trim();
    const value = Number(text);
    if (text === '' || !Number.isInteger(value) || value < 0) {
      this.broken = true;
      return undefined;
    }
    return value;
  }
}
