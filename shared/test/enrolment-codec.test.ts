// What enrolment puts on the wire: fleet tokens parse to their ID and secret hash, Ed25519 keys round
// trip through their text, a signature verifies only for the payload it was made for (a connect
// signature is no enrol signature), and the entrance's HTTP endpoints follow its WebSocket URL.
import { generateKeyPairSync } from 'node:crypto';
import t from 'tap';
import {
  TOKEN_PREFIX,
  connectPayload,
  enrolPayload,
  enrolmentUrl,
  keyFingerprint,
  newBoxKey,
  newFleetToken,
  parseFleetToken,
  parsePublicKey,
  publicKeyText,
  signPayload,
  verifyPayload,
} from '../src/enrolment/codec.js';

t.test('fleet tokens', async (t) => {
  const made = newFleetToken();
  t.match(made.token, /^dlt_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
  t.ok(made.token.startsWith(TOKEN_PREFIX));
  t.same(parseFleetToken(made.token), { tokenId: made.tokenId, secretHash: made.secretHash }, 'parses to what the entrance keeps');
  t.match(made.secretHash, /^[0-9a-f]{64}$/);
  t.notMatch(made.token, made.secretHash, 'the stored hash is not the secret');
  t.not(newFleetToken().token, made.token, 'random');
  const otherSecret = `${made.token.slice(0, -1)}${made.token.endsWith('A') ? 'B' : 'A'}`;
  t.not(parseFleetToken(otherSecret)?.secretHash, made.secretHash, 'another secret, another hash');
  for (const bad of ['', 'dlt_', made.token.toUpperCase(), `${made.token}x`, made.token.slice(0, -1), `xlt_${made.token.slice(4)}`, ` ${made.token}`]) {
    t.equal(parseFleetToken(bad), undefined, `${JSON.stringify(bad.slice(0, 20))}… is not a token`);
  }
});

t.test('public keys round trip through their text; anything else is refused', async (t) => {
  const key = newBoxKey();
  const text = publicKeyText(key);
  t.match(text, /^[A-Za-z0-9+/]+=*$/, 'one line of base64');
  t.equal(Buffer.from(text, 'base64').length, 44, 'of the 44-byte SPKI DER');
  const parsed = parsePublicKey(text);
  t.ok(parsed);
  t.equal(parsed?.asymmetricKeyType, 'ed25519');
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
  t.equal(parsePublicKey(rsa), undefined, 'an RSA key is not a box key');
  const x25519 = generateKeyPairSync('x25519').publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
  t.equal(parsePublicKey(x25519), undefined, 'nor is an X25519 key');
  for (const bad of ['', 'not base64!', 'QUJD', 'A'.repeat(300), `${text}\n`]) t.equal(parsePublicKey(bad), undefined, `${JSON.stringify(bad.slice(0, 12))} refused`);
  t.match(keyFingerprint(text), /^SHA256:[A-Za-z0-9+/]{16}$/);
  t.equal(keyFingerprint(text), keyFingerprint(text), 'stable');
  t.not(keyFingerprint(publicKeyText(newBoxKey())), keyFingerprint(text));
});

t.test('a signature verifies for its own payload and key only', async (t) => {
  const key = newBoxKey();
  const pub = parsePublicKey(publicKeyText(key));
  if (!pub) throw new Error('no key');
  const text = publicKeyText(key);
  const connect = connectPayload('box-1', 'nonce-1');
  const sig = signPayload(key, connect);
  t.ok(verifyPayload(pub, connect, sig));
  t.notOk(verifyPayload(pub, connectPayload('box-2', 'nonce-1'), sig), 'another box');
  t.notOk(verifyPayload(pub, connectPayload('box-1', 'nonce-2'), sig), 'another nonce (no replay)');
  t.notOk(verifyPayload(pub, enrolPayload('box-1', 'nonce-1', text), sig), 'a connect signature is no enrol signature');
  const enrolSig = signPayload(key, enrolPayload('box-1', 'nonce-1', text));
  t.ok(verifyPayload(pub, enrolPayload('box-1', 'nonce-1', text), enrolSig));
  t.notOk(verifyPayload(pub, connect, enrolSig), 'and the other way round');
  const stranger = parsePublicKey(publicKeyText(newBoxKey()));
  if (!stranger) throw new Error('no key');
  t.notOk(verifyPayload(stranger, connect, sig), 'another key');
  for (const bad of ['', 'bad signature!', 'QUJD', 'A'.repeat(300), `${sig.slice(0, -4)}AAAA`]) t.notOk(verifyPayload(pub, connect, bad), `malformed ${JSON.stringify(bad.slice(0, 12))} is a wrong signature, not a throw`);
});

t.test('enrolmentUrl', async (t) => {
  t.equal(enrolmentUrl('ws://entrance.example:8080/dandelion/ws/', 'challenge'), 'http://entrance.example:8080/dandelion/ws/challenge');
  t.equal(enrolmentUrl('wss://entrance.example/dandelion/ws', 'enrol'), 'https://entrance.example/dandelion/ws/enrol');
  t.equal(enrolmentUrl('ws://[::1]:7000/ws//?x=1#frag', 'enrol'), 'http://[::1]:7000/ws/enrol', 'query and fragment dropped');
});
