/**
 * pebble (test/helpers/pebble.ts) placed in the lab's internet namespace, where boxes, the entrance and the
 * browser reach it at the internet's address; the test process itself has no route there, so its own
 * requests to pebble go through curl in that namespace.
 */
import { startPebble, type Pebble, type PebbleOptions, type PebblePlace } from '../helpers/pebble.js';
import type { Lab } from './lab.js';

export function inInternet(lab: Lab): PebblePlace {
  return {
    host: lab.internetIp,
    spawn: (argv, opts) => lab.spawn(lab.internet, argv, opts),
    async fetchText(url, caFile) {
      const r = await lab.exec(lab.internet, ['curl', '-sSf', '--max-time', '5', '--cacert', caFile, url]);
      if (r.code !== 0) throw new Error(`${url}: ${r.stderr.trim()}`);
      return r.stdout;
    },
  };
}

export function startLabPebble(t: { teardown(fn: () => unknown): void }, lab: Lab, opts: Omit<PebbleOptions, 'place'>): Promise<Pebble> {
  return startPebble(t, { ...opts, place: inInternet(lab) });
}
