// The box's side of updates over the air, through the same Updater the EXCHANGE reply feeds
// (app.ts onAccepted → updater.accepted(reply.UPDATE)): an install offer's binary comes from a real HTTP
// server answering Range requests; a download cut halfway is resumed, not restarted; the binary lands in
// the inactive slot and the state names it the trial; the trial confirms itself on an accepted EXCHANGE;
// a forged, truncated, foreign-signed, wrong-arch or wrong-hash release is refused, reported in the
// EXCHANGE fields, and leaves every file as it was; a revert goes back to the other slot.
import t from 'tap';
import { createHash, generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { silentLogger } from '../../../shared/src/log.js';
import { publicKeyText } from '../../../shared/src/enrolment/codec.js';
import { releaseKeyIdOf, signRelease } from '../../../shared/src/release/manifest.js';
import type { ReleaseManifest } from '../../../shared/src/release/manifest.js';
import type { UpdateOffer } from '../../../shared/src/protocol/messages.js';
import { Updater } from '../../src/update/updater.js';
import { startReleaseServer } from '../../../test/helpers/release-server.js';
import type { ReleaseServer } from '../../../test/helpers/release-server.js';
import { parseUpdateState, readUpdateState, writeUpdateState, EMPTY_STATE } from '../../src/update/state.js';

const releaseKey = generateKeyPairSync('ed25519').privateKey;
const keyId = releaseKeyIdOf(publicKeyText(releaseKey));
const keys: ReadonlyMap<string, KeyObject> = new Map([[keyId, releaseKey]]);
const binary = Buffer.from(`#!/bin/sh\n# agent 1.2.0\n${'x'.repeat(300_000)}\n`);
const manifest: ReleaseManifest = {
  PRODUCT: 'dandelion-agent', VERSION: '1.2.0', ARCH: 'x64', SIZE: binary.length, SHA256: createHash('sha256').update(binary).digest('hex'),
  MIN_FROM_VERSION: '1.0.0', ALLOW_DOWNGRADE: false, CREATED: 1_800_000_000, KEY_ID: keyId,
};

/** A server holding `body` as release 1.2.0 for x64, and the offer's URL for it. */
async function releaseServer(t: { teardown(fn: () => unknown): void }, body: Buffer): Promise<ReleaseServer & { url: string }> {
  const server = await startReleaseServer(t);
  server.binaries.set('1.2.0', body);
  return Object.assign(server, { url: `${server.base}/releases/1.2.0/x64` });
}

/** The Range header of each request the server answered ('' for none). */
const rangesOf = (server: ReleaseServer): string[] => server.served.map((s) => s.replace(/^\S+ /, '').replace(/^whole$/, ''));

function updater(dir: string, version: string, o: { exits?: string[]; arch?: string; downloadMbit?: () => number | undefined } = {}) {
  const exits = o.exits ?? [];
  return new Updater({
    dir, confirmS: 300, version, arch: o.arch ?? 'x64', keys, downloadMbit: o.downloadMbit ?? (() => undefined),
    exitForUpdate: () => exits.push(version), log: silentLogger(), now: () => 1_900_000_000_000,
  });
}

/** Every file under `dir` with its bytes: "nothing changed" is this being equal before and after. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const file = path.join(dir, name);
    if (statSync(file).isFile()) out[name] = createHash('sha256').update(readFileSync(file)).digest('hex');
  }
  return out;
}

const offer = (url: string, release = signRelease(manifest, releaseKey)): UpdateOffer => ({ ACTION: 'install', VERSION: '1.2.0', ROLLOUT: 'rollout-1', RELEASE: release, URL: url });

t.test('install: resumed download, the inactive slot, the trial state, exit; then the trial confirms itself', async (t) => {
  const dir = path.join(t.testdir(), 'update');
  const server = await releaseServer(t, binary);
  const exits: string[] = [];
  const v1 = updater(dir, '1.1.0', { exits });
  await v1.start();
  t.same(v1.exchangeFields(), { AGENT_VERSION: '1.1.0', AGENT_ARCH: 'x64', AGENT_PREVIOUS_VERSION: '', UPDATE_FAILED: '', UPDATE_FAILED_REASON: '' });

  server.cutNextAt = 100_000;
  await v1.accepted(offer(server.url));
  // What came and was written (bytes still in Node's stream when the line dropped are lost with it, so not
  // always all 100,000).
  const kept = statSync(path.join(dir, 'download.part')).size;
  t.ok(kept > 0 && kept <= 100_000, `a cut download keeps what came (${kept} bytes)`);
  t.same(exits, [], 'and stages nothing');
  t.equal(v1.exchangeFields().UPDATE_FAILED, '', 'an interrupted download is not a refusal');

  await v1.accepted(offer(server.url));
  t.same(rangesOf(server), ['', `bytes=${kept}-`], 'the second attempt asks only for the rest');
  t.same(readFileSync(path.join(dir, 'slot-a', 'dandelion')), binary, 'the binary is in slot a');
  t.equal(statSync(path.join(dir, 'slot-a', 'dandelion')).mode & 0o777, 0o755);
  t.notOk(existsSync(path.join(dir, 'download.part')));
  const staged = await readUpdateState(dir);
  t.match(staged, { current: 'factory', current_version: '1.1.0', trial: 'a', trial_version: '1.2.0', trial_deadline: 1_900_000_300, trial_starts: 0 });
  t.same(exits, ['1.1.0'], 'the agent exits to start the trial');
  await v1.accepted(offer(server.url));
  t.equal(rangesOf(server).length, 2, 'no second download once staged');

  // The launcher starts slot a; the new agent confirms once an entrance accepts its EXCHANGE.
  const v2 = updater(dir, '1.2.0');
  await v2.start();
  t.equal(v2.exchangeFields().AGENT_PREVIOUS_VERSION, '', 'not confirmed yet');
  await v2.accepted(undefined);
  t.match(await readUpdateState(dir), { current: 'a', current_version: '1.2.0', previous: 'factory', previous_version: '1.1.0', trial: '', trial_version: '' });
  t.same(v2.exchangeFields(), { AGENT_VERSION: '1.2.0', AGENT_ARCH: 'x64', AGENT_PREVIOUS_VERSION: '1.1.0', UPDATE_FAILED: '', UPDATE_FAILED_REASON: '' });

  // A revert goes back to the factory version it replaced.
  const reverts: string[] = [];
  const v2b = updater(dir, '1.2.0', { exits: reverts });
  await v2b.start();
  await v2b.accepted({ ACTION: 'revert', VERSION: '1.0.0', ROLLOUT: 'rollout-1' });
  t.equal(v2b.exchangeFields().UPDATE_FAILED_REASON, 'cannot revert to 1.0.0: the other slot holds 1.1.0');
  await v2b.accepted({ ACTION: 'revert', VERSION: '1.1.0', ROLLOUT: 'rollout-1' });
  t.match(await readUpdateState(dir), { current: 'factory', current_version: '1.1.0', previous: 'a', previous_version: '1.2.0' });
  t.same(reverts, ['1.2.0']);
});

t.test("the household's budget: no download during quiet hours, paced otherwise", async (t) => {
  const dir = path.join(t.testdir(), 'update');
  const server = await releaseServer(t, binary);
  let mbit: number | undefined = 0;
  const exits: string[] = [];
  const u = updater(dir, '1.1.0', { exits, downloadMbit: () => mbit });
  await u.start();
  await u.accepted(offer(server.url));
  t.same(rangesOf(server), [], 'quiet hours: nothing is downloaded');
  t.equal(u.exchangeFields().UPDATE_FAILED, '', 'and nothing is refused');
  mbit = 8; // 1 MB/s: the 300 kB binary takes about 0.3 s
  const started = Date.now();
  await u.accepted(offer(server.url));
  t.ok(Date.now() - started >= 200, `paced to the allowed rate (${Date.now() - started} ms)`);
  t.same(exits, ['1.1.0']);
});

t.test('refused releases change nothing on disk and are reported', async (t) => {
  const dir = path.join(t.testdir(), 'update');
  mkdirSync(path.join(dir, 'slot-a'), { recursive: true });
  writeFileSync(path.join(dir, 'slot-a', 'dandelion'), 'the running 1.1.0');
  await writeUpdateState(dir, { ...EMPTY_STATE, current: 'a', current_version: '1.1.0' });
  const stranger = generateKeyPairSync('ed25519').privateKey;
  const good = signRelease(manifest, releaseKey);
  const tampered = await releaseServer(t, Buffer.concat([binary.subarray(0, -1), Buffer.from('!')]));
  const [body] = good.split('.') as [string];
  const cases: Array<[string, UpdateOffer, string, RegExp]> = [
    ['forged', offer(tampered.url, `${Buffer.from(JSON.stringify({ ...manifest, SHA256: 'b'.repeat(64) })).toString('base64url')}.${good.split('.')[1]}`), 'x64', /signature does not verify/],
    ['truncated', offer(tampered.url, good.slice(0, -12)), 'x64', /signature does not verify/],
    ['no signature', offer(tampered.url, body), 'x64', /not of the form/],
    ['another key', offer(tampered.url, signRelease({ ...manifest, KEY_ID: releaseKeyIdOf(publicKeyText(stranger)) }, stranger)), 'x64', /not a release key this build trusts/],
    ['the wrong architecture', offer(tampered.url), 'arm64', /for x64, this box is arm64/],
    ['a version other than offered', { ...offer(tampered.url), VERSION: '1.3.0' }, 'x64', /offer is for 1\.3\.0 but its release is 1\.2\.0/],
    ['a binary that is not the signed one', offer(tampered.url), 'x64', /does not match the release's SHA-256/],
  ];
  const before = snapshot(dir);
  for (const [what, o, arch, reason] of cases) {
    const exits: string[] = [];
    const u = updater(dir, '1.1.0', { exits, arch });
    await u.start();
    await u.accepted(o);
    t.match(u.exchangeFields(), { UPDATE_FAILED: o.VERSION, UPDATE_FAILED_REASON: reason }, `${what}: reported`);
    t.same(snapshot(dir), before, `${what}: nothing on disk changed`);
    t.same(exits, [], `${what}: the agent runs on`);
  }
  t.equal(rangesOf(tampered).length, 1, 'only the last case downloaded anything');
  const riscv = updater(dir, '1.1.0', { arch: 'riscv64' });
  await riscv.start();
  t.notOk('AGENT_ARCH' in riscv.exchangeFields(), 'an architecture no release is built for is not reported (the entrance would refuse the EXCHANGE)');
  const old = updater(dir, '0.9.0');
  await old.start();
  await old.accepted(offer(tampered.url));
  t.match(old.exchangeFields().UPDATE_FAILED_REASON, /updates only from 1\.0\.0 or newer/);
});

t.test('the state file: what the launcher writes, read back; bad values are unreadable, not guessed', async (t) => {
  const launcherWrote = 'current=b\ncurrent_version=1.2.0\nprevious=a\nprevious_version=1.1.0\ntrial=\ntrial_version=\ntrial_deadline=0\ntrial_starts=0\nfailed_version=1.3.0\nfailed_reason=exited 3 times without registering\n';
  t.match(parseUpdateState(launcherWrote), { current: 'b', previous: 'a', failed_version: '1.3.0', failed_reason: 'exited 3 times without registering' });
  for (const bad of ['current=c', 'trial=factory', 'trial_deadline=-1', 'trial_starts=x', 'current_version=1 2']) t.ok('unreadable' in parseUpdateState(bad), bad);
  t.same(parseUpdateState('LATER_KEY=1\n'), EMPTY_STATE, 'unknown keys are ignored');
  const dir = t.testdir();
  writeFileSync(path.join(dir, 'state'), 'current=nonsense\n');
  const u = updater(dir, '1.2.0');
  await u.start();
  t.match(u.exchangeFields(), { UPDATE_FAILED: '1.2.0', UPDATE_FAILED_REASON: /update state's current is "nonsense"/ }, 'an unreadable state is reported');
  await u.accepted(offer('http://127.0.0.1:9/never'));
  t.equal(readFileSync(path.join(dir, 'state'), 'utf8'), 'current=nonsense\n', 'and no update is taken');
  const other = t.testdir();
  await writeUpdateState(other, parseUpdateState(launcherWrote) as typeof EMPTY_STATE);
  const rolledBack = updater(other, '1.2.0');
  await rolledBack.start();
  t.match(rolledBack.exchangeFields(), { UPDATE_FAILED: '1.3.0', UPDATE_FAILED_REASON: 'exited 3 times without registering', AGENT_PREVIOUS_VERSION: '1.1.0' }, "the launcher's rollback is reported");
});
