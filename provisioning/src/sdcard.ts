/**
 * `dandelion provision sdcard TARGET …`: write a box's dandelion.yaml onto the boot partition of an SD
 * image or card. The file is composed, then checked by the one loader against the agent's and the SD
 * image's schemas, and only then written, so a refused card keeps the file it had byte for byte.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { UsageError } from '../../shared/src/cli.js';
import { ENV_PREFIX, readConfigFile } from '../../shared/src/config/load.js';
import { ConfigError } from '../../shared/src/config/spec.js';
import { isRecord } from '../../shared/src/protocol/json.js';
import { buildInfo } from '../../shared/src/version.js';
import { CARD_KEYS, loadCardConfig } from './card-config.js';
import { composeCardYaml } from './compose.js';
import { replaceOnCard } from './card-file.js';
import { describeCard } from './secrets.js';
import { openCard } from './target.js';

export const SDCARD_HELP = `Usage: dandelion provision sdcard TARGET --entrance URL [--entrance URL…]
         (--token-file FILE | env DANDELION_ENROLMENT_TOKEN | --token TOKEN)
         [--wifi-country CC --wifi-ssid SSID [--wifi-passphrase-file FILE]]
         [--ssh-key FILE.pub…] [--geoip-loc LAT,LON] [--set KEY=VALUE…] [--from FILE.yaml]

Writes dandelion.yaml onto the boot (FAT) partition of TARGET, a raw SD image (.img; decompress an
.img.xz first) or a whole card device (/dev/sdX, /dev/mmcblkN; unmounted, usually with sudo). Nothing
is mounted: mtools writes inside the image. The file is checked against every agent and SD-image key
before TARGET is touched, then written as dandelion.tmp and renamed over dandelion.yaml.

Options:
  --entrance URL            entrance WebSocket URL (ENTRANCE_URLS), repeat for several
  --token-file FILE         fleet enrolment token (ENROLMENT_TOKEN, dlt_…) from the first line of FILE
  --token TOKEN             the same on the command line: visible in ps and shell history, so prefer
                            --token-file or the environment variable DANDELION_ENROLMENT_TOKEN
  --wifi-country CC         Wi-Fi regulatory domain, two letters (WIFI_COUNTRY; required with --wifi-ssid)
  --wifi-ssid SSID          Wi-Fi network to join (WIFI_SSID); without it the box is wired only
  --wifi-passphrase-file F  WPA2 passphrase from the first line of F (WIFI_PASSPHRASE)
  --ssh-key FILE.pub        OpenSSH public key(s) allowed to log in (SSH_AUTHORIZED_KEYS), repeatable
  --geoip-loc LAT,LON       the box's place (GEOIP.LOC), e.g. 51.5,-0.12
  --set KEY=VALUE           any other agent or SD-image key; VALUE is read as YAML, so lists and
                            mappings work (--set BOX_HTTP_PORT=8080); an unknown KEY is refused
  --from FILE.yaml          start from this dandelion.yaml; the options above override its keys
  -h, --help                this text

The token and the passphrase are never printed. Exit codes: 0 written; 1 the write failed (mtools
error); 2 bad option or key (named), or TARGET unusable: missing, compressed, not writable, mounted,
no FAT partition, or mtools not installed.

Preparing 100 cards from a script (one image copy for each box, written to cards later):
  export DANDELION_ENROLMENT_TOKEN="$(cat fleet-token)"   # from 'dandelion entrance token create'
  xz -dk dandelion-box.img.xz
  for i in $(seq -w 1 100); do
    cp --sparse=always dandelion-box.img "box-$i.img"
    dandelion provision sdcard "box-$i.img" \\
      --entrance wss://entrance.example.org/dandelion/ws/ \\
      --wifi-country GB --wifi-ssid "Shop $i" --wifi-passphrase-file "wifi/shop-$i" \\
      --ssh-key ~/.ssh/fleet.pub || exit
  done
  # then, for each card: sudo dd if=box-001.img of=/dev/sdX bs=4M conv=fsync status=progress
`;

const OPTIONS = {
  entrance: { type: 'string', multiple: true },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  'wifi-country': { type: 'string' },
  'wifi-ssid': { type: 'string' },
  'wifi-passphrase-file': { type: 'string' },
  'ssh-key': { type: 'string', multiple: true },
  'geoip-loc': { type: 'string' },
  set: { type: 'string', multiple: true },
  from: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

/** The card's file name on the boot partition, as the image's units and the agent expect it. */
export const CARD_FILE = 'dandelion.yaml';

