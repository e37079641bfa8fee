// The viewer page's SHA-256 fallback (public/sha256.js, for pages that are not a secure context and have
// no crypto.subtle) gives the same digest as node:crypto on random inputs of every length around the
// padding boundaries and on a segment-sized one.
import { createHash, randomBytes, randomInt } from 'node:crypto';
import t from 'tap';

// The script is served as written (tsc does not compile it): build/publisher/test/ → the checkout.
const SCRIPT = new URL('../../../publisher/src/http/public/sha256.js', import.meta.url);

async function loadSha256(): Promise<(data: Uint8Array) => string> {
  const mod: unknown = await import(SCRIPT.href);
  const fn: unknown = typeof mod === 'object' && mod !== null && 'sha256Hex' in mod ? mod.sha256Hex : undefined;
  if (typeof fn !== 'function') throw new Error('sha256.js exports no sha256Hex');
  return (data) => String(fn(data));
}

t.test('sha256.js equals node:crypto', async (t) => {
  const sha256Hex = await loadSha256();
  const node = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  let same = 0;
  const lengths = [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 4096];
  for (let i = 0; i < 200; i++) lengths.push(randomInt(0, 5000));
  for (const n of lengths) {
    const b = randomBytes(n);
    if (sha256Hex(new Uint8Array(b)) === node(b)) same += 1;
    else t.fail(`differs for ${n} bytes`);
  }
  t.equal(same, lengths.length, `${same} random inputs hash alike`);
  const segment = randomBytes(1_500_000 + randomInt(0, 1000));
  t.equal(sha256Hex(new Uint8Array(segment)), node(segment), 'a segment-sized input (an ArrayBuffer view with an offset too)');
  const offsetView = new Uint8Array(segment.buffer, segment.byteOffset + 7, 1000);
  t.equal(sha256Hex(offsetView), node(segment.subarray(7, 1007)), 'a view into a larger buffer hashes only its own bytes');
});
