// Boxes in real homes, end to end through the real processes in the sealed lab: an entrance (BOX_DOMAIN,
// its DNS on the internet's address, ACME through pebble), five boxes (bin/dandelion agent, each with its
// own Redis and nginx, PORT_MAPPING auto) behind a UPnP router, a NAT-PMP router, a router without port
// mapping, a carrier-grade NAT and an IPv6 router with a manually opened firewall. Each box enrols and
// gets the verdict its router calls for, and only reachable ones are listed by SEARCH. Then a publisher
// with its own TLS viewer page and headless Chromium play a live ffmpeg stream whose segments come over
// HTTPS from the UPnP and NAT-PMP boxes, by their names resolved through the entrance's DNS; the router
// of the box the player uses reboots, the NAT-PMP home's public address changes and the boxes'
// short-lived certificates are renewed, while the video plays and HTTPS keeps answering.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import type { Page } from 'playwright-core';
import { silentLogger } from '../../shared/src/log.js';
import { connectRedis } from '../../shared/src/redis.js';
import { reachabilityKeys } from '../../shared/src/redis-keys.js';
import { testStreamArgs } from '../../shared/src/test-stream.js';
import { EnrolmentStore } from '../../entrance/src/enrolment/store.js';
import { trafficTotals } from '../../entrance/src/traffic/read.js';
import { track } from '../helpers/children.js';
import { playbackOf, type Sample } from '../helpers/playback.js';
import { publisherToken } from '../helpers/publisher-account.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { createTestCa } from '../helpers/test-ca.js';
import { startLab, type Home, type HomeSpec, type Lab, type RouterKind } from './lab.js';
import { launchLabBrowser } from './lab-browser.js';
import { startLabPebble } from './pebble.js';
import { DANDELION, startRole, until, waitForHttp, type RoleProcess } from './roles.js';

const DOMAIN = 'boxes.lab.example';
const PUBLISHER_ID = 'publisher-lab';
const ENTRANCE_HOST = 'entrance.lab.example';
const ENTRANCE_PORT = 7071;
const VIEWER_PORT = 8443;
const BOX_PORT = 7071;
const BOX_HTTP_PORT = 7072;
const BOX_HTTPS_PORT = 7073;
/** Seconds between a box's heartbeats; its port mapper looks at the router as often. */
const HEARTBEAT_S = 2;
/**
 * Lifetime of pebble's certificates: boxes renew at 2/3 of it, so the renewal shows within the run; long
 * enough that a run stays under the entrance's 5 CERTIFY an hour per box.
 */
const CERT_LIFETIME_S = 120;
const KINDS: readonly RouterKind[] = ['upnp', 'nat-pmp', 'none', 'cgnat', 'ipv6'];
/** The agent asks NAT-PMP first: the 'upnp' home's router speaks UPnP IGD only, so the box maps over UPnP. */
const HOMES: HomeSpec[] = KINDS.map((kind) => (kind === 'upnp' ? { kind, natPmp: false } : { kind }));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The box ID of each home's box: a DNS label, so it gets the name <id>.DOMAIN. */
const boxIdOf = (kind: RouterKind): string => `box-${kind.replace('-', '')}`;
const nameOf = (kind: RouterKind): string => `${boxIdOf(kind)}.${DOMAIN}`;

/** One HTTPS GET from the internet namespace trusting only `caFile`: the status and the served certificate's serial. */
const HTTPS_GET = `
const https = require('node:https');
const [url, caFile] = process.argv.slice(1);
const req = https.get(url, { ca: require('node:fs').readFileSync(caFile), timeout: 4000 }, (res) => {
  const serial = res.socket.getPeerCertificate().serialNumber;
  res.resume();
  res.on('end', () => console.log(JSON.stringify({ status: res.statusCode, serial })));
});
req.on('timeout', () => req.destroy(new Error('timed out')));
req.on('error', (e) => console.log(JSON.stringify({ error: e.code || e.message })));
`;

