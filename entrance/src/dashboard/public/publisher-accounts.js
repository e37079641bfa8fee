/*
 * The publisher-accounts panel, from /api/publisher-accounts: each account with its state, quota per box and
 * key, a Revoke button, and the form that creates one (its token is shown once).
 */
import { $, h } from './dom.js';
import { api, post } from './api.js';
import { report } from './report.js';
import { DASH, fmtBytes, fmtWhen } from './format.js';

const enc = encodeURIComponent;

function revokeButton(id) {
  const b = h('button', { type: 'button', class: 'button small', 'data-action': `publisher-accounts/${id}/revoke` }, 'Revoke');
  b.addEventListener('click', () => {
    if (!window.confirm(`Revoke ${id}? Its sockets are closed and it is refused from now on; the name is not given out again.`)) return;
    b.disabled = true;
    post(`publisher-accounts/${enc(id)}/revoke`).then(loadPublisherAccounts, (err) => report('revoke', err)).finally(() => { b.disabled = false; });
  });
  return b;
}

function accountRow(a) {
  const since = a.STATE === 'revoked' ? a.REVOKED_AT : a.STATE === 'enrolled' ? a.ENROLLED_AT : a.CREATED;
  return h('tr', { 'data-id': a.ID, 'data-state': a.STATE },
    h('th', { scope: 'row', class: 'mono' }, a.ID),
    h('td', {}, h('span', { class: `state ${a.STATE === 'revoked' ? 'offline' : a.STATE === 'enrolled' ? 'online' : 'stale'}` }, a.STATE)),
    h('td', { class: 'num' }, fmtBytes(a.QUOTA_BYTES)),
    h('td', { class: 'mono' }, a.FINGERPRINT || DASH),
    h('td', { class: 'mono' }, a.IP || DASH),
    h('td', {}, fmtWhen(since)),
    h('td', {}, a.STATE === 'revoked' ? DASH : revokeButton(a.ID)));
}

export async function loadPublisherAccounts() {
  const body = await api('publisher-accounts');
  $('#publisher-auth-mode').textContent = body.REQUIRE_PUBLISHER_AUTH
    ? 'Only publishers with an account are answered (REQUIRE_PUBLISHER_AUTH: true).'
    : 'REQUIRE_PUBLISHER_AUTH is false: any publisher may search (development only).';
  const rows = (Array.isArray(body.PUBLISHERS) ? body.PUBLISHERS : []).map(accountRow);
  $('#publisher-accounts tbody').replaceChildren(...(rows.length ? rows : [h('tr', { class: 'empty' }, h('td', { colspan: 7 }, 'No publisher accounts yet.'))]));
}

export function wirePublisherAccounts() {
  $('#publisher-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const button = $('#publisher-create');
    button.disabled = true;
    post('publisher-accounts', { NAME: $('#publisher-name').value, QUOTA_GB: $('#publisher-quota').value })
      .then((created) => {
        $('#new-publisher-token-value').textContent = created.TOKEN;
        $('#new-publisher-token').hidden = false;
        return loadPublisherAccounts();
      }, (err) => report('publisher', err))
      .finally(() => { button.disabled = false; });
  });
}
