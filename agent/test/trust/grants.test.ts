// A box whose entrance sends fleet keys takes PUBLISH only with a grant it checks offline: a stranger
// without one, a forged, expired or borrowed grant are refused with E_AUTH and nothing is written; a valid
// grant stores files under its publisher within its quota; a revoked publisher's files are deleted; a
// rotated key's grants are taken until the retired key leaves the EXCHANGE reply.
import { generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { encodeFrame } from '../../../shared/src/protocol/index.js';
import { trustKeys } from '../../../shared/src/redis-keys.js';
import { signGrant } from '../../../shared/src/trust/grant.js';
import { FleetKeys } from '../../../entrance/src/trust/fleet-keys.js';
import { GRANT_SECONDS } from '../../../entrance/src/trust/publisher-trust.js';
import { startRedis } from '../../../test/helpers/redis.js';
import { startEntrance } from '../../../test/helpers/entrance.js';
import { eventually, startAgent } from '../../../test/helpers/agent.js';
import type { RunningAgent } from '../../../test/helpers/agent.js';
import { connectPeer } from '../../../test/helpers/ws-client.js';
import type { TestPeer } from '../../../test/helpers/ws-client.js';

const AUTH = { DANDELION_REQUIRE_PUBLISHER_AUTH: 'true' };
const publish = (id: string, grant?: string): Record<string, unknown> => ({ ID: id, IP: '127.0.0.1', TYPE: 'PUBLISHER', COMMAND: 'PUBLISH', ...(grant === undefined ? {} : { GRANT: grant }) });
const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** The key IDs the box keeps in its run directory (undefined: it takes any PUBLISH). */
function pinnedKeyIds(box: RunningAgent): string[] | undefined {
  const file = path.join(box.runDirectory, 'fleet-trust.json');
  if (!existsSync(file)) return undefined;
  const state = JSON.parse(readFileSync(file, 'utf8')) as { FLEET_KEYS?: Record<string, string> };
  return state.FLEET_KEYS === undefined ? undefined : Object.keys(state.FLEET_KEYS).sort();
}

async function setup(t: Test) {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: AUTH });
  const box = await startAgent(t, { redisUrl: redis.url, entranceUrls: [entrance.url] });
  const r = redis.client();
  // The same fleet keys the entrance signs with: every entrance on a Redis shares them.
  const fleet = new FleetKeys({ redis: r, keys: trustKeys(), grantSeconds: GRANT_SECONDS });
  t.ok(await eventually(() => (pinnedKeyIds(box)?.length ?? 0) > 0), 'the box keeps the fleet keys from its EXCHANGE reply');
  const grant = async (publisher: string, over: { expires?: number; quota?: number; key?: KeyObject; keyId?: string } = {}): Promise<string> => {
    const current = await fleet.current();
    return signGrant(
      { PUBLISHER: publisher, ISSUED: nowSeconds() - 5, EXPIRES: over.expires ?? nowSeconds() + 600, QUOTA_BYTES: over.quota ?? 0, KEY_ID: over.keyId ?? current.keyId },
      over.key ?? current.privateKey,
    );
  };
  return { redis, r, entrance, box, fleet, grant };
}

/** Everything under BASE_DIRECTORY but the box's own temp folder. */
function filesOnDisk(box: RunningAgent): string[] {
  if (!existsSync(box.baseDirectory)) return [];
  return readdirSync(box.baseDirectory, { recursive: true, encoding: 'utf8' }).filter((f) => !f.startsWith('.incoming'));
}

async function refused(t: Test, box: RunningAgent, msg: Record<string, unknown>, why: string | RegExp): Promise<void> {
  const peer = await connectPeer(box.status.connectWs);
  t.teardown(() => peer.close());
  const reply = await peer.ask(msg);
  t.equal(reply.ERROR_CODE, 'E_AUTH', `E_AUTH: ${String(reply.ERROR)}`);
  t.match(String(reply.ERROR), why);
  t.equal((await peer.closed).code, 4401, 'the socket is closed');
}

async function sendFile(peer: TestPeer, filePath: string, content: Buffer): Promise<Record<string, unknown>> {
  peer.sendRaw(encodeFrame({ FILE_PATH: filePath, TTL: 60 }, content), true);
  return peer.next();
}

