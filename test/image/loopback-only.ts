/**
 * The image test's network rule: this process (and the publisher CLI, loaded with
 * `node --import …/loopback-only.js`) opens TCP connections to 127.0.0.0/8 only. 10.0.2.2, the entrance's
 * address as the guest sees it, exists only inside qemu's user-mode NAT: a host-side client that learnt
 * it from an entrance reply must fail here, loudly, rather than go out on the real network.
 */
import net from 'node:net';

const original = net.Socket.prototype.connect;

function allowed(host: string | undefined): boolean {
  return host === undefined || host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

net.Socket.prototype.connect = function guardedConnect(this: net.Socket, ...args: unknown[]): net.Socket {
  const first = args[0];
  let host: string | undefined;
  if (Array.isArray(first)) {
    const opts = first[0] as { host?: string; path?: string };
    host = opts?.path ? undefined : opts?.host ?? 'localhost';
  } else if (typeof first === 'object' && first !== null) {
    const opts = first as { host?: string; path?: string };
    host = opts.path ? undefined : opts.host ?? 'localhost';
  } else if (typeof first === 'number') {
    host = typeof args[1] === 'string' ? args[1] : 'localhost';
  }
  if (!allowed(host)) throw new Error(`loopback-only: refusing a connection to ${host} (the image test talks to 127.0.0.0/8 only)`);
  return (original as (...a: unknown[]) => net.Socket).apply(this, args);
} as typeof net.Socket.prototype.connect;
