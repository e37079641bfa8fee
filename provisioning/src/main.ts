/**
 * `dandelion provision <sdcard|show|env>`: preparing SD cards for boxes, and reading them back. Errors
 * that make a target unusable (missing, compressed, not writable, no FAT, no mtools) are usage
 * problems for the caller to fix, so they exit 2 like a bad option; a failed write exits 1.
 */
import { UsageError } from '../../shared/src/cli.js';
import { NotACardError } from './boot-partition.js';
import { clockCommand } from './clock.js';
import { envCommand } from './env.js';
import { sdcardCommand } from './sdcard.js';
import { showCommand } from './show.js';

const HELP = `Usage: dandelion provision <subcommand> [options]

Subcommands:
  sdcard TARGET …        write a box's dandelion.yaml onto an SD image or card
  show TARGET [--reveal] print the dandelion.yaml of an SD image or card (secrets masked)
  env --config FILE      the SD image's keys of FILE as shell assignments (for first boot)
  clock --config FILE    set the clock before the agent starts: NTP, else an entrance's Date header

Run 'dandelion provision <subcommand> --help' for its options. See provisioning/README.md.
`;

const SUBCOMMANDS: Record<string, (args: string[]) => Promise<void>> = { sdcard: sdcardCommand, show: showCommand, env: envCommand, clock: clockCommand };

export async function main(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    process.stdout.write(HELP);
    if (sub === undefined) throw new UsageError('provision: missing subcommand (sdcard, show, env or clock)');
    return;
  }
  const run = SUBCOMMANDS[sub];
  if (!run) throw new UsageError(`provision: unknown subcommand ${sub} (sdcard, show, env or clock)`);
  try {
    await run(rest);
  } catch (err) {
    if (err instanceof NotACardError) {
      process.stderr.write(`dandelion: provision ${sub}: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
}
