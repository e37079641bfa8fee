// The keeper of the oldest pending aggregates: whatever TRAFFIC_PENDING holds, an EXCHANGE's HSCAN keeps
// at most 2 × limit of them in memory, hands back the limit oldest in order, and HSCAN's repeats (before
// or after a trim) come back once.
import t from 'tap';
import type { TrafficAggregate } from '../../../shared/src/protocol/messages.js';
import { OldestAggregates } from '../../src/traffic/oldest-aggregates.js';

const aggregate = (id: string, from: number): TrafficAggregate =>
  ({ ID: id, PUBLISHER: 'publisher-p', FILE: 'live/a.ts', REQUESTS: 1, BYTES: 100, FROM: from, TO: from + 1 });

t.test('holds at most 2 × limit whatever the backlog, and returns the limit oldest', async (t) => {
  const limit = 50;
  const keeper = new OldestAggregates(limit);
  let most = 0;
  const total = 20_000;
  // Offered in a scrambled order, as HSCAN walks a hash.
  for (let i = 0; i < total; i++) {
    const n = (i * 7919) % total;
    keeper.offer(aggregate(`a${n}`, 1_000_000 - n));
    most = Math.max(most, keeper.size);
  }
  t.ok(most <= 2 * limit, `held at most ${2 * limit} (held ${most})`);
  t.same(keeper.oldest().map((a) => a.ID), Array.from({ length: limit }, (_, k) => `a${total - 1 - k}`), 'the oldest, oldest first');
});

t.test('HSCAN repeats come back once, before and after a trim', async (t) => {
  const keeper = new OldestAggregates(2);
  keeper.offer(aggregate('old', 1));
  keeper.offer(aggregate('old', 1));
  for (let i = 0; i < 10; i++) keeper.offer(aggregate(`new${i}`, 100 + i));
  keeper.offer(aggregate('new9', 109)); // trimmed away before, trimmed again
  keeper.offer(aggregate('old', 1));
  t.same(keeper.oldest().map((a) => a.ID), ['old', 'new0']);
});

t.test('same FROM: ordered by ID', async (t) => {
  const keeper = new OldestAggregates(3);
  for (const id of ['c', 'a', 'b', 'd']) keeper.offer(aggregate(id, 5));
  t.same(keeper.oldest().map((a) => a.ID), ['a', 'b', 'c']);
});

t.test('couldKeep: once trimmed, what is no older than the last kept is refused before it is decoded', async (t) => {
  const keeper = new OldestAggregates(2);
  t.ok(keeper.couldKeep(1e12, 'z'), 'before the first trim everything could be kept');
  for (let i = 0; i < 5; i++) keeper.offer(aggregate(`a${i}`, 10 + i));
  t.same(keeper.oldest().map((a) => a.ID), ['a0', 'a1']);
  t.notOk(keeper.couldKeep(11, 'a1'), 'the last kept itself (an HSCAN repeat)');
  t.notOk(keeper.couldKeep(12, 'a2'), 'later');
  t.notOk(keeper.couldKeep(11, 'a1x'), 'same FROM, later ID');
  t.ok(keeper.couldKeep(11, 'a0'), 'same FROM, earlier ID');
  t.ok(keeper.couldKeep(5, 'b'), 'earlier');
});
