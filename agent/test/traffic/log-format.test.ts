// The parser reads the four lines captured from real Debian nginx with LOG_FORMAT exactly, refuses torn
// and foreign lines, and the tests' line builder writes that same format byte for byte.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parseAccessLogLine } from '../../src/traffic/log-format.js';
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
