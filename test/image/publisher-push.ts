/**
 * `dandelion publisher push FILE` from this host for the image tests: loopback-only (the publisher process
 * loads ./loopback-only.js), against the host's entrance URL (127.0.0.1, not the address the guest knows)
 * and the test's Redis. Resolves with its exit code and output.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { track } from '../helpers/children.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const GUARD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'loopback-only.js');

export interface PushTarget {
  publisherId: string;
  /** The publisher's enrolment token (test/helpers/publisher-account.ts publisherToken). */
  enrolmentToken: string;
  redisUrl: string;
  /** The entrance as this host reaches it: ws://127.0.0.1:PORT/dandelion/ws/. */
  entranceUrl: string;
  /** The publisher's watch and run folders live here. */
  dir: string;
}

export function publisherPush(target: PushTarget, file: string): { proc: ChildProcess; done: Promise<{ code: number | null; out: string }> } {
  const proc = spawn(path.join(ROOT, 'bin', 'dandelion'), ['publisher', 'push', file, '--ttl', '7200'], {
    env: {
      ...process.env,
      NODE_OPTIONS: `--import=${GUARD}`,
      DANDELION_ID: target.publisherId,
      DANDELION_ENROLMENT_TOKEN: target.enrolmentToken,
      DANDELION_REDIS_URL: target.redisUrl,
      DANDELION_ENTRANCE_URLS: JSON.stringify([target.entranceUrl]),
      DANDELION_REPLICAS: '1',
      DANDELION_RUN_DIRECTORY: path.join(target.dir, 'run'),
      DANDELION_PUBLISHER_WATCH_DIRECTORY: target.dir,
      DANDELION_PUBLISHER_HTTP_IP: '127.0.0.1',
      DANDELION_PUBLISHER_HTTP_PORT: '0',
      DANDELION_METRICS_PORT: '0',
      DANDELION_SEND_TIMEOUT: '120',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(proc);
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<{ code: number | null; out: string }>((resolve) => proc.once('exit', (code) => resolve({ code, out })));
  return { proc, done };
}
