/**
 * fast-check generators of hostile input for the fuzz suite: raw HTTP requests (request lines,
 * targets, headers, bodies, truncated and oversize) and WebSocket traffic (valid-shaped messages with
 * fuzzed fields, invalid UTF-8, <Dandelion> frames with fuzzed headers, malformed framing). Each value
 * is a small printable description; `encode…` turns it into the bytes on the wire, so a counterexample
 * fast-check prints and shrinks stays readable even when it stands for 100 KiB of padding.
 * Nothing here knows about processes: harness.ts sends these.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';

// ---------------------------------------------------------------- pieces of text

/** A string, or `times` copies of `repeat` (large values described small, built only when sent). */
export type Piece = string | { repeat: string; times: number; before?: string; after?: string };

export function pieceText(p: Piece): string {
  return typeof p === 'string' ? p : (p.before ?? '') + p.repeat.repeat(p.times) + (p.after ?? '');
}

/** Printable ASCII, control characters, non-ASCII: what a scanner or a broken client puts anywhere. */
const anyChars = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 24 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 16 }) },
  { weight: 1, arbitrary: fc.string({ unit: fc.integer({ min: 0, max: 31 }).map((c) => String.fromCharCode(c)), maxLength: 6 }) },
  { weight: 1, arbitrary: fc.constantFrom('é', 'ü', '日本', '\u{1F600}', '\uFFFD', '\u0000', '\u007f', '\u00ff', '\u2028', '\uD800') },
);

/** A big value: 1 KiB to 100 KiB of one short pattern. */
const bigPiece = fc.record({ repeat: fc.constantFrom('A', 'x', '%', '/', '0', ' ', 'é', '{', '\\u0000', 'ab'), times: fc.integer({ min: 1024, max: 100 * 1024 }) });

const piece = (small: fc.Arbitrary<string>): fc.Arbitrary<Piece> => fc.oneof({ weight: 12, arbitrary: small }, { weight: 1, arbitrary: bigPiece });

// ---------------------------------------------------------------- raw HTTP

export type BodySpec =
  | { kind: 'none' }
  | { kind: 'exact'; data: Piece }
  /** Content-Length says `declared`, `data` is what is sent. */
  | { kind: 'lying'; declared: string; data: Piece }
  | { kind: 'chunked'; chunks: Piece[] }
  /** Chunked framing with garbage: bad sizes, missing CRLFs, huge sizes. */
  | { kind: 'chunkedGarbage'; raw: string };

export interface HttpRequestSpec {
  method: Piece;
  target: Piece;
  version: string;
  headers: Array<[string, Piece]>;
  /** One header sent `times` times (duplicates by the hundred). */
  repeated?: { header: [string, Piece]; times: number };
  /** Header lines that are not `name: value` (no colon, obs-fold, bare junk). */
  rawLines: string[];
  eol: string;
  body: BodySpec;
  /** Cut the request after this share of its bytes (1: whole). */
  keep: number;
}

/** How a connection ends after its bytes are written. */
export type ConnectionMode = 'end' | 'await' | 'abort' | 'linger';

export interface HttpConnectionSpec {
  /** Pipelined on one socket, in order. */
  requests: HttpRequestSpec[];
  mode: ConnectionMode;
  /** Write the bytes in this many pieces (incremental parsing). */
  pieces: number;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE', 'PRI', 'M-SEARCH', 'PROPFIND', 'QUERY'];

const method: fc.Arbitrary<Piece> = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom(...METHODS) },
  { weight: 1, arbitrary: fc.constantFrom('get', 'G ET', '', '\u0000GET', 'GET\t', 'GET /', 'ĜET', 'POST\r\n') },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Z_-]{1,16}$/) },
  { weight: 1, arbitrary: fc.record({ repeat: fc.constant('G'), times: fc.integer({ min: 100, max: 20_000 }) }) },
);

/** Targets nobody should send, each of which has crashed some server somewhere. */
const WEIRD_TARGETS = [
  '//', '///', '//x', '//evil.example/a', 'http://[', 'http://[::1', 'http://[zz]/', 'http://', 'http:', 'http:/x', 'HTTP://A',
  '%', '/%', '/%%', '/%zz', '/%2', '/%00', '/%ff%fe', '/%c0%ae%c0%ae/', '*', '', ' ', '?', '#', '/?', '/#', '/?a=%', '\\', '/\\\\x',
  'http://127.0.0.1/', 'http://127.0.0.1:99999/', 'https://a:b@host:1/x?y#z', 'ws://x/dandelion/ws/', 'file:///etc/passwd', 'mailto:x', 'javascript:1',
  'http://%/', 'http://a b/', 'http://[::1]:0/', 'x:', 'a:b:c', ':', '/a b', '/\u0000', '/\r', '/\t', '/é', '/日本', '/\u{1F600}', '../../etc/passwd',
  '/..', '/./.', '/dandelion/..%2f..%2f', 'localhost:80', 'example.com:443', '[::1]:80', '0', '-1', '\u00ff',
];

