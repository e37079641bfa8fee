/*
 * The map panel: country outlines from the TopoJSON file an npm package ships (decoded by
 * topojson-client, loaded before this module), and one dot per box that reported its place, coloured
 * by state, from /api/map. #map carries data-countries and data-boxes (how many of each it drew).
 */
import { $, h, r1, s, setAttrs } from './dom.js';
import { HttpError, STATIC, api } from './api.js';
import { isNum } from './format.js';
import { MAP_H, MAP_W, geometryPath, project } from './map-projection.js';

export async function drawCountries() {
  const g = $('#map-graticule');
  for (let lon = -150; lon <= 150; lon += 30) g.append(s('line', { x1: project(lon, 0)[0], x2: project(lon, 0)[0], y1: 0, y2: MAP_H }));
  for (let lat = -60; lat <= 60; lat += 30) g.append(s('line', { x1: 0, x2: MAP_W, y1: project(0, lat)[1], y2: project(0, lat)[1] }));
  if (!window.topojson) {
    $('#map-note').textContent = 'Country outlines unavailable (topojson-client.min.js was not served).';
    return;
  }
  const res = await fetch(`${STATIC}countries-110m.json`);
  if (!res.ok) throw new HttpError(res.status, `countries-110m.json: HTTP ${res.status}`);
  const world = await res.json();
  const countries = window.topojson.feature(world, world.objects.countries);
  const paths = countries.features.map((f) => s('path', { d: geometryPath(f.geometry) }, s('title', {}, f.properties?.name ?? '')));
  $('#map-countries').replaceChildren(...paths);
  $('#map').dataset.countries = String(paths.length);
}

/** The dots drawn, by box ID, so a refresh touches only boxes that moved or changed state. */
const map = { seq: 0, dots: new Map() };
/** Offline under stale under online, so a live box is never hidden behind a dead one. */
const MAP_LAYERS = ['offline', 'stale', 'online'];

export async function loadMap() {
  const seq = ++map.seq;
  const body = await api('map');
  if (seq !== map.seq) return;
  const boxes = Array.isArray(body.BOXES) ? body.BOXES : [];
  const layers = $('#map-dots');
  if (layers.childElementCount === 0) for (const st of MAP_LAYERS) layers.append(s('g', { 'data-layer': st }));
  const seen = new Set();
  for (const b of boxes) {
    if (!isNum(b.LAT) || !isNum(b.LON) || typeof b.ID !== 'string') continue;
    seen.add(b.ID);
    placeDot(layers, b);
  }
  for (const [id, dot] of map.dots) {
    if (!seen.has(id)) {
      dot.link.remove();
      map.dots.delete(id);
    }
  }
  $('#map').dataset.boxes = String(map.dots.size);
  $('#map-note').textContent = `${map.dots.size} box${map.dots.size === 1 ? '' : 'es'} with a known place.`;
}

/** Draws box `b`'s dot, or moves and relabels it; an unchanged dot is left alone. */
function placeDot(layers, b) {
  const st = MAP_LAYERS.includes(b.STATE) ? b.STATE : 'offline';
  const [x, y] = project(b.LON, b.LAT);
  const label = `${b.ID}${b.CITY ? ` · ${b.CITY}` : ''} (${b.STATE})`;
  const key = `${r1(x)},${r1(y)},${st},${label}`;
  let dot = map.dots.get(b.ID);
  if (dot && dot.key === key) return;
  if (!dot) {
    const title = s('title');
    const circle = s('circle', { r: 5, 'data-id': b.ID }, title);
    const link = s('a', { href: `#/box/${encodeURIComponent(b.ID)}` }, circle);
    dot = { link, circle, title, key: '' };
    map.dots.set(b.ID, dot);
  }
  setAttrs(dot.circle, { class: `dot state-${st}`, cx: r1(x), cy: r1(y), 'data-state': b.STATE, 'data-city': b.CITY ?? '' });
  dot.link.setAttribute('aria-label', label);
  dot.title.textContent = label;
  dot.key = key;
  $(`g[data-layer="${st}"]`, layers).append(dot.link); // moves it when its state changed
}

/** The tooltip over a dot that the pointer or the keyboard is on. */
export function wireMapTip() {
  const tip = $('#map-tip');
  const svg = $('#map');
  const show = (ev) => {
    const dot = ev.target.closest && ev.target.closest('circle.dot');
    if (!dot) { tip.hidden = true; return; }
    tip.replaceChildren(h('strong', {}, dot.dataset.id), h('br'), `${dot.dataset.city || 'unknown city'} · ${dot.dataset.state}`);
    const box = svg.getBoundingClientRect();
    const r = dot.getBoundingClientRect();
    tip.style.left = `${r.left - box.left + r.width / 2}px`;
    tip.style.top = `${r.top - box.top}px`;
    tip.hidden = false;
  };
  svg.addEventListener('mouseover', show);
  svg.addEventListener('focusin', show);
  svg.addEventListener('mouseleave', () => { tip.hidden = true; });
  svg.addEventListener('focusout', () => { tip.hidden = true; });
}