t.test('a stranger, a forged, an expired or a borrowed grant: refused, nothing written', async (t) => {
  const { r, box, grant } = await setup(t);
  const stranger = await connectPeer(box.status.connectWs);
  t.teardown(() => stranger.close());
  const reply = await stranger.ask(publish('publisher-stranger'));
  t.equal(reply.ERROR_CODE, 'E_AUTH', 'a PUBLISH without a grant is refused');
  // A file frame right behind the refused PUBLISH finds the socket closed.
  stranger.sendRaw(encodeFrame({ FILE_PATH: 'x.ts', TTL: 60 }, Buffer.from('free hosting')), true);
  t.equal((await stranger.closed).code, 4401);

  const otherKey = generateKeyPairSync('ed25519').privateKey;
  await refused(t, box, publish('publisher-a', await grant('publisher-a', { key: otherKey })), /signature does not verify/);
  await refused(t, box, publish('publisher-a', await grant('publisher-a', { key: otherKey, keyId: 'not-a-fleet-key' })), /does not know/);
  await refused(t, box, publish('publisher-a', await grant('publisher-a', { expires: nowSeconds() - 1 })), /expired/);
  await refused(t, box, publish('publisher-b', await grant('publisher-a')), /for publisher-a, not publisher-b/);
  await refused(t, box, publish('publisher-a', 'garbage.grant'), /grant/);

  t.same(filesOnDisk(box), [], 'nothing on disk');
  t.equal(await r.zcard(`${box.boxId}:EXPIRE_FILES`), 0, 'nothing to expire');
  t.same(await r.keys(`${box.boxId}:SUBSCRIBE:*`), [], 'no publisher recorded');
});

t.test('a valid grant stores under its publisher, within its quota', async (t) => {
  const { box, grant } = await setup(t);
  const peer = await connectPeer(box.status.connectWs);
  t.teardown(() => peer.close());
  t.equal((await peer.ask(publish('publisher-a', await grant('publisher-a', { quota: 100_000 })))).MESSAGE, 'ACCEPTED');
  t.equal((await sendFile(peer, 'live/s1.ts', Buffer.alloc(60_000, 1))).MESSAGE, 'ACCEPTED');
  t.equal((await fetch(`${box.httpBase}/publisher-a/live/s1.ts`)).status, 200, 'served under the grant\'s publisher');

  const over = await sendFile(peer, 'live/s2.ts', Buffer.alloc(60_000, 2));
  t.equal(over.ERROR_CODE, 'E_QUOTA', `past the quota: ${String(over.ERROR)}`);
  t.notOk(existsSync(path.join(box.baseDirectory, 'publisher-a/live/s2.ts')), 'the refused file is not written');
  t.equal((await sendFile(peer, 'live/s1.ts', Buffer.alloc(90_000, 3))).MESSAGE, 'ACCEPTED', 'a file replacing one of its own counts once');
  t.equal((await sendFile(peer, 'live/s3.ts', Buffer.alloc(5_000, 4))).MESSAGE, 'ACCEPTED', 'room left under the quota is usable');
  t.equal((await sendFile(peer, 'live/s4.ts', Buffer.alloc(6_000, 5))).ERROR_CODE, 'E_QUOTA');

  // A fresh grant on the same socket (as a publisher renews it) is taken, a borrowed one closes it.
  t.equal((await peer.ask(publish('publisher-a', await grant('publisher-a', { quota: 200_000 })))).MESSAGE, 'ACCEPTED');
  t.equal((await sendFile(peer, 'live/s4.ts', Buffer.alloc(6_000, 5))).MESSAGE, 'ACCEPTED', 'the renewed grant\'s quota applies');
  t.equal((await peer.ask(publish('publisher-a', await grant('publisher-b')))).ERROR_CODE, 'E_AUTH');
  t.same(filesOnDisk(box).filter((f) => f.endsWith('.ts')).sort(), ['publisher-a/live/s1.ts', 'publisher-a/live/s3.ts', 'publisher-a/live/s4.ts']);
});

