/**
 * A release download server for the updater's own tests (agent/test/update/), as the entrance's
 * `GET /releases/<version>/<arch>` is specified (docs/updates.md): the binary, or from `Range: bytes=N-` on
 * with 206 and Content-Range; 404 for an unknown one. `cutNextAt` ends the next answer after that many bytes
 * (a dropped line), which the real entrance cannot be made to do. The end-to-end update test
 * (test/binary/agent-update.test.ts) downloads from a real entrance instead.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReleaseServer {
  /** http://127.0.0.1:PORT; a release is at `${base}/releases/<version>/<arch>`. */
  base: string;
  /** version → binary; the test adds releases as it goes. */
  binaries: Map<string, Buffer>;
  /** Each request as "<version> <Range header or whole>". */
  served: string[];
  cutNextAt: number | undefined;
}

const CHUNK = 4 * 1024 * 1024;

export async function startReleaseServer(t: { teardown(fn: () => unknown): void }): Promise<ReleaseServer> {
  const state: ReleaseServer = { base: '', binaries: new Map(), served: [], cutNextAt: undefined };
  const server = http.createServer((req, res) => {
    const version = /^\/releases\/([^/]+)\/[a-z0-9]+$/.exec(req.url ?? '')?.[1] ?? '';
    const body = state.binaries.get(version);
    if (!body) return void res.writeHead(404).end();
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const from = range ? Number(range[1]) : 0;
    state.served.push(`${version} ${req.headers.range ?? 'whole'}`);
    res.writeHead(range ? 206 : 200, { 'content-length': body.length - from, ...(range ? { 'content-range': `bytes ${from}-${body.length - 1}/${body.length}` } : {}) });
    const cut = state.cutNextAt;
    state.cutNextAt = undefined;
    const end = cut === undefined ? body.length : Math.min(body.length, from + cut);
    let at = from;
    const step = (): void => {
      if (res.destroyed) return;
      if (at >= end) return void (end < body.length ? res.destroy() : res.end());
      const next = Math.min(end, at + CHUNK);
      res.write(body.subarray(at, next));
      at = next;
      setImmediate(step);
    };
    step();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  state.base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}