function targetFor(knownPaths: string[]): fc.Arbitrary<Piece> {
  const known = fc.constantFrom(...knownPaths);
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...WEIRD_TARGETS) },
    // A known path with something appended: reaches the handlers behind it.
    { weight: 6, arbitrary: fc.tuple(known, fc.oneof(fc.constant(''), anyChars, fc.constantFrom(...WEIRD_TARGETS))).map(([a, b]) => a + b) },
    { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...WEIRD_TARGETS), known).map(([a, b]) => a + b) },
    // Absolute form naming a known path.
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom('http://', 'https://', 'ws://', 'HTTP://', 'http://[', '//'), fc.constantFrom('127.0.0.1', 'a', '[::1]', '', '%', 'é', 'h:99999'), known).map(([s, h, p]) => s + h + p) },
    { weight: 2, arbitrary: fc.tuple(known, fc.constant('?'), fc.string({ maxLength: 40 })).map(([a, b, c]) => a + b + c) },
    { weight: 2, arbitrary: anyChars },
    { weight: 1, arbitrary: fc.webUrl({ withQueryParameters: true, withFragments: true }) },
    // Overlong.
    { weight: 1, arbitrary: fc.record({ repeat: fc.constantFrom('/a', '%', '/', 'é', '//'), times: fc.integer({ min: 2_000, max: 60_000 }) }) },
  );
}

const version = fc.oneof(
  { weight: 12, arbitrary: fc.constant('HTTP/1.1') },
  { weight: 3, arbitrary: fc.constant('HTTP/1.0') },
  { weight: 2, arbitrary: fc.constantFrom('HTTP/2.0', 'HTTP/0.9', 'HTTP/9.9', 'http/1.1', 'HTTP/1.1 extra', 'HTTP/1.', 'HTTP/', '', 'HTTP/1.1\u0000', 'ICE/1.0', 'HTTP/11') },
);

const HEADER_NAMES = [
  'Host', 'Content-Length', 'Transfer-Encoding', 'Connection', 'Upgrade', 'Sec-WebSocket-Key', 'Sec-WebSocket-Version', 'Sec-WebSocket-Extensions',
  'Sec-WebSocket-Protocol', 'Cookie', 'Authorization', 'Accept', 'Accept-Encoding', 'X-Forwarded-For', 'X-Real-IP', 'X-Dandelion-Box', 'X-Dandelion-Nonce',
  'X-Dandelion-Signature', 'Content-Type', 'Expect', 'Range', 'If-None-Match', 'If-Modified-Since', 'Origin', 'Referer', 'User-Agent', 'Keep-Alive', 'TE', 'Trailer',
];

const headerValue = piece(
  fc.oneof(
    { weight: 4, arbitrary: anyChars },
    { weight: 2, arbitrary: fc.constantFrom('0', '-1', '1', '18446744073709551616', '1e3', '0x10', ' 5', '5, 5', '', 'chunked', 'gzip, chunked', 'chunked, gzip', 'identity', 'upgrade', 'Upgrade, keep-alive', 'close', 'websocket', 'WebSocket', 'h2c', '13', '8', '100-continue', 'bytes=0-', 'bytes=-1', 'bytes=9999999999-', 'Bearer ', 'Bearer x', 'Basic Og==', 'a=b; c', '=;=;', '127.0.0.1', '1.2.3.4, 127.0.0.1', 'unknown', '::1', 'box-x', 'permessage-deflate; client_max_window_bits') },
    { weight: 1, arbitrary: fc.base64String({ maxLength: 40 }) },
  ),
);

const header: fc.Arbitrary<[string, Piece]> = fc.tuple(
  fc.oneof(
    { weight: 10, arbitrary: fc.constantFrom(...HEADER_NAMES) },
    { weight: 1, arbitrary: fc.constantFrom('', ' Host', 'Host ', 'Ho st', 'Hoſt', 'Content-Length\u0000', 'X-é', ':', 'a:b', 'X\tY') },
    { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z-]{1,30}$/) },
  ),
  headerValue,
);

