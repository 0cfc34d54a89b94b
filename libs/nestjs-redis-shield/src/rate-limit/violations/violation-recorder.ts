import { Logger } from '@nestjs/common';
import type { RateLimitDecisionEvent, ShieldEvents } from '../../events/shield-events.js';
import type { TierResult } from '../rate-limit.types.js';
import type { KeyBuilder } from '../../redis/key-builder.js';
import type { ResolvedViolationOptions, Violation } from './violation.js';
import { ViolationLog } from './violation-log.js';
import { APPEND_BATCH, type ViolationStream } from './violation-stream.js';

/** How long shutdown waits for the last flush, in ms. */
const SHUTDOWN_FLUSH_MS = 2000;

/**
 * Turns rejected decisions, and a shadow policy's would-be rejections (`shadow: true`), into violations: buffers them in process and appends them to
 * the stream in batches (every `flushIntervalMs`, sooner when a batch is full), and logs
 * them through {@link ViolationLog}. Nothing here runs a Redis call per request. The
 * buffer is bounded: beyond `maxBuffered` violations are dropped and counted. Flushed
 * on shutdown.
 */
export class ViolationRecorder {
  private readonly logger = new Logger('RateLimit');
  private buffer: Violation[] = [];
  private readonly log: ViolationLog | undefined;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly unsubscribe: () => void;
  private flushing: Promise<void> | undefined;
  private flushScheduled = false;
  private lastErrorAt = 0;

  /** @internal Created by `RateLimitModule` from its `violations` option. */
  constructor(
    private readonly options: ResolvedViolationOptions,
    private readonly keys: KeyBuilder,
    private readonly events: ShieldEvents,
    private readonly stream: ViolationStream | undefined,
  ) {
    if (options.log) this.log = new ViolationLog(options.log.lines, options.log.intervalMs);
    if (stream && options.stream) {
      this.timer = setInterval(() => void this.flush(), options.flushIntervalMs);
      this.timer.unref();
    }
    this.unsubscribe = events.on('ratelimit.decision', (event) => this.decided(event));
  }

  /** Violations waiting for the next flush. */
  get buffered(): number {
    return this.buffer.length;
  }

  private decided({ clientId, route, result }: RateLimitDecisionEvent): void {
    const shadowed = result.tiers.some((tier) => tier.shadow && !tier.allowed);
    if (result.allowed && !shadowed) return;
    const kind = clientId.slice(0, Math.max(0, clientId.indexOf(':')));
    const client = `${kind || 'client'}:${this.keys.hashId(clientId)}`;
    const at = { client, route: route ?? 'unknown', atMs: result.nowMs };
    if (!result.allowed) {
      this.record({ ...at, policy: result.policy, tier: result.tier, shadow: false }, result.retryAfterMs);
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
        this.record({ ...at, policy: tier.policy, tier: tier.tier, shadow: true }, tier.retryAfterMs);
      }
    }
  }

  private record(violation: Violation, retryAfterMs: number): void {
    this.log?.violation(violation, retryAfterMs);
    this.events.emit('ratelimit.violation', violation);
    if (!this.timer) return;
    if (this.options.sampleRate < 1 && Math.random() >= this.options.sampleRate) return;
    if (this.buffer.length >= this.options.maxBuffered) {
      this.dropped(1);
      return;
    }
    this.buffer.push(violation);
    // A full batch goes out now rather than waiting for the timer.
    if (this.buffer.length >= APPEND_BATCH && !this.flushing && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        void this.flush();
      });
    }
  }

  /**
   * Appends everything buffered when called, in batches; resolves when done. Failures keep
   * the batch for the next try. What arrives meanwhile waits for the next flush: draining
   * it too sent one small batch per round trip under a flood (49 calls in 2 s, not 2-6).
   */
  async flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (!this.stream || this.buffer.length === 0) return;
    const stream = this.stream;
    let pending = this.buffer.length;
    this.flushing = (async () => {
      while (pending > 0) {
        const batch = this.buffer.splice(0, Math.min(APPEND_BATCH, pending));
        pending -= batch.length;
        try {
          await stream.append(batch);
        } catch (error) {
          this.requeue(batch);
          if (Date.now() - this.lastErrorAt > 10_000) {
            this.lastErrorAt = Date.now();
            this.logger.warn(`violations not written to the stream yet: ${(error as Error).message}`);
          }
          return;
        }
      }
    })().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  /** Stops the timer and writes what is left (bounded wait). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.unsubscribe();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      (async () => {
        await this.flushing;
        await this.flush();
      })(),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, SHUTDOWN_FLUSH_MS))),
    ]);
    clearTimeout(timer);
    this.log?.close();
  }

  /** Puts a failed batch back in front, dropping what no longer fits. */
  private requeue(batch: Violation[]): void {
    this.buffer = batch.concat(this.buffer);
    const excess = this.buffer.length - this.options.maxBuffered;
    if (excess > 0) {
      this.buffer.splice(this.options.maxBuffered);
      this.dropped(excess);
    }
  }

  private dropped(count: number): void {
    this.log?.droppedFromStream(count);
    this.events.emit('ratelimit.violations.dropped', { count });
  }
}
