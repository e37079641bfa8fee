/**
 * Running nginx for the box. "managed": the agent starts its own nginx (Debian's binary) with the
 * generated nginx.conf under RUN_DIRECTORY, reloads it with SIGHUP and stops it with SIGQUIT on exit.
 * "system": the agent writes its site file for the system's nginx, checks it with `nginx -t`, and
 * reloads it; a file nginx refuses is rolled back. Either way every write is atomic.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdir, readFile, readlink } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { writeFileAtomic } from '../../../shared/src/fs-atomic.js';
import { checkCanListen } from '../../../shared/src/listen.js';
import { connectHostFor } from '../../../shared/src/bind-address.js';
import type { Logger } from '../../../shared/src/log.js';
import { messageOf } from '../../../shared/src/protocol/errors.js';
import { isRecord } from '../../../shared/src/protocol/json.js';
import { renderManagedConf, renderSite } from './config.js';
import type { SiteOptions } from './config.js';

const run = promisify(execFile);
const START_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 3_000;

export interface Nginx {
  /** Write the config for `site` and start (managed) or reload (system) nginx. */
  start(site: SiteOptions): Promise<void>;
  /** Write the config for `site` and make nginx use it without dropping connections. */
  reload(site: SiteOptions): Promise<void>;
  /** Ask nginx to reopen its logs (after the access log was rotated by rename). */
  reopenLogs(): Promise<void>;
  stop(): Promise<void>;
}

export function managedNginx(opts: { binary: string; runDirectory: string; log: Logger }): Nginx {
  return new ManagedNginx(opts.binary, opts.runDirectory, opts.log);
}

/** The nginx the agent runs as its own child, with the generated nginx.conf under RUN_DIRECTORY. */
class ManagedNginx implements Nginx {
  private readonly confPath: string;
  private readonly errorLog: string;
  private proc: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private reloads: Promise<void> = Promise.resolve();
  // Workers of a root master default to "nobody", which cannot read files in a 0700 folder of root's.
  private readonly workerUser = process.getuid?.() === 0 ? os.userInfo().username : undefined;

  constructor(
    private readonly binary: string,
    private readonly runDirectory: string,
    private readonly log: Logger,
  ) {
    this.confPath = path.join(runDirectory, 'nginx.conf');
    this.errorLog = path.join(runDirectory, 'nginx-error.log');
  }

  async start(site: SiteOptions): Promise<void> {
    await this.stopLeftover();
    // Before nginx: with the port taken, its probe below would reach whatever holds it and pass.
    await checkCanListen(site.listenIp, site.httpPort, { port: 'BOX_HTTP_PORT', host: 'BOX_SERVER_IP' });
    if (site.https) await checkCanListen(site.listenIp, site.https.port, { port: 'BOX_HTTPS_PORT', host: 'BOX_SERVER_IP' });
    await this.writeConf(site);
    // Its own process group: a Ctrl-C meant for the agent must not reach nginx before the agent stops it in order.
    const child = spawn(this.binary, ['-c', this.confPath, '-p', this.runDirectory, '-e', this.errorLog], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    this.proc = child;
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()).slice(-4000));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.once('exit', (code, signal) => {
      if (this.proc !== child) return;
      this.proc = undefined;
      this.log.error({ code, signal, stderr: stderr.trim() }, 'nginx exited');
    });
    await waitForPort(connectHostFor(site.listenIp), site.httpPort, () => this.proc === undefined).catch(async (err: unknown) => {
      throw new Error(`nginx did not start: ${messageOf(err)}; ${stderr.trim() || (await tail(this.errorLog))}`);
    });
    this.log.info({ pid: child.pid, conf: this.confPath, port: site.httpPort }, 'nginx started');
  }

  /**
   * One reload at a time, in the order asked: two that overlap could otherwise rename their nginx.conf in
   * the other order, and nginx would keep the older settings (a pause already lifted, say) until the next.
   */
  reload(site: SiteOptions): Promise<void> {
    const run = this.reloads.then(async () => {
      await this.writeConf(site);
      this.proc?.kill('SIGHUP');
      this.log.info({ rateBytesPerSecond: site.ratesByConnections[1] }, 'nginx reloaded');
    });
    this.reloads = run.catch(() => undefined); // intentional: the caller gets the error; the next reload still runs
    return run;
  }

  async reopenLogs(): Promise<void> {
    this.proc?.kill('SIGUSR1');
  }

  async stop(): Promise<void> {
    const child = this.proc;
    if (!child) return;
    this.proc = undefined;
    child.kill('SIGQUIT'); // graceful: finish the responses in flight
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
    this.log.info('nginx stopped');
  }

  /** Writes nginx.conf for `site` and has nginx check it (`nginx -t`). */
  private async writeConf(site: SiteOptions): Promise<void> {
    for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) await mkdir(path.join(this.runDirectory, 'nginx-tmp', d), { recursive: true });
    await writeFileAtomic(this.confPath, renderManagedConf({ ...site, runDirectory: this.runDirectory, ...(this.workerUser ? { workerUser: this.workerUser } : {}) }));
    await check(this.binary, ['-t', '-q', '-c', this.confPath, '-p', this.runDirectory, '-e', this.errorLog]);
  }

  /**
   * An nginx left running by an agent that was killed (SIGKILL, a power cut mid-stop, outside systemd,
   * whose KillMode would have ended it) still holds its ports and its pid file: it is stopped before ours
   * starts. Only when the pid file names an nginx master of this very config and run directory (a pid is
   * recycled after a reboot, and another agent's nginx is no business of ours): fast shutdown (SIGTERM),
   * then SIGKILL of its process group (its own, detached at spawn) if it has not gone within the grace.
   */
  private async stopLeftover(): Promise<void> {
    const pid = Number((await readFile(path.join(this.runDirectory, 'nginx.pid'), 'utf8').catch(() => '')).trim());
    if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) return;
    if (!(await this.isOurMaster(pid))) return;
    this.log.warn({ pid, runDirectory: this.runDirectory }, 'stopping an nginx left over from an earlier run');
    signal(pid, 'SIGTERM');
    if (await exitedWithin(pid, STOP_GRACE_MS)) return;
    // Checked again: it may have gone, and its pid been given to another process, in the meantime.
    if (!(await this.isOurMaster(pid)) || (await processGroupOf(pid)) !== pid) return;
    this.log.warn({ pid }, 'the leftover nginx did not stop; killing its process group');
    signal(-pid, 'SIGKILL');
    await exitedWithin(pid, STOP_GRACE_MS);
  }

  /** Whether `pid` is an nginx master started as this class starts one: `-c <our nginx.conf> -p <our run directory>`. */
  private async isOurMaster(pid: number): Promise<boolean> {
    // nginx writes its title over its argv: "nginx: master process <binary> -c CONF -p DIR -e LOG", one string.
    const title = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replace(/\0+$/, '').replace(/\0/g, ' ');
    if (!title.startsWith(NGINX_MASTER_TITLE)) return false;
    const ours = ` -c ${this.confPath} -p ${this.runDirectory}`;
    const at = title.indexOf(ours);
    // Followed by its next argument or the end: a run directory /x/run must not match /x/run-other.
    if (at >= 0 && (title.length === at + ours.length || title[at + ours.length] === ' ')) return true;
    // The title fits in the space of nginx's argv and environment: with long paths and a small environment
    // it is cut short. Then its stderr says whose it is: `-e` made it this run directory's error log.
    const stderr = await readlink(`/proc/${pid}/fd/2`).catch(() => '');
    return stderr.replace(/ \(deleted\)$/, '') === this.errorLog;
  }
}