/** Headers that make a WebSocket upgrade, or nearly: good and bad keys and versions. */
const upgradeHeaders: fc.Arbitrary<Array<[string, Piece]>> = fc
  .record({
    key: fc.oneof(fc.constant('dGhlIHNhbXBsZSBub25jZQ=='), fc.base64String({ maxLength: 40 }), fc.constantFrom('', '=', 'not base64!', '\u00ff\u00fe'), fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('base64'))),
    version: fc.constantFrom('13', '8', '', '99', '13, 8', 'x'),
    connection: fc.constantFrom('Upgrade', 'upgrade', 'keep-alive, Upgrade', 'close', ''),
    upgrade: fc.constantFrom('websocket', 'WebSocket', 'h2c', '', 'websocket, h2c'),
    extras: fc.array(header, { maxLength: 3 }),
  })
  .map(({ key, version, connection, upgrade, extras }) => [['Connection', connection], ['Upgrade', upgrade], ['Sec-WebSocket-Key', key], ['Sec-WebSocket-Version', version], ...extras]);

const bodyData = piece(fc.oneof(fc.string({ maxLength: 200 }), fc.json({ maxDepth: 3 }), fc.constantFrom('{"ID":"box-x"}', 'username=a&password=b&csrf=c', '\u0000\u0001', '')));

const body: fc.Arbitrary<BodySpec> = fc.oneof(
  { weight: 8, arbitrary: fc.constant<BodySpec>({ kind: 'none' }) },
  { weight: 3, arbitrary: bodyData.map((data): BodySpec => ({ kind: 'exact', data })) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('lying' as const), declared: fc.constantFrom('0', '1', '10', '100000', '-5', 'abc', '99999999999999999999', '1, 2', '0x1'), data: bodyData }) },
  { weight: 2, arbitrary: fc.array(bodyData, { maxLength: 4 }).map((chunks): BodySpec => ({ kind: 'chunked', chunks })) },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom('zz\r\nabc\r\n0\r\n\r\n', 'ffffffffffffffff\r\nx', '5\r\nab', '-1\r\n\r\n', '3\r\nabcde\r\n0\r\n\r\n', '0;ext="\r\n\r\n', '\r\n\r\n', '1\nx\n0\n\n', '10000000\r\n', '0\r\nX-Trailer: \u0000\r\n\r\n', '2\r\n\u00ff\u00fe\r\n0\r\n')
      .map((raw): BodySpec => ({ kind: 'chunkedGarbage', raw })),
  },
);

function httpRequest(knownPaths: string[]): fc.Arbitrary<HttpRequestSpec> {
  return fc.record({
    method,
    target: targetFor(knownPaths),
    version,
    headers: fc.oneof({ weight: 3, arbitrary: fc.array(header, { maxLength: 8 }) }, { weight: 1, arbitrary: upgradeHeaders }),
    // Small values only: 400 copies of a 100 KiB header would be 40 MB per request.
    repeated: fc.option(fc.record({ header: fc.tuple(fc.constantFrom(...HEADER_NAMES), anyChars), times: fc.integer({ min: 2, max: 400 }) }), { freq: 6, nil: undefined }),
    rawLines: fc.oneof({ weight: 6, arbitrary: fc.constant<string[]>([]) }, { weight: 1, arbitrary: fc.array(fc.constantFrom('no colon here', ' folded continuation', '\tfolded', ':empty-name', 'X-A:\u0000', '\u0000', ' ', 'Host: a\rInjected: b'), { maxLength: 3 }) }),
    eol: fc.constantFrom('\r\n', '\r\n', '\r\n', '\r\n', '\r\n', '\n', '\r'),
    body,
    keep: fc.oneof({ weight: 8, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.double({ min: 0, max: 1, noNaN: true }) }),
  });
}

/** One connection: 1–3 pipelined requests and how it ends. */
export function httpConnection(knownPaths: string[]): fc.Arbitrary<HttpConnectionSpec> {
  return fc.record({
    requests: fc.oneof({ weight: 6, arbitrary: fc.array(httpRequest(knownPaths), { minLength: 1, maxLength: 1 }) }, { weight: 1, arbitrary: fc.array(httpRequest(knownPaths), { minLength: 2, maxLength: 3 }) }),
    mode: fc.constantFrom<ConnectionMode>('await', 'await', 'await', 'await', 'end', 'end', 'abort', 'linger'),
    pieces: fc.oneof({ weight: 5, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: 2, max: 6 }) }),
  });
}

