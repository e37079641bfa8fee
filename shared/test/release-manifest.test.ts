// Signed release manifests (shared/src/release/manifest.ts): a manifest signed by a trusted release key
// verifies; a forged, altered, truncated or foreign-signed one is refused with a reason; every field is
// validated even under a good signature; versions order as semver does; updateRefusal says why a box must
// not take a release. Also the EXCHANGE's update fields (AGENT_VERSION…, UPDATE) as the one decoder reads them.
import t from 'tap';
import { generateKeyPairSync, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { publicKeyText } from '../src/enrolment/codec.js';
import { MAX_RELEASE_CHARS, compareVersions, isVersion, releaseKeyIdOf, signRelease, updateRefusal, verifyRelease } from '../src/release/manifest.js';
import type { ReleaseManifest } from '../src/release/manifest.js';
import { decodeMessage } from '../src/protocol/index.js';

const releaseKey = generateKeyPairSync('ed25519').privateKey;
const keyId = releaseKeyIdOf(publicKeyText(releaseKey));
const keys: ReadonlyMap<string, KeyObject> = new Map([[keyId, releaseKey]]);
const manifest: ReleaseManifest = {
  PRODUCT: 'dandelion-agent', VERSION: '1.2.0', ARCH: 'x64', SIZE: 52_000_000, SHA256: 'a'.repeat(64),
  MIN_FROM_VERSION: '1.0.0', ALLOW_DOWNGRADE: false, CREATED: 1_800_000_000, KEY_ID: keyId,
};

function refusal(text: unknown): string {
  const check = verifyRelease(text, keys);
  return check.ok ? 'accepted' : check.reason;
}

/** A manifest body with `fields` changed, signed properly: what a signed but malformed manifest looks like. */
function signedWith(fields: Record<string, unknown>): string {
  const body = Buffer.from(JSON.stringify({ ...manifest, ...fields }), 'utf8').toString('base64url');
  const signature = sign(null, Buffer.from(`dandelion-release-v1\n${body}`, 'utf8'), releaseKey).toString('base64url');
  return `${body}.${signature}`;
}

t.test('a release signed by a trusted key verifies, with its text trimmed', async (t) => {
  const text = signRelease(manifest, releaseKey);
  t.ok(text.length < 600, `one short line (${text.length} characters)`);
  t.same(verifyRelease(`${text}\n`, keys), { ok: true, manifest, text });
  t.match(keyId, /^[A-Za-z0-9_-]{16}$/);
  t.equal(releaseKeyIdOf(publicKeyText(releaseKey)), keyId, 'a key ID is stable');
  t.equal(signedWith({}), text, 'the test signer signs as signRelease does');
});

t.test('forged, altered, truncated and foreign releases are refused', async (t) => {
  const stranger = generateKeyPairSync('ed25519').privateKey;
  t.match(refusal(signRelease(manifest, stranger)), /does not verify/, "a stranger's key under the release key's ID");
  t.match(refusal(signRelease({ ...manifest, KEY_ID: releaseKeyIdOf(publicKeyText(stranger)) }, stranger)), /not a release key this build trusts/, 'an untrusted key');
  const [body, signature] = signRelease(manifest, releaseKey).split('.') as [string, string];
  const altered = Buffer.from(JSON.stringify({ ...manifest, SHA256: 'b'.repeat(64) })).toString('base64url');
  t.match(refusal(`${altered}.${signature}`), /does not verify/, 'another hash under a real signature');
  const fleetSigned = sign(null, Buffer.from(body), releaseKey).toString('base64url');
  t.match(refusal(`${body}.${fleetSigned}`), /does not verify/, 'a signature without the release purpose');
  t.match(refusal(`${body}.${signature.slice(0, -4)}`), /does not verify/, 'a truncated signature');
  t.match(refusal(`${body}.`), /does not verify/, 'an empty signature');
  t.match(refusal(body), /not of the form/, 'no signature');
  t.match(refusal(body.slice(0, 40)), /not of the form/, 'a truncated line');
  t.match(refusal(`${body.slice(0, -8)}.${signature}`), /not JSON|does not verify/, 'a truncated body');
  t.match(refusal(`${body}.${signature}.x`), /not of the form/, 'three parts');
  t.match(refusal(`${body}!.${signature}`), /not of the form/, 'characters outside base64url');
  t.match(refusal(''), /no release manifest/);
  t.match(refusal(undefined), /no release manifest/);
  t.match(refusal(42), /no release manifest/);
  t.match(refusal('a'.repeat(MAX_RELEASE_CHARS + 1)), /at most 4096 characters/);
  t.match(refusal(`${Buffer.from('[1]').toString('base64url')}.${signature}`), /not a JSON object/);
  t.match(refusal(`${Buffer.from('{').toString('base64url')}.${signature}`), /not JSON/);
});

t.test('every field is validated, even under a good signature', async (t) => {
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ PRODUCT: 'dandelion-entrance' }, /PRODUCT dandelion-agent/],
    [{ PRODUCT: undefined }, /PRODUCT dandelion-agent/],
    [{ VERSION: '1.2' }, /VERSION is not/],
    [{ VERSION: '01.2.0' }, /VERSION is not/],
    [{ VERSION: 120 }, /VERSION is not/],
    [{ ARCH: 'ia32' }, /ARCH is not one of x64, arm64, armv7/],
    [{ ARCH: 7 }, /ARCH is not one of/],
    [{ SIZE: 0 }, /SIZE is not a byte count/],
    [{ SIZE: -1 }, /SIZE is not a byte count/],
    [{ SIZE: 1.5 }, /SIZE is not a byte count/],
    [{ SIZE: '100' }, /SIZE is not a byte count/],
    [{ SIZE: 256 * 1024 * 1024 + 1 }, /SIZE is not a byte count/],
    [{ SHA256: 'A'.repeat(64) }, /SHA256 is not 64 lowercase hex/],
    [{ SHA256: 'a'.repeat(63) }, /SHA256 is not 64 lowercase hex/],
    [{ MIN_FROM_VERSION: 'any' }, /MIN_FROM_VERSION is not/],
    [{ MIN_FROM_VERSION: undefined }, /MIN_FROM_VERSION is not/],
    [{ ALLOW_DOWNGRADE: 'true' }, /ALLOW_DOWNGRADE is not true or false/],
    [{ CREATED: -1 }, /CREATED is not unix seconds/],
    [{ CREATED: '1800000000' }, /CREATED is not unix seconds/],
    [{ KEY_ID: '' }, /KEY_ID is not a key ID/],
    [{ KEY_ID: 'a/b' }, /KEY_ID is not a key ID/],
  ];
  for (const [fields, reason] of bad) t.match(refusal(signedWith(fields)), reason, JSON.stringify(fields));
  const extra = verifyRelease(signedWith({ NOTE: 'x' }), keys);
  t.ok(extra.ok && !('NOTE' in extra.manifest), 'an unknown field is dropped, not passed on');
  t.ok(verifyRelease(signedWith({ VERSION: '2.0.0-rc.1', ARCH: 'armv7', SIZE: 256 * 1024 * 1024, CREATED: 0 }), keys).ok, 'the edges of each range are accepted');
});

