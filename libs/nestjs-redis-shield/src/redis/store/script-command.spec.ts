import { Command } from 'ioredis';
import { EncodedArgs, isNoScript, LuaScript, ScriptCommand } from './script-command.js';

/** What ioredis writes for the same command (its own encoding, the reference). */
function ioredisWire(name: string, args: (string | number)[]): string {
  return String(new Command(name, args).toWritable({}));
}

describe('ScriptCommand', () => {
  const script = new LuaScript("return redis.call('GET', KEYS[1])");

  it('writes what ioredis writes for the same EVALSHA, an encoded run copied as its arguments', () => {
    const socket = {};
    script.loadedOn(socket);
    const run = new EncodedArgs(['0', '3', 'ü-multibyte', '']);
    const command = new ScriptCommand(script, ['rl:{a}:x', 'rl:{a}:y'], ['', 'c', 7, run, 2, run], 'utf8', undefined);
    expect(command.toWritable(socket)).toBe(
      ioredisWire('evalsha', [
        script.sha,
        2,
        'rl:{a}:x',
        'rl:{a}:y',
        '',
        'c',
        7,
        ...['0', '3', 'ü-multibyte', ''],
        2,
        ...['0', '3', 'ü-multibyte', ''],
      ]),
    );
  });

  it('sends the source (EVAL) the first time on a socket, the SHA-1 after, and the source again once forgotten', () => {
    const local = new LuaScript('return 1');
    const socket = {};
    const wire = () => String(new ScriptCommand(local, ['k'], ['a'], 'utf8', undefined).toWritable(socket));
    expect(wire()).toBe(ioredisWire('eval', ['return 1', 1, 'k', 'a']));
    expect(wire()).toBe(ioredisWire('evalsha', [local.sha, 1, 'k', 'a']));
    expect(wire()).toBe(ioredisWire('evalsha', [local.sha, 1, 'k', 'a']));
    expect(String(new ScriptCommand(local, ['k'], ['a'], 'utf8', undefined).toWritable({}))).toContain(
      '$4\r\neval\r\n',
    );
    local.forget();
    expect(wire()).toBe(ioredisWire('eval', ['return 1', 1, 'k', 'a']));
  });

  it("prefixes its keys with the client's keyPrefix and exposes them as an EVALSHA's keys (a Cluster's slot)", () => {
    const socket = {};
    script.loadedOn(socket);
    const command = new ScriptCommand(script, ['{a}:x'], ['v'], 'utf8', 'app:');
    expect(command.getKeys()).toEqual(['app:{a}:x']);
    expect(command.toWritable(socket)).toBe(ioredisWire('evalsha', [script.sha, 1, 'app:{a}:x', 'v']));
  });

  it('tells a NOSCRIPT reply from other errors', () => {
    expect(isNoScript(new Error('NOSCRIPT No matching script. Please use EVAL.'))).toBe(true);
    expect(isNoScript(new Error('ERR Error running script'))).toBe(false);
    expect(isNoScript('NOSCRIPT')).toBe(false);
  });
});
