// Readings are shared: within half a period every caller gets the same sample; after it a new one is
// taken and handed on, timed when the sample ended, before it is returned.
import t from 'tap';
import { ReadingsSampler } from '../../src/heartbeat/sampler.js';

t.test('one sample per half period, handed on once', async (t) => {
  let clock = 1_000;
  let taken = 0;
  const handed: Array<{ tx: number | undefined; at: number }> = [];
  const sampler = new ReadingsSampler({
    periodMs: 10_000,
    now: () => clock,
    source: {
      async sample() {
        taken += 1;
        clock += 300; // sampling takes a while
        return { 'NET-TX-BYTES': taken * 100 };
      },
    },
    async onSample(r, at) {
      handed.push({ tx: r['NET-TX-BYTES'], at });
    },
  });
  t.same(await sampler.sample(), { 'NET-TX-BYTES': 100 });
  t.same(handed, [{ tx: 100, at: 1_300 }], 'handed on with the time the sample ended');
  clock = 5_900;
  t.same(await sampler.sample(), { 'NET-TX-BYTES': 100 }, 'within half a period of its start: the same sample');
  t.equal(taken, 1);
  clock = 6_000;
  t.same(await sampler.sample(), { 'NET-TX-BYTES': 200 }, 'half a period on: a new one');
  t.equal(handed.length, 2);
});
