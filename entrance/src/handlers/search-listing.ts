/**
 * What a SEARCH reply tells a publisher about a box: only what it needs to connect and choose (the
 * envelope, CONNECT_WS, HTTP_URL, HTTPS_URL, RANK, capacity and free disk, and the place to city level), not the
 * box's readings, address details or anything else of its heartbeat. The kept keys are those an original
 * publisher reads, so its client works unchanged.
 */
import { GEOIP_KEYS, parseLoc } from '../../../shared/src/protocol/index.js';
import type { GeoIp, RankedBox } from '../../../shared/src/protocol/index.js';

/** Readings a publisher ranks boxes by (publisher/src/boxes/ranking.ts) and shows. */
const CAPACITY_KEYS = ['BANDWIDTH-UP', 'BANDWIDTH-IDLE-UP', 'DISK-AVAIL'] as const;
/** GEOIP keys at city level; IP, HOSTNAME and ORG name the household's line and stay out. */
const PLACE_KEYS: ReadonlyArray<(typeof GEOIP_KEYS)[number]> = ['COUNTRY', 'REGION', 'CITY'];
/** LOC rounded to a tenth of a degree (about 11 km): enough to send viewers to a nearby box, not to find a house. */
const LOC_DECIMALS = 1;

export function listedBox(box: RankedBox): RankedBox {
  const listed: RankedBox = { ID: box.ID, IP: box.IP, TYPE: 'BOX', COMMAND: 'EXCHANGE', CONNECT_WS: box.CONNECT_WS, RANK: box.RANK };
  if (box.PORT !== undefined) listed.PORT = box.PORT;
  if (typeof box.HTTP_URL === 'string') listed.HTTP_URL = box.HTTP_URL;
  if (typeof box.HTTPS_URL === 'string') listed.HTTPS_URL = box.HTTPS_URL;
  for (const key of CAPACITY_KEYS) if (typeof box[key] === 'number') listed[key] = box[key];
  const place = box.GEOIP === undefined ? undefined : cityLevel(box.GEOIP);
  if (place !== undefined) listed.GEOIP = place;
  return listed;
}

function cityLevel(geo: GeoIp): GeoIp | undefined {
  const out: GeoIp = {};
  for (const key of PLACE_KEYS) if (geo[key] !== undefined) out[key] = geo[key];
  const loc = parseLoc(geo.LOC);
  if (loc) out.LOC = `${loc.lat.toFixed(LOC_DECIMALS)},${loc.lon.toFixed(LOC_DECIMALS)}`;
  return Object.keys(out).length > 0 ? out : undefined;
}
