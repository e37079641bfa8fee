// The live test stream's ffmpeg command line, run for real: it writes an HLS playlist and segments of
// the asked length into the folder, a keyframe starting each segment.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { testStreamArgs } from '../src/test-stream.js';
import { track } from '../../test/helpers/children.js';

t.test('the arguments say what the stream is', async (t) => {
  const args = testStreamArgs({ directory: '/srv/live', segmentSeconds: 4, listSize: 3, width: 320, height: 180 });
  const after = (flag: string): string | undefined => args[args.indexOf(flag) + 1];
  t.equal(after('-hls_time'), '4');
  t.equal(after('-hls_list_size'), '3');
  t.equal(after('-g'), '100', 'a keyframe every segment (4 s × 25 fps)');
  t.equal(after('-hls_segment_filename'), '/srv/live/seg%05d.ts');
  t.equal(args.at(-1), '/srv/live/index.m3u8');
  t.ok(args.includes('testsrc2=size=320x180:rate=25'));
  t.match(after('-hls_flags'), /temp_file/, 'segments appear whole (written to a temp name, then renamed)');
  t.equal(testStreamArgs({ directory: '/d' })[testStreamArgs({ directory: '/d' }).indexOf('-hls_time') + 1], '2', '2 s segments by default');
});

t.test('ffmpeg run with them writes a playlist and whole segments', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'test-stream-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ffmpeg = spawn('ffmpeg', testStreamArgs({ directory: dir, segmentSeconds: 1, width: 160, height: 90 }), { stdio: ['ignore', 'ignore', 'pipe'] });
  track(ffmpeg);
  let log = '';
  ffmpeg.stderr.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((resolve) => ffmpeg.once('exit', () => resolve()));
  t.teardown(async () => {
    if (ffmpeg.exitCode === null) ffmpeg.kill('SIGKILL');
    await exited;
  });
  let playlist = '';
  for (let i = 0; i < 300 && !/seg00001\.ts/.test(playlist) && ffmpeg.exitCode === null; i++) {
    await sleep(100);
    playlist = await readFile(path.join(dir, 'index.m3u8'), 'utf8').catch(() => '');
  }
  t.match(playlist, /^#EXTM3U/, `a playlist was written${playlist ? '' : `; ffmpeg said:\n${log.slice(-2000)}`}`);
  t.match(playlist, /#EXT-X-TARGETDURATION:1\b/, '1 s segments as asked');
  t.match(playlist, /^seg00000\.ts$/m);
  t.ok((await stat(path.join(dir, 'seg00000.ts'))).size > 1000, 'the first segment holds video');
  const first = await readFile(path.join(dir, 'seg00000.ts'));
  t.equal(first[0], 0x47, 'an MPEG-TS packet starts it');
});
