/**
 * The box's port mappings on its home router: found by the default route's gateway, asked by NAT-PMP
 * first (it answers in tens of milliseconds), then UPnP IGD; renewed at half their lease; checked every
 * period, so a new gateway, a new external address or a router that restarted is mapped again within one
 * period; removed on stop. The state it reports (method, refusal, the router's external address, the
 * external port of each internal port) goes into every EXCHANGE and the box's URLs.
 */
import type { Logger } from '../../../shared/src/log.js';
import { messageOf } from '../../../shared/src/protocol/errors.js';
import type { PortMappingMethod } from '../../../shared/src/protocol/index.js';
import { readDefaultGateway } from './default-gateway.js';
import type { DefaultGateway } from './default-gateway.js';
import { localAddressToward } from './local-address.js';
import { NatPmpClient } from './nat-pmp.js';
import { nextWakeInMs, renewalDueMs } from './renew-schedule.js';
import type { RouterClient } from './router-client.js';
import { RouterRefusal, RouterSilent } from './router-client.js';
import { discoverRootDescription } from './ssdp.js';
import { connectIgd } from './upnp-igd.js';

export interface PortMappingState {
  method: PortMappingMethod;
  /** With `failed`: what the router answered. */
  error: string;
  /** The router's external address; '' when unknown or it has none. */
  routerExternalIp: string;
  /** The box's address toward its router (the mappings' internal host). */
  lanIp: string | undefined;
  /** Internal TCP port → the external port the router gave it. */
  external: ReadonlyMap<number, number>;
}

/** How the mapper finds and talks to the router; the defaults read the kernel and speak NAT-PMP, then UPnP. */
export interface RouterAccess {
  gateway(): Promise<DefaultGateway | undefined>;
  localAddressToward(host: string): Promise<string>;
  /** Clients to try in order; each factory throws RouterSilent when its protocol gets no answer. */
  clients(gateway: string): Array<() => Promise<RouterClient>>;
}

/** A real timer, or a test clock's number. */
export type TimerHandle = NodeJS.Timeout | number;

export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
}

export interface PortMapperOptions {
  mode: 'auto' | 'off';
  /** The internal TCP ports to map (viewer, publisher, HTTPS…), read at each attempt: known once bound. */
  ports(): number[];
  checkEveryMs: number;
  log: Logger;
  /** The state changed (after an attempt, a renewal or a check). */
  onChange(state: PortMappingState): void;
  /** Lease asked for each mapping (s). */
  leaseSeconds?: number;
  /** The router's UPnP root description URL, when known: skips the SSDP search (about 2 s). */
  upnpDescriptionUrl?: string;
  router?: RouterAccess;
  timers?: Timers;
}

interface Mapping {
  internalPort: number;
  externalPort: number;
  leaseSeconds: number;
  grantedAtMs: number;
}

interface Held {
  client: RouterClient;
  gateway: string;
  lanIp: string;
  externalIp: string;
  mappings: Mapping[];
}

export const DEFAULT_LEASE_SECONDS = 3600;
/** The whole of stop()'s removals, and its wait for a look under way: the agent's shutdown has 5 s in all. */
const UNMAP_BUDGET_MS = 2_000;
const LOOK_WAIT_MS = 1_500;

const realTimers: Timers = { now: Date.now, setTimeout: (fn, ms) => setTimeout(fn, ms).unref(), clearTimeout: (h) => clearTimeout(h) };

export function defaultRouterAccess(o: { upnpDescriptionUrl?: string } = {}): RouterAccess {
  const found = new Map<string, URL>();
  return {
    gateway: () => readDefaultGateway(),
    localAddressToward: (host) => localAddressToward(host),
    clients: (gateway) => [
      () => Promise.resolve(new NatPmpClient({ gateway })),
      async () => {
        const location = o.upnpDescriptionUrl ? new URL(o.upnpDescriptionUrl) : found.get(gateway) ?? (await discoverRootDescription(gateway));
        if (location === undefined) throw new RouterSilent('no UPnP answer');
        found.set(gateway, location);
        return connectIgd(location).catch((err: unknown) => {
          found.delete(gateway); // the router may have moved its description (a restart picks a new port)
          throw err;
        });
      },
    ],
  };
}

export class PortMapper {
  private held: Held | undefined;
  private current: PortMappingState;
  private failures = 0;
  private timer: TimerHandle | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly router: RouterAccess;
  private readonly timers: Timers;
  private readonly lease: number;

