/**
 * A peer's Ed25519 key pair (a box's, a publisher's): generated at first start, kept as PKCS#8 PEM with mode
 * 0600 (written durably: temp, fsync, rename). The private half never leaves the machine; the entrance learns
 * the public half at enrolment. A key file that cannot be read is set aside, not deleted, and a new key is
 * made: the peer then needs its token again, but never a wiped card.
 */
import { createPrivateKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { chmod, readFile, rename, stat } from 'node:fs/promises';
import { newBoxKey } from '../enrolment/codec.js';
import { errnoOf, messageOf } from '../protocol/index.js';
import { writeFileAtomic } from '../fs-atomic.js';
import type { Logger } from '../log.js';

export async function loadOrCreatePeerKey(file: string, log: Logger): Promise<KeyObject> {
  let pem: string | undefined;
  try {
    pem = await readFile(file, 'utf8');
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw new Error(`KEY_FILE: cannot read ${file}: ${messageOf(err)}`);
  }
  if (pem !== undefined) {
    try {
      const key = createPrivateKey(pem);
      if (key.asymmetricKeyType !== 'ed25519') throw new Error(`an ${key.asymmetricKeyType ?? 'unknown'} key, not Ed25519`);
      const mode = (await stat(file)).mode & 0o777;
      if (mode & 0o077) {
        log.warn({ file, mode: mode.toString(8) }, 'key readable by others; tightening to 0600');
        await chmod(file, 0o600);
      }
      return key;
    } catch (err) {
      const aside = `${file}.unreadable-${Date.now()}`;
      log.error({ file, aside, err: messageOf(err) }, 'key unreadable; set aside, making a new one (it must enrol again)');
      await rename(file, aside);
    }
  }
  const key = newBoxKey();
  const exported = key.export({ format: 'pem', type: 'pkcs8' });
  await writeFileAtomic(file, typeof exported === 'string' ? exported : exported.toString('utf8'), 0o600);
  log.info({ file }, 'new key generated');
  return key;
}
