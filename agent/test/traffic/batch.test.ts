// A batch of access-log lines becomes records for status < 400 only, one aggregate per (publisher, file)
// with exact counts, bytes and time span, and aggregate IDs that are stable for the same bytes. How a URI
// names its publisher and file is the viewer URL layout, tested in shared/test/viewer-url.test.ts.
import t from 'tap';
import { TrafficBatch } from '../../src/traffic/batch.js';
import { accessLine } from './fixtures/access-lines.js';

t.test('records, aggregates and bytes from one batch', async (t) => {
  const batch = new TrafficBatch();
  const text = [
    accessLine({ uri: '/publisher-a/live/seg-1.ts', bytes: 1000, msec: 100.5 }),
    accessLine({ uri: '/publisher-a/live/index.m3u8?t=1', bytes: 200, msec: 101 }),
    accessLine({ uri: '/publisher-a/live/seg-1.ts', status: 206, bytes: 300, msec: 99.25 }),
    accessLine({ uri: '/publisher-a/live/seg-1.ts', status: 404, bytes: 150, msec: 102 }),
    accessLine({ uri: '/publisher-b/seg-1.ts', status: 304, bytes: 90, msec: 103 }),
    accessLine({ uri: '/publisher-a/live/index.m3u8?t=2', status: 500, bytes: 70, msec: 104 }),
    'not json',
  ].join(''); // without a final newline, as the tail passes complete lines
  batch.addLines(text);
  t.equal(batch.lines, 7);
  t.equal(batch.skipped, 1);
  t.equal(batch.skippedSample, 'not json');
  t.equal(batch.bytesSent, 1000 + 200 + 300 + 150 + 90 + 70, 'every parsed status counts toward bytes sent');
  t.same(batch.records.map((r) => r.record.status), [200, 200, 206, 304], 'records only below 400');
  t.same(batch.records[1]?.record, { datetime: '25/Nov/2026:16:13:06 +0000', url: '/publisher-a/live/index.m3u8?t=1', status: 200, size: 200 });

  const aggregates = batch.aggregates('77:0-999');
  t.same(aggregates.map(({ ID, ...rest }) => rest), [
    { PUBLISHER: 'publisher-a', FILE: 'live/seg-1.ts', REQUESTS: 2, BYTES: 1300, FROM: 99.25, TO: 100.5 },
    { PUBLISHER: 'publisher-a', FILE: 'live/index.m3u8', REQUESTS: 1, BYTES: 200, FROM: 101, TO: 101 },
    { PUBLISHER: 'publisher-b', FILE: 'seg-1.ts', REQUESTS: 1, BYTES: 90, FROM: 103, TO: 103 },
  ]);
  const rids = batch.records.map((r) => r.rid.slice(0, 8));
  t.same(aggregates.map((a) => a.ID), [`77:0-999:0:${rids[0]}`, `77:0-999:1:${rids[1]}`, `77:0-999:2:${rids[3]}`], 'in order of first appearance');

  const again = new TrafficBatch();
  again.addLines(text);
  t.same(again.aggregates('77:0-999'), aggregates, 'the same bytes give the same IDs');
});
