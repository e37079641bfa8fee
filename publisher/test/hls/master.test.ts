// Master playlists: every variant and rendition playlist is pointed at the publisher's playlist server
// (playlistPrefix + path resolved against the master's folder), keys and session data at the origin;
// a variant on another CDN is left alone, one that climbs out of the watched folder is left out; the
// rest of the master is kept line for line.
import t from 'tap';
import { rewritePlaylist } from '../../src/hls/index.js';
import { fixture, viewer } from './fixtures/helpers.js';

t.test("ffmpeg's master with two variants", async (t) => {
  const sticky = new Map([['live/stream_0/seg1.ts', 'kept']]);
  const out = rewritePlaylist(viewer(fixture('master.m3u8'), {}, { playlistPath: 'live/master.m3u8', sticky }));
  t.equal(out, fixture('master.expected.m3u8'));
  t.same([...sticky], [['live/stream_0/seg1.ts', 'kept']], "a master leaves the viewer's memory alone");
});

t.test('renditions, I-frames, session key, external and escaping variants', async (t) => {
  const out = rewritePlaylist(viewer(fixture('master-renditions.m3u8'), {}, { playlistPath: 'live/master.m3u8', originPrefix: 'http://pub.example:8080/origin/' }));
  t.equal(out, [
    '#EXTM3U',
    '#EXT-X-VERSION:6',
    '#EXT-X-INDEPENDENT-SEGMENTS',
    '#EXT-X-SESSION-KEY:METHOD=AES-128,URI="http://pub.example:8080/origin/live/keys/session.key"',
    '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="audio_0",DEFAULT=YES,URI="/hls/live/audio/index.m3u8"',
    '#EXT-X-STREAM-INF:BANDWIDTH=2340800,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2",AUDIO="aud"',
    '/hls/live/video_720/index.m3u8',
    '#EXT-X-STREAM-INF:BANDWIDTH=1170400,RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2",AUDIO="aud"',
    'https://cdn.example.com/live/video_360/index.m3u8',
    '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=190000,RESOLUTION=1280x720,CODECS="avc1.64001f",URI="/hls/live/video_720/iframes.m3u8"',
    '',
  ].join('\n'), 'the 240p variant (../../secret/) is left out with its #EXT-X-STREAM-INF');
});

t.test('a master at the root of the watched folder, and names that need escaping', async (t) => {
  const text = '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n./hd/my stream.m3u8?token=1\n#EXT-X-STREAM-INF:BANDWIDTH=2\n../x.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=3\n';
  t.equal(rewritePlaylist(viewer(text, {}, { playlistPath: 'master.m3u8' })), '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n/hls/hd/my%20stream.m3u8\n',
    'query dropped, space escaped; a variant above the root and a dangling #EXT-X-STREAM-INF left out');
});

t.test('an escaping rendition is left out on its own', async (t) => {
  const text = '#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",URI="../../a.m3u8"\n#EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO="a"\nv.m3u8\n';
  t.equal(rewritePlaylist(viewer(text, {}, { playlistPath: 'live/master.m3u8' })), '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO="a"\n/hls/live/v.m3u8\n');
});
