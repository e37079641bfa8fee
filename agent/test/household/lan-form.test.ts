// The household sets its quota, quiet hours and cap on the LAN status page: a form POSTed to
// /status/household through the box's nginx. A LAN peer may; a peer outside LAN_NETWORKS and a
// cross-site post get 403; a bad value gets 400 naming the field and changes nothing stored; what is
// set is shown with its source, applied to nginx, kept across a restart, and dropped for dandelion.yaml's
// values on request.
import http from 'node:http';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { startRedis } from '../../../test/helpers/redis.js';
import { startAgent } from '../../../test/helpers/agent.js';
import type { RunningAgent } from '../../../test/helpers/agent.js';

const NO_ENTRANCE = ['ws://127.0.0.1:9/dandelion/ws/'];
const NO_COUNTERS = { sample: async () => ({}) };

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(port: number, method: string, target: string, headers: Record<string, string> = {}, body = ''): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: target, agent: false, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const form = (fields: Record<string, string>): string => new URLSearchParams(fields).toString();

const redis = await startRedis(t);
const runDirectory = path.join(mkdtempSync(path.join(os.tmpdir(), 'dandelion-lan-form-')), 'run');
const settingsFile = path.join(runDirectory, 'household.json');
// The household's clock at noon: the quiet hours the form sets (01:00-02:00) must not be now. On the real
// clock this test failed every night between 01:00 and 02:00.
const NOON = new Date(2026, 11, 5, 12).getTime();
const start = (): Promise<RunningAgent> =>
  startAgent(t, { redisUrl: redis.url, entranceUrls: NO_ENTRANCE, runDirectory, env: { DANDELION_UPLOAD_CAP_MBIT: '10' }, readings: NO_COUNTERS, now: () => NOON });
/** nginx's limit_rate for a response that starts alone (bytes/s), from the config nginx runs. */
const rateAlone = (box: RunningAgent): number => Number(/\n\s+1 (\d+);/.exec(readFileSync(box.status.nginxConfPath, 'utf8'))?.[1]);

let box = await start();
const post = (headers: Record<string, string>, body: string): Promise<Answer> => request(box.status.httpPort, 'POST', '/status/household', headers, body);
const host = (): string => `127.0.0.1:${box.status.httpPort}`;

t.test('a LAN peer sets the three settings with the status page\'s form', async (t) => {
  t.equal(rateAlone(box), 10e6 / 8, 'dandelion.yaml\'s cap of 10 Mbit/s in nginx');
  const answer = await post({ ...FORM, host: host(), origin: `http://${host()}`, 'sec-fetch-site': 'same-origin' }, form({ UPLOAD_QUOTA_GB: '5', QUIET_HOURS: '01:00-02:00', UPLOAD_CAP_MBIT: '4' }));
  t.equal(answer.status, 303, 'the browser goes back to the page');
  t.equal(answer.headers.location, '/status/');
  t.same(JSON.parse(readFileSync(settingsFile, 'utf8')), { UPLOAD_QUOTA_GB: 5, QUIET_HOURS: '01:00-02:00', UPLOAD_CAP_MBIT: 4 }, 'stored in RUN_DIRECTORY/household.json');
  const shown = await request(box.status.httpPort, 'GET', '/status/household');
  t.match(JSON.parse(shown.body), { UPLOAD_QUOTA_GB: 5, QUIET_HOURS: '01:00-02:00', UPLOAD_CAP_MBIT: 4, SOURCES: { UPLOAD_CAP_MBIT: 'status page' }, PAUSED: '' });
  const page = await request(box.status.httpPort, 'GET', '/status/');
  t.match(page.body, /<form method="post" action="\/status\/household">/, 'the LAN page holds the form');
  t.match(page.body, /4 Mbit\/s \(from status page\)/, 'and says where the cap comes from');
  t.ok(await waitFor(() => rateAlone(box) === 4e6 / 8), 'nginx paces by the new cap');
  t.match(await box.agent.buildExchange(), { UPLOAD_CAP_MBIT: 4, QUOTA_GB: 5 }, 'the entrance hears it');
  const json = await post({ 'content-type': 'application/json' }, JSON.stringify({ UPLOAD_CAP_MBIT: 6 }));
  t.equal(json.status, 200, 'JSON works too (no Origin: not a browser)');
  t.match(JSON.parse(json.body), { UPLOAD_CAP_MBIT: 6, UPLOAD_QUOTA_GB: 5 });
});