  constructor(private readonly o: PortMapperOptions) {
    this.router = o.router ?? defaultRouterAccess(o.upnpDescriptionUrl ? { upnpDescriptionUrl: o.upnpDescriptionUrl } : {});
    this.timers = o.timers ?? realTimers;
    this.lease = o.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
    this.current = { method: o.mode === 'off' ? 'off' : 'none', error: '', routerExternalIp: '', lanIp: undefined, external: new Map() };
  }

  get state(): PortMappingState {
    return this.current;
  }

  /** The first attempt (awaited, so the first EXCHANGE carries its outcome), then the periodic checks. */
  async start(): Promise<void> {
    if (this.o.mode === 'off') return;
    await this.run();
  }

  /** Look at the router now instead of at the next wake (the ports to map changed). */
  checkNow(): Promise<void> {
    if (this.o.mode === 'off' || this.stopped) return Promise.resolve();
    return this.run();
  }

  /**
   * Stops the checks and removes the mappings. The look under way gets LOOK_WAIT_MS (a router search can
   * take seconds and the agent's shutdown has 5 s in all); one that maps after that removes its mappings itself.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timers.clearTimeout(this.timer);
    await this.within(LOOK_WAIT_MS, this.running ?? Promise.resolve());
    const held = this.held;
    this.held = undefined;
    if (held !== undefined) await this.release(held);
  }

  /** Removes `held`'s mappings, within UNMAP_BUDGET_MS: the router may be gone. */
  private async release(held: Held): Promise<void> {
    const removals = Promise.all(held.mappings.map((m) => held.client.unmap(m).catch((err: unknown) => this.o.log.warn({ port: m.internalPort, err: messageOf(err) }, 'port mapping not removed'))));
    await this.within(UNMAP_BUDGET_MS, removals);
    held.client.close();
    this.o.log.info({ ports: held.mappings.map((m) => m.externalPort) }, 'port mappings removed');
  }

  private async within(ms: number, work: Promise<unknown>): Promise<void> {
    let timer: TimerHandle | undefined;
    await Promise.race([work, new Promise<void>((resolve) => (timer = this.timers.setTimeout(resolve, ms)))]);
    this.timers.clearTimeout(timer);
  }

  private run(): Promise<void> {
    this.timers.clearTimeout(this.timer);
    this.running ??= this.look()
      .catch((err: unknown) => this.o.log.warn({ err: messageOf(err) }, 'port mapping check failed'))
      .finally(() => {
        this.running = undefined;
        this.schedule();
      });
    return this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    const due = this.held?.mappings.map((m) => renewalDueMs(m.grantedAtMs, m.leaseSeconds)).filter((d): d is number => d !== undefined);
    const renewal = due && due.length > 0 ? Math.min(...due) : undefined;
    const wait = nextWakeInMs({ nowMs: this.timers.now(), checkEveryMs: this.o.checkEveryMs, renewalDueMs: renewal, failures: this.failures });
    this.timer = this.timers.setTimeout(() => void this.run(), wait);
  }

  /** One look: keep, renew or redo the mappings held, or try again to map. */
  private async look(): Promise<void> {
    const held = this.held;
    if (held === undefined) return this.mapAll();
    const gateway = await this.router.gateway();
    const reason = gateway?.address !== held.gateway ? `the gateway is now ${gateway?.address ?? 'gone'}`
      : !sameSet(held.mappings.map((m) => m.internalPort), this.o.ports()) ? 'the ports to map changed'
      : await this.problemWith(held);
    if (reason === undefined) return;
    this.o.log.info({ reason }, 'mapping the ports again');
    held.client.close();
    this.held = undefined;
    await this.mapAll(held.mappings);
  }

  /** Why the mappings held need redoing, or undefined when they are fine (renewing those whose lease is half over). */
  private async problemWith(held: Held): Promise<string | undefined> {
    try {
      const externalIp = await held.client.externalIp();
      if (externalIp !== held.externalIp) return `the router's external address is now ${externalIp || 'none'}`;
      const now = this.timers.now();
      for (const m of held.mappings) {
        const due = renewalDueMs(m.grantedAtMs, m.leaseSeconds);
        if (due === undefined || now < due) continue;
        const avoidExternalPorts = held.mappings.filter((o) => o !== m).map((o) => o.externalPort);
        Object.assign(m, await held.client.map({ internalHost: held.lanIp, internalPort: m.internalPort, externalPort: m.externalPort, leaseSeconds: this.lease, avoidExternalPorts }), { grantedAtMs: now });
      }
      for (const m of held.mappings) if (!(await held.client.holds({ internalHost: held.lanIp, ...m }))) return `the router lost the mapping of port ${m.internalPort} (it restarted)`;
      this.publish(held);
      return undefined;
    } catch (err) {
      return `the router did not renew or confirm the mappings: ${messageOf(err)}`;
    }
  }

