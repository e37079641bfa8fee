/**
 * The entrance's ID is stable across restarts, because the registry lives under it in Redis: from
 * config when set, else generated once and kept in RUN_DIRECTORY/entrance-id.
 */
import path from 'node:path';
import { resolveStoredId } from '../../shared/src/stored-id.js';

export function resolveEntranceId(configured: string | undefined, runDirectory: string): Promise<string> {
  return resolveStoredId('ENTRANCE', configured, path.join(runDirectory, 'entrance-id'));
}
