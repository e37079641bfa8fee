/** `dandelion publisher`: the streamer's uploader. Its config is checked today; the role itself is the publisher issue's work. */
import { EXIT_CODES_HELP, loadConfigForRole, parseRoleArgs } from '../../shared/src/cli.js';

export const PUBLISHER_HELP = `Usage: dandelion publisher [--config FILE]

Runs a publisher: finds boxes through the entrance and pushes files to them.
Keys are documented in config.yaml.example; DANDELION_<KEY> overrides.

Options:
  -c, --config FILE  YAML config
  -h, --help         this text

${EXIT_CODES_HELP}
`;

export async function main(args: string[]): Promise<void> {
  const opts = parseRoleArgs(args);
  if (opts.help) {
    process.stdout.write(PUBLISHER_HELP);
    return;
  }
  loadConfigForRole('publisher', opts.configFile);
  throw new Error('the publisher role is not part of this version yet (config checked and valid)');
}
