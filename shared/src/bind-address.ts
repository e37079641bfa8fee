/**
 * From the address a server binds to, the host a URL or a client uses to reach it. A wildcard bind
 * (0.0.0.0, ::, or '') is no place to connect to, so it becomes this machine's loopback; any other
 * address is reached where it is bound.
 */

/** Whether `ip` binds every address of the machine rather than one. */
export function isWildcardAddress(ip: string): boolean {
  return ip === '' || ip === '0.0.0.0' || ip === '::';
}

/**
 * Where to connect to a server bound to `bindIp`. 0.0.0.0 and '' become 127.0.0.1 and :: becomes ::1:
 * a server bound to :: also takes IPv4 on a dual-stack Linux, but not where IPV6_V6ONLY is set
 * (net.ipv6.bindv6only=1, BSDs), whereas ::1 always reaches it, so the loopback of the bound family is
 * the one that cannot be wrong.
 */
export function connectHostFor(bindIp: string): string {
  if (bindIp === '::') return '::1';
  if (isWildcardAddress(bindIp)) return '127.0.0.1';
  return bindIp;
}

/** A host as written in a URL's authority: an IPv6 address in brackets, anything else as it is. */
export function urlHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** `host:port` for a URL or an nginx `listen`/`proxy_pass`, with an IPv6 host bracketed. */
export function hostPort(host: string, port: number): string {
  return `${urlHost(host)}:${port}`;
}
