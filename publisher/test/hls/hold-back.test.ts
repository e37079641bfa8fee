// Live hold-back: a live segment with fewer than REPLICAS confirming boxes, first seen less than
// HOLD_BACK ago or not seen at all, is withheld together with every later segment (only a tail is cut,
// so media sequence numbers stay valid), each with its per-segment tags; past hold-back it is listed at
// origin. Confirmations from the same box count once; a segment a viewer was already served is never
// taken back; VOD playlists withhold nothing.
import t from 'tap';
import { rewritePlaylist, stickyKey } from '../../src/hls/index.js';
import { NOW_MS, fixture, seen, uriLines, viewer } from './fixtures/helpers.js';

const HEADER = ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-TARGETDURATION:2', '#EXT-X-MEDIA-SEQUENCE:5'];

t.test('the tail from the first young, unconfirmed segment is cut with its per-segment tags', async (t) => {
  const files = {
    'live/seg12.ts': seen('live/seg12.ts', 9_000, [1, 2]),
    'live/seg13.ts': seen('live/seg13.ts', 7_000), // old, no box: origin
    'live/seg14.ts': seen('live/seg14.ts', 400), // young, no box: withheld
    'live/seg15.ts': seen('live/seg15.ts', 100, [1, 2]), // confirmed, but after a withheld one
  };
  const out = rewritePlaylist(viewer(fixture('live-tags.m3u8'), files));
  t.equal(out, [
    '#EXTM3U',
    '#EXT-X-VERSION:4',
    '#EXT-X-TARGETDURATION:2',
    '#EXT-X-MEDIA-SEQUENCE:12',
    '#EXT-X-DISCONTINUITY-SEQUENCE:1',
    '#EXT-X-PROGRAM-DATE-TIME:2024-05-01T10:00:24.000+0000',
    '#EXTINF:2.000000,',
    'http://10.0.0.1:7072/publisher-test/live/seg12.ts',
    '#EXT-X-PROGRAM-DATE-TIME:2024-05-01T10:00:26.000+0000',
    '#EXTINF:2.000000,',
    '/origin/live/seg13.ts',
    '',
  ].join('\n'), 'no #EXT-X-DISCONTINUITY, #EXT-X-PROGRAM-DATE-TIME, #EXTINF or #EXT-X-BYTERANGE of seg14/seg15');

  const later = rewritePlaylist(viewer(fixture('live-tags.m3u8'), files, { nowMs: NOW_MS + 600 }));
  t.match(later, [
    '#EXT-X-DISCONTINUITY',
    '#EXT-X-PROGRAM-DATE-TIME:2024-05-01T10:01:40.000+0000',
    '#EXTINF:2.000000,',
    '#EXT-X-BYTERANGE:225600@0',
    '/origin/live/seg14.ts',
    '#EXT-X-PROGRAM-DATE-TIME:2024-05-01T10:01:42.000+0000',
    '#EXTINF:2.000000,',
    '#EXT-X-BYTERANGE:218080@0',
    'http://10.0.0.1:7072/publisher-test/live/seg15.ts',
    '',
  ].join('\n'), 'once hold-back has passed, seg14 is released at origin with its tags, and seg15 follows');
});

t.test('released with fewer than R boxes: the box it has', async (t) => {
  const files = { 'live/seg20.ts': seen('live/seg20.ts', 5_000, [1, 2]), 'live/seg21.ts': seen('live/seg21.ts', 1_500, [3]) };
  t.same(uriLines(rewritePlaylist(viewer(fixture('aes.m3u8'), files))), ['http://10.0.0.1:7072/publisher-test/live/seg20.ts', 'http://10.0.0.3:7072/publisher-test/live/seg21.ts']);
  const young = { ...files, 'live/seg21.ts': seen('live/seg21.ts', 500, [3]) };
  const out = rewritePlaylist(viewer(fixture('aes.m3u8'), young));
  t.same(uriLines(out), ['http://10.0.0.1:7072/publisher-test/live/seg20.ts']);
  t.notMatch(out, 'k21.key', "the #EXT-X-KEY in front of a withheld segment goes with it");
  t.match(out, 'URI="/origin/live/keys/k20.key"', "the first segment's key stays");
});

