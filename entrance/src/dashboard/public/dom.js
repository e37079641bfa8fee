/*
 * Building page elements. Everything a box reports (IDs, cities, versions…) is untrusted text: it
 * reaches the page only through these helpers, as text nodes and attributes, never through innerHTML.
 */
const SVG_NS = 'http://www.w3.org/2000/svg';

export const $ = (sel, root = document) => root.querySelector(sel);

/** h('td', {class: 'num'}, 'text', childNode…): an element with attributes and children, text as text. */
export function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** The same for SVG: s('circle', {r: 5}, s('title', {}, 'label')). */
export function s(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** Sets each attribute that has a value; true is an empty (boolean) attribute. */
export function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs ?? {})) if (v !== null && v !== undefined && v !== false) el.setAttribute(k, v === true ? '' : String(v));
}

function fill(el, attrs, children) {
  setAttrs(el, attrs);
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

/** An SVG coordinate to one decimal: enough for the eye, and it keeps path data short. */
export const r1 = (v) => Math.round(v * 10) / 10;