/** Names through the system resolver (the namespace's resolv.conf: the entrance's DNS). */
const RESOLVE = `
const [name, type] = process.argv.slice(1);
require('node:dns').promises.resolve(name, type).then((a) => console.log(JSON.stringify(a)), (e) => console.log(JSON.stringify({ error: e.code })));
`;

interface HttpsResult { status?: number; serial?: string; error?: string }

async function httpsGet(lab: Lab, url: string, caFile: string): Promise<HttpsResult> {
  const r = await lab.exec(lab.internet, [process.execPath, '-e', HTTPS_GET, url, caFile], { timeoutMs: 15_000 });
  let parsed: unknown;
  try {
    parsed = JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
  } catch {
    return { error: `exit ${r.code}: ${r.stderr.trim()}` };
  }
  if (typeof parsed !== 'object' || parsed === null) return { error: `unexpected output: ${r.stdout.trim()}` };
  const o: Record<string, unknown> = { ...parsed };
  return {
    ...(typeof o.status === 'number' ? { status: o.status } : {}),
    ...(typeof o.serial === 'string' ? { serial: o.serial } : {}),
    ...(typeof o.error === 'string' ? { error: o.error } : {}),
  };
}

async function resolveName(lab: Lab, name: string, type: 'A' | 'AAAA'): Promise<unknown> {
  const r = await lab.exec(lab.internet, [process.execPath, '-e', RESOLVE, name, type]);
  try {
    return JSON.parse(r.stdout.trim());
  } catch {
    return { error: r.stderr.trim() };
  }
}

/** The figures this run measured, also kept in build/test-output/lab-figures.json (tap's terse reporter hides comments). */
const figures: Record<string, string> = {};
function figure(t: { comment(...args: unknown[]): void }, name: string, value: string): void {
  figures[name] = value;
  t.comment(`${name}: ${value}`);
  writeFileSync(path.join(mkdirp(path.resolve('build', 'test-output')), 'lab-figures.json'), `${JSON.stringify(figures, null, 2)}\n`);
}

const statusUrl = (kind: RouterKind): string => `https://${nameOf(kind)}:${BOX_HTTPS_PORT}/status/status.json`;

