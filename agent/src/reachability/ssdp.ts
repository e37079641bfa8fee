/**
 * Finding the router's UPnP root description by SSDP: one M-SEARCH for an Internet Gateway Device, sent
 * to the multicast group and to the router itself, and the first LOCATION the router answers with.
 * Only answers naming the router's own address are taken: anyone on the LAN can answer an M-SEARCH, and
 * the box must not send its mapping requests to whoever answered first.
 */
import dgram from 'node:dgram';

const SSDP_GROUP = '239.255.255.250';
const SSDP_PORT = 1900;
const SEARCH = [
  'M-SEARCH * HTTP/1.1',
  `HOST: ${SSDP_GROUP}:${SSDP_PORT}`,
  'MAN: "ssdp:discover"',
  'MX: 1',
  'ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1',
  '', '',
].join('\r\n');

/** The LOCATION header of an SSDP answer, when it is one and names an http URL on `gateway`. */
export function locationFrom(answer: string, gateway: string): URL | undefined {
  const m = /^location:\s*(\S+)\s*$/im.exec(answer);
  if (!m?.[1]) return undefined;
  let url: URL;
  try {
    url = new URL(m[1]);
  } catch {
    return undefined;
  }
  return url.protocol === 'http:' && url.hostname === gateway ? url : undefined;
}

export function discoverRootDescription(gateway: string, timeoutMs = 2_500): Promise<URL | undefined> {
  const socket = dgram.createSocket('udp4');
  return new Promise<URL | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), timeoutMs);
    socket.on('error', () => undefined);
    socket.on('message', (msg, from) => {
      const url = from.address === gateway ? locationFrom(msg.toString('latin1'), gateway) : undefined;
      if (url === undefined) return;
      clearTimeout(timer);
      resolve(url);
    });
    socket.bind(0, () => {
      const packet = Buffer.from(SEARCH, 'latin1');
      socket.send(packet, SSDP_PORT, SSDP_GROUP);
      socket.send(packet, SSDP_PORT, gateway);
    });
  }).finally(() => socket.close());
}
