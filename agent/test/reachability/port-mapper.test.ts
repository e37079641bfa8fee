// The port mapper against a NAT-PMP router that answers on loopback (real UDP, the RFC 6886 bytes), on a
// clock the test moves: both ports mapped and the state reported; an external port other than the one
// asked carried through; leases renewed at half their time; a router that restarted (its epoch went
// back, its mappings gone) mapped again at the next check; a new external address or gateway mapped
// again; every mapping removed on stop; a refusal reported as `failed` with the router's words, silence
// as `none`; PORT_MAPPING off does nothing.
import dgram from 'node:dgram';
import t from 'tap';
import { silentLogger } from '../../../shared/src/log.js';
import { NatPmpClient } from '../../src/reachability/nat-pmp.js';
import { PortMapper } from '../../src/reachability/port-mapper.js';
import type { PortMappingState, RouterAccess, TimerHandle, Timers } from '../../src/reachability/port-mapper.js';

class FakeClock implements Timers {
  ms = 1_000_000;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private next = 1;
  now = (): number => this.ms;
  setTimeout = (fn: () => void, ms: number): number => {
    const id = this.next++;
    this.timers.set(id, { at: this.ms + ms, fn });
    return id;
  };
  clearTimeout = (h: TimerHandle | undefined): void => {
    if (typeof h === 'number') this.timers.delete(h);
  };
  /** Moves the clock and fires what fell due. */
  advance(ms: number): void {
    this.ms += ms;
    for (const [id, timer] of [...this.timers]) {
      if (timer.at > this.ms) continue;
      this.timers.delete(id);
      timer.fn();
    }
  }
}

/** A NAT-PMP router: TCP mappings, an external address, an epoch on the test's clock, and a restart. */
async function natPmpRouter(clock: FakeClock) {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const router = {
    port: socket.address().port,
    externalIp: [80, 0, 0, 2],
    bootAt: clock.now(),
    mappings: new Map<number, { external: number; lease: number }>(),
    taken: new Set<number>(),
    refuse: 0,
    requests: 0,
    maxLease: 7200,
    restart() {
      this.bootAt = clock.now();
      this.mappings.clear();
    },
  };
  socket.on('message', (msg, from) => {
    router.requests += 1;
    const op = msg[1] ?? 0;
    const head = (size: number, result: number): Buffer => {
      const b = Buffer.alloc(size);
      b.writeUInt8(128 + op, 1);
      b.writeUInt16BE(result, 2);
      b.writeUInt32BE(Math.floor((clock.now() - router.bootAt) / 1000), 4);
      return b;
    };
    if (router.refuse) return socket.send(head(op === 0 ? 12 : 16, router.refuse), from.port, from.address);
    if (op === 0) {
      const b = head(12, 0);
      router.externalIp.forEach((n, i) => b.writeUInt8(n, 8 + i));
      return socket.send(b, from.port, from.address);
    }
    const internal = msg.readUInt16BE(4);
    const lease = msg.readUInt32BE(8);
    const b = head(16, 0);
    b.writeUInt16BE(internal, 8);
    if (lease === 0) {
      router.mappings.delete(internal);
    } else {
      const wanted = msg.readUInt16BE(6);
      const external = router.mappings.get(internal)?.external ?? (router.taken.has(wanted) ? wanted + 1000 : wanted);
      router.mappings.set(internal, { external, lease: Math.min(lease, router.maxLease) });
      b.writeUInt16BE(external, 10);
      b.writeUInt32BE(Math.min(lease, router.maxLease), 12);
    }
    socket.send(b, from.port, from.address);
  });
  return { router, close: () => socket.close() };
}

function mapper(t: { teardown(fn: () => unknown): void }, clock: FakeClock, port: number, extra: { mode?: 'auto' | 'off'; gateway?: () => string | undefined; ports?: number[] } = {}) {
  const changes: PortMappingState[] = [];
  const access: RouterAccess = {
    gateway: async () => {
      const address = extra.gateway ? extra.gateway() : '127.0.0.1';
      return address === undefined ? undefined : { iface: 'lo', address };
    },
    localAddressToward: async () => '127.0.0.1',
    clients: () => [() => Promise.resolve(new NatPmpClient({ gateway: '127.0.0.1', port, now: clock.now }))],
  };
  const m = new PortMapper({ mode: extra.mode ?? 'auto', ports: () => extra.ports ?? [7072, 7071], checkEveryMs: 5_000, log: silentLogger(), onChange: (s) => void changes.push(s), router: access, timers: clock });
  t.teardown(() => m.stop());
  return { m, changes };
}

