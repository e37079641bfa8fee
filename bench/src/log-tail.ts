/**
 * log tailing: lines per second the agent's traffic tail turns into stored aggregates (and the records
 * one record lifetime keeps, agent/src/traffic/record-budget.ts), on a generated access log in the format
 * nginx writes (agent/test/fixtures/access.log), against `wc -l` on the same file.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../shared/src/log.js';
import { boxKeys } from '../../shared/src/redis-keys.js';
import { createTrafficTail } from '../../agent/src/traffic/tail.js';
import { startRedis } from '../../test/helpers/redis.js';
import type { Benchmark, Row } from './common.js';
import { ratioRow } from './common.js';

const BOX_ID = 'box-bench-tail';

/** One line as nginx writes it with LOG_FORMAT: same keys, order and quoting as the fixture. */
export function accessLine(i: number, msec: number): string {
  const rid = randomBytes(16).toString('hex');
  const status = i % 20 === 0 ? 404 : 200;
  const uri = i % 5 === 0 ? '/publisher-abc/live/index.m3u8' : `/publisher-abc/live/seg-${Math.floor(i / 5)}.ts`;
  const body = status === 404 ? 153 : 4000 + (i % 997);
  return `{"rid":"${rid}","time":"25/Nov/2026:16:13:06 +0000","msec":"${msec.toFixed(3)}","method":"GET","uri":${JSON.stringify(uri)},` +
    `"status":"${status}","bytes":"${body + 241}","body":"${body}","addr":"127.0.0.1"}\n`;
}

export async function writeLog(file: string, lines: number, flags = 'w'): Promise<void> {
  const out = createWriteStream(file, { flags });
  const t0 = 1795623186.202;
  let chunk = '';
  for (let i = 0; i < lines; i++) {
    chunk += accessLine(i, t0 + i / 1000);
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
      chunk = '';
    }
  }
  out.end(chunk);
  await new Promise<void>((resolve, reject) => out.once('finish', resolve).once('error', reject));
}

export const logTail: Benchmark = {
  name: 'log-tail',
  async run({ smoke }, cleanup): Promise<Row[]> {
    const lines = smoke ? 5_000 : 200_000;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dandelion-bench-tail-'));
    cleanup.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const logPath = path.join(dir, 'access.log');
    await writeLog(logPath, lines);
    const size = statSync(logPath).size;

    const server = await startRedis(cleanup);
    const redis = server.client();
    const keys = boxKeys(BOX_ID);
    const tail = createTrafficTail({ redis, keys, boxId: BOX_ID, logPath, recordTtlSeconds: 3600, log: silentLogger() });
    cleanup.teardown(() => tail.stop());
    const start = process.hrtime.bigint();
    let consumed = 0;
    for (;;) {
      const n = await tail.pass();
      if (n === 0) break;
      consumed += n;
    }
    const tailSeconds = Number(process.hrtime.bigint() - start) / 1e9;
    // How much of that Redis spent running the commit script (the rest is the agent's own work).
    const stats = await redis.info('commandstats');
    const redisUsec = [...stats.matchAll(/^cmdstat_(?:evalsha|eval|exec):calls=\d+,usec=(\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    const offset = Number((await redis.hget(keys.trafficOffset, 'offset')) ?? 0);
    const records = (await redis.keys(keys.trafficFlowPattern)).length;

    const wcStart = process.hrtime.bigint();
    const wc = spawnSync('wc', ['-l', logPath], { encoding: 'utf8' });
    const wcSeconds = Number(process.hrtime.bigint() - wcStart) / 1e9;
    const wcLines = Number(wc.stdout.trim().split(/\s+/)[0]);

    const problems: string[] = [];
    if (consumed !== lines) problems.push(`tail consumed ${consumed} of ${lines} lines`);
    if (offset !== size) problems.push(`stored offset ${offset} ≠ file size ${size}`);
    if (wc.status !== 0 || wcLines !== lines) problems.push(`wc -l said ${wc.stdout.trim()} (${wc.status})`);
    const row = ratioRow({
      bench: 'log-tail', metric: 'access-log lines/s', unit: '/s', project: consumed / tailSeconds, reference: wcLines / wcSeconds,
      goal: 'ratio ≥ 0.25', note: `${lines} lines, ${(size / 1e6).toFixed(1)} MB; tail ${tailSeconds.toFixed(2)} s (Redis busy ${(redisUsec / 1e6).toFixed(2)} s of it, ${records} records stored), wc -l ${(wcSeconds * 1000).toFixed(1)} ms${problems.length ? `; ${problems.join('; ')}` : ''}`,
    }, 0.25);
    row.pass &&= problems.length === 0;
    return [row];
  },
};
