/**
 * Where the box keeps its HTTPS key and certificate chain (RUN_DIRECTORY/https/), which nginx reads at
 * each reload. The chain is replaced whole (temp, fsync, rename, fsync of the folder), so nginx and a
 * restarted agent read the old chain or the new one, never a torn one.
 */
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import { writeFileAtomic } from '../../../shared/src/fs-atomic.js';
import type { Logger } from '../../../shared/src/log.js';
import { errnoOf, messageOf } from '../../../shared/src/protocol/index.js';
import { checkIssuedChain } from './issued-chain.js';
import type { IssuedCertificate } from './issued-chain.js';

export interface CertificatePaths {
  keyPath: string;
  chainPath: string;
}

export function certificatePaths(runDirectory: string): CertificatePaths {
  const dir = path.join(runDirectory, 'https');
  return { keyPath: path.join(dir, 'box-tls-key.pem'), chainPath: path.join(dir, 'box-tls-chain.pem') };
}

/** Store a chain checkIssuedChain accepted; a reader sees the previous chain until the rename. */
export async function saveChain(paths: CertificatePaths, issued: IssuedCertificate): Promise<void> {
  await writeFileAtomic(paths.chainPath, issued.chainPem, 0o644);
}

/** The stored chain when it still passes the checks for `key` now; else undefined (absent, expired, another key). */
export async function loadStoredChain(paths: CertificatePaths, key: KeyObject, nowMs: number, log: Logger): Promise<IssuedCertificate | undefined> {
  let pem: string;
  try {
    pem = await readFile(paths.chainPath, 'utf8');
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') log.warn({ file: paths.chainPath, err: messageOf(err) }, 'stored certificate unreadable; asking for a new one');
    return undefined;
  }
  try {
    return checkIssuedChain(pem, { key, nowMs });
  } catch (err) {
    log.warn({ file: paths.chainPath, err: messageOf(err) }, 'stored certificate not usable; asking for a new one');
    return undefined;
  }
}
