/** `dandelion agent`: the box agent. Its config is checked today; the role itself is the agent issue's work. */
import { EXIT_CODES_HELP, loadConfigForRole, parseRoleArgs } from '../../shared/src/cli.js';

export const AGENT_HELP = `Usage: dandelion agent [--config FILE]

Runs a box agent: reports to entrances, receives files, serves them through nginx.
Keys are documented in config.yaml.example; DANDELION_<KEY> overrides.

Options:
  -c, --config FILE  YAML config
  -h, --help         this text

${EXIT_CODES_HELP}
`;

export async function main(args: string[]): Promise<void> {
  const opts = parseRoleArgs(args);
  if (opts.help) {
    process.stdout.write(AGENT_HELP);
    return;
  }
  loadConfigForRole('agent', opts.configFile);
  throw new Error('the agent role is not part of this version yet (config checked and valid)');
}
