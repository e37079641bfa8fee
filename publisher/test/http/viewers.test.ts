// Per-viewer URI memory: a viewer gets the same map on every playlist request, and past MAX_VIEWERS
// the viewer seen least recently is forgotten first (one who asked again recently is kept).
import t from 'tap';
import { MAX_VIEWERS, Viewers } from '../../src/http/viewers.js';

t.test('stickyOf keeps each viewer its map, forgetting the least recently seen past MAX_VIEWERS', async (t) => {
  const viewers = new Viewers({ locate: () => undefined, placeOfBox: () => undefined, scoreOfBox: () => 0 });
  const first = viewers.stickyOf('viewer-0');
  first.set('live/s0.ts', 'http://box-a/s0.ts');
  t.equal(viewers.stickyOf('viewer-0'), first, 'the same map on the next request');
  const second = viewers.stickyOf('viewer-1');
  for (let i = 2; i < MAX_VIEWERS; i++) viewers.stickyOf(`viewer-${i}`);
  t.equal(viewers.stickyOf('viewer-0'), first, 'still known with MAX_VIEWERS viewers');
  viewers.stickyOf('viewer-new'); // one over: viewer-1 is now the least recently seen
  t.equal(viewers.stickyOf('viewer-0'), first, 'a viewer seen recently is kept');
  const again = viewers.stickyOf('viewer-1');
  t.not(again, second, 'the least recently seen was forgotten');
  t.equal(again.size, 0, 'and starts afresh');
});
