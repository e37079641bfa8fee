/**
 * What this entrance says about itself in every reply: its OWN_INFO (ID, address, URL) and the
 * ENTRANCE_URLS it names, its own first. The URL is ENTRANCE_URL when set, else built from the bind
 * address and the port it actually listens on, which is known only once it listens (port 0 in tests).
 */
import type { EntranceConfig } from '../../shared/src/config/schemas.js';
import { connectHostFor, hostPort } from '../../shared/src/bind-address.js';
import type { Envelope } from '../../shared/src/protocol/index.js';

export interface OwnInfo extends Envelope {
  TYPE: 'ENTRANCE';
  URL: string;
}

/** Who this entrance is and which entrances it tells peers about. */
export interface EntranceIdentity {
  id: string;
  ownInfo(): OwnInfo;
  /** This entrance's URL first, then the fleet's other live entrances, then the others from {ID}:ENTRANCE_URLS. */
  entranceUrls(): string[];
}

/** The identity, with the facts learnt after it is built: the port it listens on and the other entrances. */
export interface OwnIdentity extends EntranceIdentity {
  listeningOn(port: number): void;
  /** Entrances from ENTRANCE_OTHER_URLS and {ID}:ENTRANCE_URLS. */
  knowOtherEntrances(urls: readonly string[]): void;
  /** The live entrances of this entrance's fleet ({FLEET}:ENTRANCES), this one's own URL among them. */
  knowFleetEntrances(urls: readonly string[]): void;
}

type UrlConfig = Pick<EntranceConfig, 'BASE_URL' | 'WEBSOCKET_URL' | 'ENTRANCE_URL' | 'ENTRANCE_IP'>;

/** BASE_URL and WEBSOCKET_URL joined, without a trailing slash: where boxes and publishers upgrade. */
export function websocketPath(config: Pick<EntranceConfig, 'BASE_URL' | 'WEBSOCKET_URL'>): string {
  return `${config.BASE_URL.replace(/\/+$/, '')}/${config.WEBSOCKET_URL.replace(/^\/+|\/+$/g, '')}`;
}

export function ownInfoFor(config: UrlConfig, id: string, port: number): OwnInfo {
  const url = config.ENTRANCE_URL ?? `ws://${hostPort(connectHostFor(config.ENTRANCE_IP), port)}${websocketPath(config)}/`;
  const parsed = new URL(url);
  const defaultPort = parsed.protocol === 'wss:' || parsed.protocol === 'https:' ? 443 : 80;
  return {
    ID: id,
    IP: parsed.hostname.replace(/^\[|\]$/g, ''),
    PORT: Number(parsed.port || defaultPort),
    TYPE: 'ENTRANCE',
    URL: url,
  };
}

export function createOwnIdentity(config: UrlConfig & Pick<EntranceConfig, 'ENTRANCE_PORT' | 'ENTRANCE_OTHER_URLS'>, id: string): OwnIdentity {
  let own = ownInfoFor(config, id, config.ENTRANCE_PORT);
  let others: readonly string[] = [...config.ENTRANCE_OTHER_URLS];
  let fleet: readonly string[] = [];
  return {
    id,
    ownInfo: () => own,
    entranceUrls: () => [...new Set([own.URL, ...fleet, ...others])],
    listeningOn(port) {
      own = ownInfoFor(config, id, port);
    },
    knowOtherEntrances(urls) {
      others = [...urls];
    },
    knowFleetEntrances(urls) {
      fleet = [...urls];
    },
  };
}
