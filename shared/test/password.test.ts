// Password and token hashes: scrypt with a random salt in a self-describing string; the right secret
// verifies, a wrong one or a malformed hash does not, and the cost written in the hash is the one used.
import t from 'tap';
import { hashPassword, isPasswordHash, verifyPassword } from '../src/password.js';

t.test('hash and verify', async (t) => {
  const hash = await hashPassword('correct horse');
  t.match(hash, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}$/);
  t.ok(isPasswordHash(hash));
  t.ok(await verifyPassword('correct horse', hash));
  t.notOk(await verifyPassword('correct horsE', hash));
  t.notOk(await verifyPassword('', hash));
  t.not(await hashPassword('correct horse'), hash, 'a new salt each time');
});

t.test('malformed or tampered hashes verify nothing and never throw', async (t) => {
  const hash = await hashPassword('secret');
  const parts = hash.split('$');
  const cheaper = ['scrypt', '1024', ...parts.slice(2)].join('$');
  t.ok(isPasswordHash(cheaper));
  t.notOk(await verifyPassword('secret', cheaper), 'the cost is part of the hash: changing it breaks it');
  const impossible = ['scrypt', '1000', ...parts.slice(2)].join('$');
  t.notOk(await verifyPassword('secret', impossible), 'an N scrypt refuses (not a power of two) is a no, not a throw');
  for (const bad of ['', 'secret', 'scrypt$16384$8$1$abc$def', hash.replace('scrypt', 'bcrypt'), `${hash}$extra`]) {
    t.notOk(isPasswordHash(bad), `${JSON.stringify(bad.slice(0, 24))} is no hash`);
    t.notOk(await verifyPassword('secret', bad));
  }
});
