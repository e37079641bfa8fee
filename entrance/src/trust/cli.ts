/**
 * `dandelion entrance fleet-key …`: the operator's view of the keys grants are signed with, and their
 * rotation, against the Redis every entrance shares. A rotation needs no restart: entrances read the
 * current key from Redis for each grant, and boxes learn the new key with their next heartbeat.
 */
import { UsageError } from '../../../shared/src/cli.js';
import type { EntranceConfig } from '../../../shared/src/config/schemas.js';
import { trustKeys } from '../../../shared/src/redis-keys.js';
import { withEntranceRedis } from '../operator-command.js';
import { FleetKeys } from './fleet-keys.js';
import { GRANT_SECONDS } from './publisher-trust.js';
import { keyLayoutOfClient } from '../../../shared/src/redis.js';

export const FLEET_KEY_HELP = `Fleet keys (docs/security.md):
  dandelion entrance fleet-key list    the keys boxes check grants with, the current one marked
  dandelion entrance fleet-key rotate  sign grants with a new key from now on; the old key is
                                       honoured until the grants it signed expire (${GRANT_SECONDS / 60} min)`;

export function isFleetKeyCommand(words: string[]): boolean {
  return words[0] === 'fleet-key';
}

export async function fleetKeyCommand(config: EntranceConfig, words: string[], values: Record<string, unknown>): Promise<void> {
  const verb = words[1];
  if ((verb !== 'list' && verb !== 'rotate') || words.length > 2) throw new UsageError(`entrance: unknown command "${words.join(' ')}"\n${FLEET_KEY_HELP}`);
  await withEntranceRedis(config, values.json === true, async (redis, out) => {
    const fleet = new FleetKeys({ redis, keys: trustKeys(keyLayoutOfClient(redis)), grantSeconds: GRANT_SECONDS });
    if (verb === 'rotate') {
      const keyId = await fleet.rotate();
      out({ CURRENT: keyId }, `grants are signed with key ${keyId} from now on; the previous key is honoured until its grants expire`);
      return;
    }
    const current = (await fleet.current()).keyId;
    const keyIds = Object.keys(await fleet.publicKeys()).sort();
    out({ CURRENT: current, KEYS: keyIds }, keyIds.map((id) => `${id}${id === current ? '  CURRENT' : '  retired'}`).join('\n'));
  });
}
