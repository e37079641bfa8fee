// The parser reads the four lines captured from real Debian nginx with LOG_FORMAT exactly, refuses torn
// and foreign lines, and the tests' line builder writes that same format byte for byte.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { forEachAccessLogLine, parseAccessLogLine } from '../../src/traffic/log-format.js';
import type { AccessLogLine } from '../../src/traffic/log-format.js';
import { accessLine } from './fixtures/access-lines.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const FIXTURE = readFileSync(path.join(ROOT, 'agent/test/fixtures/access.log'), 'utf8');
const LINES = FIXTURE.split('\n').filter((l) => l !== '');

t.test('the fixture lines parse to exactly what nginx logged', async (t) => {
  t.equal(LINES.length, 4);
  t.same(LINES.map(parseAccessLogLine), [
    { rid: 'c6458bd558cc51fed473bbf61af21c15', time: '25/Nov/2026:16:13:06 +0000', msec: 1795623186.202, method: 'GET', uri: '/publisher-abc/live/seg-1.ts', status: 200, bytes: 5241, body: 5000, addr: '127.0.0.1' },
    { rid: 'dcfb601a28e33ab3a562f7cb234940fb', time: '25/Nov/2026:16:13:06 +0000', msec: 1795623186.213, method: 'GET', uri: '/publisher-abc/live/index.m3u8?x="quote"&y=%0A', status: 200, bytes: 243, body: 8, addr: '127.0.0.1' },
    { rid: 'dd5af98e17936eb15bd712c572ca6c55', time: '25/Nov/2026:16:13:06 +0000', msec: 1795623186.224, method: 'GET', uri: '/publisher-abc/missing.ts', status: 404, bytes: 308, body: 153, addr: '127.0.0.1' },
    { rid: 'bb88912497a9c455e0fe30e9bfa4fbd8', time: '25/Nov/2026:16:13:06 +0000', msec: 1795623186.236, method: 'GET', uri: '/publisher-abc/live/seg-1.ts', status: 206, bytes: 363, body: 100, addr: '127.0.0.1' },
  ]);
});

t.test('torn, foreign and malformed lines are refused, not thrown', async (t) => {
  const first = LINES[0] as string;
  t.equal(parseAccessLogLine(first.slice(0, 80)), undefined, 'torn in the middle');
  t.equal(parseAccessLogLine(''), undefined, 'empty');
  t.equal(parseAccessLogLine('127.0.0.1 - - [25/Nov/2026:16:13:06 +0000] "GET / HTTP/1.1" 200 612'), undefined, 'nginx combined format');
  t.equal(parseAccessLogLine(first.replace('c6458bd558cc51fed473bbf61af21c15', 'not-a-request-id')), undefined, 'rid not 32 hex digits');
  t.equal(parseAccessLogLine(first.replace('"status":"200"', '"status":"-"')), undefined, 'status not a number');
  t.equal(parseAccessLogLine('[1,2,3]'), undefined, 'JSON but not an object');
});

t.test('the test line builder writes the fixture format byte for byte', async (t) => {
  const built = [
    accessLine({ rid: 'c6458bd558cc51fed473bbf61af21c15', msec: 1795623186.202, uri: '/publisher-abc/live/seg-1.ts', status: 200, bytes: 5241, body: 5000 }),
    accessLine({ rid: 'dcfb601a28e33ab3a562f7cb234940fb', msec: 1795623186.213, uri: '/publisher-abc/live/index.m3u8?x="quote"&y=%0A', status: 200, bytes: 243, body: 8 }),
    accessLine({ rid: 'dd5af98e17936eb15bd712c572ca6c55', msec: 1795623186.224, uri: '/publisher-abc/missing.ts', status: 404, bytes: 308, body: 153 }),
    accessLine({ rid: 'bb88912497a9c455e0fe30e9bfa4fbd8', msec: 1795623186.236, uri: '/publisher-abc/live/seg-1.ts', status: 206, bytes: 363, body: 100 }),
  ];
  t.equal(built.join(''), FIXTURE);
});

/** What forEachAccessLogLine reports for `text`, line by line. */
function readAll(text: string): Array<{ line: AccessLogLine | undefined; text: string }> {
  const seen: Array<{ line: AccessLogLine | undefined; text: string }> = [];
  forEachAccessLogLine(text, (line, lineText) => seen.push({ line, text: lineText }));
  return seen;
}

t.test('reading lines where they stand gives what JSON.parse gives, for every line', async (t) => {
  const base = LINES[0] as string;
  const lines = [
    ...LINES,
    accessLine({ uri: '/publisher-a/a b"c\\d\ttab\u0001/é.ts' }).slice(0, -1), // escapes: JSON's way
    accessLine({ uri: '', status: 0 }).slice(0, -1),
    base.replace('"status":"200"', '"status":""'), // Number('') is 0: both ways take it
    base.replace('"status":"200"', '"status":" 200 "'),
    base.replace('"bytes":"5241"', '"bytes":"1e3"'),
    base.replace('"msec":"1795623186.202"', '"msec":"-"'),
    base.replace('"bytes":"5241"', '"bytes":"x"'),
    base.replace('c6458bd558cc51fed473bbf61af21c15', 'C6458BD558CC51FED473BBF61AF21C15'),
    base.replace('c6458bd558cc51fed473bbf61af21c15', 'c6458bd558cc51fed473bbf61af21c1'),
    base.replace('/publisher-abc/live/seg-1.ts', '/publisher-abc/\t/seg.ts'), // a raw tab: JSON refuses it
    base.replace('"time":', ' "time":'),
    base.replace(',"addr":"127.0.0.1"', ''),
    base.replace('"addr":"127.0.0.1"}', '"addr":"127.0.0.1","extra":"1"}'),
    `{"time":"t","rid":"c6458bd558cc51fed473bbf61af21c15","msec":"1","method":"GET","uri":"/p","status":"200","bytes":"1","body":"1","addr":"a"}`,
    `${base} `,
    `${base}}`,
    `${base}${base}`,
    base.slice(0, -2),
    '',
    '{"rid":"}',
  ];
  for (let cut = 1; cut < base.length; cut += 7) lines.push(base.slice(0, cut), base.slice(cut));
  for (const line of lines) t.same(readAll(line), [{ line: parseAccessLogLine(line), text: line }], JSON.stringify(line));
  t.ok(readAll(lines[4] as string)[0]?.line, 'a line with escapes still parses');

  // Whole chunks: good, bad and empty lines in any order, cut as split('\n') cuts them.
  const text = [lines[0], lines[10], '', lines[4], lines[1], 'garbage', lines[2], ''].join('\n');
  t.same(readAll(text), text.split('\n').map((l) => ({ line: parseAccessLogLine(l), text: l })));
  t.same(readAll(''), [{ line: undefined, text: '' }], 'an empty chunk is one empty line, as split gives');
});
