// A box cut off from every entrance for 5 minutes (a blackhole between them: nothing forwarded,
// nothing closed): it keeps serving what it holds, every viewer GET answered 200 throughout, and the
// traffic it served meanwhile is counted once at the entrance after it reconnects.
// DANDELION_FAULT_PARTITION_S shortens the cut for a quick run by hand; `make fault-test` runs 300 s.
import t from 'tap';
import { eventually } from '../helpers/agent.js';
import { startBlackholeProxy } from './blackhole-proxy.js';
import { freePort } from '../../shared/src/listen.js';
import { servingBox, settledCount, view } from './serving.js';

const PARTITION_MS = Number(process.env.DANDELION_FAULT_PARTITION_S ?? 300) * 1000;
const VIEW_EVERY_MS = 5_000;

t.test(`box partitioned from every entrance for ${PARTITION_MS / 1000} s: serves throughout, traffic counted once`, async (t) => {
  const entrancePort = await freePort();
  const proxy = await startBlackholeProxy(t, entrancePort);
  // The entrance tells boxes the proxy's URL as its own (as one behind a load balancer), so the box
  // learns no way around the partition; the publisher, not cut off, talks to the entrance directly.
  const throughProxy = `ws://127.0.0.1:${proxy.port}/dandelion/ws/`;
  const direct = `ws://127.0.0.1:${entrancePort}/dandelion/ws/`;
  const s = await servingBox(t, {
    entranceEnv: { DANDELION_ENTRANCE_PORT: String(entrancePort), DANDELION_ENTRANCE_URL: throughProxy },
    boxEntranceUrls: [throughProxy],
    publisherEntranceUrls: [direct],
  });
  const boxSet = `${s.entrance.id}:BOX_SET`;
  let made = 0;
  made += await view(s.fileUrl, 3);
  t.equal(await settledCount(s, made), made, 'traffic before the partition counted');

  proxy.cut();
  const cutAt = Date.now();
  const expiryAtCut = Number(await s.r.zscore(boxSet, s.box.boxId));
  let answered = 0;
  let asked = 0;
  while (Date.now() - cutAt < PARTITION_MS) {
    answered += await view(s.fileUrl, 2);
    asked += 2;
    await new Promise((resolve) => setTimeout(resolve, VIEW_EVERY_MS));
  }
  t.equal(answered, asked, `every one of ${asked} viewer GETs during the partition answered 200`);
  made += answered;
  const countedDuring = await s.counted();
  t.ok(countedDuring < made, `the entrance heard nothing of it during the cut (${countedDuring} counted, ${made} made)`);
  // Past ENTRANCE_EXPIRE_BOX_TIME (120 s) without an EXCHANGE, the entrance has dropped the box.
  if (PARTITION_MS > 150_000) t.equal(await s.r.zscore(boxSet, s.box.boxId), null, 'the entrance let the box expire meanwhile');

  proxy.heal();
  const back = await eventually(async () => Number((await s.r.zscore(boxSet, s.box.boxId)) ?? 0) > expiryAtCut, 120_000, 250);
  t.ok(back, 'the box exchanged with the entrance again after the heal');
  made += await view(s.fileUrl, 2);
  t.equal(await settledCount(s, made, 120_000), made, `the entrance counted each of the ${made} requests once`);
});
