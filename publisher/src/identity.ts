/**
 * The publisher's ID and key. The ID: ID from config, else the one its ENROLMENT_TOKEN is for (an account's
 * token names its publisher), else generated once and kept in RUN_DIRECTORY/publisher-id. The key: Ed25519,
 * made at first start in RUN_DIRECTORY/publisher-key.pem, proved at every upgrade to an entrance.
 */
import path from 'node:path';
import { UsageError } from '../../shared/src/cli.js';
import type { PublisherConfig } from '../../shared/src/config/schemas.js';
import { parsePublisherToken } from '../../shared/src/enrolment/codec.js';
import { PeerCredentials } from '../../shared/src/enrolment/peer-credentials.js';
import { loadOrCreatePeerKey } from '../../shared/src/enrolment/peer-key.js';
import type { Logger } from '../../shared/src/log.js';
import { resolveStoredId } from '../../shared/src/stored-id.js';

export async function resolvePublisherId(config: Pick<PublisherConfig, 'ID' | 'ENROLMENT_TOKEN' | 'RUN_DIRECTORY'>): Promise<string> {
  const tokenFor = config.ENROLMENT_TOKEN === undefined ? undefined : parsePublisherToken(config.ENROLMENT_TOKEN)?.publisherId;
  if (config.ID !== undefined && tokenFor !== undefined && config.ID !== tokenFor) {
    throw new UsageError(`ENROLMENT_TOKEN is ${tokenFor}'s but ID is ${config.ID}: set ID to ${tokenFor} or remove it`);
  }
  const id = config.ID ?? tokenFor;
  if (id !== undefined) return id;
  return resolveStoredId('PUBLISHER', undefined, path.join(config.RUN_DIRECTORY, 'publisher-id')).catch((err: Error) => {
    throw new Error(`RUN_DIRECTORY: cannot keep the publisher ID: ${err.message}`);
  });
}

/** The publisher's credentials, its key read (or made) at the first call and kept. */
export function publisherCredentials(config: Pick<PublisherConfig, 'ENROLMENT_TOKEN' | 'RUN_DIRECTORY'>, publisherId: string, log: Logger): () => Promise<PeerCredentials> {
  let loaded: Promise<PeerCredentials> | undefined;
  return () => {
    loaded ??= loadOrCreatePeerKey(path.join(config.RUN_DIRECTORY, 'publisher-key.pem'), log).then((key) => new PeerCredentials(publisherId, key, config.ENROLMENT_TOKEN));
    return loaded;
  };
}
