// Reloads of the agent's nginx run one at a time, in the order asked. The household's pause, the viewer
// budget and a certificate renewal each reload nginx whenever they change, so two reloads can overlap;
// unordered, the older one's nginx.conf could be renamed into place last, and nginx would keep serving
// by settings already replaced (a lifted pause still answering 503) until something changed again.
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { managedNginxForTest } from '../../test/helpers/nginx-process.js';
import { freePort } from '../../test/helpers/prometheus.js';
import { eventually } from '../../test/helpers/agent.js';
import type { SiteOptions } from '../src/nginx/config.js';

t.test('overlapping reloads: the last one asked is the one nginx serves by', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dandelion-reload-'));
  const runDirectory = path.join(dir, 'run');
  const nginx = managedNginxForTest(t, runDirectory);
  const httpPort = await freePort();
  const site: SiteOptions = {
    boxId: 'box-reload', listenIp: '127.0.0.1', httpPort, agentHost: '127.0.0.1', agentPort: await freePort(),
    baseDirectory: path.join(dir, 'files'), accessLogPath: path.join(runDirectory, 'access.log'), ratesByConnections: [1_000_000, 1_000_000], maxConnections: 4,
    statusDirectory: path.join(dir, 'status'),
  };
  await nginx.start(site);
  const paused = (n: number): SiteOptions => ({ ...site, pause: { sentence: `paused by reload ${n}`, retryAfterSeconds: 60 } });

  // Twenty reloads asked at once, alternating paused and serving; the last one serves.
  const finished: number[] = [];
  const reloads = Array.from({ length: 20 }, (_, n) => nginx.reload(n % 2 === 0 ? paused(n) : { ...site, ratesByConnections: [1_000_000 + n, 1_000_000 + n] }).then(() => finished.push(n)));
  await Promise.all(reloads);
  t.same(finished, Array.from({ length: 20 }, (_, n) => n), 'they finished in the order asked');
  const conf = readFileSync(path.join(runDirectory, 'nginx.conf'), 'utf8');
  t.notMatch(conf, /paused by reload/, 'nginx.conf is the last one\'s: serving');
  t.match(conf, /1000019/, 'with its rate');

  // And nginx itself serves by it: a publisher's file is not refused with the pause's 503.
  t.ok(await eventually(async () => (await fetch(`http://127.0.0.1:${httpPort}/publisher/missing.ts`)).status === 404), 'a request gets the serving config\'s 404, not a 503');
});
