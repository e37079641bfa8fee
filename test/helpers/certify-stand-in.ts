/**
 * A test-only stand-in for an entrance that names boxes and certifies them, until the entrance's own
 * CERTIFY handler is merged: it accepts every EXCHANGE (REACHABLE, with BOX_NAME = <box-id>.<domain>)
 * and answers each CERTIFY with `answer(csr, n)` (n = 1 for the first): a chain (issued by a real CA,
 * test-ca.ts) or an ERROR. Non-upgrade requests get 404, so a box connects without challenge headers.
 */
import http from 'node:http';
import { X509Certificate } from 'node:crypto';
import { WebSocketServer } from 'ws';
import { listenOn } from '../../shared/src/listen.js';

export type CertifyAnswer = { chain: string } | { error: string; code: string };

export interface CertifyStandIn {
  url: string;
  /** Every CSR received, in order. */
  csrs: string[];
  /** Every message received, as sent (to check the private key never leaves the box). */
  raw: string[];
  /** The last EXCHANGE each box sent. */
  lastExchange: Map<string, Record<string, unknown>>;
  boxName(boxId: string): string;
  answer: (csr: string, n: number) => CertifyAnswer;
}

export async function startCertifyStandIn(t: { teardown(fn: () => unknown): void }, o: { domain: string; answer: (csr: string, n: number) => CertifyAnswer }): Promise<CertifyStandIn> {
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"ERROR":"not found","ERROR_CODE":"E_NOT_FOUND"}');
  });
  const wss = new WebSocketServer({ server, maxPayload: 1024 * 1024 });
  const port = await listenOn(server, '127.0.0.1', 0);
  const own = { ID: 'entrance-standin', IP: '127.0.0.1', PORT: port, TYPE: 'ENTRANCE' };
  const standIn: CertifyStandIn = {
    url: `ws://127.0.0.1:${port}/dandelion/ws/`,
    csrs: [], raw: [], lastExchange: new Map(),
    boxName: (boxId) => `${boxId}.${o.domain}`,
    answer: o.answer,
  };
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      const text = data.toString();
      standIn.raw.push(text);
      const msg = JSON.parse(text) as Record<string, unknown>;
      const boxId = String(msg.ID);
      if (msg.COMMAND === 'EXCHANGE') {
        standIn.lastExchange.set(boxId, msg);
        ws.send(JSON.stringify({ ...own, COMMAND: 'EXCHANGE', MESSAGE: 'ACCEPTED', ENTRANCE_URLS: [], PUBLIC_IP: '127.0.0.1', REACHABLE: true, BOX_NAME: standIn.boxName(boxId) }));
      } else if (msg.COMMAND === 'CERTIFY') {
        const csr = String(msg.CSR);
        standIn.csrs.push(csr);
        const a = standIn.answer(csr, standIn.csrs.length);
        if ('chain' in a) {
          const notAfter = Math.floor(Date.parse(new X509Certificate(a.chain).validTo) / 1000);
          ws.send(JSON.stringify({ ...own, COMMAND: 'CERTIFY', MESSAGE: 'ACCEPTED', CERTIFICATE: a.chain, NOT_AFTER: notAfter }));
        } else {
          ws.send(JSON.stringify({ ...own, COMMAND: 'CERTIFY', ERROR: a.error, ERROR_CODE: a.code }));
        }
      }
    });
  });
  t.teardown(async () => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return standIn;
}