/** Fire the timers due after `ms` and wait for the look they started. */
async function after(clock: FakeClock, m: PortMapper, ms: number): Promise<void> {
  clock.advance(ms);
  await m.checkNow();
}

t.test('maps both ports, reports the state, removes them on stop', async (t) => {
  const clock = new FakeClock();
  const { router, close } = await natPmpRouter(clock);
  t.teardown(close);
  router.taken.add(7071);
  const { m, changes } = mapper(t, clock, router.port);
  await m.start();
  t.match(m.state, { method: 'nat-pmp', error: '', routerExternalIp: '80.0.0.2', lanIp: '127.0.0.1' });
  t.same([...m.state.external], [[7072, 7072], [7071, 8071]], 'a taken port: the router\'s other external port is carried');
  t.equal(changes.length, 1);
  t.same([...router.mappings.keys()].sort(), [7071, 7072]);
  await m.stop();
  t.equal(router.mappings.size, 0, 'removed on stop');
});

t.test('renewed at half the lease the router granted', async (t) => {
  const clock = new FakeClock();
  const { router, close } = await natPmpRouter(clock);
  t.teardown(close);
  router.maxLease = 60;
  const { m } = mapper(t, clock, router.port);
  await m.start();
  const before = router.requests;
  await after(clock, m, 5_000);
  t.equal(router.requests - before, 3, 'a check: the external address, then each mapping asked again (NAT-PMP cannot list them)');
  const renewalsBefore = router.requests;
  for (let i = 0; i < 5; i++) await after(clock, m, 5_000); // 30 s after the grant: half of 60 s
  t.equal(router.requests - renewalsBefore, 5 * 3 + 2, 'and at half the lease both renewed on top');
  t.equal(m.state.method, 'nat-pmp');
});

t.test('a router that restarted, a new external address, a new gateway: mapped again', async (t) => {
  const clock = new FakeClock();
  const { router, close } = await natPmpRouter(clock);
  t.teardown(close);
  let gateway: string | undefined = '127.0.0.1';
  const { m, changes } = mapper(t, clock, router.port, { gateway: () => gateway });
  await m.start();
  await after(clock, m, 60_000);
  router.restart();
  t.equal(router.mappings.size, 0);
  await after(clock, m, 5_000);
  t.equal(router.mappings.size, 2, 'restart seen by the epoch: mapped again within one check');

  router.mappings.clear(); // lost without an epoch going back (the epoch may be the machine's uptime)
  await after(clock, m, 5_000);
  t.equal(router.mappings.size, 2, 'asked again at the next check');

  router.externalIp = [81, 0, 0, 9];
  await after(clock, m, 5_000);
  t.equal(m.state.routerExternalIp, '81.0.0.9');
  t.equal(changes.at(-1)?.routerExternalIp, '81.0.0.9', 'the change is reported');

  gateway = undefined;
  await after(clock, m, 5_000);
  t.match(m.state, { method: 'none', error: '' }, 'no default route: nothing to map');
  gateway = '127.0.0.1';
  await after(clock, m, 10_000);
  t.equal(m.state.method, 'nat-pmp', 'the route is back: mapped at the next retry');
});

t.test('a refusal is `failed` with the router\'s words; silence is `none`; off does nothing', async (t) => {
  const clock = new FakeClock();
  const { router, close } = await natPmpRouter(clock);
  t.teardown(close);
  router.refuse = 3;
  const refused = mapper(t, clock, router.port).m;
  await refused.start();
  t.match(refused.state, { method: 'failed', error: /^nat-pmp: NAT-PMP result 3: network failure/ });

  const silent = dgram.createSocket('udp4'); // bound and never answering
  await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', () => resolve()));
  t.teardown(() => silent.close());
  const none = mapper(t, clock, silent.address().port).m;
  await none.start();
  t.match(none.state, { method: 'none', error: '' });

  const requests = router.requests;
  const off = mapper(t, clock, router.port, { mode: 'off' }).m;
  await off.start();
  t.equal(off.state.method, 'off');
  t.equal(router.requests, requests, 'not a packet sent');
});
