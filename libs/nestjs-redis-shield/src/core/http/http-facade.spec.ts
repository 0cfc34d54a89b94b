import express from 'express';
import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exchangeOf } from './http-facade.js';

/**
 * The Express exchange's `host` and `protocol` read the headers themselves when no
 * X-Forwarded-* header could change Express's answer; they must equal what Express's own
 * getters say for every combination, trusted proxy or not.
 */
describe('the Express exchange: host and protocol', () => {
  const servers: Server[] = [];

  afterAll(async () => {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  });

  /** An Express app with `trust proxy` set as given, answering with its view and the exchange's. */
  async function app(trustProxy: boolean): Promise<number> {
    const application = express();
    application.set('trust proxy', trustProxy);
    application.get('/', (req, res) => {
      const exchange = exchangeOf(req, res);
      res.json({
        express: { host: (req.hostname ?? '').toLowerCase(), protocol: req.protocol },
        exchange: { host: exchange.host, protocol: exchange.protocol },
      });
    });
    const server = await new Promise<Server>((resolve) => {
      const listening = application.listen(0, '127.0.0.1', () => resolve(listening));
    });
    servers.push(server);
    return (server.address() as AddressInfo).port;
  }

  function get(port: number, headers: Record<string, string>): Promise<{ express: unknown; exchange: unknown }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/', headers, setHost: false }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve(JSON.parse(body) as { express: unknown; exchange: unknown }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  const cases: Record<string, string>[] = [
    { host: 'api.example.com' },
    { host: 'API.Example.COM:8443' },
    { host: '[::1]:3000' },
    { host: 'api.example.com', 'x-forwarded-host': 'Public.Example.com' },
    { host: 'api.example.com', 'x-forwarded-host': 'a.example.com, b.example.com' },
    { host: 'api.example.com', 'x-forwarded-host': '' },
    { host: 'api.example.com', 'x-forwarded-proto': 'https' },
    { host: 'api.example.com', 'x-forwarded-proto': 'https, http' },
    { host: 'api.example.com', 'x-forwarded-proto': '' },
    { host: 'api.example.com', 'x-forwarded-host': 'edge.example.com:443', 'x-forwarded-proto': 'https' },
  ];

  it.each([false, true])('matches Express with trust proxy %s, for every header combination', async (trust) => {
    const port = await app(trust);
    for (const headers of cases) {
      const { express: expected, exchange } = await get(port, headers);
      expect({ headers, ...(exchange as object) }).toEqual({ headers, ...(expected as object) });
    }
  });
});
