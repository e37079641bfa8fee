/**
 * The box's own address on the way to a host: the source address the kernel picks for its route there.
 * A connected UDP socket asks the routing table without sending a packet.
 */
import dgram from 'node:dgram';
import net from 'node:net';

export function localAddressToward(host: string, port = 9): Promise<string> {
  const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
  return new Promise<string>((resolve, reject) => {
    socket.once('error', reject);
    socket.connect(port, host, () => resolve(socket.address().address));
  }).finally(() => socket.close());
}
