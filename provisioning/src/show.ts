/** `dandelion provision show TARGET [--reveal]`: the dandelion.yaml an image or card carries. */
import { parseArgs } from 'node:util';
import { UsageError } from '../../shared/src/cli.js';
import { readRootFile } from './mtools.js';
import { maskSecrets } from './secrets.js';
import { CARD_FILE } from './sdcard.js';
import { openCard } from './target.js';

export const SHOW_HELP = `Usage: dandelion provision show TARGET [--reveal]

Prints the ${CARD_FILE} on the boot partition of TARGET (an .img file or a card device), read with
mtools, without mounting. ENROLMENT_TOKEN and WIFI_PASSPHRASE are masked unless --reveal is given.
Exit codes: 0 printed; 1 TARGET has no ${CARD_FILE}; 2 bad usage or TARGET unusable.
`;

/** Thrown when the card was never provisioned: not a usage problem, so exit 1. */
export class NoCardFileError extends Error {
  override name = 'NoCardFileError';
}

export async function showCommand(args: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { reveal: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`provision show: ${(err as Error).message}`);
  }
  if (parsed.values.help) {
    process.stdout.write(SHOW_HELP);
    return;
  }
  if (parsed.positionals.length !== 1) throw new UsageError('provision show: name one TARGET (an .img file or a card device)');
  const target = parsed.positionals[0] as string;
  const card = await openCard(target, { write: false });
  const bytes = await readRootFile(card, CARD_FILE);
  if (bytes === undefined) throw new NoCardFileError(`${target} has no ${CARD_FILE} on its boot partition (not provisioned yet?)`);
  const text = bytes.toString('utf8');
  process.stdout.write(parsed.values.reveal ? text : maskSecrets(text));
}
