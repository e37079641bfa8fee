/*
 * The enrolment panel, from /api/enrolment: enrolled, revoked and pending boxes with Revoke, Restore,
 * Forget and (for a re-flashed box's new key) Approve buttons, the fleet tokens, and the form that creates one (its secret is shown once).
 */
import { $, h } from './dom.js';
import { api, post } from './api.js';
import { report } from './report.js';
import { boxLink } from './cells.js';
import { DASH, fmtWhen } from './format.js';

const enc = encodeURIComponent;

/** A button that POSTs `body` to `path` (after a confirmation when `confirmText` is given), then reloads the panel. */
function actionButton(label, path, confirmText, body) {
  const b = h('button', { type: 'button', class: 'button small', 'data-action': path }, label);
  b.addEventListener('click', () => {
    if (confirmText && !window.confirm(confirmText)) return;
    b.disabled = true;
    post(path, body).then(loadEnrolment, (err) => report(label, err)).finally(() => { b.disabled = false; });
  });
  return b;
}

/** A re-flashed box's new key waiting for the operator: the fingerprint it will be approved by, and the button. */
function requestCell(b) {
  const r = b.REQUESTED;
  if (!r) return [];
  if (r.APPROVED) return [' ', h('span', { class: 'note' }, `new key ${r.FINGERPRINT} approved; waiting for the box`)];
  return [' ', actionButton('Approve new key', `boxes/${enc(b.ID)}/approve`,
    `Approve the new key ${r.FINGERPRINT} for ${b.ID} (asked from ${r.IP})? Only if this box was re-flashed: the old key stops working.`,
    { FINGERPRINT: r.FINGERPRINT })];
}

function enrolledRow(b) {
  const revoked = b.STATE === 'revoked';
  return h('tr', { 'data-id': b.ID, 'data-state': b.STATE },
    h('th', { scope: 'row', class: 'mono' }, boxLink(b.ID)),
    h('td', {}, h('span', { class: `state ${revoked ? 'offline' : 'online'}` }, b.STATE)),
    h('td', { class: 'mono' }, b.FINGERPRINT),
    h('td', { class: 'mono' }, b.IP || DASH),
    h('td', {}, fmtWhen(revoked ? b.REVOKED_AT : b.ENROLLED_AT)),
    h('td', {}, revoked
      ? [actionButton('Restore', `boxes/${enc(b.ID)}/restore`), ' ', actionButton('Forget', `boxes/${enc(b.ID)}/forget`, `Forget ${b.ID}? It will need a fleet token to come back.`)]
      : [actionButton('Revoke', `boxes/${enc(b.ID)}/revoke`, `Revoke ${b.ID}? It is refused from its next heartbeat on.`), ...requestCell(b)]));
}

function pendingRow(p) {
  return h('tr', { 'data-id': p.ID, 'data-state': 'pending' },
    h('th', { scope: 'row', class: 'mono' }, p.ID),
    h('td', {}, h('span', { class: 'state stale' }, 'pending')),
    h('td', {}, p.REASON),
    h('td', { class: 'mono' }, p.IP || DASH),
    h('td', {}, fmtWhen(p.SEEN)),
    h('td', {}, DASH));
}

function tokenRow(t, nowS) {
  const state = t.REVOKED ? 'revoked' : t.EXPIRES > 0 && t.EXPIRES <= nowS ? 'expired' : t.USES >= t.MAX_USES ? 'used up' : 'active';
  return h('tr', { 'data-id': t.ID },
    h('th', { scope: 'row', class: 'mono' }, t.ID),
    h('td', { class: 'num' }, `${t.USES} / ${t.MAX_USES}`),
    h('td', {}, fmtWhen(t.EXPIRES)),
    h('td', {}, t.NOTE || DASH),
    h('td', {}, state),
    h('td', {}, state === 'active' ? actionButton('Revoke', `tokens/${t.ID}/revoke`, `Revoke token ${t.ID}? Boxes it enrolled stay enrolled.`) : DASH));
}

const emptyRow = (text) => h('tr', { class: 'empty' }, h('td', { colspan: 6 }, text));

export async function loadEnrolment() {
  const body = await api('enrolment');
  $('#enrolment-mode').textContent = body.REQUIRE_ENROLMENT
    ? 'Boxes must enrol with a fleet token (REQUIRE_ENROLMENT: true).'
    : 'REQUIRE_ENROLMENT is false: boxes without credentials are accepted too (development only).';
  const boxes = Array.isArray(body.BOXES) ? body.BOXES : [];
  const pending = Array.isArray(body.PENDING) ? body.PENDING : [];
  const rows = [...boxes.map(enrolledRow), ...pending.map(pendingRow)];
  $('#enrolled-boxes tbody').replaceChildren(...(rows.length ? rows : [emptyRow('No box has enrolled or tried to.')]));
  const tokens = Array.isArray(body.TOKENS) ? body.TOKENS : [];
  const nowS = Date.now() / 1000;
  $('#fleet-tokens tbody').replaceChildren(...(tokens.length ? tokens.map((t) => tokenRow(t, nowS)) : [emptyRow('No fleet tokens yet.')]));
}

export function wireEnrolment() {
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
