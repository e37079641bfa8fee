/**
 * A box's DNS name under the entrance's BOX_DOMAIN: `<box-id>.<BOX_DOMAIN>`. Only a box ID that is
 * already a valid lowercase DNS label gets a name, so a name maps back to exactly one ID and no box
 * ID is ever rewritten (two IDs differing only in case would otherwise share a name and a certificate).
 */

/** A lowercase DNS label (RFC 1035 host syntax): letters, digits and '-', 1-63, no '-' at either end. */
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Longest BOX_DOMAIN: `_acme-challenge.` (16), a 63-character label and its dot must still fit in a
 * 253-character name.
 */
export const MAX_BOX_DOMAIN_CHARS = 253 - 16 - 64;

export function isDnsLabel(s: string): boolean {
  return DNS_LABEL.test(s);
}

/** Why `domain` cannot be BOX_DOMAIN, or undefined when it can ('' turns names off). */
export function checkBoxDomain(domain: string): string | undefined {
  if (domain === '') return undefined;
  if (domain.length > MAX_BOX_DOMAIN_CHARS) return `must be at most ${MAX_BOX_DOMAIN_CHARS} characters, so box names and their _acme-challenge names fit in DNS`;
  if (!domain.split('.').every(isDnsLabel)) return 'must be a DNS zone in lowercase (labels of a-z, 0-9 and inner -, separated by dots, no trailing dot), e.g. boxes.example.net';
  return undefined;
}

/** The box's name, or undefined when names are off ('' domain) or its ID is not a DNS label. */
export function boxNameOf(boxId: string, domain: string): string | undefined {
  if (domain === '' || !isDnsLabel(boxId)) return undefined;
  return `${boxId}.${domain}`;
}
