/**
 * Per-viewer state for playlist rewriting, by the ID viewer-cookie.ts gives each viewer: which URI each
 * viewer was given for each segment (hls.js treats a changed URI for the same media sequence number as
 * an error), and the order in which that viewer should be offered box copies: nearest first when the
 * viewer's address can be placed (a local MaxMind-format database, GEOIP_DATABASE), then by the
 * publisher's ranking of the boxes.
 */
import { createHash } from 'node:crypto';
import maxmind from 'maxmind';
import type { CityResponse, Reader } from 'maxmind';
import { parseLoc } from '../../../shared/src/protocol/index.js';
import type { Replica } from '../upload/file-index.js';

/** Viewers whose per-segment URIs are remembered; the least recently seen is forgotten first. */
export const MAX_VIEWERS = 10_000;
const EARTH_KM = 6371;

export interface Place {
  lat: number;
  lon: number;
}

export function distanceKm(a: Place, b: Place): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_KM * Math.asin(Math.sqrt(h));
}

export type Locate = (ip: string) => Place | undefined;

export async function openGeoDatabase(file: string | undefined): Promise<Locate> {
  if (file === undefined) return () => undefined;
  const reader: Reader<CityResponse> = await maxmind.open<CityResponse>(file);
  return (ip) => {
    try {
      const loc = reader.get(ip)?.location;
      return loc && typeof loc.latitude === 'number' && typeof loc.longitude === 'number' ? { lat: loc.latitude, lon: loc.longitude } : undefined;
    } catch {
      return undefined; // not an IP this database knows
    }
  };
}

export interface ViewerDeps {
  locate: Locate;
  /** Where a box is (its GEOIP.LOC), if it said. */
  placeOfBox(boxId: string): string | undefined;
  /** The publisher's ranking score of a box (higher is better). */
  scoreOfBox(boxId: string): number;
}

/** Score points by which two boxes may differ and still share viewers. */
export const SPREAD = 10;

/** A stable number in [0, SPREAD) for a viewer and a box (rendezvous hashing). */
function spreadOf(viewerId: string, boxId: string): number {
  return (createHash('sha1').update(`${viewerId}/${boxId}`).digest().readUInt32BE(0) / 2 ** 32) * SPREAD;
}

export class Viewers {
  private readonly sticky = new Map<string, Map<string, string>>();

  constructor(private readonly deps: ViewerDeps) {}

  /** The viewer's per-segment URI memory (most recently used viewers kept, up to MAX_VIEWERS). */
  stickyOf(viewerId: string): Map<string, string> {
    let map = this.sticky.get(viewerId);
    if (map) this.sticky.delete(viewerId);
    else map = new Map();
    this.sticky.set(viewerId, map); // re-insert: Map order is the LRU order
    if (this.sticky.size > MAX_VIEWERS) {
      const oldest = this.sticky.keys().next();
      if (!oldest.done) this.sticky.delete(oldest.value);
    }
    return map;
  }

  /**
   * Replicas ordered for one viewer at `ip`: the nearest 500 km band first when both are placed; within
   * a band by the publisher's score of the box plus a per-viewer share of up to SPREAD points, so
   * viewers spread over boxes of similar quality instead of all landing on the single best one.
   */
  order(replicas: Replica[], ip: string, viewerId = ip): Replica[] {
    const here = this.deps.locate(ip);
    const band = (r: Replica): number => {
      const there = parseLoc(this.deps.placeOfBox(r.boxId));
      return here && there ? Math.floor(distanceKm(here, { lat: there.lat, lon: there.lon }) / 500) : Number.MAX_SAFE_INTEGER;
    };
    const weight = (r: Replica): number => this.deps.scoreOfBox(r.boxId) + spreadOf(viewerId, r.boxId);
    return [...replicas].sort((a, b) => band(a) - band(b) || weight(b) - weight(a));
  }
}