t.test('versions are MAJOR.MINOR.PATCH[-PRERELEASE] and order as semver does', async (t) => {
  for (const v of ['0.0.0', '1.2.3', '10.20.30', '1.0.0-rc.1', '1.0.0-alpha-2']) t.ok(isVersion(v), v);
  for (const v of ['', '1', '1.2', '1.2.3.4', 'v1.2.3', '01.2.3', '1.2.3-', '1.2.3+build', ' 1.2.3', 1, undefined]) t.notOk(isVersion(v), String(v));
  t.equal(compareVersions('1.2.3', '1.2.3'), 0);
  t.equal(compareVersions('1.10.0', '1.9.0'), 1, 'numbers compare as numbers, not text');
  t.equal(compareVersions('1.9.9', '2.0.0'), -1);
  t.equal(compareVersions('0.0.10', '0.0.9'), 1);
  t.equal(compareVersions('1.2.0-rc.1', '1.2.0'), -1, 'a prerelease comes before its release');
  t.equal(compareVersions('1.2.0', '1.2.0-rc.1'), 1);
  t.equal(compareVersions('1.2.0-rc.1', '1.2.0-rc.2'), -1);
  t.equal(compareVersions('1.2.0-rc.1', '1.2.0-rc.1'), 0);
  t.throws(() => compareVersions('1.2', '1.2.0'), /not a version: 1\.2/);
  t.throws(() => compareVersions('1.2.0', 'x'), /not a version: x/);
});

t.test('updateRefusal: the wrong architecture, too old to update from, the same version, an unsigned downgrade', async (t) => {
  t.equal(updateRefusal(manifest, '1.1.0', 'x64'), undefined, 'an upgrade from a version it allows');
  t.equal(updateRefusal(manifest, '1.0.0', 'x64'), undefined, 'MIN_FROM_VERSION itself is allowed');
  t.match(updateRefusal(manifest, '1.1.0', 'arm64'), /for x64, this box is arm64/);
  t.match(updateRefusal(manifest, '0.9.9', 'x64'), /updates only from 1\.0\.0 or newer; this box runs 0\.9\.9/);
  t.match(updateRefusal(manifest, '1.2.0', 'x64'), /1\.2\.0 is already running/);
  t.match(updateRefusal(manifest, '1.3.0', 'x64'), /older than the running 1\.3\.0 and is not signed as a downgrade/);
  t.equal(updateRefusal({ ...manifest, ALLOW_DOWNGRADE: true }, '1.3.0', 'x64'), undefined, 'a downgrade signed as one');
  t.match(updateRefusal(manifest, 'unknown', 'x64'), /running version unknown is not MAJOR\.MINOR\.PATCH/);
});

