/**
 * The card's two secrets (the fleet token and the Wi-Fi passphrase) stay out of terminals and logs:
 * `provision show` masks them unless asked, and `provision sdcard` reports what it wrote without them.
 */
import { isMap, parseDocument } from 'yaml';
import type { CardConfig } from './card-config.js';

export const SECRET_KEYS = ['ENROLMENT_TOKEN', 'WIFI_PASSPHRASE'] as const;
export const MASK = '<masked; --reveal shows it>';

/** The YAML text with the secrets' values replaced by MASK; comments and layout are kept. */
export function maskSecrets(text: string): string {
  const doc = parseDocument(text);
  if (doc.errors.length === 0 && isMap(doc.contents)) {
    for (const key of SECRET_KEYS) if (doc.has(key)) doc.set(key, MASK);
    return doc.toString({ lineWidth: 0 });
  }
  // Not YAML we can edit (a hand-edited card): mask line by line, keys at any indent.
  const line = new RegExp(`^(\\s*["']?(?:${SECRET_KEYS.join('|')})["']?\\s*:).*$`, 'gm');
  return text.replace(line, `$1 ${MASK}`);
}

/** A short account of a card's config for the terminal, without secrets. */
export function describeCard({ agent, provision }: CardConfig): string {
  const lines = [
    `  ENTRANCE_URLS: ${agent.ENTRANCE_URLS.join(', ')}`,
    `  ENROLMENT_TOKEN: ${agent.ENROLMENT_TOKEN === undefined ? '(none)' : '(set, not shown)'}`,
    provision.WIFI_SSID === undefined
      ? '  Wi-Fi: none (wired only)'
      : `  Wi-Fi: ${JSON.stringify(provision.WIFI_SSID)} in ${provision.WIFI_COUNTRY ?? '?'}, ${provision.WIFI_PASSPHRASE === undefined ? 'open network' : 'passphrase set, not shown'}`,
    `  SSH_AUTHORIZED_KEYS: ${provision.SSH_AUTHORIZED_KEYS.length === 0 ? 'none (SSH stays off)' : `${provision.SSH_AUTHORIZED_KEYS.length} key(s)`}`,
  ];
  if (agent.GEOIP?.LOC !== undefined) lines.push(`  GEOIP.LOC: ${agent.GEOIP.LOC}`);
  return `${lines.join('\n')}\n`;
}
