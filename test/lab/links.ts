/**
 * Wiring between the lab's namespaces. A veth pair is created with each end directly inside its
 * namespace (`ip link add … netns A type veth peer … netns B`), so no lab interface ever exists, even
 * for a moment, in the namespace the runner lives in.
 */
import { runIn, run, type Ns } from './netns.js';

export async function veth(a: Ns, nameInA: string, b: Ns, nameInB: string): Promise<void> {
  await run(['ip', 'link', 'add', 'name', nameInA, 'netns', a.name, 'type', 'veth', 'peer', 'name', nameInB, 'netns', b.name]);
  await runIn(a, ['ip', 'link', 'set', nameInA, 'up']);
  await runIn(b, ['ip', 'link', 'set', nameInB, 'up']);
}

/** Add an address; IPv6 ones skip duplicate address detection, which would hold them back ~2 s. */
export async function addAddress(ns: Ns, dev: string, address: string, prefixLength: number): Promise<void> {
  const extra = address.includes(':') ? ['nodad'] : [];
  await runIn(ns, ['ip', 'addr', 'add', `${address}/${prefixLength}`, 'dev', dev, ...extra]);
}

export async function delAddress(ns: Ns, dev: string, address: string, prefixLength: number): Promise<void> {
  await runIn(ns, ['ip', 'addr', 'del', `${address}/${prefixLength}`, 'dev', dev]);
}

export async function route(ns: Ns, destination: string, via: string, src?: string): Promise<void> {
  const family = via.includes(':') ? '-6' : '-4';
  await runIn(ns, ['ip', family, 'route', 'replace', destination, 'via', via, ...(src ? ['src', src] : [])]);
}

/** The subnet of `dev` is reached from `src`: the internet's connections come from its own address, not the link's. */
export async function linkRoute(ns: Ns, subnet: string, dev: string, src: string): Promise<void> {
  const family = src.includes(':') ? '-6' : '-4';
  await runIn(ns, ['ip', family, 'route', 'replace', subnet, 'dev', dev, 'src', src]);
}

/** Make the namespace a router (forwarding between its interfaces, IPv4 and IPv6). */
export async function enableForwarding(ns: Ns): Promise<void> {
  await runIn(ns, ['sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
}