export function encodeHttpRequest(r: HttpRequestSpec): Buffer {
  const head: string[] = [`${pieceText(r.method)} ${pieceText(r.target)} ${r.version}`.replace(/ $/, '')];
  for (const [name, value] of r.headers) head.push(`${name}: ${pieceText(value)}`);
  if (r.repeated) for (let i = 0; i < r.repeated.times; i++) head.push(`${r.repeated.header[0]}: ${pieceText(r.repeated.header[1])}`);
  head.push(...r.rawLines);
  let bodyBytes = Buffer.alloc(0);
  switch (r.body.kind) {
    case 'none':
      break;
    case 'exact':
      bodyBytes = Buffer.from(pieceText(r.body.data));
      head.push(`Content-Length: ${bodyBytes.length}`);
      break;
    case 'lying':
      bodyBytes = Buffer.from(pieceText(r.body.data));
      head.push(`Content-Length: ${r.body.declared}`);
      break;
    case 'chunked': {
      head.push('Transfer-Encoding: chunked');
      const parts = r.body.chunks.map((c) => Buffer.from(pieceText(c))).filter((b) => b.length > 0);
      bodyBytes = Buffer.concat([...parts.flatMap((b) => [Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]), Buffer.from('0\r\n\r\n')]);
      break;
    }
    case 'chunkedGarbage':
      head.push('Transfer-Encoding: chunked');
      bodyBytes = Buffer.from(r.body.raw, 'latin1');
      break;
  }
  // Targets and header values go out as UTF-8 (non-ASCII bytes on the wire, as a scanner sends them).
  const whole = Buffer.concat([Buffer.from(head.join(r.eol) + r.eol + r.eol), bodyBytes]);
  return r.keep >= 1 ? whole : whole.subarray(0, Math.floor(whole.length * r.keep));
}

/** A request a correct client sends (warm-up and the "still serves" check). */
export function validGet(path: string, host = '127.0.0.1'): Buffer {
  return Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
}

// ---------------------------------------------------------------- WebSocket messages

const hex = (min: number, max: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: min, maxLength: max });

/** IDs: new valid ones each time, and every wrong kind. */
function idOf(prefix: string): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 10, arbitrary: hex(6, 16).map((h) => `${prefix}-fz${h}`) },
    { weight: 1, arbitrary: fc.constantFrom('', 'box-', 'publisher-', 'entrance-x', 'box-a b', 'box-../../x', 'box-\u0000', 'publisher-é', 'BOX-x', '__proto__', 'box-x:y:z') },
    { weight: 1, arbitrary: fc.record({ repeat: fc.constant('a'), times: fc.integer({ min: 101, max: 5000 }) }).map((p) => `${prefix}-${pieceText(p)}`) },
    { weight: 1, arbitrary: fc.constantFrom<unknown>(null, 0, 12, true, [], {}, ['box-x'], { ID: 'box-x' }) },
  );
}

const junkValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(null, -1, 1e308, -0, '', 'NaN', '1e999', [], {}, [[[[[]]]]], JSON.parse('{"__proto__":{"x":1}}') as unknown) },
  { weight: 1, arbitrary: bigPiece.map(pieceText) },
);

const fieldValue = <T>(good: fc.Arbitrary<T>): fc.Arbitrary<unknown> => fc.oneof({ weight: 6, arbitrary: good as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: junkValue }, { weight: 1, arbitrary: fc.constant(undefined) });

const ip = fc.constantFrom<unknown>('127.0.0.1', '::1', '203.0.113.7', 'box.example', '', 'not an ip', '999.1.1.1', '[::1]', 7, null);
const port = fc.constantFrom<unknown>(7071, '7071', 0, -1, 65536, 'abc', 1.5, null, '');
const command = fc.oneof({ weight: 8, arbitrary: fc.constantFrom('EXCHANGE', 'SEARCH', 'PUBLISH', 'FILE') }, { weight: 1, arbitrary: fc.constantFrom<unknown>('', 'exchange', 'SUBSCRIBE', 'DELETE', 'PING', 1, null, ['SEARCH']) });
const type = fc.oneof({ weight: 8, arbitrary: fc.constantFrom('BOX', 'PUBLISHER', 'ENTRANCE', 'Entrance', 'publisher') }, { weight: 1, arbitrary: fc.constantFrom<unknown>('', 'VIEWER', 3, null) });
const geoip = fc.oneof(
  fc.record({ LOC: fc.constantFrom('25.04,121.53', '91,0', '0,181', 'x,y', '', '1,2,3'), COUNTRY: fc.constantFrom('TW', '', 'é'), IP: ip }, { requiredKeys: [] }),
  junkValue,
);
const aggregates = fc.oneof(
  fc.array(fc.record({ ID: hex(4, 12), MINUTE: fc.integer(), PUBLISHER: idOf('publisher'), BYTES: fc.oneof(fc.nat(), junkValue), REQUESTS: fc.oneof(fc.nat(), junkValue) }, { requiredKeys: [] }), { maxLength: 4 }),
  junkValue,
);

