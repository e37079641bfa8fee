/** `dandelion agent`: argv → config → Redis → identity → agent → start → signal trap. */
import { EXIT_CODES_HELP, loadConfigForRole, parseRoleArgs } from '../../shared/src/cli.js';
import { armedFailpoints, failpoint, FAILPOINTS_ENV } from '../../shared/src/failpoint.js';
import { trapSignals } from '../../shared/src/lifecycle.js';
import { createLogger } from '../../shared/src/log.js';
import { connectRedis } from '../../shared/src/redis.js';
import { createAgent } from './app.js';
import path from 'node:path';
import { resolveBoxId } from './identity.js';
import { EXIT_FOR_UPDATE } from './update/updater.js';
import type { UpdateStep } from './update/updater.js';

export const AGENT_HELP = `Usage: dandelion agent [--config FILE]

Runs a box agent: reports readings and spare bandwidth to its entrances with EXCHANGE, takes files
from publishers on ws://BOX_CLIENT_IP:BOX_PORT/dandelion/<box-id>/ws/, serves them through nginx on
BOX_HTTP_PORT, deletes them when they expire, and reports the traffic nginx served.
Keys are documented in config.yaml.example; DANDELION_<KEY> overrides.

Options:
  -c, --config FILE  YAML config (default: built-in defaults and environment only)
  -h, --help         this text

${EXIT_CODES_HELP}
`;

export async function main(args: string[]): Promise<void> {
  const opts = parseRoleArgs(args);
  if (opts.help) {
    process.stdout.write(AGENT_HELP);
    return;
  }
  const { config, warnings } = loadConfigForRole('agent', opts.configFile);
  const log = createLogger({ level: config.LOG_LEVEL, role: 'agent' });
  for (const warning of warnings) log.warn(warning);
  // A test's fault injection (shared/src/failpoint.ts): said loudly, since a box must never run with one.
  if (armedFailpoints().length > 0) log.warn({ failpoints: armedFailpoints() }, `${FAILPOINTS_ENV} is set: this agent kills itself at these steps`);
  const boxId = await resolveBoxId(config.ID, undefined, path.join(config.RUN_DIRECTORY, 'box-id')).catch((err: Error) => {
    throw new Error(`ID: ${err.message}`);
  });
  const redis = await connectRedis(config, log).catch((err: Error) => {
    throw new Error(`cannot reach Redis: ${err.message}`);
  });
  let exitWith: (code: number, why: string) => void = () => undefined;
  let exitingForUpdate = false;
  const exitForUpdate = (): void => {
    exitingForUpdate = true;
    exitWith(EXIT_FOR_UPDATE, 'update staged');
  };
  const agent = createAgent({ config, redis, boxId, log, exitForUpdate });
  exitWith = trapSignals(async () => {
    await agent.stop();
    // quit() waits for replies in flight; a connection already gone is simply dropped.
    await redis.quit().catch(() => redis.disconnect());
    if (exitingForUpdate) failpoint('update:exiting' satisfies UpdateStep);
  }, log);
  try {
    await agent.start();
  } catch (err) {
    await agent.stop().catch(() => undefined);
    redis.disconnect();
    throw err;
  }
}
