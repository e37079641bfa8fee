/** `dandelion entrance`: argv → config → Redis → identity → app → listen → signal trap. */
import { EXIT_CODES_HELP, parseRoleArgs, loadConfigForRole } from '../../shared/src/cli.js';
import { trapSignals } from '../../shared/src/lifecycle.js';
import { createLogger } from '../../shared/src/log.js';
import { connectRedis } from '../../shared/src/redis.js';
import { createEntrance } from './app.js';
import { resolveEntranceId } from './identity.js';
import { ENROLMENT_HELP, enrolmentCommand } from './enrolment/cli.js';
import { PUBLISHER_HELP, publisherCommand } from './publishers/cli.js';
import { FLEET_KEY_HELP, fleetKeyCommand, isFleetKeyCommand } from './trust/cli.js';
import { UPDATES_HELP, UPDATES_OPTIONS, isUpdatesCommand, updatesCommand } from './updates/cli.js';
import { MOVE_TO_CLUSTER_HELP, isMoveToClusterCommand, moveToClusterCommand } from './registry/move-to-cluster-cli.js';

export const ENTRANCE_HELP = `Usage: dandelion entrance [--config FILE]
       dandelion entrance token|box|publisher|fleet-key|release|rollout|group|move-to-cluster … [--config FILE] [--json]

Runs an entrance: the registry of boxes (in Redis) that boxes report to with EXCHANGE and that
publishers ask with SEARCH, on ws://ENTRANCE_IP:ENTRANCE_PORT/dandelion/ws/, with its index page
at /dandelion/. Keys are documented in entrance-config.yaml.example; DANDELION_<KEY> overrides.

Options:
  -c, --config FILE  YAML config (default: built-in defaults and environment only)
  -h, --help         this text

${ENROLMENT_HELP}

${PUBLISHER_HELP}

${FLEET_KEY_HELP}

${UPDATES_HELP}

${MOVE_TO_CLUSTER_HELP}

${EXIT_CODES_HELP}
`;

export async function main(args: string[]): Promise<void> {
  const opts = parseRoleArgs(args, { json: { type: 'boolean' }, expires: { type: 'string' }, uses: { type: 'string' }, note: { type: 'string' }, fingerprint: { type: 'string' }, 'quota-gb': { type: 'string' }, namespace: { type: 'string' }, ...UPDATES_OPTIONS });
  if (opts.help) {
    process.stdout.write(ENTRANCE_HELP);
    return;
  }
  const { config, warnings } = loadConfigForRole('entrance', opts.configFile);
  if (opts.positionals[0] === 'publisher') return publisherCommand(config, opts.positionals, opts.values);
  if (isFleetKeyCommand(opts.positionals)) return fleetKeyCommand(config, opts.positionals, opts.values);
  if (isUpdatesCommand(opts.positionals)) return updatesCommand(config, opts.positionals, opts.values);
  if (isMoveToClusterCommand(opts.positionals)) return moveToClusterCommand(config, opts.positionals, opts.values);
  if (opts.positionals.length > 0) return enrolmentCommand(config, opts.positionals, opts.values);
  const log = createLogger({ level: config.LOG_LEVEL, role: 'entrance' });
  for (const warning of warnings) log.warn(warning);
  const redis = await connectRedis(config, log).catch((err: Error) => {
    throw new Error(`cannot reach Redis: ${err.message}`);
  });
  const id = await resolveEntranceId(config.ID, config.RUN_DIRECTORY).catch((err: Error) => {
    throw new Error(`RUN_DIRECTORY: cannot keep the entrance ID: ${err.message}`);
  });
  const entrance = createEntrance({ config, id, redis, log });
  trapSignals(async () => {
    await entrance.stop();
    // quit() waits for replies in flight; a connection already gone is simply dropped.
    await redis.quit().catch(() => redis.disconnect());
  }, log);
  await entrance.listen();
}
