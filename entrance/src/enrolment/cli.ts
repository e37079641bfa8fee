/**
 * `dandelion entrance token …` and `dandelion entrance box …`: operators' enrolment chores from a shell,
 * against the same Redis the entrance uses (its config file names it). Prints tables for people and
 * `--json` for scripts; the token itself is printed once, at creation, and never again.
 */
import { UsageError } from '../../../shared/src/cli.js';
import type { EntranceConfig } from '../../../shared/src/config/schemas.js';
import { createLogger } from '../../../shared/src/log.js';
import { isIdOf } from '../../../shared/src/protocol/index.js';
import { connectRedis } from '../../../shared/src/redis.js';
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
  Each takes --config FILE (for REDIS_*) and --json.`;

const when = (s: number): string => (s > 0 ? new Date(s * 1000).toISOString().replace(/\.\d+Z$/, 'Z') : 'never');

export async function enrolmentCommand(config: EntranceConfig, words: string[], values: Record<string, unknown>): Promise<void> {
  const [noun, verb, arg] = words;
  const json = values.json === true;
  const key = `${noun ?? ''} ${verb ?? ''}`.trim();
  const needsId = ['token revoke', 'box revoke', 'box restore', 'box forget'].includes(key);
  const known = needsId || ['token create', 'token list', 'box list'].includes(key);
  if (!known) throw new UsageError(`entrance: unknown command "${words.join(' ')}"\n${ENROLMENT_HELP}`);
  if (needsId && arg === undefined) throw new UsageError(`entrance ${key}: name the ${noun === 'box' ? 'box' : 'token'} ID`);
  if (noun === 'box' && arg !== undefined && !isIdOf(arg, 'BOX')) throw new UsageError(`entrance ${key}: "${arg}" is not a box ID (box-…)`);
  let expires = 0;
  let uses = 0;
  if (key === 'token create') {
    try {
      expires = parseDuration(typeof values.expires === 'string' ? values.expires : '7d', '--expires');
      uses = parseUses(typeof values.uses === 'string' ? values.uses : '1', '--uses');
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }

  // Logs to stderr at warn: stdout is the command's answer, which scripts read.
  const log = createLogger({ level: 'warn', role: 'entrance', destination: process.stderr });
  const redis = await connectRedis(config, log).catch((err: Error) => {
    throw new Error(`cannot reach Redis: ${err.message}`);
  });
  const store = new EnrolmentStore(redis);
  const out = (obj: unknown, text: string): void => {
    process.stdout.write(json ? `${JSON.stringify(obj)}\n` : `${text}\n`);
  };
  try {
    switch (key) {
      case 'token create': {
        const note = typeof values.note === 'string' ? values.note : '';
        const { token, info } = await store.createToken({ expiresInSeconds: expires, maxUses: uses, note });
        out({ TOKEN: token, ...info }, `${token}\n# token ${info.ID}: ${info.MAX_USES} use(s), expires ${when(info.EXPIRES)}. Shown once; only its hash is kept.`);
        return;
      }
      case 'token list': {
        const tokens = await store.listTokens();
        out({ TOKENS: tokens }, tokens.map((t) => `${t.ID}  uses ${t.USES}/${t.MAX_USES}  expires ${when(t.EXPIRES)}${t.REVOKED ? '  REVOKED' : ''}${t.NOTE ? `  ${t.NOTE}` : ''}`).join('\n') || '(no tokens)');
        return;
      }
      case 'token revoke': {
        if (!(await store.revokeToken(arg as string))) throw new UsageError(`entrance token revoke: no token ${arg}`);
        out({ ID: arg, REVOKED: true }, `token ${arg} revoked`);
        return;
      }
      case 'box list': {
        const [boxes, pending] = await Promise.all([store.listBoxes(), store.listPending()]);
        const lines = [
          ...boxes.map((b) => `${b.ID}  ${b.STATE.toUpperCase()}  ${b.FINGERPRINT}  token ${b.TOKEN}  since ${when(b.STATE === 'revoked' ? (b.REVOKED_AT ?? 0) : b.ENROLLED_AT)}`),
          ...pending.map((p) => `${p.ID}  PENDING  ${p.IP}  ${p.REASON}  seen ${when(p.SEEN)}`),
        ];
        out({ BOXES: boxes, PENDING: pending }, lines.join('\n') || '(no boxes)');
        return;
      }
      case 'box revoke':
      case 'box restore': {
        if (!(await store.setRevoked(arg as string, verb === 'revoke'))) throw new UsageError(`entrance ${key}: ${arg} never enrolled`);
        out({ ID: arg, STATE: verb === 'revoke' ? 'revoked' : 'enrolled' }, `${arg} ${verb === 'revoke' ? 'revoked' : 'restored'}`);
        return;
      }
      case 'box forget': {
        if (!(await store.forget(arg as string))) throw new UsageError(`entrance box forget: ${arg} never enrolled`);
        out({ ID: arg, FORGOTTEN: true }, `${arg} forgotten: it must enrol again with a fleet token`);
        return;
      }
    }
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}
