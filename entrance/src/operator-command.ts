/**
 * What every `dandelion entrance <noun> …` command shares: the entrance's Redis (its config names it), logs on
 * stderr at warn (stdout is the command's answer, which scripts read), and an answer printed as one line of
 * JSON with --json or as text for a person.
 */
import type { Redis } from 'ioredis';
import type { EntranceConfig } from '../../shared/src/config/schemas.js';
import { createLogger } from '../../shared/src/log.js';
import { connectRedis } from '../../shared/src/redis.js';

/** Print the answer: `obj` for scripts (--json), `text` for a person. */
export type Answer = (obj: unknown, text: string) => void;

export async function withEntranceRedis(config: EntranceConfig, json: boolean, run: (redis: Redis, out: Answer) => Promise<void>): Promise<void> {
  const log = createLogger({ level: 'warn', role: 'entrance', destination: process.stderr });
  const redis = await connectRedis(config, log).catch((err: Error) => {
    throw new Error(`cannot reach Redis: ${err.message}`);
  });
  const out: Answer = (obj, text) => {
    process.stdout.write(json ? `${JSON.stringify(obj)}\n` : `${text}\n`);
  };
  try {
    await run(redis, out);
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}
