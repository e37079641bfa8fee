/*
 * The updates panel, from /api/rollout and /api/releases (docs/updates.md): the boxes per agent version
 * across the fleet, the stored releases, and the rollout's state and progress with its Pause, Resume and
 * Roll back buttons (each shown only when the rollout can take it). Starting a rollout and uploading a
 * release are done with the CLI or the API.
 */
import { $, h } from './dom.js';
import { api, post } from './api.js';
import { report } from './report.js';
import { DASH, fmtWhen } from './format.js';

/** The actions each state takes (rollouts.ts). */
const ACTIONS = {
  running: ['pause', 'rollback'],
  complete: ['pause', 'rollback'],
  paused: ['resume', 'rollback'],
  halted: ['resume', 'rollback'],
  'rolling-back': [],
};
const LABELS = { pause: 'Pause', resume: 'Resume', rollback: 'Roll back' };
const STATE_CLASS = { running: 'online', complete: 'online', paused: 'stale', halted: 'offline', 'rolling-back': 'offline' };

function actionButton(action) {
  const b = h('button', { type: 'button', class: 'button small', 'data-action': `rollout/${action}` }, LABELS[action]);
  b.addEventListener('click', () => {
    if (action === 'rollback' && !window.confirm('Roll back? Boxes on the new version are told to return to the version they ran before.')) return;
    b.disabled = true;
    post(`rollout/${action}`).then(loadUpdates, (err) => report(action, err)).finally(() => { b.disabled = false; });
  });
  return b;
}

function renderRollout(r) {
  if (!r) {
    $('#rollout-state').replaceChildren('No rollout. Start one with dandelion entrance rollout start (docs/updates.md).');
    $('#rollout-actions').replaceChildren();
    return;
  }
  const target = r.GROUP ? `group ${r.GROUP}` : `${r.PERCENT} % of the boxes`;
  $('#rollout-state').replaceChildren(
    h('span', { class: `state ${STATE_CLASS[r.STATE] ?? 'stale'}`, id: 'rollout-state-name' }, r.STATE),
    ` ${r.VERSION} to ${target}: stage ${r.STAGE + 1} of ${r.STAGES.length} (${r.STAGE_PERCENT} %), started ${fmtWhen(r.STARTED / 1000)}. `,
    h('span', { id: 'rollout-progress' }, `Offered ${r.OFFERED}, updated ${r.UPDATED}, failed ${r.FAILED}.`),
    r.REASON ? h('span', { class: 'note', id: 'rollout-reason' }, ` ${r.REASON}`) : '');
  $('#rollout-actions').replaceChildren(...(ACTIONS[r.STATE] ?? []).map(actionButton));
}

function renderVersions(versions) {
  const rows = Object.entries(versions ?? {}).sort(([a], [b]) => a.localeCompare(b, undefined, { numeric: true }))
    .map(([v, n]) => h('tr', { 'data-version': v }, h('th', { scope: 'row', class: 'mono' }, v), h('td', { class: 'num' }, String(n))));
  $('#agent-versions tbody').replaceChildren(...(rows.length ? rows : [h('tr', { class: 'empty' }, h('td', { colspan: 2 }, 'No box reported its agent version yet.'))]));
}

function renderReleases(releases) {
  const rows = (releases ?? []).map((r) => h('tr', {},
    h('th', { scope: 'row', class: 'mono' }, r.VERSION), h('td', {}, r.ARCH), h('td', { class: 'num' }, String(r.SIZE)),
    h('td', { class: 'mono' }, `${r.SHA256.slice(0, 16)}…`), h('td', { class: 'mono' }, r.KEY_ID || DASH)));
  $('#releases tbody').replaceChildren(...(rows.length ? rows : [h('tr', { class: 'empty' }, h('td', { colspan: 5 }, 'No releases uploaded.'))]));
}

export async function loadUpdates() {
  const [status, releases] = await Promise.all([api('rollout'), api('releases')]);
  renderRollout(status.ROLLOUT);
  renderVersions(status.VERSIONS);
  renderReleases(releases.RELEASES);
}