/** A JSON message of the right shape for COMMAND, some of its fields wrong. */
function protocolMessage(): fc.Arbitrary<Record<string, unknown>> {
  return fc.oneof(
    // EXCHANGE from a box.
    fc.record({
      ID: idOf('box'), IP: fieldValue(ip), PORT: fieldValue(port), TYPE: fieldValue(type), COMMAND: fieldValue(fc.constant('EXCHANGE')),
      CONNECT_WS: fieldValue(fc.constantFrom('ws://127.0.0.1:7071/dandelion/box-x/ws/', 'ws://[', '', 'http://x')),
      'CPU-NUM': fieldValue(fc.nat()), 'MEM-TOTAL': fieldValue(fc.nat()), 'DISK-AVAIL': fieldValue(fc.double()), GEOIP: geoip,
      TRAFFIC_AGGREGATES: aggregates, HTTP_URL: fieldValue(fc.webUrl()),
    }, { requiredKeys: ['ID', 'COMMAND'] }),
    // SEARCH from a publisher.
    fc.record({
      ID: idOf('publisher'), IP: fieldValue(ip), TYPE: fieldValue(fc.constant('PUBLISHER')), COMMAND: fieldValue(fc.constant('SEARCH')), GEOIP: geoip,
      ORIGIN_BYTES: fieldValue(fc.nat()), ORIGIN_SINCE: fieldValue(fc.integer({ min: 1_600_000_000, max: 2_000_000_000 })),
    }, { requiredKeys: ['ID', 'IP', 'TYPE', 'COMMAND'] }),
    // PUBLISH from a publisher.
    fc.record({ ID: idOf('publisher'), IP: fieldValue(ip), TYPE: fieldValue(fc.constant('PUBLISHER')), COMMAND: fieldValue(fc.constant('PUBLISH')), PORT: fieldValue(port) }, { requiredKeys: ['ID', 'IP', 'TYPE', 'COMMAND'] }),
    // Anything with some envelope.
    fc.record({ ID: idOf('box'), IP: ip, PORT: port, TYPE: type, COMMAND: command }, { requiredKeys: [] }),
  ).chain((msg) =>
    // Extra keys: unknown scalars, prototype poisoning, nested junk, many keys.
    fc.oneof(
      { weight: 6, arbitrary: fc.constant(msg) },
      { weight: 2, arbitrary: fc.dictionary(fc.string({ maxLength: 12 }), junkValue, { maxKeys: 6 }).map((extra) => ({ ...extra, ...msg })) },
      { weight: 1, arbitrary: fc.constant({ ...msg, ['__proto__']: { ERROR: 'x' }, constructor: { prototype: { polluted: 1 } } }) },
      { weight: 1, arbitrary: fc.integer({ min: 1000, max: 3000 }).map((n) => ({ ...msg, ...Object.fromEntries(Array.from({ length: n }, (_, i) => [`K${i}`, i])) })) },
      { weight: 1, arbitrary: fc.constant({ ...msg, NESTED: JSON.parse('['.repeat(2000) + ']'.repeat(2000)) as unknown }) },
    ),
  );
}

