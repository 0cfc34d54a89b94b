import type { ServerResponse } from 'node:http';

/**
 * Runs `finished` once `response` has been sent in full, or `abandoned` once its
 * connection closed before that (the client went away): exactly one of them, once.
 * Also when that happened already, before the call, as it does for a client that went
 * away while its request waited on Redis or on the handler: `finish` and `close` are not
 * emitted again, so a listener added then would never run. Then the callback runs at once.
 */
export function whenResponseOver(response: ServerResponse, finished: () => void, abandoned: () => void): void {
  if (response.writableFinished) return finished();
  if (response.closed || response.destroyed) return abandoned();
  let over = false;
  response.once('finish', () => {
    if (over) return;
    over = true;
    finished();
  });
  response.once('close', () => {
    if (over) return;
    over = true;
    abandoned();
  });
}
