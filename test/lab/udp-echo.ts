/**
 * A tiny UDP echo server, the far end of the household's interactive flow: `node udp-echo.js <ip> <port>`,
 * run in the internet namespace. Every datagram goes straight back to its sender; prints "listening" once bound.
 */
import dgram from 'node:dgram';

const [ip, port] = process.argv.slice(2);
if (ip === undefined || port === undefined) throw new Error('usage: udp-echo <ip> <port>');
const socket = dgram.createSocket(ip.includes(':') ? 'udp6' : 'udp4');
socket.on('message', (msg, from) => socket.send(msg, from.port, from.address));
socket.bind(Number(port), ip, () => process.stdout.write('listening\n'));
