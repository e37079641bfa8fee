// A Redis Cluster master SIGKILLed under load. Six nodes (three masters, a replica each), two entrance
// processes of one fleet, three real box agents serving a publisher's file to viewers, and simulated
// boxes beating EXCHANGE with traffic aggregates, while fleet tokens and publisher accounts are being
// issued. The master killed is the one holding enrolment, publisher accounts and traffic counting (the
// fleet-wide {dandelion:ENROL}, {dandelion:PUBLISHER} and {dandelion:TRAFFIC} slots all hash to it), the
// fleet's own namespace (FLEET is chosen so) and half the registry's shards: the worst single master to
// lose. Its replica takes over; then every box is back in SEARCH within one heartbeat period, every
// enrolment and every token acknowledged before the kill still works, and the traffic counted equals what
// the boxes served, exactly (none lost with the master, none counted twice on the retries).
import t from 'tap';
import { silentLogger } from '../../shared/src/log.js';
import { connectRedis } from '../../shared/src/redis.js';
import { entranceKeys, enrolmentKeys, publisherAccountKeys, shardKeysOf, trafficKeys } from '../../shared/src/redis-keys.js';
import { PeerCredentials } from '../../shared/src/enrolment/peer-credentials.js';
import { EnrolmentStore } from '../../entrance/src/enrolment/store.js';
import { PublisherAccounts } from '../../entrance/src/publishers/accounts.js';
import { clusterNodes, startRedisCluster } from '../helpers/redis-cluster.js';
import { startRedis } from '../helpers/redis.js';
import { startEntranceProcess } from '../helpers/entrance-process.js';
import { eventually, startAgent } from '../helpers/agent.js';
import { startPublisher } from '../helpers/publisher.js';
import { ask, newKey, upgrade } from '../helpers/enrolment.js';
import { searchRequest } from '../helpers/messages.js';
import { AGGREGATE_BYTES, BeatingBox } from './beating-box.js';
import { view } from './serving.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

/** Its `{FLEET}` namespace hashes to the master that holds enrolment and traffic, and 8 of its 16 registry shards do too. */
const FLEET = 'fleet-failover-cluster';
/**
 * The boxes' heartbeat period (BOX_PING_ENTRANCE_FREQ). The bound on being back: the next beat comes
 * within the period and its ±10 % jitter, then takes its round trip through an entrance and Redis: at
 * least MIN_ROUND_TRIP_MS, or the slowest round trip of the beats just before the kill when this shared
 * machine is loaded more (what the failover adds is what is bounded, not the machine's load).
 */
const BEAT_MS = 1_000;
const MIN_ROUND_TRIP_MS = 500;
/** Short, so a box listed by SEARCH is one whose heartbeats are being stored. */
const EXPIRE_BOX_SECONDS = 3;
const REAL_BOXES = 3;
const SIMULATED_BOXES = 80;
const LOAD_BEFORE_KILL_MS = 6_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

