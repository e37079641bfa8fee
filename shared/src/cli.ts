/**
 * What every `dandelion <role>` command shares: its options (--config FILE, --help), the exit codes,
 * and turning a bad config into exit 2 with the key named.
 */
import { parseArgs } from 'node:util';
import { loadRoleConfig } from './config/load.js';
import type { Role } from './config/schemas.js';
import { ConfigError } from './config/spec.js';
import { messageOf } from './protocol/errors.js';

export const ExitCode = { OK: 0, FAILURE: 1, USAGE: 2 } as const;

export const EXIT_CODES_HELP = `Exit codes:
  0  done (for servers: stopped cleanly by SIGTERM or SIGINT)
  1  failure while running (Redis unreachable, port taken, …)
  2  bad usage or bad config; the message names the option or config key`;

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface RoleArgs {
  help: boolean;
  configFile: string | undefined;
  positionals: string[];
}

export function parseRoleArgs(args: string[], extra: Record<string, { type: 'string' | 'boolean'; short?: string }> = {}): RoleArgs & { values: Record<string, unknown> } {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' }, ...extra },
      allowPositionals: true,
      strict: true,
    });
    return { help: values.help === true, configFile: typeof values.config === 'string' ? values.config : undefined, positionals, values };
  } catch (err) {
    throw new UsageError(messageOf(err));
  }
}

/** Load a role's config or throw a ConfigError that `dandelion` reports with exit code 2. */
export function loadConfigForRole<R extends Role>(role: R, configFile: string | undefined) {
  return loadRoleConfig(role, configFile);
}

/** The message and exit code for an error that reached the top of a command. */
export function exitFor(err: unknown): { code: number; message: string } {
  if (err instanceof ConfigError) {
    return { code: ExitCode.USAGE, message: `bad config: ${err.problems.map((p) => `${p.key}: ${p.reason}`).join('\n  ')}` };
  }
  if (err instanceof UsageError) return { code: ExitCode.USAGE, message: `${err.message}\nTry 'dandelion --help'.` };
  return { code: ExitCode.FAILURE, message: err instanceof Error ? err.message : String(err) };
}
