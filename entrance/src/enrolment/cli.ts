/**
 * `dandelion entrance token …` and `dandelion entrance box …`: operators' enrolment chores from a shell,
 * against the same Redis the entrance uses (its config file names it). Prints tables for people and
 * `--json` for scripts; the token itself is printed once, at creation, and never again.
 */
import { UsageError } from '../../../shared/src/cli.js';
import type { EntranceConfig } from '../../../shared/src/config/schemas.js';
import { isIdOf } from '../../../shared/src/protocol/index.js';
import { withEntranceRedis } from '../operator-command.js';
import { EnrolmentStore } from './store.js';
import { parseDuration, parseUses } from './token-limits.js';

export const ENROLMENT_HELP = `Enrolment (docs/enrolment.md):
  dandelion entrance token create [--expires 7d] [--uses 1] [--note TEXT]
                                       a fleet token, printed once (stored hashed)
  dandelion entrance token list        tokens with their uses and expiry
  dandelion entrance token revoke ID   no more enrolments with that token
  dandelion entrance box list          enrolled, revoked and pending boxes
  dandelion entrance box revoke ID     refuse the box from its next heartbeat on
  dandelion entrance box restore ID    undo a revocation
  dandelion entrance box forget ID     drop its key: it must enrol again with a token
  dandelion entrance box approve ID [--fingerprint SHA256:…]
                                       re-flashed box: approve the new key it asked to enrol with
  Each takes --config FILE (for REDIS_*) and --json.`;

const when = (s: number): string => (s > 0 ? new Date(s * 1000).toISOString().replace(/\.\d+Z$/, 'Z') : 'never');

type IdCommand = 'token revoke' | 'box revoke' | 'box restore' | 'box forget' | 'box approve';
type ListCommand = 'token create' | 'token list' | 'box list';
const ID_COMMANDS: readonly IdCommand[] = ['token revoke', 'box revoke', 'box restore', 'box forget', 'box approve'];
const LIST_COMMANDS: readonly ListCommand[] = ['token create', 'token list', 'box list'];

/** One checked command line: what to do, and the ID for the commands that act on one. */
type EnrolmentRequest =
  | { command: ListCommand; json: boolean; expires: number; uses: number; note: string }
  | { command: IdCommand; json: boolean; id: string; fingerprint?: string };

/** Checks the words and options before anything connects to Redis, so a typo costs no connection. */
export function parseEnrolmentCommand(words: string[], values: Record<string, unknown>): EnrolmentRequest {
  const [noun, , arg] = words;
  const json = values.json === true;
  const key = words.slice(0, 2).join(' ');
  const idCommand = ID_COMMANDS.find((c) => c === key);
  if (idCommand !== undefined) {
    if (arg === undefined) throw new UsageError(`entrance ${key}: name the ${noun === 'box' ? 'box' : 'token'} ID`);
    if (noun === 'box' && !isIdOf(arg, 'BOX')) throw new UsageError(`entrance ${key}: "${arg}" is not a box ID (box-…)`);
    if (idCommand === 'box approve' && typeof values.fingerprint === 'string') return { command: idCommand, json, id: arg, fingerprint: values.fingerprint };
    return { command: idCommand, json, id: arg };
  }
  const command = LIST_COMMANDS.find((c) => c === key);
  if (command === undefined) throw new UsageError(`entrance: unknown command "${words.join(' ')}"\n${ENROLMENT_HELP}`);
  if (noun === 'box' && arg !== undefined && !isIdOf(arg, 'BOX')) throw new UsageError(`entrance ${key}: "${arg}" is not a box ID (box-…)`);
  const note = typeof values.note === 'string' ? values.note : '';
  if (command !== 'token create') return { command, json, expires: 0, uses: 0, note };
  try {
    const expires = parseDuration(typeof values.expires === 'string' ? values.expires : '7d', '--expires');
    const uses = parseUses(typeof values.uses === 'string' ? values.uses : '1', '--uses');
    return { command, json, expires, uses, note };
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

export async function enrolmentCommand(config: EntranceConfig, words: string[], values: Record<string, unknown>): Promise<void> {
  const request = parseEnrolmentCommand(words, values);
  await withEntranceRedis(config, request.json, (redis, out) => runEnrolmentCommand(new EnrolmentStore(redis), request, out));
}

async function runEnrolmentCommand(store: EnrolmentStore, request: EnrolmentRequest, out: (obj: unknown, text: string) => void): Promise<void> {
  if ('id' in request) return changeOne(store, request, out);
  switch (request.command) {
    case 'token create': {
      const { token, info } = await store.createToken({ expiresInSeconds: request.expires, maxUses: request.uses, note: request.note });
      return out({ TOKEN: token, ...info }, `${token}\n# token ${info.ID}: ${info.MAX_USES} use(s), expires ${when(info.EXPIRES)}. Shown once; only its hash is kept.`);
    }
    case 'token list': {
      const tokens = await store.listTokens();
      return out({ TOKENS: tokens }, tokens.map((t) => `${t.ID}  uses ${t.USES}/${t.MAX_USES}  expires ${when(t.EXPIRES)}${t.REVOKED ? '  REVOKED' : ''}${t.NOTE ? `  ${t.NOTE}` : ''}`).join('\n') || '(no tokens)');
    }
    case 'box list': {
      const [boxes, pending] = await Promise.all([store.listBoxes(), store.listPending()]);
      const lines = [
        ...boxes.map((b) => `${b.ID}  ${b.STATE.toUpperCase()}  ${b.FINGERPRINT}  token ${b.TOKEN}  since ${when(b.STATE === 'revoked' ? (b.REVOKED_AT ?? 0) : b.ENROLLED_AT)}`),
        ...pending.map((p) => `${p.ID}  PENDING  ${p.IP}  ${p.REASON}${p.FINGERPRINT ? `  ${p.FINGERPRINT}` : ''}  seen ${when(p.SEEN)}`),
      ];
      return out({ BOXES: boxes, PENDING: pending }, lines.join('\n') || '(no boxes)');
    }
  }
}

async function changeOne(store: EnrolmentStore, { command, id, fingerprint }: Extract<EnrolmentRequest, { id: string }>, out: (obj: unknown, text: string) => void): Promise<void> {
  switch (command) {
    case 'token revoke':
      if (!(await store.revokeToken(id))) throw new UsageError(`entrance token revoke: no token ${id}`);
      return out({ ID: id, REVOKED: true }, `token ${id} revoked`);
    case 'box revoke':
    case 'box restore': {
      const revoke = command === 'box revoke';
      if (!(await store.setRevoked(id, revoke))) throw new UsageError(`entrance ${command}: ${id} never enrolled`);
      return out({ ID: id, STATE: revoke ? 'revoked' : 'enrolled' }, `${id} ${revoke ? 'revoked' : 'restored'}`);
    }
    case 'box forget':
      if (!(await store.forget(id))) throw new UsageError(`entrance box forget: ${id} never enrolled`);
      return out({ ID: id, FORGOTTEN: true }, `${id} forgotten: it must enrol again with a fleet token`);
    case 'box approve': {
      const approved = await store.approve(id, fingerprint);
      if (!approved.ok) throw new UsageError(`entrance box approve: ${id}: ${approved.reason}`);
      return out({ ID: id, APPROVED: approved.fingerprint }, `${id}: new key ${approved.fingerprint} approved; it enrols at the box's next attempt, and the old key stops working then`);
    }
  }
}
