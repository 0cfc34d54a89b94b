import { Logger } from '@nestjs/common';
import { BufferedFlush } from '../../core/buffered-flush.js';
import { IntervalLog } from '../../core/interval-log.js';
import { RedisUnavailableError } from '../../redis/engine/redis.errors.js';
import type { ShieldEvents } from '../../core/events/shield-events.js';
import type { RateLimitDecisionEvent } from '../engine/rate-limit.events.js';
import type { TierResult } from '../engine/rate-limit.types.js';
import type { KeyBuilder } from '../../redis/engine/key-builder.js';
import type { ResolvedViolationOptions, Violation, ViolationRecord } from '../engine/violation.js';
import { ViolationLog } from '../engine/violation-log.js';
import { APPEND_BATCH, type ViolationStream } from './violation-stream.js';

/** How long shutdown waits for the last flush, in ms. */
const SHUTDOWN_FLUSH_MS = 2000;

/**
 * What one stream entry groups: the violations of one client under one policy, tier, route
 * and shadow flag. NUL cannot occur in any of them (HMACs, names, route templates).
 */
function groupOf(shadow: boolean, client: string, policy: string, tier: string, route: string): string {
  return `${shadow ? 's' : 'e'}\0${client}\0${policy}\0${tier}\0${route}`;
}

/** The group of a buffered entry (see {@link groupOf}). */
function groupOfEntry({ shadow, client, policy, tier, route }: Violation): string {
  return groupOf(shadow, client, policy, tier, route);
}

/** Folds `other` (the same group) into `into`: counts add up, the times span both. */
function merge(into: ViolationRecord, other: ViolationRecord): void {
  into.count += other.count;
  if (other.firstAtMs < into.firstAtMs) into.firstAtMs = other.firstAtMs;
  if (other.atMs > into.atMs) into.atMs = other.atMs;
}

/**
 * Turns rejected decisions, and a shadow policy's would-be rejections (`shadow: true`),
 * into violations: logs each through {@link ViolationLog}, emits it as
 * `ratelimit.violation`, and for the stream counts it in process under its client,
 * policy, tier, route and shadow flag. Every flush (every `flushIntervalMs`, sooner when
 * 1000 groups are waiting) appends one entry per group with its count and first and last
 * time, so a client rejected ten thousand times adds one entry per interval and cannot
 * push other clients' violations out of the capped stream. Nothing here runs a Redis call
 * per request. The buffer holds at most `maxBuffered` groups: violations of a new group
 * beyond it are dropped and counted. Flushed on shutdown.
 */
export class ViolationRecorder {
  private readonly logger = new Logger('RateLimit');
  /**
   * The interval's groups, in the order they first appeared, sent every `flushIntervalMs`;
   * none (no timer, nothing buffered) without a stream.
   */
  private readonly groups: BufferedFlush<Map<string, ViolationRecord>> | undefined;
  private readonly log: ViolationLog | undefined;
  private readonly unsubscribe: () => void;
  /** Append failures other than an outage: at most one line per 10 s. */
  private readonly appendErrors = new IntervalLog(10_000);
  /** The last client id seen and its form in violations (see {@link clientOf}). */
  private lastClient: { id: string; client: string } | undefined;

  /** @internal Created by `RateLimitModule` from its `violations` option. */
  constructor(
    private readonly options: ResolvedViolationOptions,
    private readonly keys: KeyBuilder,
    private readonly events: ShieldEvents,
    stream: ViolationStream | undefined,
  ) {
    if (options.log) this.log = new ViolationLog(options.log.lines, options.log.intervalMs, this.logger);
    if (stream && options.stream) {
      this.groups = new BufferedFlush<Map<string, ViolationRecord>>({
        intervalMs: options.flushIntervalMs,
        empty: () => new Map(),
        isEmpty: (groups) => groups.size === 0,
        send: (taken) => this.append(stream, taken),
        restore: (unsent, current) => this.requeue(unsent, current),
      });
    }
    this.unsubscribe = events.on('ratelimit.decision', (event) => this.decided(event));
  }

  /** Entries (groups of violations) waiting for the next flush. */
  get buffered(): number {
    return this.groups?.current.size ?? 0;
  }

  private decided({ clientId, route, result }: RateLimitDecisionEvent): void {
    const shadowed = result.tiers.some((tier) => tier.shadow && !tier.allowed);
    if (result.allowed && !shadowed) return;
    const client = this.clientOf(clientId);
    const where = route ?? 'unknown';
    if (!result.allowed) {
      this.record(client, where, result.nowMs, result.policy, result.tier, false, result.retryAfterMs);
    }
    // Each shadow policy that would have rejected, by its rejecting tier with the longest wait.
    if (shadowed) {
      const worst = new Map<string, TierResult>();
      for (const tier of result.tiers) {
        if (!tier.shadow || tier.allowed) continue;
        const known = worst.get(tier.policy);
        if (!known || tier.retryAfterMs > known.retryAfterMs) worst.set(tier.policy, tier);
      }
      for (const tier of worst.values()) {
        this.record(client, where, result.nowMs, tier.policy, tier.tier, true, tier.retryAfterMs);
      }
    }
  }

