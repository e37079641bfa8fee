/**
 * `dandelion provision env --config FILE`: the SD image's keys of a dandelion.yaml as POSIX shell
 * assignments, for the image's first-boot script:
 *
 *   vars=$(dandelion provision env --config /boot/firmware/dandelion.yaml) || exit 1
 *   eval "$vars"
 *
 * (Not `eval "$(…)" || exit`: eval of an empty string succeeds, so a bad file would go unnoticed.)
 * The file is loaded as the agent will load it (both schemas, DANDELION_<KEY> overrides), so first
 * boot refuses exactly the files the agent would; a bad file prints nothing on stdout and exits 2.
 */
import { UsageError, parseRoleArgs } from '../../shared/src/cli.js';
import { PROVISION_SCHEMA } from '../../shared/src/config/schemas.js';
import type { AgentConfig, ProvisionConfig } from '../../shared/src/config/schemas.js';
import { loadCardConfig } from './card-config.js';

export const ENV_HELP = `Usage: dandelion provision env --config FILE

Loads FILE (a box's dandelion.yaml) against the agent's and the SD image's keys and prints the SD
image's keys, and the agent's BOX_PORT and BOX_SERVER_IP (for the image's health probe), as shell
assignments, each value single-quoted (lists one item a line), for
  vars=$(dandelion provision env --config /boot/firmware/dandelion.yaml) || exit 1
  eval "$vars"
(not eval "$(…)" || exit: eval of nothing succeeds, so a bad file would pass unnoticed).
Unset keys print as ''. Exit codes: 0 printed; 2 bad usage or a bad key in FILE (named on stderr).
`;

/** One value as a single-quoted POSIX shell word: everything inside is literal except ', written '\\''. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Agent keys the image's boot script also needs: where the agent's health probe knocks. */
const AGENT_KEYS_FOR_BOOT = ['BOX_PORT', 'BOX_SERVER_IP'] as const;

export function shellAssignments(config: ProvisionConfig, agent?: Pick<AgentConfig, (typeof AGENT_KEYS_FOR_BOOT)[number]>): string {
  const values: Record<string, unknown> = { ...config };
  if (agent) for (const key of AGENT_KEYS_FOR_BOOT) values[key] = agent[key];
  return [...Object.keys(PROVISION_SCHEMA), ...(agent ? AGENT_KEYS_FOR_BOOT : [])]
    .map((key) => {
      const value: unknown = values[key];
      const text = Array.isArray(value) ? value.join('\n') : value === undefined ? '' : String(value);
      return `${key}=${shellQuote(text)}\n`;
    })
    .join('');
}

export async function envCommand(args: string[]): Promise<void> {
  const opts = parseRoleArgs(args);
  if (opts.help) {
    process.stdout.write(ENV_HELP);
    return;
  }
  if (opts.configFile === undefined) throw new UsageError('provision env: give --config FILE');
  if (opts.positionals.length > 0) throw new UsageError(`provision env: unexpected ${opts.positionals[0]}`);
  const { provision, agent } = loadCardConfig(opts.configFile);
  process.stdout.write(shellAssignments(provision, agent));
}
