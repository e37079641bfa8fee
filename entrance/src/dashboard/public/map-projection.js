/*
 * The world map's geometry: an equirectangular projection onto a 960 × 480 box, and country outlines
 * (GeoJSON polygons) turned into SVG path data that does not smear across the antimeridian.
 */
import { r1 } from './dom.js';

export const MAP_W = 960;
export const MAP_H = 480;

export const project = (lon, lat) => [((lon + 180) / 360) * MAP_W, ((90 - lat) / 180) * MAP_H];

const pathOf = (points) => `M${points.map(([lon, lat]) => project(lon, lat).map(r1).join(',')).join('L')}Z`;

/** Where the segment a → b, which crosses the antimeridian, meets the map edge on a's side. */
function edgeLat(a, b) {
  const aLon = a[0];
  const bLon = b[0] + (b[0] < aLon ? 360 : -360); // b moved next to a, across the line
  const edge = aLon > 0 ? 180 : -180;
  const f = bLon === aLon ? 0 : (edge - aLon) / (bLon - aLon); // both on the line itself: no slope
  return [edge, a[1] + f * (b[1] - a[1])];
}

/**
 * SVG path data of a ring of [lon, lat] points. A ring that crosses the antimeridian is cut there
 * (so no stripe runs across the whole map), and a ring around a pole is closed along that pole.
 */
export function ringPath(ring) {
  const closed = ring.length > 1 && ring[0][0] === ring[ring.length - 1][0] && ring[0][1] === ring[ring.length - 1][1];
  const pts = closed ? ring.slice(0, -1) : ring.slice();
  const n = pts.length;
  if (n < 3) return '';
  const jumps = [];
  for (let i = 0; i < n; i++) if (Math.abs(pts[(i + 1) % n][0] - pts[i][0]) > 180) jumps.push(i);
  if (jumps.length === 0) return pathOf(pts);
  // Start just after a crossing, so each piece begins and ends on an edge of the map.
  const start = (jumps[0] + 1) % n;
  const seq = pts.slice(start).concat(pts.slice(0, start));
  let d = '';
  let piece = [edgeLat(seq[0], seq[n - 1])];
  for (let i = 0; i < n; i++) {
    const a = seq[i];
    const b = seq[(i + 1) % n];
    piece.push(a);
    if (Math.abs(b[0] - a[0]) > 180) {
      piece.push(edgeLat(a, b));
      const first = piece[0];
      const last = piece[piece.length - 1];
      if (first[0] !== last[0]) {
        // Around a pole: go along it from one edge to the other.
        const pole = (a[1] + b[1]) / 2 > 0 ? 90 : -90;
        piece.push([last[0], pole], [first[0], pole]);
      }
      d += pathOf(piece);
      piece = [edgeLat(b, a)];
    }
  }
  return d;
}

export function geometryPath(geom) {
  if (!geom) return '';
  if (geom.type === 'Polygon') return geom.coordinates.map(ringPath).join('');
  if (geom.type === 'MultiPolygon') return geom.coordinates.map((poly) => poly.map(ringPath).join('')).join('');
  return '';
}
