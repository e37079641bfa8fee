// Grants a box checks offline: a grant signed by a fleet key the box knows, not expired, verifies and says
// which publisher it is for; a forged, altered, expired, future-dated, unknown-key or malformed grant is
// refused with a reason, and nothing in it is trusted.
import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { publicKeyText } from '../src/enrolment/codec.js';
import { MAX_GRANT_CHARS, keyIdOf, signGrant, verifyGrant } from '../src/trust/grant.js';
import type { Grant } from '../src/trust/grant.js';

const NOW = 1_800_000_000;
const fleet = generateKeyPairSync('ed25519').privateKey;
const fleetId = keyIdOf(publicKeyText(fleet));
const keys: ReadonlyMap<string, KeyObject> = new Map([[fleetId, fleet]]);
const grant: Grant = { PUBLISHER: 'publisher-alice', ISSUED: NOW - 10, EXPIRES: NOW + 600, QUOTA_BYTES: 5e9, KEY_ID: fleetId };

function refusal(text: unknown, at = NOW): string {
  const check = verifyGrant(text, keys, at);
  return check.ok ? 'accepted' : check.reason;
}

t.test('a grant signed by a known fleet key verifies until it expires', async (t) => {
  const text = signGrant(grant, fleet);
  t.ok(text.length < 400, `one short line (${text.length} characters)`);
  t.same(verifyGrant(text, keys, NOW), { ok: true, grant });
  t.match(refusal(text, NOW + 600), /expired 0 s ago/, 'refused from its EXPIRES on');
  t.match(refusal(text, NOW + 700), /expired 100 s ago: search again/);
  t.equal(keyIdOf(publicKeyText(fleet)), fleetId, 'a key ID is stable');
  t.match(fleetId, /^[A-Za-z0-9_-]{16}$/);
});

t.test('forged, altered and foreign grants are refused', async (t) => {
  const stranger = generateKeyPairSync('ed25519').privateKey;
  t.match(refusal(signGrant(grant, stranger)), /does not verify/, "a stranger's key under the fleet key's ID");
  t.match(refusal(signGrant({ ...grant, KEY_ID: keyIdOf(publicKeyText(stranger)) }, stranger)), /which this box does not know/, 'a key the box never learnt');
  const [body, signature] = signGrant(grant, fleet).split('.');
  const altered = Buffer.from(JSON.stringify({ ...grant, PUBLISHER: 'publisher-mallory' })).toString('base64url');
  t.match(refusal(`${altered}.${signature}`), /does not verify/, 'another publisher under a real signature');
  const longer = Buffer.from(JSON.stringify({ ...grant, EXPIRES: NOW + 86_400 * 365 })).toString('base64url');
  t.match(refusal(`${longer}.${signature}`), /does not verify/, 'a later expiry under a real signature');
  t.match(refusal(`${body}.${signature}.x`), /form <body>\.<signature>/);
  t.match(refusal(signGrant({ ...grant, ISSUED: NOW + 3600, EXPIRES: NOW + 4200 }, fleet)), /issued in the future/);
  t.equal(refusal(signGrant({ ...grant, ISSUED: NOW + 200 }, fleet)), 'accepted', 'a few minutes of clock skew are tolerated');
});

t.test('malformed grants are refused without a throw', async (t) => {
  for (const bad of [undefined, null, 42, '', '.', 'abc', 'abc.', '.abc', 'a b.c', 'é.x', 'x'.repeat(MAX_GRANT_CHARS + 1)]) {
    t.not(refusal(bad), 'accepted', `${JSON.stringify(bad)?.slice(0, 30)} refused`);
  }
  const signed = (doc: unknown): string => {
    const body = Buffer.from(JSON.stringify(doc)).toString('base64url');
    return `${body}.${Buffer.alloc(64).toString('base64url')}`;
  };
  for (const doc of [[], 'text', { ...grant, PUBLISHER: 'box-1' }, { ...grant, PUBLISHER: undefined }, { ...grant, EXPIRES: -1 }, { ...grant, QUOTA_BYTES: 1.5 }, { ...grant, ISSUED: '1' }, { ...grant, KEY_ID: 'a/b' }]) {
    t.match(refusal(signed(doc)), /does not hold PUBLISHER/, `${JSON.stringify(doc).slice(0, 60)}: not a grant`);
  }
  t.match(refusal(`${Buffer.from('{"PUBLISHER":').toString('base64url')}.AAAA`), /does not hold/, 'a body that is not JSON');
});