t.test('a Redis Cluster master SIGKILLed under load: its replica takes over, nothing lost', async (t) => {
  const cluster = await startRedisCluster(t);
  const admin = cluster.client();
  const boxRedis = await startRedis(t); // the boxes' and the publisher's own Redis (one each, in one server)
  const env = {
    DANDELION_REDIS_CLUSTER_NODES: cluster.nodesEnv,
    DANDELION_FLEET_ID: FLEET,
    DANDELION_ENTRANCE_EXPIRE_BOX_TIME: String(EXPIRE_BOX_SECONDS),
    DANDELION_ENTRANCE_SWEEP_FREQ: '0.5',
    DANDELION_REQUIRE_ENROLMENT: 'true',
    // Simulated boxes cannot be probed; SEARCH lists every live box, so the test can see them all.
    DANDELION_REQUIRE_REACHABLE: 'false',
    DANDELION_AMOUNT_OF_BOXES_PER_REQUEST: '1000',
  };
  const a = await startEntranceProcess(t, env);
  const b = await startEntranceProcess(t, env);
  const entrances = [a, b];

  // The master to kill, and why: it holds the slots a lost write would hurt most.
  const victim = await cluster.masterOf(enrolmentKeys('cluster').boxes);
  const k = entranceKeys(FLEET, 'cluster');
  t.equal((await cluster.masterOf(trafficKeys('cluster').fleetTotal)).port, victim.port, 'traffic counting is on the master to be killed');
  t.equal((await cluster.masterOf(publisherAccountKeys('cluster').accounts)).port, victim.port, 'publisher accounts are on it');
  t.equal((await cluster.masterOf(k.boxSummary)).port, victim.port, 'the fleet\'s namespace is on it');
  const shardsOnVictim = (await Promise.all(k.shards.map((s) => cluster.masterOf(s.boxSet)))).filter((n) => n.port === victim.port).length;
  t.ok(shardsOnVictim >= 4, `${shardsOnVictim} of ${k.shards.length} registry shards are on it`);

  // Tokens and accounts, made as an operator does (the product's client, so its writes wait for the replica).
  const product = await connectRedis({ REDIS_URL: undefined, REDIS_HOST: '', REDIS_PORT: 0, DB: 0, REDIS_CLUSTER_NODES: cluster.nodes.map((n) => n.address) }, silentLogger());
  t.teardown(() => product.disconnect());
  const enrolment = new EnrolmentStore(product);
  const accounts = new PublisherAccounts(product);
  const { token: fleetToken } = await enrolment.createToken({ expiresInSeconds: 3600, maxUses: REAL_BOXES + SIMULATED_BOXES + 1 });
  const publisherId = 'publisher-cluster';
  const publisherAccount = await accounts.create(publisherId, 2e9);
  const probeAccount = await accounts.create('publisher-probe', 2e9);
  if (!publisherAccount || !probeAccount) throw new Error('publisher accounts not made');

  // SEARCH as an enrolled publisher, through a fresh signed upgrade each time.
  const probe = new PeerCredentials('publisher-probe', newKey(), probeAccount.token);
  const probeEnrolled = await probe.enrol(a.url);
  t.ok(probeEnrolled.ok, 'the probing publisher enrols with its account token');
  const searched = async (url: string): Promise<Set<string> | undefined> => {
    try {
      const socket = await upgrade(url, (await probe.upgradeHeaders(url)) ?? {});
      if (!socket.ok) return undefined;
      try {
        const reply = await Promise.race([ask(socket, searchRequest('publisher-probe')), sleep(5_000).then(() => undefined)]);
        return reply?.BOX_SET === undefined ? undefined : new Set(Object.keys(reply.BOX_SET as object));
      } finally {
        socket.ws.terminate();
      }
    } catch {
      return undefined;
    }
  };

  // Real boxes, enrolled with the fleet token, beating through both entrances; a publisher puts a file on each.
  const agents = await Promise.all(Array.from({ length: REAL_BOXES }, (_, i) => startAgent(t, {
    redisUrl: boxRedis.url, entranceUrls: [a.url, b.url], boxId: `box-real${i}`,
    env: { DANDELION_ENROLMENT_TOKEN: fleetToken, DANDELION_BOX_PING_ENTRANCE_FREQ: String(BEAT_MS / 1000) },
  })));
  const pub = await startPublisher(t, {
    redisUrl: boxRedis.url, entranceUrls: [a.url, b.url], id: publisherId, account: false,
    env: { DANDELION_ENROLMENT_TOKEN: publisherAccount.token, DANDELION_REPLICAS: String(REAL_BOXES), DANDELION_AUDIT_RATE: '0', DANDELION_FILE_TTL: '3600' },
  });
  mkdirSync(path.join(pub.watchDirectory, 'live'), { recursive: true });
  writeFileSync(path.join(pub.watchDirectory, 'live', 'seg.ts'), randomBytes(20_000));
  const held = await eventually(async () => (await boxRedis.client().hlen(`${publisherId}:FILE:PROCESSED_FILES:live/seg.ts`)) === REAL_BOXES, 60_000, 200);
  t.ok(held, `the file is on all ${REAL_BOXES} real boxes`);
  const fileUrls = agents.map((x) => `${x.httpBase}/${publisherId}/live/seg.ts`);

  // The load: simulated boxes, half on each entrance, enrolled with the same token.
  const simulated = Array.from({ length: SIMULATED_BOXES }, (_, i) => new BeatingBox(`box-sim${i}`, entrances[i % 2]!.url, fleetToken, publisherId, BEAT_MS));
  for (const box of simulated) await box.enrol();
  for (const box of simulated) box.start();
  t.teardown(() => Promise.all(simulated.map((box) => box.stop())));
  const allIds = [...agents.map((x) => x.boxId), ...simulated.map((x) => x.id)].sort();
  const everyBoxIn = (set: Set<string> | undefined): boolean => set !== undefined && allIds.every((id) => set.has(id));
  t.ok(await eventually(async () => everyBoxIn(await searched(a.url)) && everyBoxIn(await searched(b.url)), 30_000, 250), `all ${allIds.length} boxes in SEARCH on both entrances`);

  // Viewers fetch from every real box throughout, before, during and after the kill.
  const served = new Map<string, number>(agents.map((x) => [x.boxId, 0]));
  let viewing = true;
  const viewers = (async () => {
    for (let i = 0; viewing; i++) {
      const n = i % REAL_BOXES;
      served.set(agents[n]!.boxId, served.get(agents[n]!.boxId)! + (await view(fileUrls[n]!, 1)));
      await sleep(50);
    }
  })();
  // Tokens and accounts issued right up to the kill and through it: those acknowledged must all survive.
  const issuedTokens: Array<{ token: string; id: string }> = [];
  const issuedAccounts: Array<{ token: string; id: string }> = [];
  let issuing = true;
  let refusedIssues = 0;
  const issuer = (async () => {
    for (let i = 0; issuing; i++) {
      try {
        const made = await enrolment.createToken({ expiresInSeconds: 3600, maxUses: 1 });
        issuedTokens.push({ token: made.token, id: made.info.ID });
        const account = await accounts.create(`publisher-race${i}`, 1e9);
        if (account) issuedAccounts.push({ token: account.token, id: account.info.ID });
      } catch {
        refusedIssues += 1; // not acknowledged: an operator sees the error and tries again
      }
      await sleep(20);
    }
  })();
  await sleep(LOAD_BEFORE_KILL_MS);

  // The kill. Its replica (by CLUSTER NODES) is to be promoted.
  const before = await clusterNodes(cluster.nodes.find((n) => n !== victim)!.port);
  const victimId = [...before].find(([, n]) => n.port === victim.port)?.[0];
  const replica = [...before].find(([, n]) => n.master === victimId);
  t.ok(replica, `the master on port ${victim.port} has a replica (port ${replica?.[1].port})`);
  const roundTripMs = Math.max(MIN_ROUND_TRIP_MS, ...simulated.flatMap((x) => x.roundTrips));
  const beatBoundMs = BEAT_MS * 1.1 + roundTripMs;
  const tokensBeforeKill = issuedTokens.length;
  const accountsBeforeKill = issuedAccounts.length;
  const killedAt = Date.now();
  victim.proc.kill('SIGKILL');
  const survivor = cluster.nodes.find((n) => n.port === replica![1].port)!;
  const promoted = await eventually(async () => {
    const nodes = await clusterNodes(survivor.port).catch(() => undefined);
    const r = nodes?.get(replica![0]);
    return r !== undefined && r.flags.includes('master') && r.slotRanges > 0 && nodes!.get(victimId!)!.flags.includes('fail');
  }, 30_000, 20);
  const failoverAt = Date.now();
  t.ok(promoted, `the replica on port ${survivor.port} is a master now, the killed one marked failed (${failoverAt - killedAt} ms after the kill)`);

  // Back within one heartbeat period: every box registered again by a heartbeat made after the failover
  // (its expiry is later than the failover's time plus the expiry; the sweep dropped those whose shard was
  // out of reach longer than that), and listed by SEARCH on both entrances then. The registry is polled
  // (SEARCH is rate-limited per publisher); the SEARCHes follow at once.
  const beatSince = async (id: string): Promise<boolean> => Number(await admin.zscore(shardKeysOf(k, id).boxSet, id).catch(() => null)) > failoverAt / 1000 + EXPIRE_BOX_SECONDS;
  const registered = await eventually(async () => (await Promise.all(allIds.map(beatSince))).every(Boolean), 30_000, 20);
  const registeredAt = Date.now();
  t.ok(registered, 'every box registered again by a heartbeat after the failover');
  t.ok(registeredAt - failoverAt <= beatBoundMs, `within one heartbeat period of the failover (${registeredAt - failoverAt} ms; period ${BEAT_MS} ms ±10 %, + ${roundTripMs} ms for the beat's round trip)`);
  // Asked at once, and again while a loaded machine's SEARCH may miss a box whose beat is late.
  const listed = await eventually(async () => everyBoxIn(await searched(a.url)) && everyBoxIn(await searched(b.url)), 5_000, 500);
  t.ok(listed, `and SEARCH on both entrances lists all ${allIds.length} (answered ${Date.now() - failoverAt} ms after the failover)`);

  await sleep(3_000); // the load goes on after the failover
  issuing = false;
  await issuer;
  viewing = false;
  await viewers;

  // Every enrolment still opens a socket: each simulated box upgrades again, signed with its key.
  const upgradesBefore = simulated.map((x) => x.upgrades);
  for (const box of simulated) box.reconnect();
  t.ok(await eventually(() => simulated.every((x, i) => x.upgrades > upgradesBefore[i]!), 20_000, 100), 'every simulated box opened a new signed socket after the failover');
  const states = await Promise.all(allIds.map((id) => enrolment.stateOf(id)));
  t.same(states.filter((s) => s !== 'enrolled'), [], `all ${allIds.length} boxes are still enrolled`);

  // Every token acknowledged before the kill is there, and the last one still enrols a box.
  t.ok(tokensBeforeKill > 0 && accountsBeforeKill > 0, `${tokensBeforeKill} tokens and ${accountsBeforeKill} accounts acknowledged before the kill`);
  const ek = enrolmentKeys('cluster');
  const lostTokens = (await Promise.all(issuedTokens.map(async (x) => ((await admin.hget(ek.token(x.id), 'SECRET_HASH')) === null ? x.id : undefined)))).filter(Boolean);
  t.same(lostTokens, [], `none of the ${issuedTokens.length} acknowledged fleet tokens was lost (${refusedIssues} issues refused during the failover)`);
  const lostAccounts = (await Promise.all(issuedAccounts.map(async (x) => ((await accounts.stateOf(x.id)) === undefined ? x.id : undefined)))).filter(Boolean);
  t.same(lostAccounts, [], `none of the ${issuedAccounts.length} acknowledged publisher accounts was lost`);
  const lastToken = issuedTokens[tokensBeforeKill - 1]!;
  const late = new BeatingBox('box-late', b.url, lastToken.token, publisherId, BEAT_MS);
  await late.enrol();
  t.pass('the last fleet token issued before the kill enrols a new box');
  const lastAccount = issuedAccounts[accountsBeforeKill - 1]!;
  const lateEnrol = await new PeerCredentials(lastAccount.id, newKey(), lastAccount.token).enrol(a.url);
  t.ok(lateEnrol.ok, `the last publisher account made before the kill enrols its publisher (${lateEnrol.ok ? 'ok' : lateEnrol.code})`);
  t.ok(await eventually(async () => everyBoxIn(await searched(b.url)), 5_000), 'the probing publisher\'s account still opens a socket and SEARCHes');
  const seen = await eventually(async () => Number(await admin.zscore(k.publishersSeen, publisherId)) > failoverAt / 1000, 15_000, 100);
  t.ok(seen, 'the real publisher SEARCHes again after the failover');

  // Traffic: counted exactly as served, per box.
  const tk = trafficKeys('cluster');
  const countedOf = async (boxId: string, field: 'requests' | 'bytes'): Promise<number> => Number((await admin.hget(tk.boxTotal(boxId), field)) ?? 0);
  t.ok(await eventually(async () => (await Promise.all(agents.map(async (x) => (await countedOf(x.boxId, 'requests')) >= served.get(x.boxId)!))).every(Boolean), 60_000, 250), 'the real boxes\' traffic arrived');
  t.ok(await Promise.all(simulated.map((x) => x.flush(30_000))).then((all) => all.every(Boolean)), 'every simulated box\'s aggregates were accepted');
  await sleep(3_000); // a few more heartbeats: an aggregate counted twice would show here
  for (const x of agents) t.equal(await countedOf(x.boxId, 'requests'), served.get(x.boxId), `${x.boxId}: counted the ${served.get(x.boxId)} requests it served, once`);
  const simCounted = await Promise.all(simulated.map((x) => countedOf(x.id, 'bytes')));
  t.same(simulated.filter((x, i) => simCounted[i] !== x.made * AGGREGATE_BYTES).map((x, i) => `${x.id}: ${simCounted[i]} of ${x.made * AGGREGATE_BYTES}`), [],
    `each simulated box's ${simulated.reduce((n, x) => n + x.made, 0)} aggregates counted exactly once in all`);
  const totalServed = [...served.values()].reduce((n, x) => n + x, 0) + simulated.reduce((n, x) => n + x.made, 0);
  t.equal(Number(await admin.hget(tk.publisherTotal(publisherId), 'requests')), totalServed, `the publisher's total is every request served (${totalServed})`);

  // The entrances rode it out, without a restart and without flooding their logs.
  for (const [name, e] of [['A', a], ['B', b]] as const) {
    t.equal(e.proc.exitCode, null, `entrance ${name} still runs`);
    const lines = e.output().split('\n').filter((l) => /"level":"(warn|error|fatal)"/.test(l));
    const byMessage = new Map<string, number>();
    for (const line of lines) {
      const msg = /"msg":"([^"]*)"/.exec(line)?.[1] ?? line.slice(0, 80);
      byMessage.set(msg, (byMessage.get(msg) ?? 0) + 1);
    }
    t.ok(lines.length <= 40, `entrance ${name} logged ${lines.length} warnings and errors over the failover: ${JSON.stringify(Object.fromEntries(byMessage))}`);
  }
  await late.stop();
});
