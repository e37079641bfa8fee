/**
 * The entrance-memory benchmark's reference, run as its own process like the entrance: a bare `ws`
 * WebSocketServer on loopback that answers each message with itself. It prints its port and then stays up
 * until killed.
 */
import { WebSocketServer } from 'ws';

const maxPayload = Number(process.argv[2] ?? 65536);
const server = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload, perMessageDeflate: false });
server.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
server.once('listening', () => {
  const address = server.address();
  process.stdout.write(`${typeof address === 'object' && address !== null ? address.port : 0}\n`);
});
