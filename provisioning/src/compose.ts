/**
 * The text of a card's dandelion.yaml: the keys asked for, in the order a person editing the card
 * would look for them, under a header saying what wrote the file and when. Nothing here checks
 * values; the one loader does that on the composed text (card-config.ts).
 */
import { stringify } from 'yaml';
import { AGENT_SCHEMA, PROVISION_SCHEMA } from '../../shared/src/config/schemas.js';

/** Keys people look for first when they open the card; the rest follow in schema order. */
const FIRST = ['ENTRANCE_URLS', 'ENROLMENT_TOKEN', 'WIFI_COUNTRY', 'WIFI_SSID', 'WIFI_PASSPHRASE', 'SSH_AUTHORIZED_KEYS', 'GEOIP'];
const ORDER = [...new Set([...FIRST, ...Object.keys(PROVISION_SCHEMA), ...Object.keys(AGENT_SCHEMA)])];

export interface Written {
  by: string;
  at: Date;
}

export function composeCardYaml(doc: Record<string, unknown>, written: Written): string {
  const rank = (k: string) => (ORDER.includes(k) ? ORDER.indexOf(k) : ORDER.length);
  const ordered = Object.fromEntries(Object.entries(doc).sort(([a], [b]) => rank(a) - rank(b)));
  const header = [
    `# Dandelion box config, written by ${written.by} at ${written.at.toISOString()}.`,
    '# Read by the box agent at every start and by the SD image at first boot (Wi-Fi, SSH); every key',
    '# is described in dandelion.yaml.example in the Dandelion repository (provisioning/). Keep the',
    '# upper-case keys: `dandelion provision` refuses a key the box does not know.',
  ];
  // lineWidth 0: no folding, so an SSH key stays one line a person can compare by eye.
  return `${header.join('\n')}\n${stringify(ordered, { lineWidth: 0 })}`;
}
