// The traffic tail turns complete access-log lines into TRAFFIC_FLOW records and pending aggregates
// with exact counts, leaves a partial last line for later, skips garbage without stopping, resumes
// after a restart without re-reading or losing a line, bounds each pass, and hands out and drops
// aggregates for the heartbeat.
import { appendFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import t from 'tap';
import { MAX_AGGREGATES_PER_EXCHANGE } from '../../../shared/src/protocol/messages.js';
import { RECORDS_PER_WINDOW } from '../../src/traffic/record-budget.js';
import { BOX_ID, RECORD_TTL, accessLine, newRid, tailSetup } from './fixtures/access-lines.js';

t.test('appended lines become records and aggregates with exact counts and bytes', async (t) => {
  const s = await tailSetup(t);
  const tail = s.tail();
  const rid = newRid();
  appendFileSync(s.logPath, [
    accessLine({ rid, uri: '/publisher-a/live/seg-1.ts', bytes: 5241, msec: 1000.25 }),
    accessLine({ uri: '/publisher-a/live/seg-1.ts', status: 206, bytes: 363, msec: 1001 }),
    accessLine({ uri: '/publisher-a/live/index.m3u8?x=1', bytes: 243, msec: 1002 }),
    accessLine({ uri: '/publisher-a/missing.ts', status: 404, bytes: 308, msec: 1003 }),
    accessLine({ uri: '/favicon.ico', bytes: 100, msec: 1004 }),
  ].join(''));

  t.equal(await tail.pass(), 5, 'five complete lines consumed');
  let state = await s.state();
  t.equal(state.recordKeys.length, 4, 'a record for each line below 400');
  t.same(await s.redis.hgetall(s.keys.trafficFlow(rid)), { datetime: '25/Nov/2026:16:13:06 +0000', url: '/publisher-a/live/seg-1.ts', status: '200', size: '5241' });
  const ttl = await s.redis.ttl(s.keys.trafficFlow(rid));
  t.ok(ttl > 0 && ttl <= RECORD_TTL, `record expires within recordTtlSeconds (ttl ${ttl})`);
  t.same(state.pending.map(({ ID, ...a }) => a).sort((a, b) => a.FROM - b.FROM), [
    { PUBLISHER: 'publisher-a', FILE: 'live/seg-1.ts', REQUESTS: 2, BYTES: 5604, FROM: 1000.25, TO: 1001 },
    { PUBLISHER: 'publisher-a', FILE: 'live/index.m3u8', REQUESTS: 1, BYTES: 243, FROM: 1002, TO: 1002 },
    { PUBLISHER: '', FILE: 'favicon.ico', REQUESTS: 1, BYTES: 100, FROM: 1004, TO: 1004 },
  ]);
  const inode = String(statSync(s.logPath, { bigint: true }).ino);
  t.same(state.offset, { path: s.logPath, inode, offset: String(statSync(s.logPath).size) }, 'position saved at the end of the last line');
  t.equal(tail.bytesServedTotal(), 5241 + 363 + 243 + 308 + 100, 'bytes sent counts every status');
  t.equal(await tail.pass(), 0, 'nothing new, nothing consumed');

  appendFileSync(s.logPath, accessLine({ uri: '/publisher-a/live/seg-1.ts', bytes: 1000, msec: 1005 }) + accessLine({ uri: '/publisher-b/seg-9.ts', bytes: 7, msec: 1006 }));
  t.equal(await tail.pass(), 2);
  state = await s.state();
  t.equal(state.recordKeys.length, 6);
  t.equal(state.pending.length, 5, 'a later pass adds its own aggregates');
  t.equal(new Set(state.pending.map((a) => a.ID)).size, 5, 'aggregate IDs unique');
  t.equal(state.requests, 6);
  t.equal(state.bytes, 5241 + 363 + 243 + 100 + 1000 + 7);
  t.equal(tail.bytesServedTotal(), 5241 + 363 + 243 + 308 + 100 + 1000 + 7);
  t.equal(await tail.lagBytes(), 0);
});

t.test('a partial last line waits for the pass after nginx finishes it', async (t) => {
  const s = await tailSetup(t);
  const tail = s.tail();
  const first = accessLine({ uri: '/publisher-a/1.ts' });
  const second = accessLine({ uri: '/publisher-a/2.ts' });
  writeFileSync(s.logPath, first + second.slice(0, 40));
  t.equal(await tail.pass(), 1);
  t.equal((await s.state()).offset.offset, String(Buffer.byteLength(first)), 'position stops before the partial line');
  t.equal(await tail.lagBytes(), 40, 'the partial line is lag');
  t.equal(await tail.pass(), 0, 'still partial');

  appendFileSync(s.logPath, second.slice(40));
  t.equal(await tail.pass(), 1, 'the finished line is consumed whole');
  const state = await s.state();
  t.equal(state.recordKeys.length, 2);
  t.same(state.pending.map((a) => a.FILE).sort(), ['1.ts', '2.ts'], 'parsed as one line, not two halves');
  t.equal(await tail.lagBytes(), 0);
});

t.test('garbage and torn lines are skipped with a warning but consumed', async (t) => {
  const s = await tailSetup(t);
  const tail = s.tail();
  const torn = accessLine({ uri: '/publisher-a/torn.ts' }).slice(0, 60);
  writeFileSync(s.logPath, [
    accessLine({ uri: '/publisher-a/1.ts' }),
    'garbage that is not json\n',
    `${torn}\n`,
    '\n',
    accessLine({ uri: '/publisher-a/2.ts' }),
  ].join(''));
  t.equal(await tail.pass(), 5, 'every complete line consumed, good or not');
  const state = await s.state();
  t.equal(state.recordKeys.length, 2);
  t.equal(state.requests, 2);
  t.equal(state.offset.offset, String(statSync(s.logPath).size));
  const warnings = s.events().filter((e) => e.level === 'warn' && e.skipped !== undefined);
  t.equal(warnings.length, 1, 'one warning per pass');
  t.equal(warnings[0]?.skipped, 3);
  t.equal(warnings[0]?.sample, 'garbage that is not json');
});

t.test('a line longer than a read is skipped without holding it in memory', async (t) => {
  const s = await tailSetup(t);
  const tail = s.tail();
  writeFileSync(s.logPath, 'x'.repeat(2.5 * 1024 * 1024) + '\n' + accessLine({ uri: '/publisher-a/after.ts' }));
  t.equal(await tail.pass(), 2, 'the long line tail and the good line');
  const state = await s.state();
  t.equal(state.recordKeys.length, 1);
  t.same(state.pending.map((a) => a.FILE), ['after.ts']);
  t.equal(state.offset.offset, String(statSync(s.logPath).size));
});

t.test('a backlog is read over several bounded passes, each line once', async (t) => {
  const s = await tailSetup(t);
  const tail = s.tail();
  // About 12 MiB of 404 lines (bytes counted, no records) and one served line at each end.
  const filler = accessLine({ uri: `/publisher-a/${'n'.repeat(200)}.ts`, status: 404, bytes: 1 });
  const fillerCount = Math.ceil((12 * 1024 * 1024) / filler.length);
  writeFileSync(s.logPath, accessLine({ uri: '/publisher-a/first.ts', bytes: 10 }) + filler.repeat(fillerCount) + accessLine({ uri: '/publisher-a/last.ts', bytes: 20 }));
  const total = fillerCount + 2;

  const firstPass = await tail.pass();
  t.ok(firstPass > 0 && firstPass < total, `one pass stops before the end (${firstPass} of ${total} lines)`);
  t.ok(Number((await s.state()).offset.offset) <= 9 * 1024 * 1024, 'at most 8 MiB and one read per pass');
  let consumed = firstPass;
  for (let i = 0; i < 5 && consumed < total; i++) consumed += await tail.pass();
  t.equal(consumed, total, 'every line consumed once');
  const state = await s.state();
  t.equal(state.recordKeys.length, 2);
  t.same(state.pending.map((a) => a.FILE).sort(), ['first.ts', 'last.ts']);
  t.equal(tail.bytesServedTotal(), 10 + fillerCount + 20);
  t.equal(state.offset.offset, String(readFileSync(s.logPath).length));
});

t.test('a restarted tail on the same Redis neither re-reads nor loses lines', async (t) => {
  const s = await tailSetup(t);
  const first = s.tail();
  appendFileSync(s.logPath, [1, 2, 3].map((i) => accessLine({ uri: `/publisher-a/${i}.ts`, bytes: i })).join(''));
  t.equal(await first.pass(), 3);
  await first.stop();

  appendFileSync(s.logPath, [4, 5].map((i) => accessLine({ uri: `/publisher-a/${i}.ts`, bytes: i })).join(''));
  const second = s.tail();
  t.equal(await second.pass(), 2, 'only the lines written since');
  t.equal(second.bytesServedTotal(), 4 + 5, 'bytes counted by this process only');

  // A crash: the third tail starts while the second was never stopped.
  appendFileSync(s.logPath, accessLine({ uri: '/publisher-a/6.ts', bytes: 6 }));
  const third = s.tail();
  t.equal(await third.pass(), 1);
  const state = await s.state();
  t.equal(state.recordKeys.length, 6);
  t.equal(state.requests, 6);
  t.equal(state.bytes, 1 + 2 + 3 + 4 + 5 + 6);
  t.equal(await s.tail().pass(), 0, 'yet another start finds nothing new');
});

t.test('a missing log is not an error; the tail reads it once nginx creates it', async (t) => {
  const s = await tailSetup(t);
  const tail = s.tail();
  t.equal(await tail.pass(), 0);
  t.equal(await tail.lagBytes(), 0);
  t.same((await s.state()).offset, {}, 'no position saved yet');
  writeFileSync(s.logPath, accessLine({ uri: '/publisher-a/1.ts' }));
  t.equal(await tail.lagBytes(), statSync(s.logPath).size);
  t.equal(await tail.pass(), 1);
  t.same(s.events().filter((e) => e.level !== 'info'), [], 'nothing logged');
});

t.test('collect() bounds records and aggregates; acknowledge() drops exactly the sent ones', async (t) => {
  const s = await tailSetup(t);
  const tail = s.tail();
  const files = MAX_AGGREGATES_PER_EXCHANGE + 20;
  // Each file requested once, later files later, so the oldest aggregates are files 0…499.
  writeFileSync(s.logPath, Array.from({ length: files }, (_, i) => accessLine({ uri: `/publisher-a/seg-${i}.ts`, bytes: 100 + i, msec: 2000 + i })).join(''));
  t.equal(await tail.pass(), files);

  const first = await tail.collect(10);
  t.equal(Object.keys(first.records).length, 10, 'exactly maxRecords records');
  for (const [key, record] of Object.entries(first.records)) {
    t.match(key, new RegExp(`^${BOX_ID}:TRAFFIC_FLOW:log-[0-9a-f]{32}$`));
    t.same(Object.keys(record).sort(), ['datetime', 'size', 'status', 'url']);
    t.equal(record.status, 200);
    t.equal(record.size, 100 + Number(/seg-(\d+)/.exec(record.url)?.[1]), 'size is the line\'s bytes, as a number');
  }
  t.equal(first.aggregates.length, MAX_AGGREGATES_PER_EXCHANGE, 'at most MAX_AGGREGATES_PER_EXCHANGE');
  t.same(first.aggregates.map((a) => a.FILE), Array.from({ length: MAX_AGGREGATES_PER_EXCHANGE }, (_, i) => `seg-${i}.ts`), 'oldest first');
  const live = (await s.state()).recordKeys.length;
  t.equal(live, Math.min(files, RECORDS_PER_WINDOW), 'records up to what one record lifetime keeps (record-budget.ts)');
  t.equal(Object.keys((await tail.collect(files + 100)).records).length, live, 'every live record when asked for more');
  t.same((await tail.collect(0)).records, {});

  await tail.acknowledge(first.aggregates.map((a) => a.ID));
  t.equal(await s.redis.hlen(s.keys.trafficPending), 20, 'acknowledged aggregates removed');
  const second = await tail.collect(0);
  t.same(second.aggregates.map((a) => a.FILE), Array.from({ length: 20 }, (_, i) => `seg-${MAX_AGGREGATES_PER_EXCHANGE + i}.ts`), 'the rest next time');
  await tail.acknowledge([...second.aggregates.map((a) => a.ID), 'unknown-id']);
  await tail.acknowledge([]);
  t.same((await tail.collect(0)).aggregates, [], 'nothing pending');
});

t.test('a pass that cannot reach Redis changes nothing; the next one resumes from the saved position', async (t) => {
  const s = await tailSetup(t);
  const tail = s.tail();
  appendFileSync(s.logPath, accessLine({ uri: '/publisher-a/1.ts', bytes: 1 }));
  t.equal(await tail.pass(), 1);
  appendFileSync(s.logPath, accessLine({ uri: '/publisher-a/2.ts', bytes: 2 }) + accessLine({ uri: '/publisher-a/3.ts', bytes: 3 }));

  s.redis.disconnect();
  await t.rejects(tail.pass(), 'the failure reaches the caller');
  t.equal(tail.bytesServedTotal(), 1, 'nothing counted from the failed pass');
  await s.redis.connect();
  t.equal(await tail.pass(), 2, 'the same two lines, once');
  const state = await s.state();
  t.equal(state.requests, 3);
  t.equal(state.recordKeys.length, 3);
  t.equal(tail.bytesServedTotal(), 6);
});

t.test('a chunk with raw UTF-8 (nginx leaves bytes over 0x7f as they are) reads as UTF-8; a plain one as ASCII', async (t) => {
  const s = await tailSetup(t);
  const tail = s.tail();
  const [ascii, utf8] = [newRid(), newRid()];
  appendFileSync(s.logPath, accessLine({ rid: ascii, uri: '/publisher-a/plain.ts', bytes: 1 }));
  t.equal(await tail.pass(), 1);
  appendFileSync(s.logPath, accessLine({ rid: utf8, uri: '/publisher-a/café/ünï.ts', bytes: 2 }));
  t.equal(await tail.pass(), 1);
  t.equal(await s.redis.hget(s.keys.trafficFlow(ascii), 'url'), '/publisher-a/plain.ts');
  t.equal(await s.redis.hget(s.keys.trafficFlow(utf8), 'url'), '/publisher-a/café/ünï.ts');
  t.same((await s.state()).pending.map((a) => a.FILE).sort(), ['café/ünï.ts', 'plain.ts']);
});