t.test('an unseen segment counts as young; a playlist may start empty', async (t) => {
  const files = Object.fromEntries([5, 6, 7, 8].map((n) => [`live/seg${n}.ts`, seen(`live/seg${n}.ts`, 3_000, [1, 2])]));
  t.same(uriLines(rewritePlaylist(viewer(fixture('live-5.m3u8'), files))).length, 4, 'seg9 not seen yet: withheld');
  t.equal(rewritePlaylist(viewer(fixture('live-5.m3u8'), {})), `${HEADER.join('\n')}\n`, 'nothing seen: header only, players retry');
  const young = Object.fromEntries([5, 6, 7, 8, 9].map((n) => [`live/seg${n}.ts`, seen(`live/seg${n}.ts`, 999, [1])]));
  t.equal(rewritePlaylist(viewer(fixture('live-5.m3u8'), young)), `${HEADER.join('\n')}\n`, 'every segment young with 1 of 2 boxes');
  t.equal(uriLines(rewritePlaylist(viewer(fixture('live-5.m3u8'), young, { replicasWanted: 1 }))).length, 5, 'with REPLICAS 1 one box is enough');
});

t.test('hold-back defaults to 1 s and counts boxes, not copies', async (t) => {
  const twice = { firstSeenMs: NOW_MS - 900, replicas: [{ boxId: 'box-1', url: 'http://10.0.0.1:7072/p/a.ts' }, { boxId: 'box-1', url: 'http://10.0.0.1:80/p/a.ts' }] };
  const text = '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\na.ts\n';
  const input = viewer(text, { 'live/a.ts': twice });
  delete input.holdBackMs;
  t.same(uriLines(rewritePlaylist(input)), [], 'one box twice is one confirmation, and 900 ms < 1 s');
  t.same(uriLines(rewritePlaylist({ ...input, nowMs: NOW_MS + 100 })), ['http://10.0.0.1:7072/p/a.ts'], 'released at 1 s');
});

t.test('a segment already served to this viewer is never taken back', async (t) => {
  const sticky = new Map<string, string>();
  const old = Object.fromEntries([5, 6, 7, 8].map((n) => [`live/seg${n}.ts`, seen(`live/seg${n}.ts`, 5_000, [1, 2])]));
  rewritePlaylist(viewer(fixture('live-5.m3u8'), { ...old, 'live/seg9.ts': seen('live/seg9.ts', 200, [2, 1]) }, { sticky }));
  t.equal(sticky.get(stickyKey('live/index.m3u8', 'live/seg9.ts')), 'http://10.0.0.2:7072/publisher-test/live/seg9.ts');
  const boxGone = { ...old, 'live/seg9.ts': seen('live/seg9.ts', 300, [1]) }; // box 2 failed: 1 of 2, still young
  t.same(uriLines(rewritePlaylist(viewer(fixture('live-5.m3u8'), boxGone, { sticky }))).at(-1), 'http://10.0.0.1:7072/publisher-test/live/seg9.ts', 'still listed, on the box left');
  t.same(uriLines(rewritePlaylist(viewer(fixture('live-5.m3u8'), boxGone))).length, 4, 'a new viewer waits for it');
});

t.test('lines after the last segment of a live playlist are left out', async (t) => {
  const text = `${fixture('live-5.m3u8')}#EXT-X-PROGRAM-DATE-TIME:2024-05-01T10:00:40.000+0000\n#EXTINF:2.000000,\n`;
  const files = Object.fromEntries([5, 6, 7, 8, 9].map((n) => [`live/seg${n}.ts`, seen(`live/seg${n}.ts`, 5_000, [1, 2])]));
  const out = rewritePlaylist(viewer(text, files));
  t.match(out, /seg9\.ts\n$/, 'a half-written entry is not listed');
});

t.test('VOD never withholds', async (t) => {
  const out = rewritePlaylist(viewer(fixture('vod.m3u8'), { 'live/seg0.ts': seen('live/seg0.ts', 0) }, { holdBackMs: 3_600_000 }));
  t.same(uriLines(out), ['/origin/live/seg0.ts', '/origin/live/seg1.ts', '/origin/live/seg2.ts', '/origin/live/seg3.ts']);
  t.match(out, /#EXT-X-ENDLIST\n$/);
  const endedLive = `${fixture('live-5.m3u8')}#EXT-X-ENDLIST\n`;
  t.equal(uriLines(rewritePlaylist(viewer(endedLive, {}))).length, 5, 'a live stream that ended (ENDLIST, no PLAYLIST-TYPE) lists everything');
});
