/**
 * Debian's miniupnpd as a home router's port-mapping daemon, in the foreground (-d) so the lab owns
 * its process, with its config, pid file and log in the home's own folder (two routers must not share
 * /run/miniupnpd.pid: the second would exit as "already running").
 */
import type { ChildProcess } from 'node:child_process';
import { createWriteStream, writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawnIn, type Ns } from './netns.js';
import { LAN_IF, WAN_IF } from './nft.js';

/** The UPnP HTTP port; fixed so a client can skip the ~2 s SSDP discovery with the root description URL. */
export const UPNP_HTTP_PORT = 5000;
/** NAT-PMP and PCP listen on the router's LAN address, port 5351 (RFC 6886, RFC 6887). */
export const NAT_PMP_PORT = 5351;
const READY_TIMEOUT_MS = 10_000;

export interface MiniupnpdOptions {
  router: Ns;
  /** Folder for miniupnpd.conf, the pid file and miniupnpd.log. */
  dir: string;
  /** The home's LAN, e.g. 192.168.1.0/24: the only clients allowed to map, and only ports ≥ 1024. */
  lan: string;
  upnp: boolean;
  natPmp: boolean;
  /** Distinct per home (UPnP device UUID). */
  uuid: string;
  /** The router's IPv6 LAN address: with it, UPnP IGD2 also opens IPv6 firewall pinholes (AddPinhole). */
  lanIp6?: string;
}

export function miniupnpdConfig(opts: MiniupnpdOptions): string {
  return [
    `ext_ifname=${WAN_IF}`,
    `listening_ip=${LAN_IF}`,
    ...(opts.lanIp6 ? [`ipv6_listening_ip=${opts.lanIp6}`] : ['ipv6_disable=yes']),
    `http_port=${UPNP_HTTP_PORT}`,
    `enable_upnp=${opts.upnp ? 'yes' : 'no'}`,
    `enable_natpmp=${opts.natPmp ? 'yes' : 'no'}`,
    // A LAN host may map ports to itself only, as on a real home router.
    'secure_mode=yes',
    'system_uptime=yes',
    `uuid=${opts.uuid}`,
    `allow 1024-65535 ${opts.lan} 1024-65535`,
    'deny 0-65535 0.0.0.0/0 0-65535',
    '',
  ].join('\n');
}

/** Start miniupnpd and resolve once it listens for its protocols; its output goes to <dir>/miniupnpd.log. */
export async function startMiniupnpd(opts: MiniupnpdOptions): Promise<ChildProcess> {
  const conf = path.join(opts.dir, 'miniupnpd.conf');
  writeFileSync(conf, miniupnpdConfig(opts));
  const child = spawnIn(opts.router, ['/usr/sbin/miniupnpd', '-d', '-f', conf, '-P', path.join(opts.dir, 'miniupnpd.pid')]);
  const log = createWriteStream(path.join(opts.dir, 'miniupnpd.log'), { flags: 'a' });
  let output = '';
  const collect = (d: Buffer): void => {
    output += d.toString();
    log.write(d);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  child.once('exit', () => log.end());
  const readyLine = opts.natPmp ? 'Listening for NAT-PMP/PCP traffic' : 'HTTP listening on port';
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!output.includes(readyLine)) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`miniupnpd exited while starting:\n${output}`);
    if (Date.now() > deadline) throw new Error(`miniupnpd did not get ready in ${READY_TIMEOUT_MS} ms:\n${output}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return child;
}

/** Stop it and wait for its exit (it removes its rules on a clean stop; reboot() flushes them anyway). */
export async function stopMiniupnpd(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
  await exited;
  clearTimeout(timer);
}