t.test('refused: a peer outside the LAN, cross-site posts, bad values', async (t) => {
  const before = readFileSync(settingsFile, 'utf8');
  const direct = await request(box.status.boxPort, 'POST', '/status/household', { ...FORM, 'x-real-ip': '203.0.113.9' }, form({ UPLOAD_CAP_MBIT: '1' }));
  t.equal(direct.status, 403, 'a stranger (as the box\'s nginx names it) gets 403');
  t.equal((await request(box.status.boxPort, 'GET', '/status/household', { 'x-real-ip': '203.0.113.9' })).status, 403, 'and may not read them either');
  const otherOrigin = await post({ ...FORM, host: host(), origin: 'http://evil.example' }, form({ UPLOAD_CAP_MBIT: '1' }));
  t.equal(otherOrigin.status, 403, 'Origin of another host: 403');
  const crossSite = await post({ ...FORM, host: host(), 'sec-fetch-site': 'cross-site' }, form({ UPLOAD_CAP_MBIT: '1' }));
  t.equal(crossSite.status, 403, 'Sec-Fetch-Site cross-site: 403');
  for (const [fields, field] of [[{ UPLOAD_CAP_MBIT: '-3' }, 'UPLOAD_CAP_MBIT'], [{ QUIET_HOURS: '23-7', UPLOAD_CAP_MBIT: '2' }, 'QUIET_HOURS'], [{ UPLOAD_QUOTA_GB: 'lots' }, 'UPLOAD_QUOTA_GB']] as const) {
    const bad = await post({ ...FORM, host: host(), origin: `http://${host()}` }, form(fields));
    t.equal(bad.status, 400, `${field}: 400`);
    t.match(JSON.parse(bad.body), { ERROR_CODE: 'E_FORMAT', FIELD: field }, `${field} named`);
  }
  const notJson = await post({ 'content-type': 'application/json' }, '{"UPLOAD_CAP_MBIT":');
  t.equal(notJson.status, 400, 'a body that is no JSON object: 400');
  t.equal(readFileSync(settingsFile, 'utf8'), before, 'nothing stored changed');
  t.equal(box.agent.household.capMbit, 6, 'nor what is in force');
});

t.test('kept across a restart; "use dandelion.yaml" drops them', async (t) => {
  await box.stop();
  box = await start();
  const shown = JSON.parse((await request(box.status.httpPort, 'GET', '/status/household')).body);
  t.match(shown, { UPLOAD_CAP_MBIT: 6, UPLOAD_QUOTA_GB: 5, SOURCES: { UPLOAD_CAP_MBIT: 'status page' } }, 'the status page\'s settings came back');
  t.equal(rateAlone(box), 6e6 / 8, 'and nginx started with them');
  const reset = await post({ ...FORM, host: host(), origin: `http://${host()}` }, form({ USE_CONFIG: '1', UPLOAD_QUOTA_GB: '5', QUIET_HOURS: '', UPLOAD_CAP_MBIT: '6' }));
  t.equal(reset.status, 303);
  t.match(JSON.parse((await request(box.status.httpPort, 'GET', '/status/household')).body), { UPLOAD_CAP_MBIT: 10, UPLOAD_QUOTA_GB: 0, QUIET_HOURS: '', SOURCES: { UPLOAD_CAP_MBIT: 'dandelion.yaml', UPLOAD_QUOTA_GB: 'dandelion.yaml', QUIET_HOURS: 'dandelion.yaml' } });
  t.same(JSON.parse(readFileSync(settingsFile, 'utf8')), {}, 'no override left');
  t.ok(existsSync(settingsFile));
});

async function waitFor(check: () => boolean, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return check();
}
