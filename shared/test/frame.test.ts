// The <Dandelion> binary frame: round trip, header limits, and FILE_PATH normalisation that can never
// name a place outside the publisher's folder.
import t from 'tap';
import { DEFAULT_TTL_SECONDS, MAX_HEADER_BYTES, decodeFrame, encodeFrame, normaliseFilePath } from '../src/protocol/index.js';

t.test('round trip', async (t) => {
  const content = Buffer.from([0, 1, 2, 255, 60, 47, 68, 62]); // binary, including '</D>'-like bytes
  const frame = decodeFrame(encodeFrame({ FILE_PATH: 'live/seg-1.ts', TTL: 30 }, content));
  t.same(frame.header, { FILE_PATH: 'live/seg-1.ts', TTL: 30 });
  t.ok(frame.content.equals(content));
  t.equal(decodeFrame(encodeFrame({ FILE_PATH: 'a' }, Buffer.alloc(0))).header.TTL, DEFAULT_TTL_SECONDS, 'default TTL');
  const original = Buffer.concat([Buffer.from('<Dandelion>{"FILE_PATH": "/hls/index0.ts", "TTL": "120"}</Dandelion>'), content]);
  t.same(decodeFrame(original).header, { FILE_PATH: 'hls/index0.ts', TTL: 120 }, "the original's frame, leading '/' and string TTL");
});

t.test('malformed frames', async (t) => {
  t.throws(() => decodeFrame(Buffer.from('hello')), { code: 'E_BINARY' });
  t.throws(() => decodeFrame(Buffer.from('<Dandelion>{"FILE_PATH":"a"}')), { code: 'E_BINARY' });
  t.throws(() => decodeFrame(Buffer.from('<Dandelion>[1]</Dandelion>')), { code: 'E_BINARY' });
  t.throws(() => decodeFrame(Buffer.from('<Dandelion>{bad json</Dandelion>')), { code: 'E_FORMAT' });
  t.throws(() => decodeFrame(Buffer.from('<Dandelion>{"TTL":5}</Dandelion>')), { code: 'E_FORMAT' });
  t.throws(() => decodeFrame(Buffer.from('<Dandelion>{"FILE_PATH":"a","TTL":-1}</Dandelion>')), { code: 'E_FORMAT' });
  const huge = Buffer.concat([Buffer.from(`<Dandelion>{"FILE_PATH":"a","PAD":"${'x'.repeat(MAX_HEADER_BYTES)}"}</Dandelion>`), Buffer.alloc(10)]);
  t.throws(() => decodeFrame(huge), { code: 'E_TOO_BIG' });
});

t.test('paths that climb out or are ambiguous are refused', async (t) => {
  for (const bad of ['', '..', '../x', 'a/../../x', 'a/./b', './a', '//etc/passwd', 'a//b', 'a/', 'a\\b', '..\\x', 'a\u0000b', 'a\nb', 'C:/x', 'x'.repeat(2000), `${'a/'.repeat(40)}b`]) {
    t.throws(() => normaliseFilePath(bad), { code: 'E_PATH' }, JSON.stringify(bad.slice(0, 30)));
  }
  t.equal(normaliseFilePath('/live/seg-1.ts'), 'live/seg-1.ts', "one leading '/' means the publisher's folder, as in the original");
  t.equal(normaliseFilePath('live/stream_720p/seg 00001.ts'), 'live/stream_720p/seg 00001.ts');
  t.equal(normaliseFilePath('..hidden/x..y'), '..hidden/x..y', "dots inside a name are not '..'");
});
