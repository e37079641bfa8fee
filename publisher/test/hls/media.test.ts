// Media playlists: each segment URI becomes a confirmed box's URL (the first the caller lists) or, with
// no confirmed box, the origin's; VOD playlists (#EXT-X-ENDLIST) list every segment, unconfirmed and
// unknown ones at origin; #EXT-X-MAP and #EXT-X-KEY files are chosen like segments but go to origin at
// once; absolute URLs to elsewhere are left as written; a segment URI that climbs out of the watched
// folder is never listed and, to leave no hole, neither is anything after it; CRLF and a BOM give the
// same output as LF; header tags are kept line for line.
import t from 'tap';
import { rewritePlaylist, stickyKey } from '../../src/hls/index.js';
import { fixture, replica, seen, uriLines, viewer } from './fixtures/helpers.js';

const OLD = 60_000; // past any hold-back

t.test('confirmed, unconfirmed and unknown segments (VOD)', async (t) => {
  const sticky = new Map<string, string>();
  const out = rewritePlaylist(viewer(fixture('vod.m3u8'), {
    'live/seg0.ts': seen('live/seg0.ts', OLD, [3, 1]),
    'live/seg1.ts': seen('live/seg1.ts', OLD, [2]),
    'live/seg2.ts': seen('live/seg2.ts', 10), // young, unconfirmed: VOD lists it anyway
  }, { sticky }));
  t.equal(out, [
    '#EXTM3U',
    '#EXT-X-VERSION:3',
    '#EXT-X-TARGETDURATION:2',
    '#EXT-X-MEDIA-SEQUENCE:0',
    '#EXT-X-PLAYLIST-TYPE:VOD',
    '#EXTINF:2.000000,',
    'http://10.0.0.3:7072/publisher-test/live/seg0.ts',
    '#EXTINF:2.000000,',
    'http://10.0.0.2:7072/publisher-test/live/seg1.ts',
    '#EXTINF:2.000000,',
    '/origin/live/seg2.ts',
    '#EXTINF:0.800000,',
    '/origin/live/seg3.ts',
    '#EXT-X-ENDLIST',
    '',
  ].join('\n'), 'first replica, a lone replica (fewer than R still serves), origin, origin for an unseen file');
  t.same(Object.fromEntries(sticky), {
    [stickyKey('live/index.m3u8', 'live/seg0.ts')]: 'http://10.0.0.3:7072/publisher-test/live/seg0.ts',
    [stickyKey('live/index.m3u8', 'live/seg1.ts')]: 'http://10.0.0.2:7072/publisher-test/live/seg1.ts',
    [stickyKey('live/index.m3u8', 'live/seg2.ts')]: '/origin/live/seg2.ts',
    [stickyKey('live/index.m3u8', 'live/seg3.ts')]: '/origin/live/seg3.ts',
  }, 'every choice remembered');
});

