import { createServer, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { whenResponseOver } from './response-over.js';

// Real Node responses: the events and flags whenResponseOver reads are Node's own.

type Outcome = 'finished' | 'abandoned';

let server: Server;
let onRequest: (response: ServerResponse) => void;

beforeAll(async () => {
  server = createServer((_request, response) => onRequest(response));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** Sends one request; `abort` destroys it once the server has the response object. */
function exchange(handle: (response: ServerResponse, outcome: (o: Outcome) => void) => void, abort = false) {
  return new Promise<Outcome[]>((resolve) => {
    const outcomes: Outcome[] = [];
    const record = (outcome: Outcome) => outcomes.push(outcome);
    onRequest = (response) => {
      handle(response, record);
      if (abort) client.destroy();
      // Every event of this response has fired by then.
      response.once('close', () => setTimeout(() => resolve(outcomes), 20));
    };
    const client = request({ port: (server.address() as AddressInfo).port, agent: false }, (res) => res.resume());
    client.on('error', () => undefined);
    client.end();
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('whenResponseOver', () => {
  it('runs finished once the response was sent', async () => {
    const outcomes = await exchange((response, record) => {
      whenResponseOver(
        response,
        () => record('finished'),
        () => record('abandoned'),
      );
      response.end('ok');
    });
    expect(outcomes).toEqual(['finished']);
  });

  it('runs abandoned once the client went away first', async () => {
    const outcomes = await exchange((response, record) => {
      whenResponseOver(
        response,
        () => record('finished'),
        () => record('abandoned'),
      );
    }, true);
    expect(outcomes).toEqual(['abandoned']);
  });

  it('runs abandoned at once when the client went away before the call', async () => {
    let later: Outcome[] = [];
    let response!: ServerResponse;
    await exchange((r) => (response = r), true);
    await sleep(20);
    expect(response.destroyed).toBe(true);
    whenResponseOver(
      response,
      () => later.push('finished'),
      () => later.push('abandoned'),
    );
    expect(later).toEqual(['abandoned']);
    later = [];
    await sleep(20);
    expect(later).toEqual([]);
  });

  it('runs finished at once when the response was sent before the call', async () => {
    const later: Outcome[] = [];
    let response!: ServerResponse;
    await exchange((r) => {
      response = r;
      r.end('ok');
    });
    whenResponseOver(
      response,
      () => later.push('finished'),
      () => later.push('abandoned'),
    );
    expect(later).toEqual(['finished']);
  });
});
