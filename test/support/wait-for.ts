/**
 * Polls `condition` until it holds or `timeoutMs` passes; for effects that land just
 * after a response (e.g. a `finish` listener), never as a substitute for a real signal.
 */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 2000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
