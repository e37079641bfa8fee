/** Messages as a client written against the original README would send them. */
export function boxExchange(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ID: id,
    IP: '127.0.0.1',
    PORT: 7071,
    TYPE: 'BOX',
    COMMAND: 'EXCHANGE',
    CONNECT_WS: `ws://127.0.0.1:7071/dandelion/${id}/ws/`,
    'CPU-NUM': 4,
    'MEM-TOTAL': 1_000_000_000,
    'DISK-AVAIL': 10,
    ...extra,
  };
}

export function searchRequest(id = 'publisher-test', extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ID: id, IP: '127.0.0.1', TYPE: 'PUBLISHER', COMMAND: 'SEARCH', ...extra };
}

/** Entrance env for tests whose publishers are original clients (no account, no key): REQUIRE_PUBLISHER_AUTH off. */
export const ORIGINAL_PUBLISHERS: Readonly<Record<string, string>> = { DANDELION_REQUIRE_PUBLISHER_AUTH: 'false' };
