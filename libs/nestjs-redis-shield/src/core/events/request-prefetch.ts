import { type ExecutionContext, Injectable } from '@nestjs/common';

/** Starts a read a later stage of the same request will need (e.g. the cache lookup). */
export type Prefetcher = (context: ExecutionContext) => void;

/**
 * Lets the rate-limit guard start the cache read of a request together with its own
 * script, without the two modules knowing each other: the cache interceptor registers
 * here, the guard calls {@link run} right before it asks Redis. Global through
 * `ShieldCoreModule`.
 */
@Injectable()
export class RequestPrefetch {
  private readonly prefetchers = new Set<Prefetcher>();

  /** Registers a prefetcher; returns the function that removes it. */
  register(prefetcher: Prefetcher): () => void {
    this.prefetchers.add(prefetcher);
    return () => this.prefetchers.delete(prefetcher);
  }

  /** Runs every prefetcher; one that throws never breaks the request (its stage reads normally). */
  run(context: ExecutionContext): void {
    for (const prefetcher of this.prefetchers) {
      try {
        prefetcher(context);
      } catch {
        // The interceptor will compute and read again on its own.
      }
    }
  }
}
