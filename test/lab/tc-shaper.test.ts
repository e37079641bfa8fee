// The viewer shaping with the real tc, sealed: the fixture runs in a network namespace of its own
// (`unshare --net`, inside the lab's sealed one), so the queues are built on a veth nobody else uses.
// A viewer gets the bucket's rate from the viewer port (the new one right after a change), any rate
// from another port, and the interface's own queueing back once the shaper stops.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { assertSealed } from './sealed.js';

const BOX_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'tc-box.js');
assertSealed();

t.test('a real token bucket paces the viewer port only, and changes rate at once', async (t) => {
  const out = execFileSync('unshare', ['--net', process.execPath, BOX_SCRIPT], { encoding: 'utf8', timeout: 60_000 });
  const r = JSON.parse(out.trim().split('\n').at(-1)!) as { at8: number; other: number; at24: number; unshaped: number; qdiscAfter: string; knowsPorts: boolean };
  t.comment(`viewer port at 8 Mbit/s: ${r.at8.toFixed(2)}; at 24: ${r.at24.toFixed(2)}; other port: ${r.other.toFixed(0)}; after stop: ${r.unshaped.toFixed(0)}`);
  // TCP starts slow and curl's 2 s include the handshake: below the rate, never above it plus a burst.
  t.ok(r.at8 > 8 * 0.7 && r.at8 < 8 * 1.1, `8 Mbit/s class: ${r.at8}`);
  t.ok(r.at24 > 24 * 0.7 && r.at24 < 24 * 1.1, `24 Mbit/s class: ${r.at24}`);
  t.ok(r.other > 100, `the other port is not limited: ${r.other}`);
  t.ok(r.unshaped > 100, `after stop the viewer port is not limited: ${r.unshaped}`);
  t.notMatch(r.qdiscAfter, /htb/, 'the root htb is gone');
  t.ok(r.knowsPorts, 'the shaper knows which ports it sorts (a new one means building again)');
});
