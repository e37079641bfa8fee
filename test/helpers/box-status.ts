/**
 * A BoxStatus in a folder of its own. A BoxStatus writes its files in the background, so the folder is
 * removed only after those writes settle: removing it while a write still creates lan/ fails (ENOTEMPTY).
 */
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../shared/src/log.js';
import { BoxStatus } from '../../agent/src/status/box-status.js';

export function boxStatusForTest(t: { teardown(fn: () => Promise<void>): void }, boxId: string): BoxStatus {
  const folder = mkdtempSync(path.join(os.tmpdir(), 'dandelion-status-'));
  const boxStatus = new BoxStatus(boxId, folder, silentLogger());
  t.teardown(async () => {
    await boxStatus.flush();
    await rm(folder, { recursive: true, force: true });
  });
  return boxStatus;
}
