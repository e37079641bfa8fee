// parsePlaylist reads ffmpeg's playlists: master or media, each segment with its media sequence number,
// duration and the per-segment lines in front of it, #EXT-X-ENDLIST; CRLF line endings and a UTF-8 BOM
// read exactly as LF does; a text that is not a playlist is refused with E_PLAYLIST.
import t from 'tap';
import { PlaylistError, parsePlaylist } from '../../src/hls/index.js';
import { fixture } from './fixtures/helpers.js';

t.test('a live media playlist', async (t) => {
  const p = parsePlaylist(fixture('live-5.m3u8'));
  t.equal(p.kind, 'media');
  t.equal(p.mediaSequence, 5);
  t.equal(p.endList, false);
  t.same(p.segments.map((s) => [s.uri, s.sequence, s.duration]), [
    ['seg5.ts', 5, 2], ['seg6.ts', 6, 2], ['seg7.ts', 7, 2], ['seg8.ts', 8, 2], ['seg9.ts', 9, 1.96],
  ]);
  t.same(p.variants, []);
  const header = p.lines.filter((l) => l.owner === undefined).map((l) => l.tag);
  t.same(header, ['EXTM3U', 'EXT-X-VERSION', 'EXT-X-TARGETDURATION', 'EXT-X-MEDIA-SEQUENCE'], 'only header tags are playlist-level');
});

t.test('per-segment tags belong to the segment after them', async (t) => {
  const p = parsePlaylist(fixture('live-tags.m3u8'));
  const seg14 = p.lines.filter((l) => l.owner === 2).map((l) => l.tag ?? l.text);
  t.same(seg14, ['EXT-X-DISCONTINUITY', 'EXT-X-PROGRAM-DATE-TIME', 'EXTINF', 'EXT-X-BYTERANGE', 'seg14.ts']);
  t.equal(p.lines.find((l) => l.tag === 'EXT-X-DISCONTINUITY-SEQUENCE')?.owner, undefined);
  const map = parsePlaylist(fixture('fmp4.m3u8')).lines.find((l) => l.tag === 'EXT-X-MAP');
  t.same([map?.uri, map?.owner], ['init.mp4', 0], "#EXT-X-MAP's URI attribute, tied to the first segment");
});

t.test('VOD, and a playlist without #EXT-X-MEDIA-SEQUENCE', async (t) => {
  const p = parsePlaylist(fixture('vod.m3u8'));
  t.equal(p.endList, true);
  t.equal(p.lines.find((l) => l.tag === 'EXT-X-ENDLIST')?.owner, undefined);
  t.equal(parsePlaylist('#EXTM3U\n#EXTINF:4,\na.ts\n').segments[0]?.sequence, 0, 'RFC 8216 default 0');
});

t.test('a master playlist', async (t) => {
  const p = parsePlaylist(fixture('master-renditions.m3u8'));
  t.equal(p.kind, 'master');
  t.same(p.segments, []);
  t.same(p.variants.map((v) => v.uri), ['video_720/index.m3u8', 'https://cdn.example.com/live/video_360/index.m3u8', '../../secret/index.m3u8']);
  t.same(p.lines.filter((l) => l.owner === 0).map((l) => l.tag ?? l.text), ['EXT-X-STREAM-INF', 'video_720/index.m3u8']);
  t.same(p.lines.filter((l) => l.kind === 'tag' && l.uri !== undefined).map((l) => l.uri), ['keys/session.key', 'audio/index.m3u8', 'video_720/iframes.m3u8']);
  t.equal(p.lines.some((l) => l.text === ''), false, 'blank lines dropped');
});

t.test('CRLF and a BOM read as LF', async (t) => {
  const lf = fixture('live-tags.m3u8');
  t.same(parsePlaylist(`\uFEFF${lf.replaceAll('\n', '\r\n')}`), parsePlaylist(lf));
  t.same(parsePlaylist(lf.replaceAll('\n', '\r')), parsePlaylist(lf), 'bare CR too');
});

t.test('not a playlist', async (t) => {
  for (const text of ['', '\n#EXTM3U\n', '<html>404</html>', '#EXTINF:2,\nseg.ts\n', '#EXTM3U8\n']) {
    t.throws(() => parsePlaylist(text), { name: 'PlaylistError', code: 'E_PLAYLIST', message: /first line must be #EXTM3U/ }, JSON.stringify(text));
  }
  t.throws(() => parsePlaylist('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n#EXTINF:2,\nb.ts\n'), { code: 'E_PLAYLIST' }, 'master and media mixed');
  t.throws(() => parsePlaylist('#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:-1\n'), { code: 'E_PLAYLIST' }, 'bad media sequence');
  t.ok(new PlaylistError('x') instanceof Error);
});
