// The publisher ranks boxes by what they report (spare upload, free disk) and what it measured itself
// (upload speed, round trip, failures); viewers are spread over boxes of similar rank.
import t from 'tap';
import { boxScore } from '../src/boxes/ranking.js';
import { Viewers } from '../src/http/viewers.js';
import type { BoxExchange } from '../../shared/src/protocol/index.js';

const box = (extra: Record<string, unknown>): BoxExchange => ({ ID: 'box-a', IP: '127.0.0.1', PORT: 1, TYPE: 'BOX', COMMAND: 'EXCHANGE', CONNECT_WS: 'ws://x/', ...extra }) as BoxExchange;
const stats = (s: Partial<{ rttMs: number; bytesPerSecond: number; failures: number }>) => ({ rttMs: undefined, bytesPerSecond: undefined, failures: 0, ...s });

t.test('box score', async (t) => {
  t.ok(boxScore(box({ 'BANDWIDTH-IDLE-UP': 100 }), undefined) > boxScore(box({ 'BANDWIDTH-IDLE-UP': 10 }), undefined), 'more spare upload ranks higher');
  t.ok(boxScore(box({}), stats({ bytesPerSecond: 10e6 })) > boxScore(box({}), stats({ bytesPerSecond: 1e5 })), 'faster measured upload ranks higher');
  t.ok(boxScore(box({}), stats({ rttMs: 5 })) > boxScore(box({}), stats({ rttMs: 400 })), 'shorter round trip ranks higher');
  t.ok(boxScore(box({}), stats({ failures: 0 })) > boxScore(box({}), stats({ failures: 2 })), 'failures rank lower');
  t.ok(boxScore(box({ 'DISK-AVAIL': 50 }), undefined) > boxScore(box({ 'DISK-AVAIL': 0.2 }), undefined), 'a nearly full disk ranks lower');
});

t.test('viewers spread over similar boxes, nearest band first', async (t) => {
  const places: Record<string, string> = { 'box-near': '25.0,121.5', 'box-far': '48.8,2.3' };
  const viewers = new Viewers({ locate: (ip) => (ip === '203.0.113.1' ? { lat: 25.03, lon: 121.56 } : undefined), placeOfBox: (id) => places[id], scoreOfBox: () => 50 });
  const replicas = [{ boxId: 'box-far', url: 'http://far/' }, { boxId: 'box-near', url: 'http://near/' }];
  t.equal(viewers.order(replicas, '203.0.113.1')[0]?.boxId, 'box-near', 'a placed viewer gets the nearest box');
  const firsts = new Set<string>();
  for (let i = 0; i < 40; i++) firsts.add(viewers.order(replicas, '127.0.0.1', `viewer-${i}`)[0]?.boxId as string);
  t.same([...firsts].sort(), ['box-far', 'box-near'], 'unplaced viewers are spread over equal boxes');
  t.same(viewers.order(replicas, '127.0.0.1', 'viewer-1'), viewers.order(replicas, '127.0.0.1', 'viewer-1'), 'the same viewer always gets the same order');
});
