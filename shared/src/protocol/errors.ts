/**
 * The one catalogue of protocol errors. Every refusal a peer can see carries one of these codes in
 * `ERROR_CODE` beside the original's free-text `ERROR`, so clients branch on the code, not the words.
 */
export const ERROR_CODES = [
  'E_FORMAT', // not a JSON object, a required key missing or empty, a value of the wrong type
  'E_ID', // ID missing its role prefix or holding characters a Redis key must not have
  'E_TYPE', // TYPE unknown, or not allowed to send this COMMAND to this receiver
  'E_COMMAND', // COMMAND unknown to the receiver
  'E_TOO_BIG', // a message, header or file over its limit
  'E_BINARY', // a binary frame where only text is accepted, or a malformed <Dandelion> frame
  'E_PATH', // a FILE_PATH that is empty, absolute-looking, climbs out or has forbidden characters
  'E_HANDSHAKE', // a file frame before the PUBLISH handshake on that socket
  'E_DISK_FULL', // storing the file would leave less than the box's disk reserve
  'E_QUOTA', // storing the file would take the publisher past the bytes its grant lets it hold on this box
  'E_AUTH', // the box has not proven an enrolled key (REQUIRE_ENROLMENT), or claims another box's ID; a PUBLISH without a valid grant
  'E_TOKEN', // a fleet token that is unknown, expired, used up or revoked
  'E_REVOKED', // the box's enrolment was revoked by an operator
  'E_ADDRESS', // a box's CONNECT_WS or HTTP_URL names a host that is not the address its socket comes from
  'E_PENDING', // a new key for an enrolled box ID: it waits for an operator's approval (or the old key's signature)
  'E_SHUTTING_DOWN', // the receiver is stopping and takes no new work
  'E_BUSY', // the receiver holds all it may (bytes in flight, sockets from one address); try again later
  'E_RATE', // too many WebSocket handshakes a second from one address, SEARCHes from one publisher or CERTIFYs from one box; slow down
  'E_BAD_REQUEST', // an HTTP request that does not parse (request-target, request line, headers)
  'E_NOT_FOUND', // an HTTP request or upgrade to a path nothing answers
  'E_FORBIDDEN', // an HTTP endpoint closed by configuration (e.g. /metrics without METRICS_TOKEN)
  'E_BAD_CSR', // a CERTIFY whose CSR does not parse, is not self-signed correctly, has a weak key or names anything but the box's own name
  'E_ACME', // the ACME CA did not issue the certificate (its error is in ERROR); try again later
  'E_NO_DOMAIN', // a CERTIFY to an entrance without BOX_DOMAIN, or from a box whose ID is not a DNS label: it has no name to certify
  'E_INTERNAL', // the receiver failed; the request may be retried
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** Whether a code read from a peer is one this version knows (a newer peer may send codes we do not). */
export function isErrorCode(code: string): code is ErrorCode {
  return ERROR_CODES.some((known) => known === code);
}

/**
 * WebSocket close codes. 1001/1003/1009/1011 are the RFC 6455 ones; 4000-4999 are for applications.
 */
export const Close = {
  NORMAL: 1000,
  GOING_AWAY: 1001, // the server is shutting down; reconnect (elsewhere) later
  UNSUPPORTED_DATA: 1003, // a binary frame sent where only text is taken
  TOO_BIG: 1009, // a frame over maxPayload; ws closes with it before we read the frame
  INTERNAL: 1011,
  TRY_AGAIN_LATER: 1013, // the peer (or all peers together) sent more bytes or frames than are handled; try again later
  PROTOCOL: 4000, // a malformed message; fix the client, do not retry the same message
  AUTH: 4401, // not authenticated as the box it claims to be: enrol (again), then reconnect
  REVOKED: 4403, // the box was revoked: do not reconnect until an operator restores it
} as const;

export class ProtocolError extends Error {
  override name = 'ProtocolError';
  constructor(
    readonly code: ErrorCode,
    detail: string,
    readonly close: number = Close.PROTOCOL,
    /** Fields the ERROR reply carries besides ERROR and ERROR_CODE (E_ADDRESS: the PUBLIC_IP the box should use). */
    readonly replyFields: Readonly<{ PUBLIC_IP?: string }> = {},
  ) {
    super(detail);
  }
}

export function isProtocolError(err: unknown): err is ProtocolError {
  return err instanceof ProtocolError;
}

/** The words of anything thrown, for a log line or an ERROR text (a thrown non-Error is shown as text). */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Narrow an unknown thrown value to a Node system error code such as ENOENT. */
export function errnoOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  return typeof err.code === 'string' ? err.code : undefined;
}
