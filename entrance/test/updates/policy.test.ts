// The pure parts of updates at the entrance: which bytes a Range header asks for, the stages a rollout
// start asks for, when health fails, and the URL an offer names.
import t from 'tap';
import { byteRangeOf } from '../../src/updates/release-routes.js';
import { haltReason, stagesFor, unhealthyReason } from '../../src/updates/rollout-policy.js';
import type { BoxAfter, BoxBefore } from '../../src/updates/rollout-policy.js';
import { releaseUrlOf } from '../../src/assemble.js';

t.test('Range: one range answered, several or another unit answered whole, past the end unsatisfiable', async (t) => {
  t.equal(byteRangeOf(undefined, 100), 'whole');
  t.same(byteRangeOf('bytes=0-9', 100), { start: 0, end: 9 });
  t.same(byteRangeOf('bytes=90-', 100), { start: 90, end: 99 });
  t.same(byteRangeOf('bytes=90-1000', 100), { start: 90, end: 99 }, 'an end past the size is clipped');
  t.same(byteRangeOf('bytes=-10', 100), { start: 90, end: 99 }, 'a suffix');
  t.same(byteRangeOf('bytes=-1000', 100), { start: 0, end: 99 }, 'a suffix longer than the file: all of it');
  t.equal(byteRangeOf('bytes=100-', 100), 'unsatisfiable');
  t.equal(byteRangeOf('bytes=5-4', 100), 'unsatisfiable');
  t.equal(byteRangeOf('bytes=-0', 100), 'unsatisfiable');
  t.equal(byteRangeOf('bytes=0-1,5-6', 100), 'whole', 'several ranges: the whole file');
  t.equal(byteRangeOf('items=0-1', 100), 'whole');
  t.equal(byteRangeOf('bytes=99999999999999999999-', 100), 'whole', 'absurd numbers are no range');
});

t.test('stages: those below the percentage, then the percentage; a bad list is refused', async (t) => {
  t.same(stagesFor(100), [1, 10, 50, 100]);
  t.same(stagesFor(30), [1, 10, 30]);
  t.same(stagesFor(1), [1]);
  t.same(stagesFor(50, [5, 25]), [5, 25, 50]);
  t.throws(() => stagesFor(0), /1 to 100/);
  t.throws(() => stagesFor(101), /1 to 100/);
  t.throws(() => stagesFor(50, [10, 5]), /rise/);
  t.throws(() => stagesFor(50, [0.5]), /whole percentage/);
});

t.test('health: more than 2 failures, or more than 2 of the first boxes silent for 3 heartbeats', async (t) => {
  const now = 1_000_000;
  const seen = (ago: number | undefined) => (ago === undefined ? undefined : now - ago);
  const boxes = (...agos: Array<number | undefined>) => agos.map((ago, i) => ({ boxId: `box-${i}`, seen: seen(ago) }));
  t.equal(haltReason({ firstOffered: boxes(0, 0, 0), failed: 2, now, heartbeatSeconds: 5 }), undefined, 'two failures: fine');
  t.match(haltReason({ firstOffered: [], failed: 3, now, heartbeatSeconds: 5 }), /3 boxes reported/);
  t.equal(haltReason({ firstOffered: boxes(16_000, 16_000, 15_000, 0), failed: 0, now, heartbeatSeconds: 5 }), undefined, 'two silent, one at exactly three periods');
  t.match(haltReason({ firstOffered: boxes(16_000, 16_000, 15_001, 0), failed: 0, now, heartbeatSeconds: 5 }), /3 of the first 4 boxes .* silent .* \(box-0, box-1, box-2\)/);
  t.match(haltReason({ firstOffered: boxes(undefined, undefined, undefined), failed: 0, now, heartbeatSeconds: 5 }), /3 of the first 3/, 'never heard from since: silent');
});

