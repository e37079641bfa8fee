// The viewer URL layout shared by publisher and box: HTTP_URL + <publisher-id>/<FILE_PATH>, each name
// percent-encoded on the way out and decoded on the way back, and the box's HTTP_URL itself.
import t from 'tap';
import { boxHttpUrl, encodeFilePath, parseViewerPath, viewerPath, viewerUrl } from '../src/viewer-url.js';

t.test('a box announces http://<host>:<port>/, an IPv6 host bracketed', async (t) => {
  t.equal(boxHttpUrl('192.0.2.7', 8080), 'http://192.0.2.7:8080/');
  t.equal(boxHttpUrl('2001:db8::7', 8080), 'http://[2001:db8::7]:8080/');
});

t.test('a file sits at <publisher-id>/<FILE_PATH> under the box\'s web root', async (t) => {
  t.equal(viewerPath('publisher-abc', 'live/seg 1.ts'), 'publisher-abc/live/seg 1.ts', 'on disk: not encoded');
});

t.test('viewers fetch HTTP_URL + <publisher-id>/<FILE_PATH>, each name encoded', async (t) => {
  t.equal(viewerUrl('http://192.0.2.7:8080/', 'publisher-abc', 'live/seg-1.ts'), 'http://192.0.2.7:8080/publisher-abc/live/seg-1.ts');
  t.equal(viewerUrl('http://192.0.2.7:8080', 'publisher-abc', 'a.ts'), 'http://192.0.2.7:8080/publisher-abc/a.ts', 'a missing final / is added');
  t.equal(viewerUrl('http://box.example/cdn/', 'publisher-abc', 'a.ts'), 'http://box.example/cdn/publisher-abc/a.ts', 'an HTTP_URL with a path keeps it');
  t.equal(viewerUrl('http://[::1]:81/', 'publisher-abc', 'live/my seg?%#.ts'), 'http://[::1]:81/publisher-abc/live/my%20seg%3F%25%23.ts', 'names encoded, / kept');
  t.equal(encodeFilePath('a b/"c".m3u8'), 'a%20b/%22c%22.m3u8');
});

t.test('what the box parses back is what the publisher built', async (t) => {
  for (const file of ['live/seg-1.ts', 'live/my seg?%#.ts', 'ünï/cödé.m4s']) {
    const url = new URL(viewerUrl('http://192.0.2.7:8080/', 'publisher-abc', file));
    t.same(parseViewerPath(url.pathname + url.search), { publisher: 'publisher-abc', file }, file);
  }
});

t.test('a served URI names its publisher and file (what the box reads back from its access log)', async (t) => {
  t.same(parseViewerPath('/publisher-abc/live/seg-1.ts'), { publisher: 'publisher-abc', file: 'live/seg-1.ts' });
  t.same(parseViewerPath('/publisher-abc/live/index.m3u8?x="quote"&y=%0A'), { publisher: 'publisher-abc', file: 'live/index.m3u8' }, 'query string dropped');
  t.same(parseViewerPath('/publisher-abc/live/my%20seg.ts'), { publisher: 'publisher-abc', file: 'live/my seg.ts' }, 'decoded');
  t.same(parseViewerPath('/publisher-abc/live/bad%zz.ts'), { publisher: 'publisher-abc', file: 'live/bad%zz.ts' }, 'invalid escape kept as sent');
  t.same(parseViewerPath('//publisher-abc/a.ts'), { publisher: 'publisher-abc', file: 'a.ts' }, 'repeated leading slash');
  t.same(parseViewerPath('/publisher-abc'), { publisher: 'publisher-abc', file: '' });
  t.same(parseViewerPath('/favicon.ico'), { publisher: '', file: 'favicon.ico' }, 'not a publisher ID');
  t.same(parseViewerPath('/box-1/a.ts'), { publisher: '', file: 'box-1/a.ts' }, 'another role prefix is not a publisher');
  t.same(parseViewerPath('/publisher-a:b/x'), { publisher: '', file: 'publisher-a:b/x' }, 'characters no publisher ID has');
  t.same(parseViewerPath('/'), { publisher: '', file: '' });
});

