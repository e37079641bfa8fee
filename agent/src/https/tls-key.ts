/**
 * The box's TLS key (EC P-256, PKCS#8 PEM, mode 0600), made on the box at first need and kept across
 * renewals, so a certificate and its key are never swapped apart: only the certificate file changes.
 * It never leaves the box; the entrance sees only the CSR's public half. A file that cannot be read as
 * such a key is set aside (not deleted) and a new key is made; a certificate for the old key then no
 * longer matches and is asked for again.
 */
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { chmod, readFile, rename, stat } from 'node:fs/promises';
import { writeFileAtomic } from '../../../shared/src/fs-atomic.js';
import type { Logger } from '../../../shared/src/log.js';
import { errnoOf, messageOf } from '../../../shared/src/protocol/index.js';

export async function loadOrCreateTlsKey(file: string, log: Logger): Promise<KeyObject> {
  const pem = await readFile(file, 'utf8').catch((err: unknown) => {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw new Error(`cannot read the TLS key ${file}: ${messageOf(err)}`);
  });
  if (pem !== undefined) {
    try {
      const key = createPrivateKey(pem);
      if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new Error('not an EC P-256 key');
      if ((await stat(file)).mode & 0o077) await chmod(file, 0o600);
      return key;
    } catch (err) {
      const aside = `${file}.unreadable-${Date.now()}`;
      log.error({ file, aside, err: messageOf(err) }, 'TLS key unreadable; set aside, making a new one');
      await rename(file, aside);
    }
  }
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  await writeFileAtomic(file, privateKey.export({ format: 'pem', type: 'pkcs8' }), 0o600);
  log.info({ file }, 'new TLS key generated');
  return privateKey;
}
