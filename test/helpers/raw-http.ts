/**
 * Raw bytes to an HTTP port over a plain TCP socket, for tests that send what no HTTP client would:
 * a request-target that cannot be parsed, a broken request line, an upgrade to a path that is no URL.
 */
import net from 'node:net';
import type { Test } from 'tap';

export interface RawAnswer {
  /** The status code of the first response line; undefined when the server sent nothing. */
  status: number | undefined;
  headers: string;
  body: string;
  /** The whole answer, as text. */
  text: string;
}

/**
 * Send `bytes` to host:port and read the first answer: until it is complete (by its content-length),
 * the server closes the connection, or `timeoutMs` passes (then whatever came so far is the answer).
 */
export function sendRaw(port: number, bytes: string | Buffer, host = '127.0.0.1', timeoutMs = 5_000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const chunks: Buffer[] = [];
    let answer: RawAnswer | undefined;
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    const parse = (): RawAnswer => {
      const text = Buffer.concat(chunks).toString('latin1');
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      return { status: m ? Number(m[1]) : undefined, headers: head, body: rest.join('\r\n\r\n'), text };
    };
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      const sofar = parse();
      const length = /\r\ncontent-length: *(\d+)/i.exec(sofar.headers);
      if (sofar.text.includes('\r\n\r\n') && length && Buffer.byteLength(sofar.body, 'latin1') >= Number(length[1])) {
        answer = sofar;
        socket.destroy();
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // A reset after the answer arrived is still an answer; before it, the caller sees the error.
      if (chunks.length === 0) {
        clearTimeout(timer);
        reject(err);
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(answer ?? parse());
    });
  });
}

/** A GET with this request-target, asking the server to close the connection after answering. */
export function rawGet(target: string, extraHeaders = ''): string {
  return `GET ${target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n${extraHeaders}\r\n`;
}

/** A WebSocket upgrade request with this request-target. */
export function rawUpgrade(target: string): string {
  return `GET ${target} HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;
}

/**
 * Request-targets that Node's HTTP parser lets through but `new URL(target, base)` cannot parse (found
 * by hand against each role's ports): each one used to kill the process that read it. The absolute-form
 * ones name no URL at all (400); the origin-form ones are paths that merely start with `//` (RFC 9112
 * origin-form), which nothing serves (404).
 */
export const UNPARSEABLE_TARGETS = ['http://[', 'http://', 'http://a:b/', 'http://host:99999/x', 'https://[::1/'] as const;
export const SLASH_SLASH_TARGETS = ['//', '///', '//[', '//a:b', '//host:99999/x'] as const;

/** The ERROR_CODE of a JSON answer body, or undefined when the body is not such JSON. */
export function errorCodeOf(answer: RawAnswer): unknown {
  try {
    return (JSON.parse(answer.body) as { ERROR_CODE?: unknown }).ERROR_CODE;
  } catch {
    return undefined;
  }
}

/** A listening port under test, and the ERROR_CODE its 404s carry (undefined: a 404 without one). */
export interface PortUnderTest {
  name: string;
  port: number;
  requestNotFoundCode?: string;
  upgradeNotFoundCode?: string;
}

/**
 * The refusals every role's HTTP servers owe a stranger: an unparseable request-target (plain or as an
 * upgrade) gets 400 E_BAD_REQUEST, a path starting with // is a path nothing serves (404), and bytes
 * that are no HTTP at all get 400 E_BAD_REQUEST.
 */
export async function checkMalformedRefused(t: Test, ports: readonly PortUnderTest[]): Promise<void> {
  for (const target of UNPARSEABLE_TARGETS) {
    for (const { name, port } of ports) {
      for (const [kind, bytes] of [['request', rawGet(target)], ['upgrade', rawUpgrade(target)]] as const) {
        const answer = await sendRaw(port, bytes);
        t.equal(answer.status, 400, `${name} ${kind} ${target}: 400`);
        t.equal(errorCodeOf(answer), 'E_BAD_REQUEST', `${name} ${kind} ${target}: E_BAD_REQUEST`);
      }
    }
  }
  // Paths that start with // (new URL took them for a host, and threw): nothing serves them.
  for (const target of SLASH_SLASH_TARGETS) {
    for (const { name, port, requestNotFoundCode, upgradeNotFoundCode } of ports) {
      for (const [kind, bytes, code] of [['request', rawGet(target), requestNotFoundCode], ['upgrade', rawUpgrade(target), upgradeNotFoundCode]] as const) {
        const answer = await sendRaw(port, bytes);
        t.equal(answer.status, 404, `${name} ${kind} ${target}: 404`);
        if (code !== undefined) t.equal(errorCodeOf(answer), code, `${name} ${kind} ${target}: ${code}`);
      }
    }
  }
  for (const { name, port } of ports) {
    const garbage = await sendRaw(port, 'this is not HTTP\r\n\r\n');
    t.equal(garbage.status, 400, `${name}: no HTTP at all: 400`);
    t.equal(errorCodeOf(garbage), 'E_BAD_REQUEST', `${name}: no HTTP at all: E_BAD_REQUEST`);
  }
}
