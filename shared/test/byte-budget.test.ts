// The byte budget's arithmetic: what a socket holds from arrival until its frame is handled, its own
// limit, the process total (the biggest holder is refused, once), and that everything comes back.
import t from 'tap';
import { ByteBudget, wireBytes } from '../src/byte-budget.js';
import type { Refusal } from '../src/byte-budget.js';

const limits = { totalBytes: 1000, socketBytes: 600, framesInFlight: 3 };

function account(budget: ByteBudget): { a: ReturnType<ByteBudget['account']>; refusals: Refusal[] } {
  const refusals: Refusal[] = [];
  return { a: budget.account((why) => refusals.push(why)), refusals };
}

t.test('a frame is held from its first byte until it is handled', async (t) => {
  const budget = new ByteBudget(limits);
  const { a, refusals } = account(budget);
  a.arrived(100);
  a.arrived(wireBytes(200) - 100);
  t.equal(budget.heldBytes, wireBytes(200), 'bytes of a frame still arriving count');
  const ticket = a.framed(200);
  t.equal(ticket, wireBytes(200));
  t.equal(budget.heldBytes, wireBytes(200), 'a whole frame waiting to be handled still counts');
  a.handled(ticket);
  t.equal(budget.heldBytes, 0, 'handled: given back');
  a.arrived(wireBytes(0));
  a.control(0);
  t.equal(budget.heldBytes, 0, 'a ping or pong leaves at once');
  t.same(refusals, []);
});

t.test('one socket over its own limit is refused; its bytes come back at once', async (t) => {
  const budget = new ByteBudget(limits);
  const { a, refusals } = account(budget);
  const { a: b } = account(budget);
  b.arrived(50);
  a.arrived(400);
  a.framed(394);
  a.arrived(300);
  t.equal(refusals.length, 1);
  t.match(refusals[0], { code: 'E_BUSY', close: 1013, reason: /600 bytes/ });
  t.ok(a.refused);
  t.equal(budget.heldBytes, 50, 'only the other socket\'s bytes remain');
  a.arrived(1000);
  a.handled(400);
  t.equal(budget.heldBytes, 50, 'a refused socket counts nothing more');
  t.equal(a.framed(10), 0, 'and its frames are dropped');
  t.equal(refusals.length, 1, 'refused once');
});

t.test('frames in flight are limited whatever their size', async (t) => {
  const budget = new ByteBudget(limits);
  const { a, refusals } = account(budget);
  for (let i = 0; i < 4; i++) {
    a.arrived(wireBytes(1));
    a.framed(1);
  }
  t.match(refusals, [{ reason: /more than 3 frames/ }]);
});

t.test('over the process total, the socket holding the most is refused', async (t) => {
  const budget = new ByteBudget(limits);
  const small = account(budget);
  const big = account(budget);
  const newcomer = account(budget);
  small.a.arrived(100);
  big.a.arrived(550);
  newcomer.a.arrived(300);
  t.same([small.refusals.length, big.refusals.length, newcomer.refusals.length], [0, 0, 0], 'under the total');
  newcomer.a.arrived(200);
  t.same([small.refusals.length, big.refusals.length, newcomer.refusals.length], [0, 1, 0], 'the biggest holder goes, not the one that crossed the line');
  t.match(big.refusals[0], { close: 1013, reason: /held the most \(550\)/ });
  t.equal(budget.heldBytes, 600);
  t.notOk(budget.exhausted);
});

t.test('a closed socket lets go of its unfinished frame but keeps its queued ones until handled', async (t) => {
  const budget = new ByteBudget(limits);
  const { a, refusals } = account(budget);
  a.arrived(wireBytes(100) + 50);
  const ticket = a.framed(100);
  a.closed();
  t.equal(budget.heldBytes, wireBytes(100), 'the half frame is gone, the whole one is still to be handled');
  a.arrived(500);
  t.equal(budget.heldBytes, wireBytes(100), 'nothing arrives after close');
  a.handled(ticket);
  t.equal(budget.heldBytes, 0);
  t.same(refusals, []);
});

t.test('exhausted when the total is reached', async (t) => {
  const budget = new ByteBudget({ ...limits, totalBytes: 500 });
  const { a } = account(budget);
  a.arrived(500);
  t.ok(budget.exhausted);
  a.closed();
  t.notOk(budget.exhausted);
});