t.test('boxes in homes behind five kinds of router: verdicts, SEARCH, HTTPS playback, router events, renewal', { timeout: 540_000 }, async (t) => {
  const lab = await startLab({ homes: HOMES });
  t.teardown(() => lab.stop());
  const home = (kind: RouterKind): Home => lab.homes[KINDS.indexOf(kind)]!;
  const redis = await startRedis(t);
  const pebble = await startLabPebble(t, lab, { dnsServer: `${lab.internetIp}:53`, certificateValiditySeconds: CERT_LIFETIME_S });
  const pebbleRoot = await pebble.issuerRoot();
  const rootFile = path.join(lab.dir, 'pebble-root.pem');
  writeFileSync(rootFile, pebbleRoot);

  // The entrance by a name with both its addresses, as a dual-stack host would have: the IPv6 box reaches
  // it over IPv6 (its source address is what the entrance probes), the others over IPv4.
  for (const ns of [lab.internet, ...lab.homes.map((h) => h.box)]) {
    writeFileSync(`/etc/netns/${ns.name}/hosts`, `127.0.0.1 localhost\n::1 localhost\n${lab.internetIp} ${ENTRANCE_HOST}\n${lab.internetIp6} ${ENTRANCE_HOST}\n`);
  }
  const entranceUrl = `ws://${ENTRANCE_HOST}:${ENTRANCE_PORT}/dandelion/ws/`;
  const entrance = startRole(lab, lab.internet, 'entrance', 'entrance', {
    DANDELION_ENTRANCE_IP: '::',
    DANDELION_ENTRANCE_PORT: String(ENTRANCE_PORT),
    DANDELION_ENTRANCE_URL: entranceUrl,
    DANDELION_REDIS_URL: redis.url,
    DANDELION_RUN_DIRECTORY: path.join(lab.dir, 'entrance'),
    DANDELION_REQUIRE_ENROLMENT: 'true',
    DANDELION_REQUIRE_REACHABLE: 'true',
    DANDELION_BOX_DOMAIN: DOMAIN,
    DANDELION_DNS_BIND: lab.internetIp,
    DANDELION_DNS_PORT: '53',
    DANDELION_ACME_DIRECTORY_URL: pebble.directoryUrl,
    DANDELION_ACME_CA_FILE: pebble.apiCaFile,
    DANDELION_METRICS_PUBLIC: 'false',
  });
  t.teardown(() => entrance.stop());
  await waitForHttp(lab, lab.internet, `http://${lab.internetIp}:${ENTRANCE_PORT}/dandelion/`, entrance);

  const admin = await connectRedis({ REDIS_URL: redis.url, REDIS_HOST: '', REDIS_PORT: 0, DB: 0 }, silentLogger());
  t.teardown(() => admin.disconnect());
  const { token } = await new EnrolmentStore(admin).createToken({ expiresInSeconds: 900, maxUses: KINDS.length });

  // The IPv6 home's router has no pinhole protocol the agent speaks: the household opens the ports by hand.
  for (const port of [BOX_PORT, BOX_HTTP_PORT, BOX_HTTPS_PORT]) await home('ipv6').openFirewall(port);

  const agents = new Map<RouterKind, RoleProcess>();
  const pluggedInAt = new Map<RouterKind, number>();
  for (const kind of KINDS) {
    const boxRedis = await startRedis(t);
    const dir = path.join(lab.dir, boxIdOf(kind));
    const ipv6 = kind === 'ipv6';
    pluggedInAt.set(kind, Date.now());
    const agent = startRole(lab, home(kind).box, boxIdOf(kind), 'agent', agentEnv({
      id: boxIdOf(kind), dir, redis: boxRedis, token,
      entranceUrl,
      serverIp: ipv6 ? '::' : '0.0.0.0',
    }));
    agents.set(kind, agent);
    t.teardown(() => agent.stop());
  }

  // The verdict the entrance stored (entrance/src/reachability/store.ts): verdict, method, advice, probes.
  const verdictOf = async (kind: RouterKind): Promise<Record<string, string>> => admin.hgetall(reachabilityKeys().box(boxIdOf(kind)));

  // Plug-in to reachable over HTTPS by name from the internet, for the two routers that map ports.
  const httpsReady = new Map<RouterKind, Promise<number | undefined>>();
  for (const kind of ['upnp', 'nat-pmp'] as const) {
    httpsReady.set(kind, until(async () => {
      const r = await httpsGet(lab, statusUrl(kind), rootFile);
      return r.status === 200 ? (Date.now() - (pluggedInAt.get(kind) ?? 0)) / 1000 : undefined;
    }, 120_000, 500));
  }

  await t.test('each box gets the verdict its router calls for', async (t) => {
    const expected: Record<RouterKind, { verdict: string; method?: string }> = {
      upnp: { verdict: 'reachable', method: 'upnp' },
      'nat-pmp': { verdict: 'reachable', method: 'nat-pmp' },
      none: { verdict: 'forward-port' },
      cgnat: { verdict: 'cgnat' },
      ipv6: { verdict: 'reachable' },
    };
    for (const kind of KINDS) {
      const want = expected[kind];
      const got = await until(async () => {
        const v = await verdictOf(kind);
        return v.verdict === want.verdict ? v : undefined;
      }, 60_000, 500);
      const seen = got ?? (await verdictOf(kind));
      t.match(seen, want, `${kind}: ${seen.verdict ?? 'no verdict'} ${seen.method ?? ''} (${seen.probes ?? ''})${got ? '' : `\n${agents.get(kind)?.tail()}`}`);
      figure(t, `${kind}: verdict`, `${seen.verdict} ${seen.method ?? ''} (${seen.probes ?? ''}) — ${seen.advice ?? ''}`);
      if (kind === 'ipv6') t.ok(['ipv6', 'manual'].includes(seen.method ?? ''), `ipv6: the method is ipv6 or manual (${seen.method})`);
    }
    // The box without port mapping still gets a certificate (DNS-01 needs no port): once it serves HTTPS its
    // probe targets grow by that port and its verdict reads `checking` until the new probe ends.
    const noneVerdict = await until(async () => {
      const v = await verdictOf('none');
      return v.verdict === 'forward-port' ? v : undefined;
    }, 60_000, 500);
    const advice = noneVerdict?.advice ?? '';
    t.match(advice, home('none').boxLanIp, 'forward-port advice names the box\'s LAN address');
    t.match(advice, String(BOX_HTTP_PORT), 'and its viewer port');
    t.match(advice, String(BOX_PORT), 'and its publisher port');
    t.match(advice, /TCP/, 'and the protocol');
  });

  // The publisher: its viewer page over HTTPS with a certificate from a test CA, for its own address.
  const testCa = createTestCa();
  const viewerPair = testCa.serverPair('viewer.lab.example', lab.internetIp);
  const pubDir = path.join(lab.dir, 'publisher');
  mkdirSync(path.join(pubDir, 'live'), { recursive: true });
  writeFileSync(path.join(pubDir, 'viewer-cert.pem'), viewerPair.certPem);
  writeFileSync(path.join(pubDir, 'viewer-key.pem'), viewerPair.keyPem);
  const publisher = startRole(lab, lab.internet, 'publisher', 'publisher', {
    DANDELION_ID: PUBLISHER_ID,
    DANDELION_ENROLMENT_TOKEN: await publisherToken(PUBLISHER_ID, [entranceUrl], redis.url),
    DANDELION_REDIS_URL: redis.url,
    DANDELION_ENTRANCE_URLS: JSON.stringify([entranceUrl]),
    DANDELION_PUBLISHER_HTTP_IP: lab.internetIp,
    DANDELION_PUBLISHER_HTTP_PORT: String(VIEWER_PORT),
    DANDELION_VIEWER_TLS_CERT_FILE: path.join(pubDir, 'viewer-cert.pem'),
    DANDELION_VIEWER_TLS_KEY_FILE: path.join(pubDir, 'viewer-key.pem'),
    DANDELION_PUBLISHER_WATCH_DIRECTORY: path.join(pubDir, 'live'),
    DANDELION_RUN_DIRECTORY: path.join(pubDir, 'run'),
    DANDELION_PUBLISHER_PING_ENTRANCE_FREQ: '1',
    DANDELION_METRICS_PORT: '0',
    DANDELION_REPLICAS: '2',
    DANDELION_MIN_HTTP_PEERS: '3',
    // Five agents, their nginx, ffmpeg and Chromium share two loaded cores: a slow moment must not send a segment to the origin.
    DANDELION_HOLD_BACK: '3',
    DANDELION_FILE_TTL: '60',
  });
  t.teardown(() => publisher.stop());
  const viewerBase = `https://${lab.internetIp}:${VIEWER_PORT}`;
  const caBundle = path.join(pubDir, 'test-ca-root.pem');
  writeFileSync(caBundle, testCa.rootPem);
  await waitForHttp(lab, lab.internet, `${viewerBase}/stats`, publisher, ['--cacert', caBundle]);

  await t.test('SEARCH lists only the reachable boxes', async (t) => {
    const keyFile = path.join(pubDir, 'run', 'publisher-key.pem');
    const search = path.resolve(path.dirname(DANDELION), '../build/test/lab/search-once.js');
    const wanted = ['upnp', 'nat-pmp', 'ipv6'].map((k) => boxIdOf(k as RouterKind)).sort();
    let last = '';
    const listed = await until(async () => {
      const r = await lab.exec(lab.internet, [process.execPath, search, entranceUrl, PUBLISHER_ID, keyFile]);
      last = r.stdout.trim() || r.stderr.trim();
      try {
        const set: unknown = JSON.parse(r.stdout);
        const ids = typeof set === 'object' && set !== null ? Object.keys(set).sort() : [];
        // Listed as soon as reachable; its HTTPS_URL comes once it holds a certificate.
        const upnpHttps = typeof set === 'object' && set !== null && JSON.stringify(set).includes(`https://${nameOf('upnp')}:`);
        return ids.length >= wanted.length && upnpHttps ? ids : undefined;
      } catch {
        return undefined;
      }
    }, 60_000, 1_000);
    t.same(listed, wanted, `SEARCH lists the upnp, nat-pmp and ipv6 boxes, not none or cgnat (${last.slice(0, 600)})`);
    const set: unknown = JSON.parse(last.startsWith('{') ? last : '{}');
    t.match(set, { [boxIdOf('upnp')]: { HTTPS_URL: `https://${nameOf('upnp')}:${BOX_HTTPS_PORT}/` } }, 'the upnp box\'s HTTPS_URL names it');
  });

  await t.test('plug-in to reachable over HTTPS by name', async (t) => {
    for (const kind of ['upnp', 'nat-pmp'] as const) {
      const seconds = await httpsReady.get(kind);
      t.ok(seconds !== undefined, `${kind}: ${statusUrl(kind)} answers from the internet, trusting pebble's root`);
      figure(t, `${kind}: plug-in to reachable over HTTPS (s)`, seconds?.toFixed(1) ?? 'never');
    }
    t.same(await resolveName(lab, nameOf('upnp'), 'A'), [home('upnp').publicIp], 'the entrance\'s DNS answers the upnp box\'s name with its router\'s public address');
    t.same(await resolveName(lab, nameOf('ipv6'), 'AAAA'), [home('ipv6').boxIp6], 'and the ipv6 box\'s with its global IPv6 address');
  });

  // Only the UPnP and NAT-PMP boxes serve the stream: the others have proved what they had to.
  for (const kind of ['none', 'cgnat', 'ipv6'] as const) await agents.get(kind)?.stop();
  await until(async () => {
    const r = await lab.exec(lab.internet, ['curl', '-s', '--cacert', caBundle, `${viewerBase}/stats`]);
    return /"BOXES":2\b/.test(r.stdout);
  }, 30_000, 500);

  const ffmpeg = spawn('ffmpeg', testStreamArgs({ directory: path.join(pubDir, 'live') }), { stdio: 'ignore' });
  track(ffmpeg);
  t.teardown(() => void ffmpeg.kill('SIGKILL'));
  const browser = await launchLabBrowser(t, lab, lab.internet, { 'pebble-root': pebbleRoot, 'dandelion-test-root': testCa.rootPem });
  const page = await browser.newPage();
  const consoleLines: string[] = [];
  page.on('console', (m) => void consoleLines.push(`${m.type()}: ${m.text()}`.slice(0, 300)));
  page.on('pageerror', (e) => void consoleLines.push(`pageerror: ${e.message}`.slice(0, 300)));

  await t.test('Chromium plays the stream over HTTPS from the upnp and nat-pmp boxes', async (t) => {
    const listed = await until(async () => {
      const r = await lab.exec(lab.internet, ['curl', '-s', '--cacert', caBundle, `${viewerBase}/hls/index.m3u8`]);
      return r.stdout.split('\n').filter((l) => l.startsWith('https://box-')).length >= 2;
    }, 60_000, 500);
    t.ok(listed, 'the playlist for HTTPS viewers lists segments at https://<box-name>');
    await page.goto(`${viewerBase}/?src=index.m3u8`);
    await startSampling(page);
    const started = await until(() => page.evaluate(() => (document.querySelector('video') as HTMLVideoElement).currentTime > 0.5), 60_000);
    t.ok(started, `playback started${started ? '' : `: ${consoleLines.slice(-20).join(' | ')}`}`);
    if (!started) return;
    await sleep(20_000);
    const { playedS } = playbackOf(await samples(page));
    t.ok(playedS >= 15, `${playedS.toFixed(1)} s of video played since the start`);
    const servers = await page.evaluate(() => (window as unknown as { dandelion: { served: Array<{ server: string }> } }).dandelion.served.map((s) => s.server));
    t.ok(servers.length > 0 && servers.every((s) => s.endsWith(`.${DOMAIN}:${BOX_HTTPS_PORT}`)), `every segment the player fetched came from a box by its name over HTTPS (${[...new Set(servers)].join(', ')})`);
    await sleep(2 * HEARTBEAT_S * 1000); // the boxes' next heartbeats carry their latest traffic records
    // One viewer keeps to one box of the two holding each segment (viewers.ts): the page itself loads the
    // latest segment from both homes' boxes by name, as its player would from either.
    const latest = await page.evaluate(() => (window as unknown as { dandelion: { served: Array<{ url: string }> } }).dandelion.served.at(-1)?.url ?? '');
    for (const kind of ['upnp', 'nat-pmp'] as const) {
      const url = latest.replace(/^https:\/\/[^/]+/, `https://${nameOf(kind)}:${BOX_HTTPS_PORT}`);
      const got = await page.evaluate(async (u) => {
        try {
          const res = await fetch(u);
          return { status: res.status, bytes: (await res.arrayBuffer()).byteLength };
        } catch (err) {
          return { error: String(err) };
        }
      }, url);
      t.match(got, { status: 200, bytes: Number }, `the page loads ${url} from the ${kind} box over HTTPS (${JSON.stringify(got)})`);
    }
    const fromBoxes = (await trafficTotals(admin, { publisher: PUBLISHER_ID })).bytes;
    const stats = JSON.parse((await lab.exec(lab.internet, ['curl', '-s', '--cacert', caBundle, `${viewerBase}/stats`])).stdout) as { ORIGIN_SEGMENT_BYTES: number };
    const share = fromBoxes / (fromBoxes + stats.ORIGIN_SEGMENT_BYTES);
    t.ok(fromBoxes > 300_000, `boxes served ${fromBoxes} bytes`);
    figure(t, 'share of segment bytes from boxes (%)', (share * 100).toFixed(1));
    t.ok(share >= 0.95, `share of segment bytes from boxes: ${(share * 100).toFixed(1)} % (origin ${stats.ORIGIN_SEGMENT_BYTES})`);
  });

  await t.test('the router of the box the player uses reboots: the box maps again and playback goes on', async (t) => {
    const lastServer = await page.evaluate(() => (window as unknown as { dandelion: { served: Array<{ server: string }> } }).dandelion.served.at(-1)?.server ?? '');
    const kind = lastServer.startsWith(`${nameOf('nat-pmp')}:`) ? 'nat-pmp' : 'upnp';
    t.comment(`the player fetches from ${lastServer}: rebooting the ${kind} router`);
    const rebootedAt = Date.now();
    const pageAt = await page.evaluate(() => performance.now());
    await home(kind).reboot();
    const lost = await httpsGet(lab, statusUrl(kind), rootFile);
    t.comment(`right after the reboot: ${JSON.stringify(lost)}`);
    const back = await until(async () => (await httpsGet(lab, statusUrl(kind), rootFile)).status === 200, 30_000, 250);
    const remapS = (Date.now() - rebootedAt) / 1000;
    t.ok(back, `the ${kind} box answers over HTTPS again ${remapS.toFixed(1)} s after the reboot`);
    figure(t, `${kind} router reboot to reachable over HTTPS again (s; heartbeat ${HEARTBEAT_S} s)`, remapS.toFixed(1));
    t.ok(remapS <= HEARTBEAT_S + 10, `mapped again within about one heartbeat period (${remapS.toFixed(1)} s; ${HEARTBEAT_S} s and slack for this loaded machine)`);
    await sleep(15_000);
    const after = (await samples(page)).filter((s) => s.at >= pageAt);
    const { playedS, stallMs } = playbackOf(after);
    t.ok(playedS >= 10, `playback went on: ${playedS.toFixed(1)} s of video in the ${((Date.now() - rebootedAt) / 1000).toFixed(0)} s since the reboot (longest stall ${Math.round(stallMs)} ms)`);
    figure(t, 'longest stall across the reboot (ms)', String(Math.round(stallMs)));
  });

  await t.test('the nat-pmp home\'s public address changes: DNS follows, the certificate still holds', async (t) => {
    const oldIp = home('nat-pmp').publicIp;
    t.same(await resolveName(lab, nameOf('nat-pmp'), 'A'), [oldIp], 'the name points at the old address');
    const changedAt = Date.now();
    const newIp = await home('nat-pmp').changeWanIp();
    const followed = await until(async () => {
      const a = await resolveName(lab, nameOf('nat-pmp'), 'A');
      return Array.isArray(a) && a.length === 1 && a[0] === newIp;
    }, 30_000, 250);
    const followS = (Date.now() - changedAt) / 1000;
    t.ok(followed, `the A record is the new address ${newIp} after ${followS.toFixed(1)} s`);
    figure(t, `nat-pmp WAN address change to the A record following (s; heartbeat ${HEARTBEAT_S} s)`, followS.toFixed(1));
    t.ok(followS <= HEARTBEAT_S + 10, `within about one heartbeat period (${followS.toFixed(1)} s; ${HEARTBEAT_S} s and slack)`);
    const r = await until(async () => {
      const got = await httpsGet(lab, statusUrl('nat-pmp'), rootFile);
      return got.status === 200 ? got : undefined;
    }, 20_000, 500);
    t.ok(r, `HTTPS by name at the new address, the certificate verified up to pebble's root (${JSON.stringify(r)})`);
  });

  await t.test('a short-lived certificate is renewed with no interruption of serving', async (t) => {
    const first = await httpsGet(lab, statusUrl('upnp'), rootFile);
    t.equal(first.status, 200, 'served before the renewal');
    const results: HttpsResult[] = [first];
    const renewed = await until(async () => {
      const r = await httpsGet(lab, statusUrl('upnp'), rootFile);
      results.push(r);
      return r.serial !== undefined && r.serial !== first.serial ? r : undefined;
    }, (CERT_LIFETIME_S * 2 / 3 + 30) * 1000, 500);
    figure(t, 'HTTPS fetches through the renewal (ok/all)', `${results.filter((r) => r.status === 200).length}/${results.length}`);
    t.ok(renewed, `a new certificate is served (serial ${first.serial} → ${renewed?.serial})`);
    const failed = results.filter((r) => r.status !== 200);
    t.same(failed, [], `all ${results.length} HTTPS fetches through the renewal succeeded`);
    const after = await httpsGet(lab, statusUrl('upnp'), rootFile);
    t.equal(after.status, 200, 'and after it');
  });

  await page.screenshot({ path: path.join(mkdirp(path.resolve('build', 'test-output')), 'lab-viewer.png') }).catch(() => undefined);
});