  /** Find the router and map every port by the first protocol that does; `previous` keeps the external ports already given. */
  private async mapAll(previous: Mapping[] = []): Promise<void> {
    const gateway = await this.router.gateway();
    if (gateway === undefined) return this.settle('none', '', { lanIp: undefined, routerExternalIp: '' }, 'no default IPv4 route: nothing to map');
    const lanIp = await this.router.localAddressToward(gateway.address);
    const refusals: string[] = [];
    // A router that refuses may still say its external address: a carrier NAT's 100.64/10 one tells the entrance why.
    let seenExternalIp = '';
    for (const connect of this.router.clients(gateway.address)) {
      let client: RouterClient | undefined;
      try {
        client = await connect();
        const externalIp = await client.externalIp();
        seenExternalIp ||= externalIp;
        const mappings = await this.mapPorts(client, lanIp, previous);
        const held: Held = { client, gateway: gateway.address, lanIp, externalIp, mappings };
        if (this.stopped) return await this.release(held); // stop() stopped waiting for this look
        this.held = held;
        this.failures = 0;
        this.o.log.info({ method: client.method, gateway: gateway.address, externalIp, ports: mappings.map((m) => `${m.internalPort}->${m.externalPort}`) }, 'ports mapped on the router');
        this.publish(this.held);
        return;
      } catch (err) {
        client?.close();
        if (!(err instanceof RouterSilent)) refusals.push(`${client?.method ?? 'router'}: ${messageOf(err)}`);
        else this.o.log.debug({ gateway: gateway.address, err: err.message }, 'no answer from the router');
      }
    }
    this.settle(refusals.length > 0 ? 'failed' : 'none', refusals.join('; '), { lanIp, routerExternalIp: seenExternalIp }, refusals.length > 0 ? 'the router refused to map the ports' : 'the router offers no port mapping (NAT-PMP, UPnP)');
  }

  /** Each port mapped, or none: a refusal part-way removes those already mapped. */
  private async mapPorts(client: RouterClient, lanIp: string, previous: Mapping[]): Promise<Mapping[]> {
    const mapped: Mapping[] = [];
    try {
      for (const internalPort of new Set(this.o.ports())) {
        const externalPort = previous.find((m) => m.internalPort === internalPort)?.externalPort ?? internalPort;
        const avoidExternalPorts = mapped.map((m) => m.externalPort);
        const granted = await client.map({ internalHost: lanIp, internalPort, externalPort, leaseSeconds: this.lease, avoidExternalPorts });
        // Two internal ports behind one external port would be one mapping overwritten by the other.
        if (avoidExternalPorts.includes(granted.externalPort)) throw new RouterRefusal(`the router gave external port ${granted.externalPort} twice`);
        mapped.push({ internalPort, ...granted, grantedAtMs: this.timers.now() });
      }
      return mapped;
    } catch (err) {
      await Promise.all(mapped.map((m) => client.unmap(m).catch(() => undefined)));
      throw err instanceof RouterSilent || err instanceof RouterRefusal ? err : new RouterRefusal(messageOf(err));
    }
  }

  private settle(method: 'none' | 'failed', error: string, seen: Pick<PortMappingState, 'lanIp' | 'routerExternalIp'>, why: string): void {
    if (this.failures === 0 || this.current.method !== method) this.o.log.warn({ error }, `${why}; viewers reach this box only through a port forwarded by hand`);
    this.failures += 1;
    this.update({ method, error: error.slice(0, 200), ...seen, external: new Map() });
  }

  private publish(held: Held): void {
    this.update({ method: held.client.method, error: '', routerExternalIp: held.externalIp, lanIp: held.lanIp, external: new Map(held.mappings.map((m) => [m.internalPort, m.externalPort])) });
  }

  private update(next: PortMappingState): void {
    const was = this.current;
    this.current = next;
    if (was.method !== next.method || was.error !== next.error || was.routerExternalIp !== next.routerExternalIp || was.lanIp !== next.lanIp || !sameEntries(was.external, next.external)) this.o.onChange(next);
  }
}

function sameSet(a: number[], b: number[]): boolean {
  const sa = new Set(a);
  const sb = new Set(b);
  return sa.size === sb.size && [...sa].every((x) => sb.has(x));
}

function sameEntries(a: ReadonlyMap<number, number>, b: ReadonlyMap<number, number>): boolean {
  return a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
}
