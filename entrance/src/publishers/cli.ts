/**
 * `dandelion entrance publisher …`: publisher accounts from a shell, against the entrance's Redis (its config
 * file names it). `create` prints the publisher token once (only its hash is kept); `--json` for scripts.
 */
import { UsageError } from '../../../shared/src/cli.js';
import type { EntranceConfig } from '../../../shared/src/config/schemas.js';
import { withEntranceRedis } from '../operator-command.js';
import { DEFAULT_QUOTA_GB, PublisherAccounts, publisherIdOf, quotaBytesOf } from './accounts.js';
import type { PublisherAccountInfo } from './accounts.js';

export const PUBLISHER_HELP = `Publisher accounts:
  dandelion entrance publisher create NAME [--quota-gb ${DEFAULT_QUOTA_GB}]
                                       an account for publisher-NAME; prints its token once
                                       (ENROLMENT_TOKEN in the publisher's config). Quota: GB per box
  dandelion entrance publisher list    accounts with their state and quota
  dandelion entrance publisher revoke NAME
                                       close its sockets, refuse it from now on
  Each takes --config FILE (for REDIS_*) and --json.`;

type PublisherRequest = { command: 'create'; id: string; quotaBytes: number; json: boolean } | { command: 'list'; json: boolean } | { command: 'revoke'; id: string; json: boolean };

/** Checks the words and options before anything connects to Redis. */
export function parsePublisherCommand(words: string[], values: Record<string, unknown>): PublisherRequest {
  const [, verb, name, extra] = words;
  const json = values.json === true;
  if (verb === 'list' && name === undefined) return { command: 'list', json };
  if (verb !== 'create' && verb !== 'revoke') throw new UsageError(`entrance publisher: unknown command "${words.slice(1).join(' ')}"\n${PUBLISHER_HELP}`);
  if (name === undefined) throw new UsageError(`entrance publisher ${verb}: name the publisher (NAME)`);
  if (extra !== undefined) throw new UsageError(`entrance publisher ${verb}: one NAME only, not "${extra}"`);
  let id: string;
  try {
    id = publisherIdOf(name);
  } catch (err) {
    throw new UsageError(`entrance publisher ${verb}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (verb === 'revoke') return { command: 'revoke', id, json };
  try {
    const quotaBytes = quotaBytesOf(typeof values['quota-gb'] === 'string' ? values['quota-gb'] : String(DEFAULT_QUOTA_GB), '--quota-gb');
    return { command: 'create', id, quotaBytes, json };
  } catch (err) {
    throw new UsageError(`entrance publisher create: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export async function publisherCommand(config: EntranceConfig, words: string[], values: Record<string, unknown>): Promise<void> {
  const request = parsePublisherCommand(words, values);
  await withEntranceRedis(config, request.json, (redis, out) => runPublisherCommand(new PublisherAccounts(redis), request, out));
}

const gb = (bytes: number): string => `${Number((bytes / 1e9).toPrecision(6))} GB`;
const when = (s: number | undefined): string => (s ? new Date(s * 1000).toISOString().replace(/\.\d+Z$/, 'Z') : '-');

function line(a: PublisherAccountInfo): string {
  const since = a.STATE === 'revoked' ? a.REVOKED_AT : a.STATE === 'enrolled' ? a.ENROLLED_AT : a.CREATED;
  return `${a.ID}  ${a.STATE.toUpperCase()}  quota ${gb(a.QUOTA_BYTES)}/box  ${a.FINGERPRINT ?? 'no key yet'}  since ${when(since)}`;
}

async function runPublisherCommand(accounts: PublisherAccounts, request: PublisherRequest, out: (obj: unknown, text: string) => void): Promise<void> {
  switch (request.command) {
    case 'create': {
      const created = await accounts.create(request.id, request.quotaBytes);
      if (!created) throw new Error(`entrance publisher create: ${request.id} already has an account (names are not reused, revoked ones included)`);
      return out({ TOKEN: created.token, ...created.info }, `${created.token}\n# ${request.id}: quota ${gb(request.quotaBytes)} per box. Put it in the publisher's config as ENROLMENT_TOKEN. Shown once; only its hash is kept.`);
    }
    case 'list': {
      const all = await accounts.list();
      return out({ PUBLISHERS: all }, all.map(line).join('\n') || '(no publisher accounts)');
    }
    case 'revoke':
      if (!(await accounts.revoke(request.id))) throw new UsageError(`entrance publisher revoke: no account ${request.id}`);
      return out({ ID: request.id, STATE: 'revoked' }, `${request.id} revoked: its sockets are closed and it is refused from now on`);
  }
}
