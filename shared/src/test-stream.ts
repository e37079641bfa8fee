/**
 * The ffmpeg command line of a live test stream (test pattern + tone, H.264/AAC, HLS with 2 s
 * segments written via temp files), used by the demo, the end-to-end test and the benchmarks.
 */
import path from 'node:path';

export function testStreamArgs(opts: { directory: string; segmentSeconds?: number; listSize?: number; width?: number; height?: number }): string[] {
  const seg = opts.segmentSeconds ?? 2;
  const fps = 25;
  const size = `${opts.width ?? 640}x${opts.height ?? 360}`;
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'info', '-re',
    '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=${fps}`,
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p',
    '-g', String(seg * fps), '-keyint_min', String(seg * fps), '-sc_threshold', '0', '-b:v', '800k',
    '-c:a', 'aac', '-b:a', '96k',
    '-f', 'hls', '-hls_time', String(seg), '-hls_list_size', String(opts.listSize ?? 6),
    '-hls_flags', 'delete_segments+temp_file+independent_segments',
    '-hls_segment_filename', path.join(opts.directory, 'seg%05d.ts'),
    path.join(opts.directory, 'index.m3u8'),
  ];
}
