import { createHash } from 'node:crypto';
import { Command } from 'ioredis';

/**
 * A run of script arguments that is the same on every call (a policy's tiers: field,
 * algorithm, limit and window of each), written in the wire format once: a call copies
 * its text instead of encoding each argument again. Build it once and keep it.
 */
export class EncodedArgs {
  /** How many arguments the run holds. */
  readonly count: number;
  /** The arguments as RESP bulk strings, one after the other. */
  readonly text: string;

  constructor(readonly values: readonly string[]) {
    this.count = values.length;
    this.text = values.map(bulkString).join('');
  }
}

/** An argument of a script call after its keys: a value, or a run of them encoded once. */
export type ScriptArg = string | number | EncodedArgs;

/** One value as a RESP bulk string: `$<bytes>\r\n<value>\r\n`. */
function bulkString(value: string): string {
  return `$${Buffer.byteLength(value)}\r\n${value}\r\n`;
}

/**
 * A Lua script registered with a connection: its source, its SHA-1, and the sockets that
 * have loaded it. The first call on a socket is an `EVAL` (which loads the script), every
 * later one an `EVALSHA`, as ioredis's own scripts do.
 */
export class LuaScript {
  readonly sha: string;
  private loaded = new WeakSet<object>();

  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  /** Whether `socket` has the script; the first ask for a socket answers false and counts it as loaded from then on. */
  loadedOn(socket: object): boolean {
    if (this.loaded.has(socket)) return true;
    this.loaded.add(socket);
    return false;
  }

  /** Redis answered NOSCRIPT (a restart, `SCRIPT FLUSH`): every socket loads the script again with its next call. */
  forget(): void {
    this.loaded = new WeakSet();
  }
}

/** Whether Redis refused an `EVALSHA` for not knowing the script. */
export function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

/**
 * One call of a {@link LuaScript}, sent through the client's `sendCommand`. Its `args` hold
 * the SHA-1 (or the source), the key count and the keys, so ioredis finds the keys as for
 * any `EVALSHA` (the client's `keyPrefix`, a Cluster's slot); the arguments after the keys
 * are written by {@link toWritable}, which copies each {@link EncodedArgs} run as it is.
 * Against ioredis's `defineCommand`, a call of the rate-limit script (three tiers) builds
 * about 3 KB less garbage (`bench/gc.mjs`).
 */
export class ScriptCommand extends Command {
  constructor(
    private readonly script: LuaScript,
    keys: readonly string[],
    private readonly rest: readonly ScriptArg[],
    replyEncoding: BufferEncoding | null,
    keyPrefix: string | undefined,
  ) {
    super('evalsha', [script.sha, keys.length, ...keys], { replyEncoding, keyPrefix });
  }

  override toWritable(socket: object): string {
    const { args, rest } = this;
    if (!this.script.loadedOn(socket)) {
      this.name = 'eval';
      args[0] = this.script.lua;
    } else if (this.name === 'eval') {
      // Sent again (a reconnection) on a socket that has it since.
      this.name = 'evalsha';
      args[0] = this.script.sha;
    }
    let count = args.length;
    for (const arg of rest) count += arg instanceof EncodedArgs ? arg.count : 1;
    let wire = `*${count + 1}\r\n${bulkString(this.name)}`;
    for (const arg of args) wire += bulkString(String(arg));
    for (const arg of rest) wire += arg instanceof EncodedArgs ? arg.text : bulkString(String(arg));
    return wire;
  }
}