const NGINX_MASTER_TITLE = 'nginx: master process ';

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Gone already.
  }
}

/** The process group of `pid` (field 5 of /proc/<pid>/stat, after the parenthesised name), or undefined when it is gone. */
async function processGroupOf(pid: number): Promise<number | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const pgid = Number(fields[2]);
  return Number.isInteger(pgid) && pgid > 0 ? pgid : undefined;
}

/** Whether `pid` has exited (gone, or a zombie its new parent has not reaped: no cmdline) within `ms`. */
async function exitedWithin(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if ((await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')) === '') return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function systemNginx(opts: { binary: string; confPath: string; log: Logger }): Nginx {
  async function install(site: SiteOptions): Promise<void> {
    const previous = await readFile(opts.confPath, 'utf8').catch(() => undefined);
    await writeFileAtomic(opts.confPath, renderSite(site));
    try {
      await check(opts.binary, ['-t', '-q']);
    } catch (err) {
      if (previous !== undefined) await writeFileAtomic(opts.confPath, previous);
      throw err;
    }
    await run(opts.binary, ['-s', 'reload']);
    opts.log.info({ conf: opts.confPath, rateBytesPerSecond: site.ratesByConnections[1] }, 'system nginx reloaded');
  }
  return {
    start: install,
    reload: install,
    async reopenLogs() {
      await run(opts.binary, ['-s', 'reopen']);
    },
    async stop() {
      // The system's nginx belongs to the system: it keeps serving what is on disk.
    },
  };
}

async function check(binary: string, args: string[]): Promise<void> {
  try {
    await run(binary, args);
  } catch (err) {
    throw new Error(`nginx refused the generated config: ${execErrorText(err).trim()}`);
  }
}

/** What a failed execFile says: its stderr when it ran, else the error's message. */
function execErrorText(err: unknown): string {
  if (isRecord(err) && typeof err.stderr === 'string') return err.stderr;
  return messageOf(err);
}

async function tail(file: string): Promise<string> {
  return (await readFile(file, 'utf8').catch(() => '')).trim().split('\n').slice(-5).join('\n');
}

/** Resolves once something accepts connections on host:port (nginx applies a reload after its signal returns). */
export async function waitForPort(host: string, port: number, gaveUp: () => boolean = () => false): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (gaveUp()) throw new Error('nginx exited');
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host, port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`port ${port} not open after ${START_TIMEOUT_MS} ms`);
}