t.test('a live playlist whose segments are all confirmed or old', async (t) => {
  const files = {
    'live/seg5.ts': seen('live/seg5.ts', OLD, [1, 2]),
    'live/seg6.ts': seen('live/seg6.ts', OLD),
    'live/seg7.ts': seen('live/seg7.ts', OLD, [2]),
    'live/seg8.ts': seen('live/seg8.ts', 1_000), // exactly hold-back old: released
    'live/seg9.ts': seen('live/seg9.ts', 0, [2, 1]), // brand new but confirmed R times
  };
  const out = rewritePlaylist(viewer(fixture('live-5.m3u8'), files, { originPrefix: 'http://pub.example:8080/origin/' }));
  t.same(uriLines(out), [
    'http://10.0.0.1:7072/publisher-test/live/seg5.ts',
    'http://pub.example:8080/origin/live/seg6.ts',
    'http://10.0.0.2:7072/publisher-test/live/seg7.ts',
    'http://pub.example:8080/origin/live/seg8.ts',
    'http://10.0.0.2:7072/publisher-test/live/seg9.ts',
  ]);
  t.equal(out.split('\n').slice(0, 4).join('\n'), '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:5', 'header as written');
  t.match(out, /#EXTINF:1\.960000,\n/, '#EXTINF kept as written');
});

t.test('#EXT-X-MAP (fMP4) goes to a box or to origin at once', async (t) => {
  const live = fixture('fmp4.m3u8');
  const segs = { 'live/seg3.m4s': seen('live/seg3.m4s', OLD, [1, 2]), 'live/seg4.m4s': seen('live/seg4.m4s', OLD, [2, 1]) };
  const unknownInit = rewritePlaylist(viewer(live, segs));
  t.match(unknownInit, /\n#EXT-X-MAP:URI="\/origin\/live\/init\.mp4"\n/, 'an init file no box has yet: origin, and holds nothing back');
  t.same(uriLines(unknownInit).length, 2);
  const onBox = rewritePlaylist(viewer(live, { ...segs, 'live/init.mp4': seen('live/init.mp4', 0, [2]) }));
  t.match(onBox, /\n#EXT-X-MAP:URI="http:\/\/10\.0\.0\.2:7072\/publisher-test\/live\/init\.mp4"\n/, 'a confirmed init file: its box');
  t.match(onBox, /#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP/, 'tags in place');
  const withRange = '#EXTM3U\n#EXT-X-MAP:URI="init.mp4",BYTERANGE="720@0"\n#EXTINF:2,\nseg3.m4s\n#EXT-X-ENDLIST\n';
  t.match(rewritePlaylist(viewer(withRange, {})), /#EXT-X-MAP:URI="\/origin\/live\/init\.mp4",BYTERANGE="720@0"\n/, 'other attributes kept');
});

t.test('#EXT-X-KEY files (AES-128) are chosen like segments', async (t) => {
  const out = rewritePlaylist(viewer(fixture('aes.m3u8'), {
    'live/seg20.ts': seen('live/seg20.ts', OLD, [1]),
    'live/seg21.ts': seen('live/seg21.ts', OLD, [1]),
    'live/keys/k20.key': seen('live/keys/k20.key', OLD, [1]),
  }));
  t.match(out, '#EXT-X-KEY:METHOD=AES-128,URI="http://10.0.0.1:7072/publisher-test/live/keys/k20.key",IV=0x00000000000000000000000000000014\n');
  t.match(out, '#EXT-X-KEY:METHOD=AES-128,URI="/origin/live/keys/k21.key",IV=0x00000000000000000000000000000015\n');
  const external = '#EXTM3U\n#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://key-42",KEYFORMAT="com.apple.streamingkeydelivery"\n#EXTINF:2,\na.ts\n#EXT-X-ENDLIST\n';
  t.match(rewritePlaylist(viewer(external, {})), '#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://key-42",KEYFORMAT="com.apple.streamingkeydelivery"\n', 'a key server URL left alone');
  t.match(rewritePlaylist(viewer('#EXTM3U\n#EXT-X-KEY:METHOD=NONE\n#EXTINF:2,\na.ts\n#EXT-X-ENDLIST\n', {})), '#EXT-X-KEY:METHOD=NONE\n');
});

t.test('external URIs, dot segments, root-relative paths, escapes, and a URI that climbs out', async (t) => {
  const sticky = new Map<string, string>();
  const calls: string[] = [];
  const out = rewritePlaylist({ ...viewer(fixture('hostile.m3u8'), {}, { sticky }), segment: (p) => { calls.push(p); return seen(p, OLD, [4]); } });
  t.same(uriLines(out), [
    'https://ads.example.com/spot0.ts?campaign=7',
    'http://10.0.0.4:7072/publisher-test/live/seg1.ts',
    'http://10.0.0.4:7072/publisher-test/live/seg2.ts',
    'http://10.0.0.4:7072/publisher-test/live/sub%20dir/seg%203.ts',
  ], 'the external ad untouched; ../live, /live and %20 resolved; ../../etc/passwd and everything after it left out');
  t.notMatch(out, /passwd|seg5/);
  t.match(out, /seg%203\.ts\n#EXT-X-ENDLIST\n$/, 'ENDLIST kept, no #EXTINF left without its segment');
  t.same(calls.filter((p) => !p.startsWith('live/')), [], 'never looked up a path outside the playlist folder');
  t.same([...sticky.keys()], ['live/seg1.ts', 'live/seg2.ts', 'live/sub dir/seg 3.ts'].map((p) => stickyKey('live/index.m3u8', p)), 'memory only for listed files inside the folder');
  const originOnly = rewritePlaylist(viewer('#EXTM3U\n#EXTINF:2,\nsub%20dir/seg%203.ts\n#EXT-X-ENDLIST\n', {}));
  t.match(originOnly, '\n/origin/live/sub%20dir/seg%203.ts\n', 'origin paths escaped again');
  for (const bad of ['..%2F..%2Fetc/passwd', '%2e%2e/%2e%2e/x.ts', '/../x.ts', 'a//b.ts', 'a\\..\\..\\x.ts', 'seg.ts%00', '?only=query']) {
    const text = `#EXTM3U\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:2,\nok.ts\n#EXTINF:2,\n${bad}\n#EXT-X-ENDLIST\n`;
    t.same(uriLines(rewritePlaylist(viewer(text, {}))), ['/origin/live/ok.ts'], `refused: ${bad}`);
  }
});

t.test('a replica URL that would break the playlist is not used', async (t) => {
  const state = { firstSeenMs: 0, replicas: [{ boxId: 'box-evil', url: 'http://x/"\n#EXT-X-ENDLIST' }, replica(2, 'live/a.ts')] };
  t.same(uriLines(rewritePlaylist(viewer('#EXTM3U\n#EXTINF:2,\na.ts\n#EXT-X-ENDLIST\n', { 'live/a.ts': state }))), ['http://10.0.0.2:7072/publisher-test/live/a.ts']);
});

t.test('CRLF and a BOM give the same playlist, with LF endings', async (t) => {
  const files = { 'live/seg12.ts': seen('live/seg12.ts', OLD, [1, 2]) };
  const lf = rewritePlaylist(viewer(fixture('live-tags.m3u8'), files));
  const crlf = rewritePlaylist(viewer(`\uFEFF${fixture('live-tags.m3u8').replaceAll('\n', '\r\n')}`, files));
  t.equal(crlf, lf);
  t.notMatch(crlf, /\r|\uFEFF/);
  t.ok(crlf.startsWith('#EXTM3U\n') && crlf.endsWith('\n'));
});

t.test('a text that is not a playlist', async (t) => {
  t.throws(() => rewritePlaylist(viewer('<html><body>Not Found</body></html>', {})), { code: 'E_PLAYLIST', message: /#EXTM3U/ });
  t.throws(() => rewritePlaylist(viewer(fixture('vod.m3u8'), {}, { playlistPath: '../index.m3u8' })), { code: 'E_PATH' }, 'a playlist outside the watched folder');
});
