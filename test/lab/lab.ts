/**
 * The home-network lab: an "internet" namespace (entrance, publisher, browser, ACME server, DNS live
 * there) and homes behind routers of several kinds, all inside the sealed outer namespace that
 * `make lab-test` runs the tests in (sealed.ts). Stopped with stop(), or, when the test process dies
 * first, by an exit hook; whatever a killed run still leaves dies with the sealed namespace.
 */
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { atDeath } from '../helpers/children.js';
import { INTERNET_IP, INTERNET_IP6, MAX_HOMES } from './addresses.js';
import { Home, type HomeSpec } from './home.js';
import { enableForwarding } from './links.js';
import { createNs, deleteNs, execHost, execIn, runIn, setResolver, spawnIn, type ExecOptions, type ExecResult, type Ns } from './netns.js';
import { assertSealed } from './sealed.js';

export type { Ns, ExecResult, ExecOptions } from './netns.js';
export { Home, HOST_IF, type HomeSpec, type RouterKind } from './home.js';

export interface LabOptions {
  homes: HomeSpec[];
  /** The resolver of every namespace (`/etc/netns/<ns>/resolv.conf`); default: the internet's own address. */
  nameserver?: string;
}

export interface Lab {
  internet: Ns;
  /** The internet namespace's own addresses (on its loopback), reachable from every home. */
  internetIp: string;
  internetIp6: string;
  homes: Home[];
  /** Run a command in a namespace to its end (never throws for a non-zero exit). */
  exec(ns: Ns, argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Start a process in a namespace; it is killed at stop(). */
  spawn(ns: Ns, argv: readonly string[], opts?: SpawnOptions): ChildProcess;
  /** The lab's temp folder (logs of miniupnpd, pebble…), removed at stop(). */
  dir: string;
  stop(): Promise<void>;
}

let labs = 0;

export async function startLab(opts: LabOptions): Promise<Lab> {
  assertSealed();
  if (opts.homes.length > MAX_HOMES) throw new Error(`startLab: at most ${MAX_HOMES} homes`);
  // Distinct names per process and per lab: tap runs test files in parallel in the same sealed namespace.
  const prefix = `lab${process.pid}-${++labs}`;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dandelion-lab-'));
  const created: Ns[] = [];
  const children = new Set<ChildProcess>();
  const homes: Home[] = [];
  const forget = atDeath(() => {
    // Synchronous while dying: kill what we started; the namespaces die with the sealed runner.
    for (const child of children) child.kill('SIGKILL');
  });
  const stop = async (): Promise<void> => {
    forget();
    for (const home of homes) await home.stop().catch(() => undefined);
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const ns of created.reverse()) await deleteNs(ns);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const internet = await createNs(`${prefix}-inet`);
    created.push(internet);
    await runIn(internet, ['ip', 'addr', 'add', `${INTERNET_IP}/32`, 'dev', 'lo']);
    await runIn(internet, ['ip', 'addr', 'add', `${INTERNET_IP6}/128`, 'dev', 'lo']);
    await enableForwarding(internet);
    for (const [i, spec] of opts.homes.entries()) {
      const home = await Home.build({ ...spec, n: i + 1, internet, prefix, dir });
      homes.push(home);
      created.push(...home.namespaces());
    }
    for (const ns of created) setResolver(ns, opts.nameserver ?? INTERNET_IP);
    return {
      internet,
      internetIp: INTERNET_IP,
      internetIp6: INTERNET_IP6,
      homes,
      dir,
      exec: (ns, argv, execOpts) => execIn(ns, argv, execOpts),
      spawn(ns, argv, spawnOpts) {
        const child = spawnIn(ns, argv, spawnOpts);
        children.add(child);
        child.once('exit', () => children.delete(child));
        return child;
      },
      stop,
    };
  } catch (err) {
    // A half-built lab: Home.build may have created namespaces it did not hand back yet.
    const leftovers = await execHost(['ip', 'netns', 'list']);
    for (const line of leftovers.stdout.split('\n')) {
      const name = line.split(' ')[0];
      if (name?.startsWith(`${prefix}-`) && !created.some((ns) => ns.name === name)) created.push({ name });
    }
    await stop();
    throw err;
  }
}
