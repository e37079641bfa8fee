// What the entrance says about itself: its URL from ENTRANCE_URL or from the bind address and the port it
// listens on, the address and port taken from that URL, and ENTRANCE_URLS with its own URL first, once.
import t from 'tap';
import { createOwnIdentity, ownInfoFor, websocketPath } from '../src/own-info.js';

const base = { BASE_URL: '/dandelion', WEBSOCKET_URL: '/ws/', ENTRANCE_URL: undefined, ENTRANCE_IP: '127.0.0.1' };

t.test('the WebSocket path joins BASE_URL and WEBSOCKET_URL without doubled or trailing slashes', async (t) => {
  t.equal(websocketPath({ BASE_URL: '/dandelion', WEBSOCKET_URL: 'ws' }), '/dandelion/ws');
  t.equal(websocketPath({ BASE_URL: '/dandelion/', WEBSOCKET_URL: '/ws/' }), '/dandelion/ws');
  t.equal(websocketPath({ BASE_URL: '', WEBSOCKET_URL: 'socket' }), '/socket');
});

t.test('without ENTRANCE_URL the URL is built from the bind address and the listening port', async (t) => {
  t.same(ownInfoFor(base, 'entrance-a', 7070), { ID: 'entrance-a', IP: '127.0.0.1', PORT: 7070, TYPE: 'ENTRANCE', URL: 'ws://127.0.0.1:7070/dandelion/ws/' });
  const wildcard = ownInfoFor({ ...base, ENTRANCE_IP: '0.0.0.0' }, 'entrance-a', 7070);
  t.notOk(wildcard.URL.includes('0.0.0.0'), 'a wildcard bind address becomes a host peers can connect to');
  const v6 = ownInfoFor({ ...base, ENTRANCE_IP: '::1' }, 'entrance-a', 7070);
  t.equal(v6.URL, 'ws://[::1]:7070/dandelion/ws/', 'an IPv6 host is bracketed in the URL');
  t.equal(v6.IP, '::1', 'and bare in IP');
});

t.test('ENTRANCE_URL wins, and its scheme gives the default port', async (t) => {
  const tls = ownInfoFor({ ...base, ENTRANCE_URL: 'wss://entrance.example/dandelion/ws/' }, 'entrance-a', 7070);
  t.same([tls.URL, tls.IP, tls.PORT], ['wss://entrance.example/dandelion/ws/', 'entrance.example', 443]);
  const plain = ownInfoFor({ ...base, ENTRANCE_URL: 'ws://entrance.example/dandelion/ws/' }, 'entrance-a', 7070);
  t.equal(plain.PORT, 80);
  const explicit = ownInfoFor({ ...base, ENTRANCE_URL: 'wss://entrance.example:8443/x/' }, 'entrance-a', 7070);
  t.equal(explicit.PORT, 8443);
});

t.test('the identity learns its port and the other entrances, and names its own URL first and once', async (t) => {
  const identity = createOwnIdentity({ ...base, ENTRANCE_PORT: 0, ENTRANCE_OTHER_URLS: ['ws://b.example/dandelion/ws/'] }, 'entrance-a');
  t.same(identity.entranceUrls(), ['ws://127.0.0.1:0/dandelion/ws/', 'ws://b.example/dandelion/ws/'], 'the configured others before the first pass');
  identity.listeningOn(7171);
  t.equal(identity.ownInfo().URL, 'ws://127.0.0.1:7171/dandelion/ws/');
  t.equal(identity.ownInfo().PORT, 7171);
  identity.knowOtherEntrances(['ws://c.example/dandelion/ws/', 'ws://127.0.0.1:7171/dandelion/ws/']);
  t.same(identity.entranceUrls(), ['ws://127.0.0.1:7171/dandelion/ws/', 'ws://c.example/dandelion/ws/'], 'its own URL from the shared set is not repeated');
  t.equal(identity.id, 'entrance-a');
});