function agentEnv(o: { id: string; dir: string; redis: RedisServer; token: string; entranceUrl: string; serverIp: string }): Record<string, string> {
  return {
    DANDELION_ID: o.id,
    DANDELION_REDIS_URL: o.redis.url,
    DANDELION_ENTRANCE_URLS: JSON.stringify([o.entranceUrl]),
    DANDELION_ENROLMENT_TOKEN: o.token,
    DANDELION_BOX_SERVER_IP: o.serverIp,
    DANDELION_BOX_PORT: String(BOX_PORT),
    DANDELION_BOX_HTTP_PORT: String(BOX_HTTP_PORT),
    DANDELION_BOX_HTTPS_PORT: String(BOX_HTTPS_PORT),
    DANDELION_PORT_MAPPING: 'auto',
    DANDELION_BASE_DIRECTORY: path.join(o.dir, 'files'),
    DANDELION_RUN_DIRECTORY: path.join(o.dir, 'run'),
    DANDELION_BOX_PING_ENTRANCE_FREQ: String(HEARTBEAT_S),
    DANDELION_BANDWIDTH_TEST_CRON: '',
    DANDELION_BANDWIDTH_UP: '1000',
    DANDELION_BANDWIDTH_DOWN: '1000',
    DANDELION_DISK_RESERVE_MB: '1',
    DANDELION_METRICS_PORT: '0',
  };
}

async function startSampling(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { samples: Array<{ at: number; ct: number; paused: boolean }> };
    w.samples = [];
    const video = document.querySelector('video') as HTMLVideoElement;
    setInterval(() => w.samples.push({ at: performance.now(), ct: video.currentTime, paused: video.paused }), 100);
  });
}

async function samples(page: Page): Promise<Sample[]> {
  return page.evaluate(() => (window as unknown as { samples: Sample[] }).samples);
}

function mkdirp(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return dir;
}
