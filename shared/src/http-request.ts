/**
 * One small HTTP(S) request on node:http, its reply body read as text up to a bound. The box agent's few
 * requests (enrolment challenges, UPnP SOAP calls) go through here rather than the global fetch: fetch
 * loads undici and its llhttp WebAssembly, about 27 MiB of resident memory for a handful of tiny requests
 * (bench agent-memory).
 */
import http from 'node:http';
import https from 'node:https';

export interface HttpReply {
  status: number;
  statusText: string;
  /** 2xx. */
  ok: boolean;
  /** Lower-case header names, as node:http gives them. */
  headers: http.IncomingHttpHeaders;
  /** The body as UTF-8 text; cut at `maxBodyBytes` with `truncated` set. */
  text: string;
  truncated: boolean;
}

export interface HttpRequestOptions {
  method: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs: number;
  /** Bytes of the body kept; the rest is read and dropped. */
  maxBodyBytes: number;
}

/** The request's reply; rejects when the server cannot be reached or does not answer within timeoutMs. Redirects are not followed. */
export function httpRequest(url: string | URL, opts: HttpRequestOptions): Promise<HttpReply> {
  const target = typeof url === 'string' ? new URL(url) : url;
  const client = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const headers = { ...opts.headers, ...(opts.body !== undefined ? { 'content-length': String(Buffer.byteLength(opts.body)) } : {}) };
    const req = client.request(target, { method: opts.method, headers, timeout: opts.timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let kept = 0;
      let truncated = false;
      res.on('data', (chunk: Buffer) => {
        if (kept + chunk.length > opts.maxBodyBytes) truncated = true;
        const room = opts.maxBodyBytes - kept;
        if (room > 0) chunks.push(room >= chunk.length ? chunk : chunk.subarray(0, room));
        kept += Math.min(room, chunk.length);
      });
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        resolve({ status, statusText: res.statusMessage ?? '', ok: status >= 200 && status < 300, headers: res.headers, text: Buffer.concat(chunks).toString('utf8'), truncated });
      });
      res.on('error', reject);
    });
    // A whole-request deadline, as fetch's AbortSignal.timeout gave: `timeout` above only watches silence.
    const deadline = setTimeout(() => req.destroy(new Error(`no answer in ${opts.timeoutMs} ms`)), opts.timeoutMs);
    req.on('timeout', () => req.destroy(new Error(`no answer in ${opts.timeoutMs} ms`)));
    req.on('error', reject);
    req.on('close', () => clearTimeout(deadline));
    req.end(opts.body);
  });
}