const box = { ID: 'box-1', IP: '198.51.100.7', PORT: 7071, TYPE: 'BOX', COMMAND: 'EXCHANGE', CONNECT_WS: 'ws://198.51.100.7:7071/dandelion/box-1/ws/' };
const reply = { ID: 'entrance-1', IP: '203.0.113.1', PORT: 443, TYPE: 'ENTRANCE', COMMAND: 'EXCHANGE', MESSAGE: 'ACCEPTED', ENTRANCE_URLS: ['wss://e/dandelion/ws/'] };

t.test("a box's update fields are decoded and checked", async (t) => {
  const fields = { AGENT_VERSION: '1.2.0', AGENT_ARCH: 'armv7', AGENT_PREVIOUS_VERSION: '', UPDATE_FAILED: '1.3.0', UPDATE_FAILED_REASON: 'did not register within 300 s' };
  const d = decodeMessage({ ...box, ...fields });
  if (d.kind !== 'EXCHANGE') throw new Error('kind');
  t.match(d.msg, fields);
  t.equal(decodeMessage(box).kind, 'EXCHANGE', 'an original box sends none of them');
  t.throws(() => decodeMessage({ ...box, AGENT_VERSION: '' }), { code: 'E_FORMAT', message: /AGENT_VERSION must be a version/ }, 'AGENT_VERSION is never empty');
  t.throws(() => decodeMessage({ ...box, AGENT_VERSION: '1.2' }), { code: 'E_FORMAT' });
  t.throws(() => decodeMessage({ ...box, AGENT_PREVIOUS_VERSION: 'b' }), { code: 'E_FORMAT', message: /AGENT_PREVIOUS_VERSION/ });
  t.throws(() => decodeMessage({ ...box, UPDATE_FAILED: 3 }), { code: 'E_FORMAT', message: /UPDATE_FAILED/ });
  t.throws(() => decodeMessage({ ...box, AGENT_ARCH: 'ia32' }), { code: 'E_FORMAT', message: /AGENT_ARCH/ });
  t.throws(() => decodeMessage({ ...box, UPDATE_FAILED_REASON: 'x'.repeat(100_000) }), { code: 'E_TOO_BIG', message: /UPDATE_FAILED_REASON/ });
});

t.test('an UPDATE offer in the EXCHANGE reply is decoded by its shape', async (t) => {
  const release = signRelease(manifest, releaseKey);
  const install = { ACTION: 'install', VERSION: '1.2.0', ROLLOUT: 'r-1', RELEASE: release, URL: 'http://127.0.0.1:7000/releases/1.2.0/x64' };
  const d = decodeMessage({ ...reply, UPDATE: install });
  if (d.kind !== 'EXCHANGE_REPLY') throw new Error('kind');
  t.same(d.msg.UPDATE, install);
  const revert = decodeMessage({ ...reply, UPDATE: { ACTION: 'revert', VERSION: '1.1.0', ROLLOUT: 'r-1', URL: 'http://x/ignored' } });
  if (revert.kind !== 'EXCHANGE_REPLY') throw new Error('kind');
  t.same(revert.msg.UPDATE, { ACTION: 'revert', VERSION: '1.1.0', ROLLOUT: 'r-1' }, 'a revert carries no download');
  const noUpdate = decodeMessage(reply);
  t.equal(noUpdate.kind === 'EXCHANGE_REPLY' && noUpdate.msg.UPDATE, undefined);
  t.throws(() => decodeMessage({ ...reply, UPDATE: { ...install, ACTION: 'upgrade' } }), { code: 'E_FORMAT', message: /UPDATE\.ACTION/ });
  t.throws(() => decodeMessage({ ...reply, UPDATE: { ...install, VERSION: 'latest' } }), { code: 'E_FORMAT', message: /UPDATE\.VERSION/ });
  t.throws(() => decodeMessage({ ...reply, UPDATE: { ...install, ROLLOUT: undefined } }), { code: 'E_FORMAT', message: /ROLLOUT/ });
  t.throws(() => decodeMessage({ ...reply, UPDATE: { ...install, RELEASE: undefined } }), { code: 'E_FORMAT', message: /RELEASE/ });
  t.throws(() => decodeMessage({ ...reply, UPDATE: { ...install, RELEASE: 'x'.repeat(MAX_RELEASE_CHARS + 1) } }), { code: 'E_TOO_BIG', message: /RELEASE/ });
  t.throws(() => decodeMessage({ ...reply, UPDATE: { ...install, URL: 'ftp://127.0.0.1/x' } }), { code: 'E_FORMAT', message: /URL/ });
  t.throws(() => decodeMessage({ ...reply, UPDATE: { ...install, URL: undefined } }), { code: 'E_FORMAT', message: /URL/ });
  t.throws(() => decodeMessage({ ...reply, UPDATE: 'install' }), { code: 'E_FORMAT', message: /UPDATE/ });
});
