/*
 * One SVG chart routine for every chart on the page: the traffic bars and the box's history lines.
 * The <svg> gets data-points (exactly the numbers drawn) and data-times, which tests read.
 */
import { r1, s } from './dom.js';
import { fmtNum, fmtTime, isNum } from './format.js';

// The charts' viewBox is 0 0 600 220; the plot sits inside these margins (the y labels take the left).
const W = 600;
const H = 220;
const PAD = { l: 64, r: 12, t: 12, b: 28 };
const IW = W - PAD.l - PAD.r;
const IH = H - PAD.t - PAD.b;

/** A round number ≥ max for the top of an axis (1, 2, 2.5, 5 × 10^n). */
function niceMax(max) {
  if (!(max > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

/**
 * Where the i-th value sits (xAt) and which value an x is nearest (indexAt). Bars sit in equal slots;
 * a line is placed by time over `domain` when given, else spread evenly.
 */
function xScale(kind, times, n, domain) {
  const slot = IW / Math.max(1, n);
  const byTime = kind !== 'bars' && Array.isArray(domain) && domain[1] > domain[0];
  const xOfTime = (tm) => PAD.l + ((tm - domain[0]) / (domain[1] - domain[0])) * IW;
  if (kind === 'bars') return { slot, byTime, xOfTime, xAt: (i) => PAD.l + (i + 0.5) * slot, indexAt: (x) => Math.floor((x - PAD.l) / slot) };
  if (!byTime) return { slot, byTime, xOfTime, xAt: (i) => PAD.l + (n <= 1 ? IW / 2 : (i / (n - 1)) * IW), indexAt: (x) => Math.round(((x - PAD.l) / IW) * (n - 1)) };
  const indexAt = (x) => {
    // The reading nearest in time to the pointer.
    const tm = domain[0] + ((x - PAD.l) / IW) * (domain[1] - domain[0]);
    let best = 0;
    for (let i = 1; i < n; i++) if (Math.abs(times[i] - tm) < Math.abs(times[best] - tm)) best = i;
    return best;
  };
  return { slot, byTime, xOfTime, xAt: (i) => xOfTime(times[i]), indexAt };
}

/** Grid lines with y labels, and time labels at the start, middle and end. */
function axisParts({ yMax, yAt, format, x, times, n, withDate, domain }) {
  const parts = [];
  for (let k = 0; k <= 4; k++) {
    const v = (yMax * k) / 4;
    const y = yAt(v);
    parts.push(s('line', { class: 'grid', x1: PAD.l, x2: W - PAD.r, y1: r1(y), y2: r1(y) }));
    parts.push(s('text', { class: 'axis', x: PAD.l - 6, y: r1(y + 4), 'text-anchor': 'end' }, format(v)));
  }
  if (x.byTime) {
    const [t0, t1] = domain;
    for (const [tm, anchor] of [[t0, 'start'], [(t0 + t1) / 2, 'middle'], [t1, 'end']]) {
      parts.push(s('text', { class: 'axis', x: r1(x.xOfTime(tm)), y: H - 8, 'text-anchor': anchor }, fmtTime(tm, withDate)));
    }
  } else if (n > 0) {
    for (const i of [...new Set([0, Math.floor((n - 1) / 2), n - 1])]) {
      parts.push(s('text', { class: 'axis', x: r1(x.xAt(i)), y: H - 8, 'text-anchor': i === 0 ? 'start' : i === n - 1 ? 'end' : 'middle' }, fmtTime(times[i], withDate)));
    }
  }
  return parts;
}

function barParts(values, x, yAt) {
  const bw = Math.max(1, x.slot * 0.8);
  const parts = [];
  values.forEach((v, i) => {
    if (!isNum(v) || v <= 0) return;
    parts.push(s('rect', { class: 'bar', x: r1(x.xAt(i) - bw / 2), y: r1(yAt(v)), width: r1(bw), height: r1(Math.max(1, PAD.t + IH - yAt(v))) }));
  });
  return parts;
}

/** A line through the readings, broken where none came for more than `gap` s; a lone reading is a point. */
function lineParts(values, times, x, yAt, gap) {
  let d = '';
  let pen = false;
  const lone = [];
  values.forEach((v, i) => {
    if (!isNum(v)) { pen = false; return; }
    if (pen && times[i] - times[i - 1] > gap) pen = false; // the box was silent: no line across
    if (!pen) lone.push(i);
    else if (lone[lone.length - 1] === i - 1) lone.pop();
    d += `${pen ? 'L' : 'M'}${r1(x.xAt(i))},${r1(yAt(v))}`;
    pen = true;
  });
  const parts = d ? [s('path', { class: 'line', d })] : [];
  for (const i of lone) parts.push(s('circle', { class: 'point', cx: r1(x.xAt(i)), cy: r1(yAt(values[i])), r: 2.5 }));
  return parts;
}

/** The hover readout: a cursor on the value under the pointer, and its time and value top right. */
function readoutParts({ x, times, values, format }) {
  const n = values.length;
  const cursor = s('line', { class: 'cursor', x1: 0, x2: 0, y1: PAD.t, y2: PAD.t + IH, visibility: 'hidden' });
  const readout = s('text', { class: 'readout', x: W - PAD.r, y: PAD.t + 10, 'text-anchor': 'end' }, '');
  const hit = s('rect', { class: 'hit', x: PAD.l, y: PAD.t, width: IW, height: IH });
  hit.addEventListener('mousemove', (ev) => {
    const m = hit.getScreenCTM();
    if (!m || n === 0) return;
    const i = Math.max(0, Math.min(n - 1, x.indexAt((ev.clientX - m.e) / m.a)));
    cursor.setAttribute('x1', r1(x.xAt(i)));
    cursor.setAttribute('x2', r1(x.xAt(i)));
    cursor.setAttribute('visibility', 'visible');
    readout.textContent = `${fmtTime(times[i], true)}: ${isNum(values[i]) ? format(values[i]) : 'no reading'}`;
  });
  hit.addEventListener('mouseleave', () => {
    cursor.setAttribute('visibility', 'hidden');
    readout.textContent = '';
  });
  return [cursor, readout, hit];
}

/**
 * Draws `values` (numbers or null, one per time in `times`) into `svg` as bars or a line, with a
 * y axis, time labels and a hover readout. Sets data-points to exactly the numbers drawn.
 * Bars sit in equal slots (a zero-filled series). A line is placed by time over `domain` [from, to]
 * when given (readings may be missing), and breaks where readings are more than `gap` s apart.
 */
export function drawChart(svg, { times, values, kind = 'bars', format = fmtNum, label = '', withDate = false, yMax: fixedMax, domain, gap = Infinity }) {
  svg.setAttribute('data-points', JSON.stringify(values));
  svg.setAttribute('data-times', JSON.stringify(times));
  const nums = values.filter(isNum);
  const yMax = fixedMax ?? niceMax(Math.max(0, ...nums));
  const n = values.length;
  const x = xScale(kind, times, n, domain);
  const yAt = (v) => PAD.t + IH - (Math.max(0, v) / yMax) * IH;
  const parts = [
    ...axisParts({ yMax, yAt, format, x, times, n, withDate, domain }),
    ...(kind === 'bars' ? barParts(values, x, yAt) : lineParts(values, times, x, yAt, gap)),
    ...readoutParts({ x, times, values, format }),
  ];
  if (n === 0 || nums.length === 0) parts.push(s('text', { class: 'axis empty', x: PAD.l + IW / 2, y: PAD.t + IH / 2, 'text-anchor': 'middle' }, n === 0 ? 'no data' : 'no readings'));
  svg.replaceChildren(s('title', {}, label), ...parts);
}
