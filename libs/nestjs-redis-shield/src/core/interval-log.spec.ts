import { IntervalLog } from './interval-log.js';

describe('IntervalLog', () => {
  let now = 1_000_000;
  const log = () => new IntervalLog(10_000, () => now);

  it('lets the first line through, then one per interval', () => {
    const gate = log();
    expect(gate.due()).toBe(true);
    expect(gate.due()).toBe(false);
    now += 9_999;
    expect(gate.due()).toBe(false);
    now += 1;
    expect(gate.due()).toBe(true);
    // The interval restarts from the line that passed, not from the calls that did not.
    now += 5_000;
    expect(gate.due()).toBe(false);
    now += 5_000;
    expect(gate.due()).toBe(true);
  });

  it('keeps one interval per topic', () => {
    const gate = log();
    expect(gate.due('publish')).toBe(true);
    expect(gate.due('ignored')).toBe(true);
    expect(gate.due('publish')).toBe(false);
    expect(gate.due('ignored')).toBe(false);
    now += 10_000;
    expect(gate.due('ignored')).toBe(true);
    expect(gate.due('publish')).toBe(true);
  });

  it('reads Date.now by default', () => {
    const gate = new IntervalLog(60_000);
    expect(gate.intervalMs).toBe(60_000);
    expect(gate.due()).toBe(true);
    expect(gate.due()).toBe(false);
  });
});
