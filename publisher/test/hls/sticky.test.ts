// Per-viewer stickiness: across reloads of a sliding live window a viewer keeps the URI it was first
// served for each segment (even when the caller reorders boxes, and origin stays origin), while new
// viewers get boxes; when the box it named stops holding the file the next replica is chosen, then
// origin; entries for segments that left the window are pruned, so the memory stays bounded, and one
// map per viewer serves all its playlists without one pruning another's.
import t from 'tap';
import { rewritePlaylist, stickyKey } from '../../src/hls/index.js';
import type { SegmentState } from '../../src/hls/index.js';
import { fixture, seen, uriLines, viewer } from './fixtures/helpers.js';

const box = (n: number, seg: number): string => `http://10.0.0.${n}:7072/publisher-test/live/seg${seg}.ts`;
const files = (boxes: number[], segs: number[], ageMs = 5_000): Record<string, SegmentState> =>
  Object.fromEntries(segs.map((n) => [`live/seg${n}.ts`, seen(`live/seg${n}.ts`, ageMs, boxes)]));

t.test('the window slides: media sequence advances, URIs stay, old entries go', async (t) => {
  const sticky = new Map<string, string>();
  const first = rewritePlaylist(viewer(fixture('live-5.m3u8'), files([1, 2], [5, 6, 7, 8, 9]), { sticky }));
  t.same(uriLines(first), [5, 6, 7, 8, 9].map((n) => box(1, n)));
  const again = rewritePlaylist(viewer(fixture('live-5.m3u8'), files([2, 1], [5, 6, 7, 8, 9]), { sticky }));
  t.equal(again, first, 'same playlist on reload although the caller now ranks box 2 first');

  const slid = rewritePlaylist(viewer(fixture('live-6.m3u8'), files([2, 1], [6, 7, 8, 9, 10]), { sticky }));
  t.match(slid, /^#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:6\n/, 'media sequence as the encoder wrote it');
  t.same(uriLines(slid), [box(1, 6), box(1, 7), box(1, 8), box(1, 9), box(2, 10)], 'old segments keep their box; the new one gets the best now');
  t.same([...sticky.keys()].sort(), [6, 7, 8, 9, 10].map((n) => stickyKey('live/index.m3u8', `live/seg${n}.ts`)).sort(), 'seg5 left the window and the memory');
});

t.test('a segment first served at origin stays at origin for that viewer; new viewers get boxes', async (t) => {
  const early = new Map<string, string>();
  const before = { ...files([1, 2], [5, 6, 7, 8]), ...files([], [9], 1_200) };
  t.equal(uriLines(rewritePlaylist(viewer(fixture('live-5.m3u8'), before, { sticky: early }))).at(-1), '/origin/live/seg9.ts', 'released after hold-back at origin');
  const after = { ...before, ...files([2, 1], [9], 1_500) };
  t.equal(uriLines(rewritePlaylist(viewer(fixture('live-5.m3u8'), after, { sticky: early }))).at(-1), '/origin/live/seg9.ts', 'not switched to a box');
  t.equal(uriLines(rewritePlaylist(viewer(fixture('live-5.m3u8'), after, { sticky: new Map() }))).at(-1), box(2, 9), 'a new viewer gets a box');
});

t.test('a box fails: the next replica, then origin', async (t) => {
  const sticky = new Map<string, string>();
  const segs = [5, 6, 7, 8, 9];
  t.equal(uriLines(rewritePlaylist(viewer(fixture('live-5.m3u8'), files([1, 2, 3], segs), { sticky })))[2], box(1, 7));
  const failed = rewritePlaylist(viewer(fixture('live-5.m3u8'), files([2, 3], segs), { sticky }));
  t.same(uriLines(failed), segs.map((n) => box(2, n)), 'box 1 gone: every segment moves to the next replica');
  t.equal(sticky.get(stickyKey('live/index.m3u8', 'live/seg7.ts')), box(2, 7), 'and the memory follows');
  t.same(uriLines(rewritePlaylist(viewer(fixture('live-5.m3u8'), files([3, 2], segs), { sticky }))), segs.map((n) => box(2, n)), 'then stays on box 2 while it holds the files');
  t.same(uriLines(rewritePlaylist(viewer(fixture('live-5.m3u8'), files([], segs), { sticky }))), segs.map((n) => `/origin/live/seg${n}.ts`), 'no box left: origin');
});

t.test('one map per viewer: a master leaves it alone, two media playlists keep their own entries', async (t) => {
  const sticky = new Map<string, string>();
  const video = (boxes: number[]) => viewer(fixture('live-5.m3u8'), files(boxes, [5, 6, 7, 8, 9]), { sticky });
  const audioText = fixture('live-5.m3u8').replaceAll('seg', 'aud');
  const audio = (boxes: number[]) => viewer(audioText, Object.fromEntries([5, 6, 7, 8, 9].map((n) => [`live/audio/aud${n}.ts`, seen(`live/audio/aud${n}.ts`, 5_000, boxes)])), { sticky, playlistPath: 'live/audio/index.m3u8' });
  rewritePlaylist(video([1, 2]));
  rewritePlaylist(audio([1, 2]));
  rewritePlaylist(viewer(fixture('master.m3u8'), {}, { playlistPath: 'live/master.m3u8', sticky }));
  t.equal(sticky.size, 10, 'five entries each, none from the master');
  t.same(uriLines(rewritePlaylist(video([2, 1]))), [5, 6, 7, 8, 9].map((n) => box(1, n)), 'video still on box 1 after the audio playlist was rewritten');
  t.equal(uriLines(rewritePlaylist(audio([2, 1])))[0], 'http://10.0.0.1:7072/publisher-test/live/audio/aud5.ts', 'and audio too');
  rewritePlaylist(viewer(fixture('live-6.m3u8'), files([1, 2], [6, 7, 8, 9, 10]), { sticky }));
  t.ok(sticky.has(stickyKey('live/audio/index.m3u8', 'live/audio/aud5.ts')), "the video window slid; the audio playlist's entries stay");
  t.notOk(sticky.has(stickyKey('live/index.m3u8', 'live/seg5.ts')));
});
