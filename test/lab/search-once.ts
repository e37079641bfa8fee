/**
 * One authenticated SEARCH, as a publisher: `node search-once.js <entrance ws URL> <publisher ID> <key file>`,
 * run by a lab test in the internet namespace (the test process has no route there). The key is the one
 * the running publisher enrolled with; prints the reply's BOX_SET as JSON.
 */
import { WebSocket } from 'ws';
import { PeerCredentials } from '../../shared/src/enrolment/peer-credentials.js';
import { loadOrCreatePeerKey } from '../../shared/src/enrolment/peer-key.js';
import { silentLogger } from '../../shared/src/log.js';
import { searchRequest } from '../helpers/messages.js';

const [url, publisherId, keyFile] = process.argv.slice(2);
if (url === undefined || publisherId === undefined || keyFile === undefined) throw new Error('usage: search-once <url> <publisher-id> <key-file>');
const key = await loadOrCreatePeerKey(keyFile, silentLogger());
const headers = await new PeerCredentials(publisherId, key, undefined).upgradeHeaders(url);
const ws = new WebSocket(url, headers ? { headers } : {});
const timer = setTimeout(() => {
  process.stderr.write('search-once: no reply in 10 s\n');
  process.exit(1);
}, 10_000);
ws.once('open', () => ws.send(JSON.stringify(searchRequest(publisherId))));
ws.once('message', (data) => {
  clearTimeout(timer);
  const reply: unknown = JSON.parse(data.toString());
  process.stdout.write(`${JSON.stringify(typeof reply === 'object' && reply !== null && 'BOX_SET' in reply ? reply.BOX_SET : reply)}\n`);
  ws.close();
});
ws.once('error', (err) => {
  process.stderr.write(`search-once: ${err.message}\n`);
  process.exit(1);
});