  /** The client as violations name it, `<kind>:<HMAC>`; the last one is kept, as a flood repeats one client. */
  private clientOf(clientId: string): string {
    if (this.lastClient?.id === clientId) return this.lastClient.client;
    const kind = clientId.slice(0, Math.max(0, clientId.indexOf(':')));
    const client = `${kind || 'client'}:${this.keys.hashId(clientId)}`;
    this.lastClient = { id: clientId, client };
    return client;
  }

  /**
   * Logs, announces and buffers one violation. The hot path of a flood (its group already
   * buffered, the log's lines for the interval spent, nobody listening to the event) only
   * counts it: no violation object is built for it.
   */
  private record(
    client: string,
    route: string,
    atMs: number,
    policy: string,
    tier: string,
    shadow: boolean,
    retryAfterMs: number,
  ): void {
    const announce = this.events.has('ratelimit.violation');
    if (announce || this.log?.wantsLine()) {
      const violation: Violation = { client, policy, tier, route, atMs, shadow };
      this.log?.violation(violation, retryAfterMs);
      if (announce) this.events.emit('ratelimit.violation', violation);
    } else {
      this.log?.suppress();
    }
    if (!this.groups) return;
    if (this.options.sampleRate < 1 && Math.random() >= this.options.sampleRate) return;
    const buffer = this.groups.current;
    const group = groupOf(shadow, client, policy, tier, route);
    const held = buffer.get(group);
    if (held) {
      held.count += 1;
      if (atMs > held.atMs) held.atMs = atMs;
      else if (atMs < held.firstAtMs) held.firstAtMs = atMs;
      return;
    }
    if (buffer.size >= this.options.maxBuffered) {
      this.dropped(1);
      return;
    }
    buffer.set(group, { client, policy, tier, route, atMs, shadow, firstAtMs: atMs, count: 1 });
    // A full batch goes out now rather than waiting for the timer.
    if (buffer.size >= APPEND_BATCH) this.groups.flushSoon();
  }

  /**
   * Appends every entry buffered when called, in batches; resolves when done. Failures keep
   * the failed batch and the rest for the next try. What arrives meanwhile is counted for
   * the next flush: draining it too sent one small batch per round trip under a flood (49
   * calls in 2 s, not 2-6).
   */
  flush(): Promise<void> {
    return this.groups?.flush() ?? Promise.resolve();
  }

  /** Stops the timer and writes what is left (bounded wait). */
  async close(): Promise<void> {
    this.unsubscribe();
    await this.groups?.close(SHUTDOWN_FLUSH_MS);
    this.log?.close();
  }

  /**
   * Appends `groups` in batches of {@link APPEND_BATCH}; resolves with the groups not
   * written (the failed batch and those after it), for {@link requeue}.
   */
  private async append(
    stream: ViolationStream,
    groups: Map<string, ViolationRecord>,
  ): Promise<Map<string, ViolationRecord> | void> {
    const pending = [...groups.values()];
    for (let sent = 0; sent < pending.length; sent += APPEND_BATCH) {
      try {
        await stream.append(pending.slice(sent, sent + APPEND_BATCH));
      } catch (error) {
        // An outage is the connection's to report (one line when it starts, one when it ends).
        if (!(error instanceof RedisUnavailableError) && this.appendErrors.due()) {
          this.logger.warn(`violations not written to the stream yet: ${(error as Error).message}`);
        }
        return new Map(pending.slice(sent).map((entry) => [groupOfEntry(entry), entry]));
      }
    }
  }

  /**
   * Puts entries that were not written back in front of what arrived meanwhile (the same
   * group's counts merged), dropping the newest groups that no longer fit and counting
   * every violation they stood for.
   */
  private requeue(
    buffer: Map<string, ViolationRecord>,
    arrived: Map<string, ViolationRecord>,
  ): Map<string, ViolationRecord> {
    for (const [group, entry] of arrived) {
      const held = buffer.get(group);
      if (held) merge(held, entry);
      else buffer.set(group, entry);
    }
    let excess = 0;
    let kept = 0;
    for (const [group, entry] of buffer) {
      if (++kept <= this.options.maxBuffered) continue;
      excess += entry.count;
      buffer.delete(group);
    }
    if (excess > 0) this.dropped(excess);
    return buffer;
  }

  private dropped(count: number): void {
    this.log?.droppedFromStream(count);
    this.events.emit('ratelimit.violations.dropped', { count });
  }
}
