import { TIMED_OUT, withTimeout } from './timeout.js';

/** What a {@link BufferedFlush} buffers and how it sends it. */
export interface BufferedFlushOptions<B> {
  /** How often the buffer is flushed, in ms (an unref'd interval: it never keeps the process alive). */
  intervalMs: number;
  /** A fresh, empty buffer. */
  empty(): B;
  /** Whether `buffer` holds nothing to send (an empty buffer is not sent). */
  isEmpty(buffer: B): boolean;
  /**
   * Sends a buffer taken out of the flusher (new writes go to a fresh one meanwhile).
   * Resolves with the part that was not sent, to be put back, or with nothing when all of
   * it went. A rejection puts all of it back and is passed to `onError`.
   */
  send(taken: B): Promise<B | void>;
  /**
   * Puts `unsent` back in front of `current` (what arrived since it was taken) and returns
   * the buffer to keep: merge counts, drop what no longer fits.
   */
  restore(unsent: B, current: B): B;
  /** Called with a rejection of `send`. Default: ignored (the data is kept for the next flush). */
  onError?(error: unknown): void;
}

/**
 * A buffer in process that is sent in one go every `intervalMs`, sooner on request, and
 * once more on close: for counts and records that must reach Redis without a Redis call
 * per request (statistics, violation streams). One send at a time; whatever could not be
 * sent is put back for the next flush.
 *
 * @example
 * const counts = new BufferedFlush({
 *   intervalMs: 1000,
 *   empty: () => ({ hits: 0 }),
 *   isEmpty: (b) => b.hits === 0,
 *   send: (b) => store.addCounts(b.hits).then(() => undefined, () => b),
 *   restore: (unsent, current) => ({ hits: unsent.hits + current.hits }),
 * });
 * counts.current.hits += 1; // on the hot path: no allocation, no I/O
 */
export class BufferedFlush<B> {
  private buffer: B;
  private readonly timer: NodeJS.Timeout;
  private inFlight: Promise<void> | undefined;
  private scheduled = false;
  private closed = false;

  /** Starts the interval. */
  constructor(private readonly options: BufferedFlushOptions<B>) {
    this.buffer = options.empty();
    this.timer = setInterval(() => void this.flush(), options.intervalMs);
    this.timer.unref();
  }

  /** The buffer new data goes into; a flush replaces it, so read it anew for each write. */
  get current(): B {
    return this.buffer;
  }

  /** Whether a send is in flight. */
  get flushing(): boolean {
    return this.inFlight !== undefined;
  }

  /**
   * Sends what is buffered now; resolves when done, never rejects. While a send is in
   * flight it returns that one: what arrived meanwhile waits for the next flush (so a
   * flood is sent in full batches, not one small batch per round trip).
   */
  flush(): Promise<void> {
    if (this.inFlight) return this.inFlight;
    if (this.options.isEmpty(this.buffer)) return Promise.resolve();
    const taken = this.buffer;
    this.buffer = this.options.empty();
    const sending = this.send(taken).finally(() => {
      this.inFlight = undefined;
    });
    this.inFlight = sending;
    return sending;
  }

  /** Waits for a send in flight, then sends everything buffered by then: for tests and shutdown. */
  drain(): Promise<void> {
    return this.inFlight ? this.inFlight.then(() => this.flush()) : this.flush();
  }

  /** A flush on the next turn of the event loop (a full batch should not wait for the timer), unless one is in flight or already scheduled. */
  flushSoon(): void {
    if (this.inFlight || this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  /**
   * Stops the interval and {@link drain}s, for at most `timeoutMs` when given. Resolves
   * false when the wait was cut (the data left is dropped with the process), else true.
   */
  async close(timeoutMs?: number): Promise<boolean> {
    this.closed = true;
    clearInterval(this.timer);
    if (timeoutMs === undefined) {
      await this.drain();
      return true;
    }
    return (await withTimeout(this.drain(), timeoutMs)) !== TIMED_OUT;
  }

  private async send(taken: B): Promise<void> {
    let unsent: B | void;
    try {
      unsent = await this.options.send(taken);
    } catch (error) {
      unsent = taken;
      this.options.onError?.(error);
    }
    if (unsent !== undefined && !this.options.isEmpty(unsent)) {
      this.buffer = this.options.restore(unsent, this.buffer);
    }
  }
}