/** Text of a JSON message, sometimes broken. */
const jsonText: fc.Arbitrary<Piece> = fc.tuple(protocolMessage(), fc.oneof({ weight: 8, arbitrary: fc.constant('none') }, { weight: 1, arbitrary: fc.constantFrom('truncate', 'trailing', 'pad', 'lone-surrogate', 'duplicate-keys') })).map(([msg, how]) => {
  const text = JSON.stringify(msg);
  switch (how) {
    case 'truncate':
      return text.slice(0, Math.max(1, text.length >> 1));
    case 'trailing':
      return `${text}}garbage`;
    case 'pad':
      // Valid JSON made large with whitespace: the frames that filled an entrance's memory.
      return { before: text.slice(0, -1), repeat: ' ', times: 200_000, after: '}' } satisfies Piece;
    case 'lone-surrogate':
      return text.replace(/"ID":"/, '"ID":"\uD800');
    case 'duplicate-keys':
      return text.replace(/^\{/, '{"COMMAND":"SEARCH","COMMAND":"PUBLISH",');
    default:
      return text;
  }
});

export type FramePayload =
  | { text: Piece }
  /** Raw bytes sent in a text frame (invalid UTF-8 among them). */
  | { textBytes: number[] }
  /** `<Dandelion>` + header + `</Dandelion>` + content, in a binary frame. */
  | { binary: { open: string; header: Piece; close: string; content: Piece } }
  | { bytes: number[] };

/** One WebSocket frame, described field by field so malformed framing can be generated too. */
export interface WsFrameSpec {
  fin: boolean;
  rsv: number;
  opcode: number;
  /** 'zero': masked with key 0 (payload bytes unchanged); 'none': an unmasked client frame (a protocol error). */
  mask: 'random' | 'zero' | 'none';
  /** 'auto': the right length; otherwise the declared length lies. */
  length: 'auto' | 'short' | 'long' | 'huge' | 'non-minimal';
  payload: FramePayload;
}

const filePath = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom('live/', '', '/', 'a/b/c/', 'hls/'), hex(1, 10), fc.constantFrom('.ts', '.m3u8', '.m4s', '', '.bin')).map(([d, h, e]) => `${d}seg-${h}${e}`) },
  { weight: 2, arbitrary: fc.constantFrom<unknown>('', '/', '//', '../x', 'a/../../b', '/etc/passwd', 'a\\b', 'C:x', 'a\u0000b', 'a\nb', '.', 'a//b', 'x/', 'é/日本.ts', '.hidden', `${'d/'.repeat(40)}x`, `${'s'.repeat(300)}`, 12, null, ['a'], { p: 1 }) },
  { weight: 1, arbitrary: anyChars },
  { weight: 1, arbitrary: bigPiece.map(pieceText) },
);
const ttl = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(1, 5, 30) }, { weight: 1, arbitrary: fc.constantFrom<unknown>(0, -1, 604801, 1e308, '10', 'x', null, 1.5, [], undefined) });

const frameHeaderText: fc.Arbitrary<Piece> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ FILE_PATH: filePath, TTL: ttl }, { requiredKeys: [] }).chain((h) => fc.oneof(fc.constant(h), fc.dictionary(fc.string({ maxLength: 8 }), junkValue, { maxKeys: 3 }).map((x) => ({ ...x, ...h })))).map((h) => JSON.stringify(h)) },
  { weight: 1, arbitrary: fc.constantFrom('', '{', 'null', '[]', '"x"', '{"FILE_PATH":', '{"FILE_PATH":"a"}</Dandelion>', '\u0000', '{"FILE_PATH":"a","__proto__":{"TTL":1}}') },
  { weight: 1, arbitrary: fc.record({ repeat: fc.constantFrom(' ', 'x'), times: fc.integer({ min: 16 * 1024 - 16, max: 40 * 1024 }) }) },
);

const content: fc.Arbitrary<Piece> = fc.oneof({ weight: 10, arbitrary: fc.string({ maxLength: 300 }) }, { weight: 1, arbitrary: fc.record({ repeat: fc.constantFrom('\u0000', 'x'), times: fc.integer({ min: 1024, max: 512 * 1024 }) }) });

const binaryPayload: fc.Arbitrary<FramePayload> = fc.record({
  open: fc.oneof({ weight: 10, arbitrary: fc.constant('<Dandelion>') }, { weight: 1, arbitrary: fc.constantFrom('', '<dandelion>', '<Dandelion', ' <Dandelion>', '<Dandelion><Dandelion>') }),
  header: frameHeaderText,
  close: fc.oneof({ weight: 10, arbitrary: fc.constant('</Dandelion>') }, { weight: 1, arbitrary: fc.constantFrom('', '</dandelion>', '</Dandelion', '<Dandelion>') }),
  content,
}).map((binary) => ({ binary }));

const invalidUtf8 = fc.constantFrom<number[]>([0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x7b, 0x22, 0xe2, 0x28, 0xa1, 0x22, 0x7d], [0xe2, 0x82], [0x00]);

