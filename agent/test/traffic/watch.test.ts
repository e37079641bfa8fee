// Once started, the tail consumes new lines by itself — file events trigger a pass long before the
// fallback poll would — and stop() ends its watcher and timers so the process can exit.
import { appendFileSync, statSync, writeFileSync } from 'node:fs';
import t from 'tap';
import { accessLine, eventually, tailSetup } from './fixtures/access-lines.js';

const HOUR_MS = 3_600_000;

t.test('started on a missing log, the tail follows it as nginx writes', async (t) => {
  const s = await tailSetup(t);
  const tail = s.tail({ pollMs: HOUR_MS }); // only a file event can trigger a pass within the test
  await tail.start();
  const consumedAll = async () => (await s.state()).offset.offset === String(statSync(s.logPath).size);

  writeFileSync(s.logPath, accessLine({ uri: '/publisher-a/1.ts', bytes: 1 }));
  await eventually(consumedAll, 'the first line consumed');
  appendFileSync(s.logPath, accessLine({ uri: '/publisher-a/2.ts', bytes: 2 }) + accessLine({ uri: '/publisher-a/3.ts', bytes: 3 }));
  await eventually(consumedAll, 'the appended lines consumed');
  t.equal((await s.state()).requests, 3);
  t.equal(tail.bytesServedTotal(), 6);
  await tail.stop();
  await tail.stop(); // idempotent
  t.same(s.events(), []);
});

t.test('the fallback poll consumes lines on its own', async (t) => {
  const s = await tailSetup(t);
  writeFileSync(s.logPath, accessLine({ uri: '/publisher-a/1.ts' }));
  const tail = s.tail({ pollMs: 20 });
  await tail.start();
  t.equal((await s.state()).requests, 1, 'start() reads what is already there');
  appendFileSync(s.logPath, accessLine({ uri: '/publisher-a/2.ts' }));
  await eventually(async () => (await s.state()).requests === 2, 'the appended line consumed');
  await tail.stop();
});
