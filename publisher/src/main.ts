/** `dandelion publisher`: argv → config → Redis → identity → publisher → start → signal trap; and `push`. */
import { EXIT_CODES_HELP, UsageError, loadConfigForRole, parseRoleArgs } from '../../shared/src/cli.js';
import { trapSignals } from '../../shared/src/lifecycle.js';
import { createLogger } from '../../shared/src/log.js';
import { connectRedis } from '../../shared/src/redis.js';
import { createPublisher, createPublisherCore } from './app.js';
import { pushFiles } from './push.js';
import { resolvePublisherId } from './identity.js';
import { loadViewerTls } from './http/viewer-tls.js';

export const PUBLISHER_HELP = `Usage: dandelion publisher [--config FILE]
       dandelion publisher push FILE... [--ttl SECONDS] [--config FILE]

Runs a publisher, the streamer's uploader: finds boxes through the entrances (SEARCH), sends every
finished file of PUBLISHER_WATCH_DIRECTORY and of the Redis list {ID}:FILE:FILES_SENDING_QUEUE to
REPLICAS boxes, and serves viewers on PUBLISHER_HTTP_IP:PUBLISHER_HTTP_PORT: the viewer page at /,
rewritten playlists at /hls/<path>.m3u8, /files/<path>, /r/<path> and the origin at /origin/<path>.

'push' sends the named files now, shows progress, and exits 0 when every file was confirmed by
REPLICAS boxes (1 otherwise).
Keys are documented in config.yaml.example; DANDELION_<KEY> overrides.

Options:
  -c, --config FILE  YAML config (default: built-in defaults and environment only)
      --ttl SECONDS  push: how long boxes keep the files (default FILE_TTL)
  -h, --help         this text

${EXIT_CODES_HELP}
`;

export async function main(args: string[]): Promise<void> {
  const opts = parseRoleArgs(args, { ttl: { type: 'string' } });
  if (opts.help) {
    process.stdout.write(PUBLISHER_HELP);
    return;
  }
  const [sub, ...files] = opts.positionals;
  if (sub !== undefined && sub !== 'push') throw new UsageError(`publisher: unknown subcommand ${sub}`);
  if (sub === 'push' && files.length === 0) throw new UsageError('publisher push: name at least one FILE');
  const { config, warnings } = loadConfigForRole('publisher', opts.configFile);
  // Checked now, before Redis, so a bad pair is exit 2 naming the key; the web server reads the files again at start.
  loadViewerTls(config);
  let ttl = config.FILE_TTL;
  if (opts.values.ttl !== undefined) {
    ttl = Number(opts.values.ttl);
    if (!Number.isFinite(ttl) || ttl < 1 || ttl > 7 * 24 * 3600) throw new UsageError('--ttl must be 1 to 604800 seconds');
  }
  const log = createLogger({ level: sub === 'push' && config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL, role: 'publisher' });
  for (const warning of warnings) log.warn(warning);
  const publisherId = await resolvePublisherId(config);
  const redis = await connectRedis(config, log).catch((err: Error) => {
    throw new Error(`cannot reach Redis: ${err.message}`);
  });

  if (sub === 'push') {
    const parts = createPublisherCore({ config, redis, publisherId, log });
    try {
      const ok = await pushFiles(parts, files, { ttlSeconds: ttl, watchDirectory: config.PUBLISHER_WATCH_DIRECTORY, replicas: config.REPLICAS, out: process.stdout, log });
      process.exitCode = ok ? 0 : 1;
    } finally {
      await parts.search.stop();
      parts.pool.stop();
      redis.disconnect();
    }
    return;
  }

  const publisher = createPublisher({ config, redis, publisherId, log });
  trapSignals(async () => {
    await publisher.stop();
    // quit() waits for replies in flight; a connection already gone is simply dropped.
    await redis.quit().catch(() => redis.disconnect());
  }, log);
  await publisher.start();
}