t.test('an updated box is unhealthy when its error rate rose clearly (a floor of 10 errors) or it stopped serving', async (t) => {
  const before = (serveErrors: number, agentErrors: number, uptimeSeconds: number, serving = true): BoxBefore => ({ counters: { serveErrors, agentErrors, uptimeSeconds }, serving });
  const after = (serveErrors: number, agentErrors: number, uptimeSeconds: number, reachability = 'reachable', paused = false): BoxAfter => ({ counters: { serveErrors, agentErrors, uptimeSeconds }, reachability, paused });
  t.equal(unhealthyReason(before(0, 0, 3600), after(1, 1, 60)), undefined, 'one stray error is no rise');
  t.equal(unhealthyReason(before(0, 0, 3600), after(9, 9, 60)), undefined, 'nor nine');
  t.match(unhealthyReason(before(0, 0, 3600), after(10, 0, 60)), /^serve errors rose: 10 in 60 s since the update, 0 expected/, 'ten where none were');
  t.match(unhealthyReason(before(0, 0, 3600), after(0, 25, 60)), /^agent errors rose: 25/);
  // 360 errors an hour before: 6 expected in a minute, so a rise needs 10 + 2 × 6 = 22.
  t.equal(unhealthyReason(before(360, 0, 3600), after(21, 0, 60)), undefined, 'a box that always had errors: as many as before is no rise');
  t.match(unhealthyReason(before(360, 0, 3600), after(22, 0, 60)), /serve errors rose: 22 in 60 s since the update, 6 expected/);
  t.match(unhealthyReason(undefined, after(10, 0, 60)), /serve errors rose/, 'no record before (an old agent without counters): the floor alone decides');
  t.equal(unhealthyReason(before(0, 0, 3600), { counters: undefined, reachability: 'reachable', paused: false }), undefined, 'no counters now: nothing to compare');

  t.equal(unhealthyReason(before(0, 0, 3600), after(0, 0, 60, 'firewall')), 'no longer serves (reachable before the update, firewall now)');
  t.equal(unhealthyReason(before(0, 0, 3600, false), after(0, 0, 60, 'firewall')), undefined, 'a box that did not serve before: no loss');
  t.equal(unhealthyReason(before(0, 0, 3600), after(0, 0, 60, 'checking')), undefined, 'probes not finished yet: not known');
  t.equal(unhealthyReason(before(0, 0, 3600), after(0, 0, 60, 'forward-port', true)), undefined, 'paused by its household: by choice');
});

t.test('health: more than 2 of the first boxes unhealthy for any reason halts, naming them and why', async (t) => {
  const now = 1_000_000;
  const healthy = { counters: { serveErrors: 0, agentErrors: 0, uptimeSeconds: 60 }, reachability: 'reachable', paused: false };
  const was = { counters: { serveErrors: 0, agentErrors: 0, uptimeSeconds: 3600 }, serving: true };
  const offered = ['box-0', 'box-1', 'box-2', 'box-3'].map((boxId) => ({ boxId, seen: now }));
  const updated = (...afters: BoxAfter[]) => afters.map((after, i) => ({ boxId: `box-${i}`, before: was, after }));
  const erring = { ...healthy, counters: { serveErrors: 40, agentErrors: 0, uptimeSeconds: 60 } };
  const gone = { ...healthy, reachability: 'forward-port' };
  t.equal(haltReason({ firstOffered: offered, firstUpdated: updated(erring, gone, healthy, healthy), failed: 0, now, heartbeatSeconds: 5 }), undefined, 'two unhealthy: within what a rollout tolerates');
  const three = haltReason({ firstOffered: [{ boxId: 'box-9', seen: now - 60_000 }, ...offered], firstUpdated: updated(erring, gone, healthy, healthy), failed: 0, now, heartbeatSeconds: 5 });
  t.equal(three, '3 of the first boxes offered or updated are unhealthy (box-9: silent for 3 heartbeats; box-0: serve errors rose: 40 in 60 s since the update, 0 expected from its rate before; box-1: no longer serves (reachable before the update, forward-port now))');
  t.match(haltReason({ firstOffered: offered, firstUpdated: updated(erring, erring, erring), failed: 0, now, heartbeatSeconds: 5 }), /^3 of the first boxes offered or updated are unhealthy \(box-0: serve errors rose/);
  t.equal(haltReason({ firstOffered: offered, firstUpdated: [{ boxId: 'box-0', before: was, after: undefined }], failed: 0, now, heartbeatSeconds: 5 }), undefined, 'a box not in the registry now is judged by its silence alone');
});

t.test('an offer names this entrance\'s own HTTP(S) origin and BASE_URL', async (t) => {
  t.equal(releaseUrlOf('ws://127.0.0.1:7070/dandelion/ws/', '/dandelion', '1.2.3', 'arm64'), 'http://127.0.0.1:7070/dandelion/releases/1.2.3/arm64');
  t.equal(releaseUrlOf('wss://entrance.example/dandelion/ws/', '/dandelion/', '1.2.3-rc.1', 'x64'), 'https://entrance.example/dandelion/releases/1.2.3-rc.1/x64');
  t.equal(releaseUrlOf('ws://[::1]:80/ws/', '/', '1.0.0', 'armv7'), 'http://[::1]/releases/1.0.0/armv7');
});