export const frameArb: fc.Arbitrary<WsFrameSpec> = fc.oneof(
  // Well-framed text messages.
  { weight: 10, arbitrary: jsonText.map((text): WsFrameSpec => ({ fin: true, rsv: 0, opcode: 1, mask: 'random', length: 'auto', payload: { text } })) },
  { weight: 1, arbitrary: invalidUtf8.map((textBytes): WsFrameSpec => ({ fin: true, rsv: 0, opcode: 1, mask: 'random', length: 'auto', payload: { textBytes } })) },
  // Well-framed <Dandelion> binary frames.
  { weight: 6, arbitrary: binaryPayload.map((payload): WsFrameSpec => ({ fin: true, rsv: 0, opcode: 2, mask: 'zero', length: 'auto', payload })) },
  // Malformed framing.
  {
    weight: 2,
    arbitrary: fc.record({
      fin: fc.boolean(),
      rsv: fc.integer({ min: 0, max: 7 }),
      opcode: fc.integer({ min: 0, max: 15 }),
      mask: fc.constantFrom<WsFrameSpec['mask']>('random', 'zero', 'none'),
      length: fc.constantFrom<WsFrameSpec['length']>('auto', 'short', 'long', 'huge', 'non-minimal'),
      payload: fc.oneof(
        fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 140 }).map((bytes): FramePayload => ({ bytes })),
        jsonText.map((text): FramePayload => ({ text })),
        // Close frames with odd codes and reasons.
        fc.tuple(fc.constantFrom(0, 999, 1000, 1004, 1005, 1006, 1015, 2999, 4000, 5000, 65535), fc.constantFrom([], [0xff], [0x61])).map(([code, reason]): FramePayload => ({ bytes: [code >> 8, code & 0xff, ...reason] })),
      ),
    }),
  },
);

export interface WsSessionSpec {
  /** A valid PUBLISH (new publisher ID) before the frames, so binary frames reach the file store. */
  publishFirst: false | string;
  frames: WsFrameSpec[];
  /** How the session ends after its frames. */
  ending: 'close-frame' | 'end' | 'abort' | 'wait';
}

/** A socket's worth of fuzzed frames (1–6; most are answered before the next arrives). */
export const wsSessionArb: fc.Arbitrary<WsSessionSpec> = fc.record({
  publishFirst: fc.oneof(fc.constant(false as const), hex(6, 12).map((h) => `publisher-fz${h}`)),
  frames: fc.array(frameArb, { minLength: 1, maxLength: 6 }),
  ending: fc.constantFrom<WsSessionSpec['ending']>('close-frame', 'end', 'end', 'abort', 'wait'),
});

/** Many large frames sent without waiting for replies: what byte budgets are for. */
export interface FloodSpec {
  /** Sockets flooding at once. */
  sockets: number;
  /** Frames on each socket. */
  frames: number;
  /** Bytes of each frame. */
  bytes: number;
  kind: 'search' | 'file' | 'text-junk';
}

export function floodArb(limits: { maxSockets: number; maxFrames: number; maxBytes: number }): fc.Arbitrary<FloodSpec> {
  return fc.record({
    sockets: fc.integer({ min: 1, max: limits.maxSockets }),
    frames: fc.integer({ min: 8, max: limits.maxFrames }),
    bytes: fc.integer({ min: limits.maxBytes >> 2, max: limits.maxBytes }),
    kind: fc.constantFrom<FloodSpec['kind']>('search', 'file', 'text-junk'),
  });
}

// ---------------------------------------------------------------- WebSocket bytes

export function framePayloadBytes(p: FramePayload): Buffer {
  if ('text' in p) return Buffer.from(pieceText(p.text));
  if ('textBytes' in p) return Buffer.from(p.textBytes);
  if ('bytes' in p) return Buffer.from(p.bytes);
  return Buffer.concat([Buffer.from(p.binary.open), Buffer.from(pieceText(p.binary.header)), Buffer.from(p.binary.close), Buffer.from(pieceText(p.binary.content))]);
}

/** The bytes of one client frame. Random masks are derived from the payload, so a run replays exactly. */
export function encodeFrame(f: WsFrameSpec, payload: Buffer = framePayloadBytes(f.payload)): Buffer[] {
  const len = payload.length;
  const declared = f.length === 'short' ? Math.max(0, len - 3) : f.length === 'long' ? len + 1000 : len;
  let head: Buffer;
  const b0 = (f.fin ? 0x80 : 0) | ((f.rsv & 7) << 4) | (f.opcode & 0x0f);
  const maskBit = f.mask === 'none' ? 0 : 0x80;
  if (f.length === 'huge') {
    head = Buffer.alloc(10);
    head[0] = b0;
    head[1] = maskBit | 127;
    head.writeBigUInt64BE(0x7fff_ffff_ffff_ffffn, 2);
  } else if (declared < 126 && f.length !== 'non-minimal') {
    head = Buffer.from([b0, maskBit | declared]);
  } else if (declared < 65536 && f.length !== 'non-minimal') {
    head = Buffer.alloc(4);
    head[0] = b0;
    head[1] = maskBit | 126;
    head.writeUInt16BE(declared, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = b0;
    head[1] = maskBit | 127;
    head.writeBigUInt64BE(BigInt(declared), 2);
  }
  if (f.mask === 'none') return [head, payload];
  if (f.mask === 'zero') return [head, Buffer.alloc(4), payload];
  const key = createHash('sha256').update(payload).digest().subarray(0, 4);
  const masked = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) masked[i] = (payload[i] as number) ^ (key[i & 3] as number);
  return [head, key, masked];
}

