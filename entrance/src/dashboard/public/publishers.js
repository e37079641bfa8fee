/* The publishers table: the newest publishers from /api/publishers, their offload and the boxes they use. */
import { $, h } from './dom.js';
import { api } from './api.js';
import { ageEl, boxLink, ratioBar } from './cells.js';
import { DASH, fmtBytes } from './format.js';

/** How many of a publisher's boxes are named; the rest are counted. */
const BOXES_SHOWN = 12;

let publisherIds = [];
/** The publisher IDs last listed (the traffic chart offers them as choices). */
export const shownPublisherIds = () => publisherIds;

export async function loadPublishers() {
  const body = await api('publishers');
  const list = Array.isArray(body.PUBLISHERS) ? body.PUBLISHERS : [];
  publisherIds = list.map((p) => p.ID);
  const tbody = $('#publishers tbody');
  if (list.length === 0) {
    tbody.replaceChildren(h('tr', { class: 'empty' }, h('td', { colspan: 6 }, 'No publisher has searched for boxes yet.')));
    return;
  }
  tbody.replaceChildren(...list.map(publisherRow));
  if ($('#traffic-scope').value === 'publisher') $('#traffic-ids').replaceChildren(...publisherIds.map((id) => h('option', { value: id })));
}

function publisherRow(p) {
  const boxes = Array.isArray(p.BOXES) ? p.BOXES.slice().sort((a, b) => (b.bytes ?? 0) - (a.bytes ?? 0)) : [];
  const shown = boxes.slice(0, BOXES_SHOWN);
  return h('tr', { 'data-id': p.ID },
    h('th', { scope: 'row', class: 'mono' }, p.ID),
    h('td', {}, ageEl(p.LAST_SEEN)),
    h('td', { class: 'num' }, fmtBytes(p.ORIGIN_BYTES)),
    h('td', { class: 'num' }, fmtBytes(p.BOX_BYTES)),
    h('td', { class: 'num' }, ratioBar(p.OFFLOAD)),
    h('td', {}, boxes.length === 0 ? DASH : h('ul', { class: 'chips' },
      shown.map((b) => h('li', {}, boxLink(b.box), ' ', h('span', { class: 'muted' }, fmtBytes(b.bytes)))),
      boxes.length > shown.length ? h('li', { class: 'muted' }, `+${boxes.length - shown.length} more`) : null)));
}
