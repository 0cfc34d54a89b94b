/** One request of a {@link Load}: its status (0 when the request itself failed) and timing. */
export interface LoadResult {
  status: number;
  /** Wall time of the request, in ms. */
  ms: number;
  /** When it started (`Date.now()`). */
  at: number;
}

/** Steady traffic from `concurrency` loops, each sending its next request as soon as the last answered. */
export interface Load {
  /** Stops the loops and resolves with every result once the requests in flight answered. */
  stop(): Promise<LoadResult[]>;
}

/**
 * Starts steady traffic: each loop calls `send(n)` (n counts requests across loops) and
 * waits for the response before sending the next. A thrown error (refused, reset) is
 * recorded as status 0, so a test can assert the server never failed a request.
 */
export function startLoad(concurrency: number, send: (n: number) => Promise<Response>): Load {
  const results: LoadResult[] = [];
  let running = true;
  let count = 0;
  const loop = async () => {
    while (running) {
      const at = Date.now();
      const started = performance.now();
      let status: number;
      try {
        const response = await send(count++);
        await response.arrayBuffer();
        status = response.status;
      } catch {
        status = 0;
      }
      results.push({ status, ms: performance.now() - started, at });
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return results;
    },
  };
}

/** Status codes and their counts, e.g. `{ 200: 950, 429: 50 }`. */
export function statusCounts(results: LoadResult[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const { status } of results) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}

/** The slowest request, in ms. */
export function slowest(results: LoadResult[]): number {
  return results.reduce((max, result) => Math.max(max, result.ms), 0);
}