export function textFrame(text: string): WsFrameSpec {
  return { fin: true, rsv: 0, opcode: 1, mask: 'random', length: 'auto', payload: { text } };
}

export function publishMessage(publisherId: string): Record<string, unknown> {
  return { ID: publisherId, IP: '127.0.0.1', TYPE: 'PUBLISHER', COMMAND: 'PUBLISH' };
}

/** The frames of a flood, built without copying the big payload for each frame. */
export function floodFrames(f: FloodSpec, target: 'entrance' | 'box'): Buffer[] {
  let payload: Buffer;
  let opcode = 1;
  if (f.kind === 'search' || target === 'entrance') {
    const msg = Buffer.from(JSON.stringify({ ID: 'publisher-flood', IP: '127.0.0.1', TYPE: 'PUBLISHER', COMMAND: 'SEARCH' }));
    payload = Buffer.concat([msg.subarray(0, msg.length - 1), Buffer.alloc(Math.max(0, f.bytes - msg.length), 0x20), Buffer.from('}')]);
  } else if (f.kind === 'file') {
    opcode = 2;
    payload = Buffer.concat([Buffer.from('<Dandelion>{"FILE_PATH":"flood/x.ts","TTL":5}</Dandelion>'), Buffer.alloc(f.bytes, 0x78)]);
  } else {
    payload = Buffer.alloc(f.bytes, 0x20);
  }
  const spec: WsFrameSpec = { fin: true, rsv: 0, opcode, mask: 'zero', length: 'auto', payload: { bytes: [] } };
  const frame = encodeFrame(spec, payload);
  const out: Buffer[] = [];
  for (let i = 0; i < f.frames; i++) out.push(...frame);
  return out;
}

// ---------------------------------------------------------------- batches (one fast-check run each)

/**
 * Many valid messages, each with a new ID, on one socket (sent in windows the receiver answers): what
 * leaves records behind when nothing caps them. `command` is SEARCH at an entrance, PUBLISH at a box.
 */
export interface SpraySpec {
  command: 'SEARCH' | 'PUBLISH';
  count: number;
  /** Makes this spray's IDs differ from every other's. */
  tag: string;
}

export function sprayArb(command: SpraySpec['command']): fc.Arbitrary<SpraySpec> {
  return fc.record({ command: fc.constant(command), count: fc.integer({ min: 100, max: 600 }), tag: hex(8, 8) });
}

export function sprayMessage(s: SpraySpec, i: number): Record<string, unknown> {
  const msg: Record<string, unknown> = { ID: `publisher-sp${s.tag}${i}`, IP: '127.0.0.1', TYPE: 'PUBLISHER', COMMAND: s.command };
  if (s.command === 'SEARCH') Object.assign(msg, { ORIGIN_BYTES: i * 1000, ORIGIN_SINCE: 1_700_000_000 + i });
  return msg;
}

export type WsItem = { session: WsSessionSpec } | { flood: FloodSpec } | { spray: SpraySpec };

/** Up to `sessions` sessions; now and then (1 batch in `rareFreq`) a flood or a spray alongside them. */
export function wsBatchArb(sessions: number, rare: { flood: fc.Arbitrary<FloodSpec>; spray: fc.Arbitrary<SpraySpec> }, rareFreq: number): fc.Arbitrary<WsItem[]> {
  const none = fc.constant(null);
  return fc
    .tuple(
      fc.array(wsSessionArb, { minLength: 1, maxLength: sessions, size: 'max' }),
      fc.oneof({ weight: rareFreq - 1, arbitrary: none }, { weight: 1, arbitrary: rare.flood }),
      fc.oneof({ weight: rareFreq - 1, arbitrary: none }, { weight: 1, arbitrary: rare.spray }),
    )
    .map(([ss, f, sp]) => [...(f ? [{ flood: f }] : []), ...(sp ? [{ spray: sp }] : []), ...ss.map((session) => ({ session }))]);
}

/** Up to `connections` connections (size 'max': lengths spread up to it; shrinking can drop them one by one). */
export function httpBatchArb(knownPaths: string[], connections: number): fc.Arbitrary<HttpConnectionSpec[]> {
  return fc.array(httpConnection(knownPaths), { minLength: 1, maxLength: connections, size: 'max' });
}
