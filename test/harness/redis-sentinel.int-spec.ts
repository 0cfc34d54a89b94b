import { Redis } from 'ioredis';
import { sendCommand, startRedisSentinel, type RedisSentinel } from './index.js';

// One Sentinel set for the file: the tests run in order, the failover last.

const TEST_TIMEOUT_MS = 30_000;

describe('startRedisSentinel', () => {
  let set: RedisSentinel;
  beforeAll(async () => {
    set = await startRedisSentinel();
  }, TEST_TIMEOUT_MS);
  afterAll(() => set?.stop());

  it('starts a replicated master watched by three Sentinels that agree on it', async () => {
    expect(set.nodes).toHaveLength(2);
    expect(set.sentinels).toHaveLength(3);
    const [master, replica] = set.nodes;
    expect(await set.master()).toBe(master);
    for (const sentinel of set.sentinelProcesses) {
      expect(await sentinel.command('SENTINEL', 'get-master-addr-by-name', set.masterName)).toEqual([
        '127.0.0.1',
        String(master.port),
      ]);
      expect(await sentinel.command('SENTINEL', 'CKQUORUM', set.masterName)).toMatch(/^OK 3 usable Sentinels/);
    }
    expect(await replica.command('INFO', 'replication')).toContain(`master_port:${master.port}`);
    await master.command('SET', 'replicated', 'yes');
    await master.command('WAIT', '1', '1000');
    expect(await replica.command('GET', 'replicated')).toBe('yes');
  });

  it('an ioredis Sentinel client reaches the master through the Sentinels', async () => {
    const client = new Redis({ sentinels: set.sentinels, name: set.masterName, lazyConnect: true });
    try {
      await client.connect();
      await client.set('via-sentinel', '1');
      expect(await set.nodes[0].command('GET', 'via-sentinel')).toBe('1');
    } finally {
      client.disconnect();
    }
  });

  it('a Sentinel can be killed (the quorum holds) and restarted with what it learnt', async () => {
    const sentinel = set.sentinelProcesses[2];
    const { pid } = sentinel;
    await sentinel.kill();
    await sentinel.kill();
    expect(sentinel.running).toBe(false);
    expect(() => process.kill(pid, 0)).toThrow();
    await expect(sendCommand(sentinel, ['PING'], 500)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(await set.sentinelProcesses[0].command('SENTINEL', 'CKQUORUM', set.masterName)).toMatch(/^OK/);

    await sentinel.restart();
    expect(sentinel.pid).not.toBe(pid);
    await set.waitUntilReady(10_000);
  });

  it(
    'promotes the replica when the master is SIGKILLed; waitForFailover names it; stop() leaves nothing behind',
    async () => {
      const [master, replica] = set.nodes;
      const killedAt = performance.now();
      await master.kill();
      const promoted = await set.waitForFailover(master.port, 20_000);
      const promotionMs = performance.now() - killedAt;
      expect(promoted).toBe(replica);
      expect(await set.master()).toBe(replica);
      expect(await replica.command('ROLE')).toEqual(expect.arrayContaining(['master']));
      expect(await replica.command('GET', 'replicated')).toBe('yes');
      expect(await replica.command('SET', 'after-failover', '1')).toBe('OK');
      // Kill to promotion: down-after (1 s) + agreement + election (+ up to 1 s desync).
      expect(promotionMs).toBeLessThan(15_000);

      const pids = [...set.sentinelProcesses.map((sentinel) => sentinel.pid), replica.pid];
      await Promise.all([set.stop(), set.stop()]);
      for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
    },
    TEST_TIMEOUT_MS,
  );
});
