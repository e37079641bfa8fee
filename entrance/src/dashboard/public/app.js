/*
 * The operator dashboard: plain browser JavaScript, no framework and no build step. It talks only to
 * the entrance that served it (docs/dashboard-api.md): JSON from /api/, live updates from the
 * server-sent events of /api/events, map outlines from a TopoJSON file an npm package ships.
 *
 * Everything a box reports (IDs, cities, versions…) is untrusted text: it reaches the page only
 * through textContent and setAttribute, never through innerHTML.
 *
 * For tests, each chart's <svg> carries data-points (JSON of the numbers it drew) and data-src (the
 * /api/ URL they came from), and window.dandelion keeps the events received and the errors met.
 */
'use strict';
(() => {
  // The page is /…/dashboard/; the API and static files are found from there, so a proxy prefix works.
  const PREFIX = location.pathname.replace(/dashboard(\/.*)?$/, '');
  const API = `${PREFIX}api/`;
  const STATIC = `${PREFIX}dashboard/static/`;
  const SVG_NS = 'http://www.w3.org/2000/svg';
  /** Refresh the table, publishers and charts every this many summary events (≈ 2 s each). */
  const REFRESH_EVERY_SUMMARIES = 5;
  const MAX_EVENTS_KEPT = 200;
  const MAP_W = 960;
  const MAP_H = 480;

  const debug = { events: [], errors: [], loaded: false };
  window.dandelion = debug;

  const $ = (sel, root = document) => root.querySelector(sel);

  /** h('td', {class: 'num'}, 'text', childNode…): an element with attributes and children, text as text. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    setAttrs(el, attrs);
    for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
    return el;
  }
  function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    setAttrs(el, attrs);
    for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
    return el;
  }
  function setAttrs(el, attrs) {
    for (const [k, v] of Object.entries(attrs ?? {})) if (v !== null && v !== undefined && v !== false) el.setAttribute(k, v === true ? '' : String(v));
  }

  // ---------------------------------------------------------------- formatting

  const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
  const DASH = '–';

  function fmtBytes(n) {
    if (!isNum(n)) return DASH;
    const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
    let i = 0;
    let v = Math.abs(n);
    while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
    const digits = i === 0 || v >= 100 ? 0 : v >= 10 ? 1 : 2;
    return `${n < 0 ? '-' : ''}${v.toFixed(digits)} ${units[i]}`;
  }
  function fmtDuration(sec) {
    if (!isNum(sec)) return DASH;
    sec = Math.max(0, Math.round(sec));
    if (sec < 60) return `${sec} s`;
    if (sec < 3600) return `${Math.floor(sec / 60)} min`;
    if (sec < 86400) return `${Math.floor(sec / 3600)} h ${Math.floor((sec % 3600) / 60)} min`;
    return `${Math.floor(sec / 86400)} d ${Math.floor((sec % 86400) / 3600)} h`;
  }
  /** 3 h 5 min → "3h05" style, for the table. */
  function fmtDurationShort(sec) {
    if (!isNum(sec)) return DASH;
    sec = Math.max(0, Math.round(sec));
    if (sec < 60) return `${sec}s`;
    if (sec < 3600) return `${Math.floor(sec / 60)}m`;
    if (sec < 86400) return `${Math.floor(sec / 3600)}h${String(Math.floor((sec % 3600) / 60)).padStart(2, '0')}`;
    return `${Math.floor(sec / 86400)}d${String(Math.floor((sec % 86400) / 3600)).padStart(2, '0')}h`;
  }
  const fmtAgo = (sec) => (isNum(sec) ? `${fmtDuration(sec)} ago` : DASH);
  const fmtNum = (v, digits = 0) => (isNum(v) ? v.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : DASH);
  const fmtPct = (v) => (isNum(v) ? `${v.toFixed(1)} %` : DASH);
  const fmtRatio = (r) => (isNum(r) ? `${(r * 100).toFixed(1)} %` : DASH);
  const fmtMbit = (v) => (isNum(v) ? `${v.toFixed(v < 10 ? 1 : 0)} Mbit/s` : DASH);
  const fmtText = (v) => (v === null || v === undefined || v === '' ? DASH : String(v));
  /** "25.0300001,121.56" → "25.03, 121.56" (what a box reports is kept in the cell's title). */
  function fmtLoc(v) {
    if (typeof v !== 'string' || v === '') return DASH;
    const parts = v.split(',').map((x) => Number(x.trim()));
    return parts.length === 2 && parts.every(isNum) ? parts.map((x) => String(Math.round(x * 100) / 100)).join(', ') : v;
  }
  /** withDate: false "17:05", true "25 Nov 17:05", 'only' "25 Nov". */
  function fmtTime(sec, withDate = false) {
    if (!isNum(sec)) return DASH;
    const d = new Date(sec * 1000);
    const time = d.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });
    const date = d.toLocaleDateString('en-GB', { day: 'numeric', month: 'short' });
    return withDate === 'only' ? date : withDate ? `${date} ${time}` : time;
  }
  function fmtStamp(sec) {
    if (!isNum(sec)) return DASH;
    const d = new Date(sec * 1000);
    return `${d.toLocaleDateString('en-GB', { day: 'numeric', month: 'short' })} ${d.toLocaleTimeString('en-GB')}`;
  }

  /** Seconds since the epoch by the entrance's clock (summary NOW corrects this browser's clock). */
  let clockSkew = 0;
  const serverNow = () => Date.now() / 1000 + clockSkew;

  function badge(state) {
    const st = ['online', 'stale', 'offline'].includes(state) ? state : 'unknown';
    return h('span', { class: `badge state-${st}` }, fmtText(state));
  }
  function ageEl(lastSeen) {
    return h('span', { class: 'age', 'data-last-seen': isNum(lastSeen) ? lastSeen : null, title: fmtStamp(lastSeen) }, isNum(lastSeen) ? fmtAgo(serverNow() - lastSeen) : DASH);
  }
  function tickAges() {
    for (const el of document.querySelectorAll('.age[data-last-seen]')) el.textContent = fmtAgo(serverNow() - Number(el.dataset.lastSeen));
  }
  const boxLink = (id) => h('a', { href: `#/box/${encodeURIComponent(id)}` }, id);

  // ---------------------------------------------------------------- API

  class HttpError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  let leaving = false;
  /** The session is gone (expired, logged out elsewhere): the entrance shows the login form again. */
  function sessionLost() {
    if (leaving) return;
    leaving = true;
    location.assign(`${PREFIX}dashboard/`);
  }

  async function api(path) {
    const res = await fetch(API + path, { credentials: 'same-origin', headers: { accept: 'application/json' } });
    if (res.status === 401) {
      sessionLost();
      throw new HttpError(401, 'not logged in');
    }
    let body = null;
    try { body = await res.json(); } catch { /* intentional: a non-JSON error page; the status says enough */ }
    if (!res.ok) throw new HttpError(res.status, (body && body.ERROR) || `HTTP ${res.status}`);
    return body;
  }

  function report(where, err) {
    if (err && err.status === 401) return;
    const msg = `${where}: ${err && err.message ? err.message : String(err)}`;
    debug.errors.push(msg);
    const banner = $('#error-banner');
    banner.textContent = msg;
    banner.hidden = false;
    clearTimeout(report.timer);
    report.timer = setTimeout(() => { banner.hidden = true; }, 15_000);
  }

  const qs = (params) => new URLSearchParams(Object.entries(params).filter(([, v]) => v !== '' && v !== null && v !== undefined)).toString();

  // ---------------------------------------------------------------- header

  let lastSummary = null;
  function renderSummary(sum) {
    if (!sum || !sum.BOXES) return;
    lastSummary = sum;
    if (isNum(sum.NOW)) clockSkew = sum.NOW - Date.now() / 1000;
    const set = (key, text, title) => {
      const el = document.querySelector(`[data-summary="${key}"]`);
      el.textContent = text;
      if (title) el.title = title;
    };
    set('ONLINE', fmtNum(sum.BOXES.ONLINE));
    set('STALE', fmtNum(sum.BOXES.STALE));
    set('OFFLINE', fmtNum(sum.BOXES.OFFLINE));
    set('BYTES_HOUR', fmtBytes(sum.BYTES?.HOUR));
    set('BYTES_DAY', fmtBytes(sum.BYTES?.DAY));
    set('BYTES_TOTAL', fmtBytes(sum.BYTES?.TOTAL));
    set('OFFLOAD', fmtRatio(sum.OFFLOAD?.RATIO), `boxes ${fmtBytes(sum.OFFLOAD?.BOX_BYTES)}, origins ${fmtBytes(sum.OFFLOAD?.ORIGIN_BYTES)}`);
    set('PUBLISHERS', fmtNum(sum.PUBLISHERS));
    $('#summary').dataset.total = String(sum.BOXES.TOTAL ?? '');
  }

  // ---------------------------------------------------------------- fleet table

  /** Every BoxRow field, in order; `fmt` turns the value into text or a node. */
  const COLUMNS = [
    { key: 'ID', label: 'Box', fmt: (v) => boxLink(v) },
    { key: 'STATE', label: 'State', fmt: (v) => badge(v) },
    { key: 'LAST_SEEN', label: 'Last seen', fmt: (v) => fmtTime(v), title: (v) => fmtStamp(v) },
    { key: 'AGE', label: 'Age', fmt: (_v, row) => ageEl(row.LAST_SEEN), num: true },
    { key: 'PUBLIC_IP', label: 'Public IP', fmt: fmtText, mono: true },
    { key: 'CITY', label: 'City', fmt: fmtText },
    { key: 'COUNTRY', label: 'Country', fmt: fmtText },
    { key: 'LOC', label: 'Location', fmt: fmtLoc, mono: true, title: (v) => fmtText(v) },
    { key: 'VERSION', label: 'Version', fmt: fmtText, mono: true },
    { key: 'UPTIME', label: 'Uptime', fmt: fmtDurationShort, num: true, title: (v) => fmtDuration(v) },
    { key: 'CPU', label: 'CPU %', fmt: (v) => fmtNum(v, 1), num: true, long: 'CPU used, percent' },
    { key: 'MEM_USED_PCT', label: 'Mem. %', fmt: (v) => fmtNum(v, 1), num: true, long: 'Memory used, percent' },
    { key: 'DISK_AVAIL', label: 'Disk GB', fmt: (v) => fmtNum(v, 1), num: true, long: 'Free disk, GB' },
    { key: 'TEMPERATURE', label: 'Temp. °C', fmt: (v) => fmtNum(v, 1), num: true, long: 'Temperature, °C' },
    { key: 'BANDWIDTH_UP', label: 'Up Mbit/s', fmt: (v) => fmtNum(v, isNum(v) && v < 10 ? 1 : 0), num: true, long: 'Measured upload capacity, Mbit/s' },
    { key: 'BANDWIDTH_IDLE_UP', label: 'Idle Mbit/s', fmt: (v) => fmtNum(v, isNum(v) && v < 10 ? 1 : 0), num: true, long: 'Upload the household leaves idle now, Mbit/s' },
    { key: 'FILES_HELD', label: 'Files', fmt: (v) => fmtNum(v), num: true },
    { key: 'BYTES_HOUR', label: 'This hour', fmt: fmtBytes, num: true, long: 'Served this clock hour' },
    { key: 'BYTES_DAY', label: 'Today', fmt: fmtBytes, num: true, long: 'Served today (UTC)' },
    { key: 'BYTES_TOTAL', label: 'Served total', fmt: fmtBytes, num: true, long: 'Served, all time' },
  ];

  const table = { sort: 'ID', order: 'asc', q: '', state: '', page: 1, perPage: 50, total: 0, rows: [], seq: 0 };

  function buildTableHead() {
    const tr = $('#boxes-head');
    tr.replaceChildren();
    for (const col of COLUMNS) {
      const active = table.sort === col.key;
      const button = h('button', { type: 'button', class: 'sort', 'data-sort': col.key, title: col.long ? `${col.long}; sort by this column` : `Sort by ${col.label.toLowerCase()}` },
        col.label, h('span', { class: 'arrow', 'aria-hidden': 'true' }, active ? (table.order === 'asc' ? '▲' : '▼') : ''));
      tr.append(h('th', { scope: 'col', class: col.num ? 'num' : null, 'aria-sort': active ? (table.order === 'asc' ? 'ascending' : 'descending') : 'none' }, button));
    }
  }

  async function loadTable() {
    const seq = ++table.seq;
    const params = qs({ sort: table.sort, order: table.order, q: table.q, state: table.state, page: table.page, per_page: table.perPage });
    const body = await api(`boxes?${params}`);
    if (seq !== table.seq) return; // a newer request has been sent meanwhile
    table.total = isNum(body.TOTAL) ? body.TOTAL : 0;
    table.rows = Array.isArray(body.BOXES) ? body.BOXES : [];
    const pages = Math.max(1, Math.ceil(table.total / table.perPage));
    if (table.page > pages && table.total > 0) {
      table.page = pages; // the list shrank under us
      return loadTable();
    }
    renderTable(pages);
  }

  function renderTable(pages) {
    const tbody = $('#boxes tbody');
    if (table.rows.length === 0) {
      tbody.replaceChildren(h('tr', { class: 'empty' }, h('td', { colspan: COLUMNS.length }, table.q || table.state ? 'No box matches.' : 'No box has reported yet.')));
    } else {
      tbody.replaceChildren(...table.rows.map((row) => h('tr', { 'data-id': row.ID, 'data-state': row.STATE },
        COLUMNS.map((col) => h('td', { class: [col.num ? 'num' : '', col.mono ? 'mono' : ''].join(' ').trim() || null, 'data-col': col.key, title: col.title ? col.title(row[col.key]) : null }, col.fmt(row[col.key], row))))));
    }
    $('#page-info').textContent = `page ${table.page} of ${pages} · ${fmtNum(table.total)} box${table.total === 1 ? '' : 'es'}`;
    $('#page-prev').disabled = table.page <= 1;
    $('#page-next').disabled = table.page >= pages;
    const ids = $('#traffic-ids');
    if ($('#traffic-scope').value === 'box') ids.replaceChildren(...table.rows.map((r) => h('option', { value: r.ID })));
  }

  function wireTable() {
    buildTableHead();
    $('#boxes-head').addEventListener('click', (ev) => {
      const button = ev.target.closest('button[data-sort]');
      if (!button) return;
      const key = button.dataset.sort;
      if (table.sort === key) table.order = table.order === 'asc' ? 'desc' : 'asc';
      else { table.sort = key; table.order = COLUMNS.find((c) => c.key === key)?.num ? 'desc' : 'asc'; }
      table.page = 1;
      buildTableHead();
      $(`#boxes-head button[data-sort="${key}"]`).focus();
      loadTable().catch((err) => report('boxes', err));
    });
    let typing;
    $('#filter-q').addEventListener('input', (ev) => {
      clearTimeout(typing);
      typing = setTimeout(() => {
        table.q = ev.target.value.trim();
        table.page = 1;
        loadTable().catch((err) => report('boxes', err));
      }, 250);
    });
    $('#filter-state').addEventListener('change', (ev) => {
      table.state = ev.target.value;
      table.page = 1;
      loadTable().catch((err) => report('boxes', err));
    });
    $('#per-page').addEventListener('change', (ev) => {
      table.perPage = Number(ev.target.value);
      table.page = 1;
      loadTable().catch((err) => report('boxes', err));
    });
    $('#table-controls').addEventListener('submit', (ev) => ev.preventDefault());
    $('#page-prev').addEventListener('click', () => {
      if (table.page > 1) { table.page--; loadTable().catch((err) => report('boxes', err)); }
    });
    $('#page-next').addEventListener('click', () => {
      table.page++;
      loadTable().catch((err) => report('boxes', err));
    });
  }

  // ---------------------------------------------------------------- map

  const project = (lon, lat) => [((lon + 180) / 360) * MAP_W, ((90 - lat) / 180) * MAP_H];
  const r1 = (v) => Math.round(v * 10) / 10;

  /**
   * SVG path data of a ring of [lon, lat] points. A ring that crosses the antimeridian is cut there
   * (so no stripe runs across the whole map), and a ring around a pole is closed along that pole.
   */
  function ringPath(ring) {
    const pts = ring.length > 1 && ring[0][0] === ring[ring.length - 1][0] && ring[0][1] === ring[ring.length - 1][1] ? ring.slice(0, -1) : ring.slice();
    const n = pts.length;
    if (n < 3) return '';
    const jumps = [];
    for (let i = 0; i < n; i++) if (Math.abs(pts[(i + 1) % n][0] - pts[i][0]) > 180) jumps.push(i);
    if (jumps.length === 0) return `M${pts.map(([lon, lat]) => project(lon, lat).map(r1).join(',')).join('L')}Z`;
    // Start just after a crossing, so each piece begins and ends on an edge of the map.
    const start = (jumps[0] + 1) % n;
    const seq = pts.slice(start).concat(pts.slice(0, start));
    const edgeLat = (a, b) => {
      const aLon = a[0];
      const bLon = b[0] + (b[0] < aLon ? 360 : -360); // b moved next to a, across the line
      const edge = aLon > 0 ? 180 : -180;
      const f = bLon === aLon ? 0 : (edge - aLon) / (bLon - aLon); // both on the line itself: no slope
      return [edge, a[1] + f * (b[1] - a[1])];
    };
    let d = '';
    let piece = [];
    const prev = seq[n - 1];
    piece.push(edgeLat(seq[0], prev));
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
        d += `M${piece.map(([lon, lat]) => project(lon, lat).map(r1).join(',')).join('L')}Z`;
        piece = [edgeLat(b, a)];
      }
    }
    return d;
  }

  function geometryPath(geom) {
    if (!geom) return '';
    if (geom.type === 'Polygon') return geom.coordinates.map(ringPath).join('');
    if (geom.type === 'MultiPolygon') return geom.coordinates.map((poly) => poly.map(ringPath).join('')).join('');
    return '';
  }

  async function drawCountries() {
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
  const MAP_LAYERS = ['offline', 'stale', 'online'];

  async function loadMap() {
    const seq = ++map.seq;
    const body = await api('map');
    if (seq !== map.seq) return;
    const boxes = Array.isArray(body.BOXES) ? body.BOXES : [];
    const layers = $('#map-dots');
    if (layers.childElementCount === 0) {
      // Offline under stale under online, so a live box is never hidden behind a dead one.
      for (const st of MAP_LAYERS) layers.append(s('g', { 'data-layer': st }));
    }
    const seen = new Set();
    for (const b of boxes) {
      if (!isNum(b.LAT) || !isNum(b.LON) || typeof b.ID !== 'string') continue;
      seen.add(b.ID);
      const st = MAP_LAYERS.includes(b.STATE) ? b.STATE : 'offline';
      const [x, y] = project(b.LON, b.LAT);
      const label = `${b.ID}${b.CITY ? ` · ${b.CITY}` : ''} (${b.STATE})`;
      const key = `${r1(x)},${r1(y)},${st},${label}`;
      let dot = map.dots.get(b.ID);
      if (dot && dot.key === key) continue;
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
    for (const [id, dot] of map.dots) {
      if (!seen.has(id)) {
        dot.link.remove();
        map.dots.delete(id);
      }
    }
    $('#map').dataset.boxes = String(map.dots.size);
    $('#map-note').textContent = `${map.dots.size} box${map.dots.size === 1 ? '' : 'es'} with a known place.`;
  }

  function wireMapTip() {
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

  // ---------------------------------------------------------------- charts

  const RANGES = {
    hour: { resolution: 'minute', span: 3600, step: 60 },
    day: { resolution: 'hour', span: 86400, step: 3600 },
    month: { resolution: 'day', span: 30 * 86400, step: 86400 },
  };

  /** A round number ≥ max for the top of an axis (1, 2, 2.5, 5 × 10^n). */
  function niceMax(max) {
    if (!(max > 0)) return 1;
    const p = 10 ** Math.floor(Math.log10(max));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= max) return m * p;
    return 10 * p;
  }

  /**
   * Draws `values` (numbers or null, one per time in `times`) into `svg` as bars or a line, with a
   * y axis, time labels and a hover readout. Sets data-points to exactly the numbers drawn.
   * Bars sit in equal slots (a zero-filled series). A line is placed by time over `domain` [from, to]
   * when given (readings may be missing), and breaks where readings are more than `gap` s apart.
   */
  function drawChart(svg, { times, values, kind = 'bars', format = fmtNum, label = '', withDate = false, yMax: fixedMax, domain, gap = Infinity }) {
    const W = 600;
    const H = 220;
    const pad = { l: 64, r: 12, t: 12, b: 28 };
    const iw = W - pad.l - pad.r;
    const ih = H - pad.t - pad.b;
    svg.setAttribute('data-points', JSON.stringify(values));
    svg.setAttribute('data-times', JSON.stringify(times));
    const nums = values.filter(isNum);
    const yMax = fixedMax ?? niceMax(Math.max(0, ...nums));
    const n = values.length;
    const slot = iw / Math.max(1, n);
    const byTime = kind !== 'bars' && Array.isArray(domain) && domain[1] > domain[0];
    const xOfTime = (tm) => pad.l + ((tm - domain[0]) / (domain[1] - domain[0])) * iw;
    let xAt;
    let indexAt;
    if (kind === 'bars') {
      xAt = (i) => pad.l + (i + 0.5) * slot;
      indexAt = (x) => Math.floor((x - pad.l) / slot);
    } else if (byTime) {
      xAt = (i) => xOfTime(times[i]);
      indexAt = (x) => {
        // The reading nearest in time to the pointer.
        const tm = domain[0] + ((x - pad.l) / iw) * (domain[1] - domain[0]);
        let best = 0;
        for (let i = 1; i < n; i++) if (Math.abs(times[i] - tm) < Math.abs(times[best] - tm)) best = i;
        return best;
      };
    } else {
      xAt = (i) => pad.l + (n <= 1 ? iw / 2 : (i / (n - 1)) * iw);
      indexAt = (x) => Math.round(((x - pad.l) / iw) * (n - 1));
    }
    const yAt = (v) => pad.t + ih - (Math.max(0, v) / yMax) * ih;
    const parts = [];
    for (let k = 0; k <= 4; k++) {
      const v = (yMax * k) / 4;
      const y = yAt(v);
      parts.push(s('line', { class: 'grid', x1: pad.l, x2: W - pad.r, y1: r1(y), y2: r1(y) }));
      parts.push(s('text', { class: 'axis', x: pad.l - 6, y: r1(y + 4), 'text-anchor': 'end' }, format(v)));
    }
    if (byTime) {
      const [t0, t1] = domain;
      for (const [tm, anchor] of [[t0, 'start'], [(t0 + t1) / 2, 'middle'], [t1, 'end']]) {
        parts.push(s('text', { class: 'axis', x: r1(xOfTime(tm)), y: H - 8, 'text-anchor': anchor }, fmtTime(tm, withDate)));
      }
    } else if (n > 0) {
      for (const i of [...new Set([0, Math.floor((n - 1) / 2), n - 1])]) {
        parts.push(s('text', { class: 'axis', x: r1(xAt(i)), y: H - 8, 'text-anchor': i === 0 ? 'start' : i === n - 1 ? 'end' : 'middle' }, fmtTime(times[i], withDate)));
      }
    }
    if (kind === 'bars') {
      const bw = Math.max(1, slot * 0.8);
      values.forEach((v, i) => {
        if (!isNum(v) || v <= 0) return;
        parts.push(s('rect', { class: 'bar', x: r1(xAt(i) - bw / 2), y: r1(yAt(v)), width: r1(bw), height: r1(Math.max(1, pad.t + ih - yAt(v))) }));
      });
    } else {
      let d = '';
      let pen = false;
      let lone = [];
      values.forEach((v, i) => {
        if (!isNum(v)) { pen = false; return; }
        if (pen && times[i] - times[i - 1] > gap) pen = false; // the box was silent: no line across
        if (!pen) lone.push(i);
        else if (lone[lone.length - 1] === i - 1) lone.pop();
        d += `${pen ? 'L' : 'M'}${r1(xAt(i))},${r1(yAt(v))}`;
        pen = true;
      });
      if (d) parts.push(s('path', { class: 'line', d }));
      // A reading with no neighbour draws no line: show it as a point.
      for (const i of lone) parts.push(s('circle', { class: 'point', cx: r1(xAt(i)), cy: r1(yAt(values[i])), r: 2.5 }));
    }
    const cursor = s('line', { class: 'cursor', x1: 0, x2: 0, y1: pad.t, y2: pad.t + ih, visibility: 'hidden' });
    const readout = s('text', { class: 'readout', x: W - pad.r, y: pad.t + 10, 'text-anchor': 'end' }, '');
    const hit = s('rect', { class: 'hit', x: pad.l, y: pad.t, width: iw, height: ih });
    parts.push(cursor, readout, hit);
    if (n === 0 || nums.length === 0) parts.push(s('text', { class: 'axis empty', x: pad.l + iw / 2, y: pad.t + ih / 2, 'text-anchor': 'middle' }, n === 0 ? 'no data' : 'no readings'));
    svg.replaceChildren(s('title', {}, label), ...parts);
    hit.addEventListener('mousemove', (ev) => {
      const m = hit.getScreenCTM();
      if (!m || n === 0) return;
      const x = (ev.clientX - m.e) / m.a;
      const i = Math.max(0, Math.min(n - 1, indexAt(x)));
      cursor.setAttribute('x1', r1(xAt(i)));
      cursor.setAttribute('x2', r1(xAt(i)));
      cursor.setAttribute('visibility', 'visible');
      readout.textContent = `${fmtTime(times[i], true)}: ${isNum(values[i]) ? format(values[i]) : 'no reading'}`;
    });
    hit.addEventListener('mouseleave', () => {
      cursor.setAttribute('visibility', 'hidden');
      readout.textContent = '';
    });
  }

  /** Fetches /api/traffic for the scope and range and draws its bytes into `svg`. */
  async function loadTrafficInto(svg, { scope, id, range }) {
    const r = RANGES[range] ?? RANGES.hour;
    const to = Math.floor(serverNow());
    const src = `traffic?${qs({ scope, id: scope === 'fleet' ? '' : id, resolution: r.resolution, from: to - r.span + r.step, to })}`;
    svg.dataset.loading = src;
    const body = await api(src);
    if (svg.dataset.loading !== src) return null; // superseded
    const points = Array.isArray(body.POINTS) ? body.POINTS : [];
    drawChart(svg, { times: points.map((p) => p.t), values: points.map((p) => p.bytes), kind: 'bars', format: fmtBytes, withDate: { hour: false, day: true, month: 'only' }[range] ?? false, label: 'Bytes served per bucket' });
    svg.dataset.src = API + src;
    return points;
  }

  const traffic = { scope: 'fleet', id: '', range: 'hour' };
  async function loadTraffic() {
    const caption = $('#traffic-caption');
    if (traffic.scope !== 'fleet' && !traffic.id) {
      drawChart($('#traffic-chart'), { times: [], values: [], format: fmtBytes });
      caption.textContent = `Choose a ${traffic.scope} ID.`;
      return;
    }
    const points = await loadTrafficInto($('#traffic-chart'), traffic);
    if (!points) return;
    const total = points.reduce((a, p) => a + (isNum(p.bytes) ? p.bytes : 0), 0);
    const requests = points.reduce((a, p) => a + (isNum(p.requests) ? p.requests : 0), 0);
    const who = traffic.scope === 'fleet' ? 'the whole fleet' : `${traffic.scope} ${traffic.id}`;
    caption.textContent = `${fmtBytes(total)} in ${fmtNum(requests)} requests by ${who}.`;
  }

  function wireTraffic() {
    const reload = () => loadTraffic().catch((err) => report('traffic', err));
    $('#traffic-scope').addEventListener('change', (ev) => {
      traffic.scope = ev.target.value;
      $('#traffic-id-label').hidden = traffic.scope === 'fleet';
      const ids = traffic.scope === 'box' ? table.rows.map((r) => r.ID) : publisherIds;
      $('#traffic-ids').replaceChildren(...ids.map((id) => h('option', { value: id })));
      traffic.id = '';
      $('#traffic-id').value = '';
      if (traffic.scope !== 'fleet') $('#traffic-id').focus();
      reload();
    });
    $('#traffic-id').addEventListener('change', (ev) => {
      traffic.id = ev.target.value.trim();
      reload();
    });
    $('#traffic-range').addEventListener('change', (ev) => {
      traffic.range = ev.target.value;
      reload();
    });
    $('#traffic-controls').addEventListener('submit', (ev) => {
      ev.preventDefault();
      traffic.id = $('#traffic-id').value.trim();
      reload();
    });
  }

  // ---------------------------------------------------------------- publishers

  let publisherIds = [];
  async function loadPublishers() {
    const body = await api('publishers');
    const list = Array.isArray(body.PUBLISHERS) ? body.PUBLISHERS : [];
    publisherIds = list.map((p) => p.ID);
    const tbody = $('#publishers tbody');
    if (list.length === 0) {
      tbody.replaceChildren(h('tr', { class: 'empty' }, h('td', { colspan: 6 }, 'No publisher has searched for boxes yet.')));
      return;
    }
    tbody.replaceChildren(...list.map((p) => {
      const boxes = Array.isArray(p.BOXES) ? p.BOXES.slice().sort((a, b) => (b.bytes ?? 0) - (a.bytes ?? 0)) : [];
      const shown = boxes.slice(0, 12);
      return h('tr', { 'data-id': p.ID },
        h('th', { scope: 'row', class: 'mono' }, p.ID),
        h('td', {}, ageEl(p.LAST_SEEN)),
        h('td', { class: 'num' }, fmtBytes(p.ORIGIN_BYTES)),
        h('td', { class: 'num' }, fmtBytes(p.BOX_BYTES)),
        h('td', { class: 'num' }, ratioBar(p.OFFLOAD)),
        h('td', {}, boxes.length === 0 ? DASH : h('ul', { class: 'chips' },
          shown.map((b) => h('li', {}, boxLink(b.box), ' ', h('span', { class: 'muted' }, fmtBytes(b.bytes)))),
          boxes.length > shown.length ? h('li', { class: 'muted' }, `+${boxes.length - shown.length} more`) : null)));
    }));
    if ($('#traffic-scope').value === 'publisher') $('#traffic-ids').replaceChildren(...publisherIds.map((id) => h('option', { value: id })));
  }
  function ratioBar(r) {
    if (!isNum(r)) return DASH;
    const pct = Math.max(0, Math.min(100, r * 100));
    // Set through the CSSOM: the page's Content-Security-Policy refuses style attributes.
    const fill = h('span');
    fill.style.width = `${pct.toFixed(1)}%`;
    return h('span', { class: 'ratio' }, h('span', { class: 'ratio-bar', 'aria-hidden': 'true' }, fill), fmtRatio(r));
  }

  // ---------------------------------------------------------------- enrolment

  let csrfToken = '';
  async function post(path, body) {
    const res = await fetch(API + path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { accept: 'application/json', 'content-type': 'application/json', 'x-csrf-token': csrfToken },
      body: JSON.stringify(body ?? {}),
    });
    if (res.status === 401) {
      sessionLost();
      throw new HttpError(401, 'not logged in');
    }
    let reply = null;
    try { reply = await res.json(); } catch { /* intentional: the status says enough */ }
    if (!res.ok) throw new HttpError(res.status, (reply && reply.ERROR) || `HTTP ${res.status}`);
    return reply;
  }

  const fmtWhen = (s) => (isNum(s) && s > 0 ? new Date(s * 1000).toISOString().replace('T', ' ').replace(/:\d\d\.\d+Z$/, ' UTC') : 'never');

  function actionButton(label, path, confirmText) {
    const b = h('button', { type: 'button', class: 'button small', 'data-action': path }, label);
    b.addEventListener('click', () => {
      if (confirmText && !window.confirm(confirmText)) return;
      b.disabled = true;
      post(path).then(loadEnrolment, (err) => report(label, err)).finally(() => { b.disabled = false; });
    });
    return b;
  }

  async function loadEnrolment() {
    const body = await api('enrolment');
    $('#enrolment-mode').textContent = body.REQUIRE_ENROLMENT
      ? 'Boxes must enrol with a fleet token (REQUIRE_ENROLMENT: true).'
      : 'REQUIRE_ENROLMENT is false: boxes without credentials are accepted too (development only).';
    const boxes = Array.isArray(body.BOXES) ? body.BOXES : [];
    const pending = Array.isArray(body.PENDING) ? body.PENDING : [];
    const enc = encodeURIComponent;
    const rows = [
      ...boxes.map((b) => h('tr', { 'data-id': b.ID, 'data-state': b.STATE },
        h('th', { scope: 'row', class: 'mono' }, boxLink(b.ID)),
        h('td', {}, h('span', { class: `state ${b.STATE === 'revoked' ? 'offline' : 'online'}` }, b.STATE)),
        h('td', { class: 'mono' }, b.FINGERPRINT),
        h('td', { class: 'mono' }, b.IP || DASH),
        h('td', {}, fmtWhen(b.STATE === 'revoked' ? b.REVOKED_AT : b.ENROLLED_AT)),
        h('td', {}, b.STATE === 'revoked'
          ? [actionButton('Restore', `boxes/${enc(b.ID)}/restore`), ' ', actionButton('Forget', `boxes/${enc(b.ID)}/forget`, `Forget ${b.ID}? It will need a fleet token to come back.`)]
          : actionButton('Revoke', `boxes/${enc(b.ID)}/revoke`, `Revoke ${b.ID}? It is refused from its next heartbeat on.`)))),
      ...pending.map((p) => h('tr', { 'data-id': p.ID, 'data-state': 'pending' },
        h('th', { scope: 'row', class: 'mono' }, p.ID),
        h('td', {}, h('span', { class: 'state stale' }, 'pending')),
        h('td', {}, p.REASON),
        h('td', { class: 'mono' }, p.IP || DASH),
        h('td', {}, fmtWhen(p.SEEN)),
        h('td', {}, DASH))),
    ];
    $('#enrolled-boxes tbody').replaceChildren(...(rows.length ? rows : [h('tr', { class: 'empty' }, h('td', { colspan: 6 }, 'No box has enrolled or tried to.'))]));
    const tokens = Array.isArray(body.TOKENS) ? body.TOKENS : [];
    const nowS = Date.now() / 1000;
    $('#fleet-tokens tbody').replaceChildren(...(tokens.length ? tokens.map((t) => {
      const state = t.REVOKED ? 'revoked' : t.EXPIRES > 0 && t.EXPIRES <= nowS ? 'expired' : t.USES >= t.MAX_USES ? 'used up' : 'active';
      return h('tr', { 'data-id': t.ID },
        h('th', { scope: 'row', class: 'mono' }, t.ID),
        h('td', { class: 'num' }, `${t.USES} / ${t.MAX_USES}`),
        h('td', {}, fmtWhen(t.EXPIRES)),
        h('td', {}, t.NOTE || DASH),
        h('td', {}, state),
        h('td', {}, state === 'active' ? actionButton('Revoke', `tokens/${t.ID}/revoke`, `Revoke token ${t.ID}? Boxes it enrolled stay enrolled.`) : DASH));
    }) : [h('tr', { class: 'empty' }, h('td', { colspan: 6 }, 'No fleet tokens yet.'))]));
  }

  function wireEnrolment() {
    $('#token-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const button = $('#token-create');
      button.disabled = true;
      post('tokens', { EXPIRES: $('#token-expires').value, USES: Number($('#token-uses').value), NOTE: $('#token-note').value })
        .then((created) => {
          $('#new-token-value').textContent = created.TOKEN;
          $('#new-token').hidden = false;
          return loadEnrolment();
        }, (err) => report('token', err))
        .finally(() => { button.disabled = false; });
    });
  }

  // ---------------------------------------------------------------- box page

  const boxPage = { id: null, seq: 0, range: 'hour' };

  const DETAIL_FIELDS = COLUMNS.filter((c) => c.key !== 'ID');

  async function loadBox() {
    const id = boxPage.id;
    if (!id) return;
    const seq = ++boxPage.seq;
    let body;
    try {
      body = await api(`boxes/${encodeURIComponent(id)}`);
    } catch (err) {
      if (err.status === 404 || err.status === 400) { // unknown, or not a box ID at all
        $('#box-title').replaceChildren(`Box ${id}`, ' ', h('span', { class: 'badge state-unknown' }, 'unknown'));
        $('#box-details').replaceChildren(h('p', {}, 'This entrance does not know this box (never seen, or forgotten after its history expired).'));
        return;
      }
      throw err;
    }
    if (seq !== boxPage.seq) return;
    const row = body.BOX ?? {};
    $('#box-title').replaceChildren(`Box ${row.ID ?? id} `, badge(row.STATE));
    document.title = `${row.ID ?? id} · Dandelion`;
    $('#box-details').replaceChildren(...DETAIL_FIELDS.flatMap((col) => [h('dt', {}, col.long ?? col.label), h('dd', { 'data-field': col.key }, col.fmt(row[col.key], row))]));
    const pubs = Array.isArray(body.PUBLISHERS) ? body.PUBLISHERS : [];
    $('#box-publishers').replaceChildren(...(pubs.length ? pubs.map((p) => h('li', {}, h('span', { class: 'mono' }, p.publisher), ' ', h('span', { class: 'muted' }, fmtBytes(p.bytes)))) : [h('li', { class: 'muted' }, 'none yet')]));
    renderExchange(body.EXCHANGE);
    await Promise.all([loadBoxHistory(id), loadTrafficInto($('#box-traffic-chart'), { scope: 'box', id, range: boxPage.range })]);
  }

  /** The exchange as the box sent it, one field a line; lists (traffic records) only counted. */
  function renderExchange(ex) {
    const dl = $('#box-exchange');
    if (!ex || typeof ex !== 'object') {
      dl.replaceChildren(h('div', {}, h('dt', {}, 'none'), h('dd', {}, 'No exchange kept for this box.')));
      return;
    }
    dl.replaceChildren(...Object.keys(ex).sort().map((k) => {
      const v = ex[k];
      let text;
      if (Array.isArray(v)) text = `${v.length} item${v.length === 1 ? '' : 's'}`;
      else if (v && typeof v === 'object') text = JSON.stringify(v);
      else text = fmtText(v);
      return h('div', { 'data-field': k }, h('dt', { class: 'mono' }, k), h('dd', { class: 'mono' }, text));
    }));
  }

  /** The history charts show the API's default span, one reading a minute; a longer silence breaks the line. */
  const HISTORY_SPAN_S = 6 * 3600;
  const HISTORY_GAP_S = 150;
  const HISTORY_CHARTS = [
    { key: 'CPU', title: 'CPU used', format: (v) => `${fmtNum(v)} %`, yMax: 100 },
    { key: 'MEM_USED_PCT', title: 'Memory used', format: (v) => `${fmtNum(v)} %`, yMax: 100 },
    { key: 'TEMPERATURE', title: 'Temperature', format: (v) => `${fmtNum(v)} °C`, optional: true },
    { key: 'BANDWIDTH_IDLE_UP', title: 'Idle upload', format: (v) => `${fmtNum(v, v < 10 ? 1 : 0)} Mbit/s` },
  ];

  async function loadBoxHistory(id) {
    const to = Math.floor(serverNow());
    const from = to - HISTORY_SPAN_S;
    const src = `boxes/${encodeURIComponent(id)}/history?${qs({ from, to })}`;
    const body = await api(src);
    if (boxPage.id !== id) return;
    const points = Array.isArray(body.POINTS) ? body.POINTS : [];
    const times = points.map((p) => p.t);
    const holder = $('#box-history');
    const figures = [];
    for (const c of HISTORY_CHARTS) {
      const values = points.map((p) => (isNum(p[c.key]) ? p[c.key] : null));
      if (c.optional && !values.some(isNum)) continue; // this box has no such sensor
      const svg = s('svg', { class: 'chart', viewBox: '0 0 600 220', role: 'img', 'aria-label': `${c.title}, last 6 hours`, 'data-key': c.key, id: `history-${c.key}` });
      drawChart(svg, { times, values, kind: 'line', format: c.format, label: c.title, yMax: c.yMax, domain: [from, to], gap: HISTORY_GAP_S });
      svg.dataset.src = API + src;
      figures.push(h('figure', { class: 'chart-box' }, h('figcaption', {}, c.title), svg));
    }
    holder.replaceChildren(...figures);
  }

  // ---------------------------------------------------------------- routing

  function route() {
    const m = /^#\/box\/(.+)$/.exec(location.hash);
    const fleet = $('#fleet-view');
    const box = $('#box-view');
    if (m) {
      let id;
      try { id = decodeURIComponent(m[1]); } catch { id = m[1]; }
      fleet.hidden = true;
      box.hidden = false;
      if (boxPage.id !== id) {
        boxPage.id = id;
        $('#box-title').textContent = `Box ${id}`;
        $('#box-details').replaceChildren();
        $('#box-history').replaceChildren();
        $('#box-exchange').replaceChildren();
        $('#box-publishers').replaceChildren();
        drawChart($('#box-traffic-chart'), { times: [], values: [], format: fmtBytes });
        delete $('#box-traffic-chart').dataset.src;
      }
      $('#main').focus({ preventScroll: true });
      window.scrollTo(0, 0);
      loadBox().catch((err) => report('box', err));
    } else {
      boxPage.id = null;
      box.hidden = true;
      fleet.hidden = false;
      document.title = 'Dandelion dashboard';
      refreshFleet();
    }
  }

  function refreshFleet() {
    return Promise.all([
      loadTable().catch((err) => report('boxes', err)),
      loadMap().catch((err) => report('map', err)),
      loadTraffic().catch((err) => report('traffic', err)),
      loadPublishers().catch((err) => report('publishers', err)),
      loadEnrolment().catch((err) => report('enrolment', err)),
    ]);
  }

  // ---------------------------------------------------------------- live updates

  let summaries = 0;
  let lastBytesTotal = null;
  let boxesTimer = null;

  function onSummary(sum) {
    renderSummary(sum);
    summaries++;
    const bytesMoved = lastBytesTotal !== null && sum.BYTES && sum.BYTES.TOTAL !== lastBytesTotal;
    lastBytesTotal = sum.BYTES ? sum.BYTES.TOTAL : null;
    const periodic = summaries % REFRESH_EVERY_SUMMARIES === 0;
    if (boxPage.id) {
      if (periodic || bytesMoved) loadBox().catch((err) => report('box', err));
      return;
    }
    if (periodic) {
      loadTable().catch((err) => report('boxes', err));
      loadEnrolment().catch((err) => report('enrolment', err));
    }
    if (periodic || bytesMoved) {
      loadTraffic().catch((err) => report('traffic', err));
      loadPublishers().catch((err) => report('publishers', err));
    }
  }

  function onBoxes(changed) {
    // Several boxes often change together (a sweep, a restart): one refetch for a burst.
    clearTimeout(boxesTimer);
    boxesTimer = setTimeout(() => {
      if (boxPage.id) {
        if (!Array.isArray(changed) || changed.includes(boxPage.id)) loadBox().catch((err) => report('box', err));
        return;
      }
      loadTable().catch((err) => report('boxes', err));
      loadMap().catch((err) => report('map', err));
    }, 150);
  }

  function connectEvents() {
    const live = $('#live-status');
    const es = new EventSource(`${API}events`, { withCredentials: true });
    const keep = (type, data) => {
      debug.events.push({ type, at: Date.now(), data });
      if (debug.events.length > MAX_EVENTS_KEPT) debug.events.shift();
    };
    const parse = (ev) => {
      try { return JSON.parse(ev.data); } catch { return null; }
    };
    es.addEventListener('open', () => {
      live.textContent = 'live';
      live.className = 'live on';
    });
    es.addEventListener('summary', (ev) => {
      const sum = parse(ev);
      keep('summary', sum);
      if (sum) onSummary(sum);
    });
    es.addEventListener('boxes', (ev) => {
      const body = parse(ev);
      keep('boxes', body);
      onBoxes(body && body.CHANGED);
    });
    es.addEventListener('error', () => {
      live.textContent = es.readyState === EventSource.CLOSED ? 'offline' : 'reconnecting…';
      live.className = 'live off';
      // EventSource retries by itself, except after an HTTP error: find out whether the session ended.
      if (es.readyState === EventSource.CLOSED) {
        api('session').then(() => setTimeout(connectEvents, 3_000), () => setTimeout(connectEvents, 10_000));
      }
    });
  }

  // ---------------------------------------------------------------- start

  async function start() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    let csrf = meta ? meta.getAttribute('content') : '';
    const session = await api('session');
    if (!csrf && session && session.CSRF) csrf = session.CSRF;
    $('#logout-form input[name="csrf"]').value = csrf ?? '';
    csrfToken = csrf ?? '';
    $('#user-name').textContent = session && session.USERNAME ? session.USERNAME : '';

    wireTable();
    wireTraffic();
    wireEnrolment();
    wireMapTip();
    $('#box-traffic-range').addEventListener('change', (ev) => {
      boxPage.range = ev.target.value;
      if (boxPage.id) loadTrafficInto($('#box-traffic-chart'), { scope: 'box', id: boxPage.id, range: boxPage.range }).catch((err) => report('traffic', err));
    });
    window.addEventListener('hashchange', route);
    setInterval(tickAges, 1_000);

    renderSummary(await api('summary').catch((err) => report('summary', err)));
    await Promise.all([drawCountries().catch((err) => report('map outlines', err)), Promise.resolve().then(route)]);
    connectEvents();
    debug.loaded = true;
  }

  start().catch((err) => report('start', err));
})();