t.test('a grant that expires on an open socket: files refused until a fresh PUBLISH', async (t) => {
  const { box, grant } = await setup(t);
  const peer = await connectPeer(box.status.connectWs);
  t.teardown(() => peer.close());
  const expires = nowSeconds() + 2;
  t.equal((await peer.ask(publish('publisher-a', await grant('publisher-a', { expires })))).MESSAGE, 'ACCEPTED');
  await eventually(() => nowSeconds() >= expires, 5_000);
  const late = await sendFile(peer, 'live/late.ts', Buffer.from('late'));
  t.equal(late.ERROR_CODE, 'E_AUTH', `refused: ${String(late.ERROR)}`);
  t.notOk(existsSync(path.join(box.baseDirectory, 'publisher-a/live/late.ts')), 'not written');
  t.equal((await peer.ask(publish('publisher-a', await grant('publisher-a')))).MESSAGE, 'ACCEPTED');
  t.equal((await sendFile(peer, 'live/late.ts', Buffer.from('late'))).MESSAGE, 'ACCEPTED', 'taken with the fresh grant');
});

t.test('a revoked publisher: its files deleted, its grants refused', async (t) => {
  const { r, box, grant } = await setup(t);
  for (const id of ['publisher-a', 'publisher-b']) {
    const peer = await connectPeer(box.status.connectWs);
    t.teardown(() => peer.close());
    t.equal((await peer.ask(publish(id, await grant(id)))).MESSAGE, 'ACCEPTED');
    t.equal((await sendFile(peer, 'live/s1.ts', Buffer.from(`from ${id}`))).MESSAGE, 'ACCEPTED');
  }
  const open = await connectPeer(box.status.connectWs);
  t.teardown(() => open.close());
  t.equal((await open.ask(publish('publisher-a', await grant('publisher-a')))).MESSAGE, 'ACCEPTED');

  await r.sadd(trustKeys().revokedPublishers, 'publisher-a');
  t.ok(await eventually(() => !existsSync(path.join(box.baseDirectory, 'publisher-a'))), 'its folder is gone');
  t.equal((await fetch(`${box.httpBase}/publisher-a/live/s1.ts`)).status, 404, 'nginx no longer serves it');
  // The file goes first, its entry after (a crash between them leaves an entry to retry, never an untracked file).
  t.ok(await eventually(async () => (await r.zscore(`${box.boxId}:EXPIRE_FILES`, 'publisher-a/live/s1.ts')) === null), 'its expiry entry is gone');
  t.equal(await (await fetch(`${box.httpBase}/publisher-b/live/s1.ts`)).text(), 'from publisher-b', 'another publisher keeps its files');

  t.equal((await sendFile(open, 'live/s2.ts', Buffer.from('after'))).ERROR_CODE, 'E_AUTH', 'a socket opened before the revocation is refused files');
  await refused(t, box, publish('publisher-a', await grant('publisher-a')), /revoked/);
  t.notOk(existsSync(path.join(box.baseDirectory, 'publisher-a')), 'nothing written after the revocation');
});

t.test('key rotation: the retired key\'s grants are taken until it leaves the reply', async (t) => {
  const { r, box, fleet, grant } = await setup(t);
  const old = await fleet.current();
  const oldGrant = await grant('publisher-a');
  const newId = await fleet.rotate();
  t.ok(await eventually(() => pinnedKeyIds(box)?.includes(newId) ?? false), 'the new key reaches the box');
  t.same(pinnedKeyIds(box), [old.keyId, newId].sort(), 'the retired key is kept beside it');
  for (const g of [oldGrant, await grant('publisher-a')]) {
    const peer = await connectPeer(box.status.connectWs);
    t.teardown(() => peer.close());
    t.equal((await peer.ask(publish('publisher-a', g))).MESSAGE, 'ACCEPTED');
  }
  // Retired longer ago than a grant lives: the entrance stops listing it, and the box forgets it.
  const stored = JSON.parse((await r.hget(trustKeys().fleetKeys, old.keyId)) ?? '{}') as Record<string, unknown>;
  await r.hset(trustKeys().fleetKeys, old.keyId, JSON.stringify({ ...stored, RETIRED: nowSeconds() - GRANT_SECONDS - 60 }));
  t.ok(await eventually(() => !(pinnedKeyIds(box)?.includes(old.keyId) ?? true)), 'the box drops the retired key');
  await refused(t, box, publish('publisher-a', oldGrant), /does not know/);
});

t.test('the fleet keys outlive a restart with the entrance unreachable', async (t) => {
  const { box, entrance } = await setup(t);
  await box.stop();
  await entrance.stop();
  const again = await startAgent(t, { redisUrl: (await startRedis(t)).url, entranceUrls: [entrance.url], boxId: box.boxId, runDirectory: box.runDirectory });
  await refused(t, again, publish('publisher-stranger'), /no grant/);
});