export async function sdcardCommand(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`provision sdcard: ${(err as Error).message}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(SDCARD_HELP);
    return;
  }
  if (positionals.length !== 1) throw new UsageError('provision sdcard: name one TARGET (an .img file or a card device)');
  const target = positionals[0] as string;

  const doc = await composeDoc(values, env);
  const card = await openCard(target, { write: true });
  const dir = await mkdtemp(path.join(tmpdir(), 'dandelion-provision-'));
  try {
    const local = path.join(dir, CARD_FILE);
    const info = buildInfo();
    const text = composeCardYaml(doc, { by: `dandelion provision sdcard (dandelion ${info.version}, ${info.commit})`, at: new Date() });
    await writeFile(local, text, { mode: 0o600 }); // it holds the fleet token
    // The composed bytes themselves are what the loader judges and what goes onto the card.
    const config = loadCardConfig(local, {});
    await replaceOnCard(card, local, CARD_FILE);
    process.stdout.write(`provision: wrote ${CARD_FILE} to ${target} (partition ${card.boot.number}, FAT at byte ${card.boot.offsetBytes})\n${describeCard(config)}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The keys to write: --from's, then --set's, then the dedicated options' (a key given by two of those is refused). */
async function composeDoc(v: Values, env: NodeJS.ProcessEnv): Promise<Record<string, unknown>> {
  const doc: Record<string, unknown> = v.from === undefined ? {} : readFrom(v.from);
  const fromSet = new Set<string>();
  for (const item of v.set ?? []) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    if (eq < 0) throw new UsageError(`provision sdcard: --set ${key}: write KEY=VALUE`);
    if (!CARD_KEYS.has(key)) throw new UsageError(`provision sdcard: --set ${key}: not a key of a box's dandelion.yaml (agent or SD image keys; see dandelion.yaml.example)`);
    doc[key] = yamlValue(item.slice(eq + 1));
    fromSet.add(key);
  }
  const given = (key: string, flag: string, value: unknown) => {
    if (fromSet.has(key)) throw new UsageError(`provision sdcard: ${key} given twice, by ${flag} and by --set`);
    doc[key] = value;
  };
  if (v.entrance) given('ENTRANCE_URLS', '--entrance', v.entrance);
  const token = await tokenOf(v, env);
  if (token !== undefined) given('ENROLMENT_TOKEN', token.flag, token.value);
  if (v['wifi-country'] !== undefined) given('WIFI_COUNTRY', '--wifi-country', v['wifi-country']);
  if (v['wifi-ssid'] !== undefined) given('WIFI_SSID', '--wifi-ssid', v['wifi-ssid']);
  if (v['wifi-passphrase-file'] !== undefined) given('WIFI_PASSPHRASE', '--wifi-passphrase-file', await firstLine(v['wifi-passphrase-file'], '--wifi-passphrase-file'));
  if (v['ssh-key']) given('SSH_AUTHORIZED_KEYS', '--ssh-key', (await Promise.all(v['ssh-key'].map(publicKeysOf))).flat());
  if (v['geoip-loc'] !== undefined) given('GEOIP', '--geoip-loc', { ...(isRecord(doc.GEOIP) ? doc.GEOIP : {}), LOC: v['geoip-loc'] });

  // The agent's defaults for these suit a laptop, not a box in someone's home.
  const missing = [
    { key: 'ENTRANCE_URLS', reason: 'required on a card: give --entrance URL' },
    { key: 'ENROLMENT_TOKEN', reason: `required on a card: give --token-file FILE or set ${ENV_PREFIX}ENROLMENT_TOKEN` },
  ].filter(({ key }) => doc[key] === undefined || doc[key] === null || doc[key] === '');
  if (missing.length > 0) throw new ConfigError(missing);
  return doc;
}

async function tokenOf(v: Values, env: NodeJS.ProcessEnv): Promise<{ flag: string; value: string } | undefined> {
  if (v.token !== undefined && v['token-file'] !== undefined) throw new UsageError('provision sdcard: give --token or --token-file, not both');
  if (v['token-file'] !== undefined) return { flag: '--token-file', value: await firstLine(v['token-file'], '--token-file', { trim: true }) };
  if (v.token !== undefined) return { flag: '--token', value: v.token };
  const fromEnv = env[`${ENV_PREFIX}ENROLMENT_TOKEN`];
  return fromEnv ? { flag: `${ENV_PREFIX}ENROLMENT_TOKEN`, value: fromEnv.trim() } : undefined;
}

function readFrom(file: string): Record<string, unknown> {
  try {
    return { ...readConfigFile(file) };
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(err.problems.map((p) => ({ ...p, key: p.key === '--config' ? '--from' : p.key })));
    throw err;
  }
}

/** A --set VALUE as YAML (numbers, lists, mappings), or the text itself when it is not valid YAML. */
function yamlValue(text: string): unknown {
  try {
    return parseYaml(text) ?? '';
  } catch {
    return text;
  }
}

/**
 * The first line of a secret's file; the secret is never echoed, only the file is named. Spaces are
 * kept unless `trim` (a WPA passphrase may begin or end with one; a token cannot).
 */
async function firstLine(file: string, flag: string, { trim = false } = {}): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`provision sdcard: ${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? 'cannot read it'}`);
  }
  const first = text.split(/\r?\n/)[0] ?? '';
  const line = trim ? first.trim() : first;
  if (line.trim() === '') throw new UsageError(`provision sdcard: ${flag} ${file} is empty`);
  return line;
}

/** The key lines of an OpenSSH public key file (an authorized_keys file works too). */
async function publicKeysOf(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`provision sdcard: --ssh-key ${file}: ${(err as NodeJS.ErrnoException).code ?? 'cannot read it'}`);
  }
  if (text.includes('PRIVATE KEY')) throw new UsageError(`provision sdcard: --ssh-key ${file} is a private key; give the .pub file`);
  const keys = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  if (keys.length === 0) throw new UsageError(`provision sdcard: --ssh-key ${file} holds no key`);
  return keys;
}
