/**
 * The DNS name an entrance gives a box (`<box-id>.<BOX_DOMAIN>`): checked before it goes into a CSR's
 * subject or an nginx config, since it comes from the network.
 */
const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const HOST_NAME = new RegExp(`^(?:${LABEL}\\.)+${LABEL}$`);

/** A lower-case DNS host name of at least two labels, at most 253 characters, no wildcard. */
export function isBoxName(name: string): boolean {
  return name.length <= 253 && HOST_NAME.test(name);
}
