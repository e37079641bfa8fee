/**
 * The lab's one safety rule, checked before anything is created: this process runs inside the sealed
 * outer network namespace that scripts/lab-test.sh makes (only loopback), never in the host's own. The
 * lab's veths and public-range addresses then cannot touch the real network, even by mistake.
 */
import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';

export class NotSealedError extends Error {
  override name = 'NotSealedError';
}

export function assertSealed(): void {
  if (process.getuid?.() !== 0) throw new NotSealedError('the home-network lab needs root: run it with `make lab-test` as root');
  // scripts/lab-test.sh notes the host's namespace before it unshares (/proc/1/ns is not readable here).
  const host = process.env.DANDELION_HOST_NETNS;
  if (!host || readlinkSync('/proc/self/ns/net') === host) {
    throw new NotSealedError('the home-network lab runs only sealed (in its own network namespace): run it with `make lab-test`');
  }
  // `ip` asks the kernel about this process's namespace (/sys/class/net may still show the host's).
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.split(':')[1]?.trim())
    .filter((name): name is string => Boolean(name) && name !== 'lo');
  if (links.length > 0) {
    throw new NotSealedError(`the lab's outer network namespace must hold only loopback, it has: ${links.join(', ')}`);
  }
}
